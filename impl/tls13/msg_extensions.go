package tls13

import (
	"golang.org/x/crypto/cryptobyte"
)

// Extension bodies. Messages carry their extensions as a wire-ordered
// []Extension (what is sent is exactly what the list says, so hooks and
// Bugs can add, reorder, duplicate or corrupt entries); these functions
// encode and decode the bodies the engine understands.

func addExtensions(b *cryptobyte.Builder, exts []Extension) {
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, e := range exts {
			b.AddUint16(e.Type)
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.Data) })
		}
	})
}

// readExtensions parses an extensions<0..2^16-1> block. Duplicates are
// illegal_parameter (RFC 8446 §4.2: "MUST NOT be more than one").
func readExtensions(s *cryptobyte.String) ([]Extension, error) {
	var list cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&list) {
		return nil, errDecode("extensions block")
	}
	var exts []Extension
	seen := map[uint16]bool{}
	for !list.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !list.ReadUint16(&typ) || !list.ReadUint16LengthPrefixed(&data) {
			return nil, errDecode("extension")
		}
		if seen[typ] {
			return nil, Alertf(AlertIllegalParameter, "duplicate extension %d", typ)
		}
		seen[typ] = true
		exts = append(exts, Extension{Type: typ, Data: []byte(data)})
	}
	return exts, nil
}

func errDecode(what string) error { return Alertf(AlertDecodeError, "malformed %s", what) }

// build runs f on a fresh builder. It fails, as cryptobyte does, when a
// value is too long for its length prefix (a configured ALPN protocol of
// more than 255 bytes, say).
func build(f func(b *cryptobyte.Builder)) ([]byte, error) {
	var b cryptobyte.Builder
	f(&b)
	return b.Bytes()
}

// extensionError is the internal_error for an extension body the engine
// cannot encode from its configuration.
func extensionError(typ uint16, err error) error {
	return Alertf(AlertInternalError, "cannot encode extension %d: %v", typ, err)
}

func encodeUint16List(v []uint16, u8prefix bool) ([]byte, error) {
	return build(func(b *cryptobyte.Builder) {
		add := b.AddUint16LengthPrefixed
		if u8prefix {
			add = b.AddUint8LengthPrefixed
		}
		add(func(b *cryptobyte.Builder) {
			for _, x := range v {
				b.AddUint16(x)
			}
		})
	})
}

// decodeUint16List reads a non-empty length-prefixed list of uint16 that is
// the whole extension body.
func decodeUint16List(data []byte, u8prefix bool, what string) ([]uint16, error) {
	s := cryptobyte.String(data)
	var list cryptobyte.String
	ok := false
	if u8prefix {
		ok = s.ReadUint8LengthPrefixed(&list)
	} else {
		ok = s.ReadUint16LengthPrefixed(&list)
	}
	if !ok || !s.Empty() || list.Empty() || len(list)%2 != 0 {
		return nil, errDecode(what)
	}
	var out []uint16
	for !list.Empty() {
		var v uint16
		list.ReadUint16(&v)
		out = append(out, v)
	}
	return out, nil
}

func encodeSchemes(schemes []SignatureScheme) ([]byte, error) {
	v := make([]uint16, len(schemes))
	for i, s := range schemes {
		v[i] = uint16(s)
	}
	return encodeUint16List(v, false)
}

// decodeSchemes reads a signature_algorithms or signature_algorithms_cert
// body (extension type typ).
func decodeSchemes(data []byte, typ uint16) ([]SignatureScheme, error) {
	what := "signature_algorithms"
	if typ == extSignatureAlgsCert {
		what = "signature_algorithms_cert"
	}
	v, err := decodeUint16List(data, false, what)
	if err != nil {
		return nil, err
	}
	out := make([]SignatureScheme, len(v))
	for i, x := range v {
		out[i] = SignatureScheme(x)
	}
	return out, nil
}

func encodeServerName(name string) ([]byte, error) {
	return build(func(b *cryptobyte.Builder) {
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			b.AddUint8(0) // host_name
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(name)) })
		})
	})
}

func decodeServerName(data []byte) (string, error) {
	s := cryptobyte.String(data)
	var list cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&list) || !s.Empty() || list.Empty() {
		return "", errDecode("server_name")
	}
	name := ""
	for !list.Empty() {
		var typ uint8
		var host cryptobyte.String
		if !list.ReadUint8(&typ) || !list.ReadUint16LengthPrefixed(&host) || len(host) == 0 {
			return "", errDecode("server_name")
		}
		if typ == 0 {
			if name != "" {
				return "", Alertf(AlertIllegalParameter, "two host_names in server_name")
			}
			name = string(host)
		}
	}
	return name, nil
}

type keyShare struct {
	group CurveID
	data  []byte
}

func encodeKeyShareEntry(b *cryptobyte.Builder, ks keyShare) {
	b.AddUint16(uint16(ks.group))
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(ks.data) })
}

func encodeClientKeyShares(shares []keyShare) ([]byte, error) {
	return build(func(b *cryptobyte.Builder) {
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, ks := range shares {
				encodeKeyShareEntry(b, ks)
			}
		})
	})
}

func readKeyShareEntry(s *cryptobyte.String) (keyShare, bool) {
	var g uint16
	var data cryptobyte.String
	if !s.ReadUint16(&g) || !s.ReadUint16LengthPrefixed(&data) || len(data) == 0 {
		return keyShare{}, false
	}
	return keyShare{CurveID(g), []byte(data)}, true
}

func decodeClientKeyShares(data []byte) ([]keyShare, error) {
	s := cryptobyte.String(data)
	var list cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&list) || !s.Empty() {
		return nil, errDecode("key_share")
	}
	var out []keyShare
	seen := map[CurveID]bool{}
	for !list.Empty() {
		ks, ok := readKeyShareEntry(&list)
		if !ok {
			return nil, errDecode("key_share entry")
		}
		if seen[ks.group] { // RFC 8446 §4.2.8: "MUST NOT offer multiple KeyShareEntry values for the same group"
			return nil, Alertf(AlertIllegalParameter, "two key shares for group %#04x", ks.group)
		}
		seen[ks.group] = true
		out = append(out, ks)
	}
	return out, nil
}

func encodeServerKeyShare(ks keyShare) ([]byte, error) {
	return build(func(b *cryptobyte.Builder) { encodeKeyShareEntry(b, ks) })
}

func decodeServerKeyShare(data []byte) (keyShare, error) {
	s := cryptobyte.String(data)
	ks, ok := readKeyShareEntry(&s)
	if !ok || !s.Empty() {
		return keyShare{}, errDecode("server key_share")
	}
	return ks, nil
}

func encodeUint16(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }

func decodeUint16(data []byte, what string) (uint16, error) {
	if len(data) != 2 {
		return 0, errDecode(what)
	}
	return uint16(data[0])<<8 | uint16(data[1]), nil
}

func encodeOpaque16(v []byte) ([]byte, error) {
	return build(func(b *cryptobyte.Builder) {
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(v) })
	})
}

func decodeOpaque16(data []byte, what string) ([]byte, error) {
	s := cryptobyte.String(data)
	var v cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&v) || !s.Empty() || len(v) == 0 {
		return nil, errDecode(what)
	}
	return []byte(v), nil
}

func encodeUint8List(v []uint8) ([]byte, error) {
	return build(func(b *cryptobyte.Builder) {
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(v) })
	})
}

func decodeUint8List(data []byte, what string) ([]uint8, error) {
	s := cryptobyte.String(data)
	var v cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&v) || !s.Empty() || len(v) == 0 {
		return nil, errDecode(what)
	}
	return []byte(v), nil
}

func encodeALPN(protos []string) ([]byte, error) {
	return build(func(b *cryptobyte.Builder) {
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, p := range protos {
				b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(p)) })
			}
		})
	})
}

func decodeALPN(data []byte) ([]string, error) {
	s := cryptobyte.String(data)
	var list cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&list) || !s.Empty() || list.Empty() {
		return nil, errDecode("application_layer_protocol_negotiation")
	}
	var out []string
	for !list.Empty() {
		var p cryptobyte.String
		if !list.ReadUint8LengthPrefixed(&p) || len(p) == 0 {
			return nil, errDecode("ALPN protocol name")
		}
		out = append(out, string(p))
	}
	return out, nil
}

func hasExtension(exts []Extension, t uint16) bool {
	_, ok := FindExtension(exts, t)
	return ok
}
