// Command seedgen writes the parser-vector seeds of the mbedTLS fuzz
// targets (peers/mbedtls/fuzz): each vector of vectors/parsers that the
// peer applies to is spliced into a recorded handshake flight (record's
// hs-* seeds, records in the clear) where the vector says it belongs —
// an extension's extension_data in the ClientHello, EncryptedExtensions,
// CertificateRequest or the first CertificateEntry, the certificate
// type extensions, the CMW as the first CertificateEntry's cert_data
// (ta-07, poc) or as the cmw_payload of its remoteAttestation (ea-07) —
// and written as
// <corpus>/<target>/vec-<profile>-<structure>-<tcId>; a CMW vector is
// also written alone to <corpus>/cmw/ for fuzz_cmw.
//
//	go run ./peers/mbedtls/fuzz/seedgen -corpus peers/mbedtls/fuzz/corpus -vectors vectors/parsers
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"golang.org/x/crypto/cryptobyte"

	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/vectors/gen/parser"
)

// Handshake message and record types.
const (
	msgClientHello         = 1
	msgEncryptedExtensions = 8
	msgCertificate         = 11
	msgCertificateRequest  = 13
	recordHandshake        = 22
	recordApplicationData  = 23
	tagLen                 = 16 // the fuzz build's zero AEAD tag
)

// placement: which recorded flight a vector file's inputs go into.
type placement struct {
	target string // fuzz target: server or client
	flight string // the hs-* seed
}

// cmwExtension names, per CMW vector file, the end-entity CertificateEntry
// extension its CMW travels in (cmw_payload<1..2^24-1>) instead of
// cert_data.
var cmwExtension = map[string]uint16{"ea-07/cmw.json": ea07Ext}

var placements = map[string]placement{
	"ta-07/evidence_request.client_hello.json":          {"server", "hs-ta07-server-attests"},
	"ta-07/evidence_proposal.client_hello.json":         {"server", "hs-ta07-client-attests"},
	"ta-07/evidence_request.encrypted_extensions.json":  {"client", "hs-ta07-server-attests"},
	"ta-07/evidence_proposal.encrypted_extensions.json": {"client", "hs-ta07-client-attests"},
	"ta-07/cmw.json": {"server", "hs-ta07-client-attests"},
	"poc/evidence_proposal.client_hello.json":         {"server", "hs-poc-client-attests"},
	"poc/evidence_proposal.encrypted_extensions.json": {"client", "hs-poc-client-attests"},
	"poc/cmw.json": {"server", "hs-poc-client-attests"},
	// certificate_type: ClientHello vectors to the server, EncryptedExtensions to the client.
	"ta-07/certificate_type.json": {"", "hs-ta07-mutual"},
	// ea-07: the ClientHello's two lists to a server that attests and
	// appraises; the chosen schemes to the client that offered them; the
	// Certificate's extension and CMW to a server appraising the client.
	"ea-07/remote_attestation.client_hello.json":         {"server", "hs-ea07-mutual"},
	"ea-07/remote_attestation.encrypted_extensions.json": {"client", "hs-ea07-server-attests"},
	"ea-07/remote_attestation.certificate_request.json":  {"client", "hs-ea07-client-attests"},
	"ea-07/remote_attestation.certificate.json":          {"server", "hs-ea07-client-attests"},
	"ea-07/cmw.json": {"server", "hs-ea07-client-attests"},
	// ta-07 passport: results_request to a server presenting results,
	// its answer to the client that asked.
	"ta-07/results.client_hello.json":         {"server", "hs-ta07-server-passport"},
	"ta-07/results.encrypted_extensions.json": {"client", "hs-ta07-server-passport"},
}

// ea07Ext is ea-07's remoteAttestation codepoint, where its CMW travels.
var ea07Ext = codepoint.Default().EA07RemoteAttestation

func main() {
	corpus := flag.String("corpus", "peers/mbedtls/fuzz/corpus", "the corpus directory (with the recorded hs-* seeds)")
	vectors := flag.String("vectors", "vectors/parsers", "the parser vectors")
	flag.Parse()
	n := 0
	for rel, pl := range placements {
		b, err := os.ReadFile(filepath.Join(*vectors, rel))
		if err != nil {
			log.Fatal(err)
		}
		var f parser.File
		if err := json.Unmarshal(b, &f); err != nil {
			log.Fatalf("%s: %v", rel, err)
		}
		for _, g := range f.TestGroups {
			for _, tc := range g.Tests {
				target, seed, err := splice(*corpus, pl, cmwExtension[rel], g, tc)
				if err != nil {
					log.Fatalf("%s #%d: %v", rel, tc.TcID, err)
				}
				name := fmt.Sprintf("vec-%s-%s-%d", f.Profile, f.Structure, tc.TcID)
				if err := os.WriteFile(filepath.Join(*corpus, target, name), seed, 0o644); err != nil {
					log.Fatal(err)
				}
				n++
				if g.Type == "CMW" {
					// The peer's own CMW reader (fuzz_cmw) takes the bytes alone.
					if err := os.MkdirAll(filepath.Join(*corpus, "cmw"), 0o755); err != nil {
						log.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(*corpus, "cmw", name), tc.Input, 0o644); err != nil {
						log.Fatal(err)
					}
					n++
				}
			}
		}
	}
	fmt.Printf("seedgen: %d seeds\n", n)
}

// splice returns the target and the recorded flight with the vector in it.
func splice(corpus string, pl placement, cmwExt uint16, g parser.Group, tc parser.Test) (string, []byte, error) {
	target := pl.target
	var msgType uint8
	var edit func([]byte) ([]byte, error)
	switch g.Type {
	case "ExtensionData":
		msgType = map[string]uint8{"client_hello": msgClientHello, "encrypted_extensions": msgEncryptedExtensions,
			"certificate_request": msgCertificateRequest, "certificate": msgCertificate}[g.Message]
		cp := uint16(g.Extension.Codepoint)
		edit = func(body []byte) ([]byte, error) {
			if msgType == msgCertificate {
				return setFirstEntryExtension(body, cp, tc.Input)
			}
			return setExtensions(msgType, body, map[uint16][]byte{cp: tc.Input})
		}
	case "HandshakeMessage":
		if len(tc.Input) < 4 {
			return "", nil, errors.New("short message")
		}
		msgType = tc.Input[0]
		target = map[uint8]string{msgClientHello: "server", msgEncryptedExtensions: "client"}[msgType]
		exts, err := extensions(msgType, tc.Input[4:])
		if err != nil {
			return "", nil, err
		}
		want := map[uint16][]byte{}
		for _, e := range exts {
			if e.typ == 19 || e.typ == 20 {
				want[e.typ] = e.data
			}
		}
		edit = func(body []byte) ([]byte, error) { return setExtensions(msgType, body, want) }
	case "CMW":
		msgType = msgCertificate
		edit = func(body []byte) ([]byte, error) { return setFirstCertData(body, tc.Input) }
		if cmwExt != 0 {
			var b cryptobyte.Builder
			b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(tc.Input) })
			payload := b.BytesOrPanic()
			edit = func(body []byte) ([]byte, error) { return setFirstEntryExtension(body, cmwExt, payload) }
		}
	default:
		return "", nil, fmt.Errorf("group type %q", g.Type)
	}
	if target == "" {
		return "", nil, errors.New("no target")
	}
	flight, err := os.ReadFile(filepath.Join(corpus, target, pl.flight))
	if err != nil {
		return "", nil, err
	}
	out, err := editFlight(flight[1:], msgType, edit)
	if err != nil {
		return "", nil, err
	}
	return target, append([]byte{flight[0]}, out...), nil
}

// editFlight rewrites the first handshake message of type msgType in a
// flight of records (plaintext, or the fuzz build's clear
// application_data records: content || type || zero tag).
func editFlight(flight []byte, msgType uint8, edit func([]byte) ([]byte, error)) ([]byte, error) {
	s := cryptobyte.String(flight)
	var out []byte
	done := false
	for !s.Empty() {
		var typ uint8
		var ver uint16
		var payload cryptobyte.String
		if !s.ReadUint8(&typ) || !s.ReadUint16(&ver) || !s.ReadUint16LengthPrefixed(&payload) {
			return nil, errors.New("flight: bad record")
		}
		p := []byte(payload)
		content, inner, tail := p, uint8(typ), []byte(nil)
		if typ == recordApplicationData {
			// TLSInnerPlaintext: content || type || zero padding, then the tag.
			i := len(p) - tagLen - 1
			for i >= 0 && p[i] == 0 {
				i--
			}
			if i < 0 {
				return nil, errors.New("flight: protected record without a content type")
			}
			content, inner, tail = p[:i], p[i], p[i:]
		}
		if !done && inner == recordHandshake && len(content) >= 4 && content[0] == msgType {
			n := int(content[1])<<16 | int(content[2])<<8 | int(content[3])
			if len(content) < 4+n {
				return nil, errors.New("flight: handshake message across records")
			}
			body, err := edit(content[4 : 4+n])
			if err != nil {
				return nil, err
			}
			var b cryptobyte.Builder
			b.AddUint8(msgType)
			b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(body) })
			content = append(b.BytesOrPanic(), content[4+n:]...)
			done = true
		}
		var r cryptobyte.Builder
		r.AddUint8(typ)
		r.AddUint16(ver)
		r.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(content); b.AddBytes(tail) })
		out = append(out, r.BytesOrPanic()...)
	}
	if !done {
		return nil, fmt.Errorf("flight: no message of type %d", msgType)
	}
	return out, nil
}

type ext struct {
	typ  uint16
	data []byte
}

// split returns the part of a ClientHello, EncryptedExtensions or
// CertificateRequest body before its extensions, and the extensions.
func split(msgType uint8, body []byte) ([]byte, cryptobyte.String, error) {
	s := cryptobyte.String(body)
	if msgType == msgCertificateRequest {
		var ctx cryptobyte.String
		if !s.ReadUint8LengthPrefixed(&ctx) {
			return nil, nil, errors.New("bad CertificateRequest")
		}
	}
	if msgType == msgClientHello {
		var v uint16
		var sid, suites, comp cryptobyte.String
		if !s.ReadUint16(&v) || !s.Skip(32) || !s.ReadUint8LengthPrefixed(&sid) ||
			!s.ReadUint16LengthPrefixed(&suites) || !s.ReadUint8LengthPrefixed(&comp) {
			return nil, nil, errors.New("bad ClientHello")
		}
	}
	head := body[:len(body)-len(s)]
	var exts cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&exts) || !s.Empty() {
		return nil, nil, errors.New("bad extensions")
	}
	return head, exts, nil
}

func extensions(msgType uint8, body []byte) ([]ext, error) {
	_, s, err := split(msgType, body)
	if err != nil {
		return nil, err
	}
	var out []ext
	for !s.Empty() {
		var e ext
		var d cryptobyte.String
		if !s.ReadUint16(&e.typ) || !s.ReadUint16LengthPrefixed(&d) {
			return nil, errors.New("bad extension")
		}
		e.data = d
		out = append(out, e)
	}
	return out, nil
}

// setExtensions replaces the data of the extensions in set, or adds
// them at the front (the pre_shared_key rule keeps the last one last).
func setExtensions(msgType uint8, body []byte, set map[uint16][]byte) ([]byte, error) {
	head, _, err := split(msgType, body)
	if err != nil {
		return nil, err
	}
	exts, err := extensions(msgType, body)
	if err != nil {
		return nil, err
	}
	seen := map[uint16]bool{}
	for i, e := range exts {
		if d, ok := set[e.typ]; ok {
			exts[i].data = d
			seen[e.typ] = true
		}
	}
	var add []ext
	for t, d := range set {
		if !seen[t] {
			add = append(add, ext{t, d})
		}
	}
	exts = append(add, exts...)
	var b cryptobyte.Builder
	b.AddBytes(head)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, e := range exts {
			b.AddUint16(e.typ)
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.data) })
		}
	})
	return b.Bytes()
}

// setFirstCertData puts data as the first CertificateEntry's cert_data.
func setFirstCertData(body, data []byte) ([]byte, error) {
	return editFirstEntry(body, func(_, exts []byte) ([]byte, []byte, error) { return data, exts, nil })
}

// setFirstEntryExtension sets the data of the first CertificateEntry's
// extension of type typ, adding it in front if it is not there.
func setFirstEntryExtension(body []byte, typ uint16, data []byte) ([]byte, error) {
	return editFirstEntry(body, func(cert, exts []byte) ([]byte, []byte, error) {
		s := cryptobyte.String(exts)
		var b cryptobyte.Builder
		b.AddUint16(typ)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(data) })
		for !s.Empty() {
			var t uint16
			var d cryptobyte.String
			if !s.ReadUint16(&t) || !s.ReadUint16LengthPrefixed(&d) {
				return nil, nil, errors.New("bad CertificateEntry extension")
			}
			if t != typ {
				b.AddUint16(t)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(d) })
			}
		}
		out, err := b.Bytes()
		return cert, out, err
	})
}

// editFirstEntry rewrites the first CertificateEntry of a Certificate
// body: edit gets its cert_data and extensions and returns new ones.
func editFirstEntry(body []byte, edit func(cert, exts []byte) ([]byte, []byte, error)) ([]byte, error) {
	s := cryptobyte.String(body)
	var ctx, list, first, extsOfFirst cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&ctx) || !s.ReadUint24LengthPrefixed(&list) || !s.Empty() ||
		!list.ReadUint24LengthPrefixed(&first) || !list.ReadUint16LengthPrefixed(&extsOfFirst) {
		return nil, errors.New("bad Certificate")
	}
	cert, exts, err := edit(first, extsOfFirst)
	if err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(ctx) })
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(cert) })
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(exts) })
		b.AddBytes(list)
	})
	return b.Bytes()
}
