package tls13

import (
	"bytes"

	"golang.org/x/crypto/cryptobyte"
)

// helloRetryRequestRandom marks a ServerHello as a HelloRetryRequest
// (RFC 8446 §4.1.3: SHA-256 of "HelloRetryRequest").
var helloRetryRequestRandom = []byte{
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
}

type serverHelloMsg struct {
	raw         []byte
	vers        uint16
	random      []byte
	sessionID   []byte
	cipherSuite uint16
	compression uint8
	exts        []Extension

	// Decoded by unmarshal.
	supportedVersion uint16
	keyShare         keyShare // ServerHello
	selectedGroup    CurveID  // HelloRetryRequest
	cookie           []byte
}

func (m *serverHelloMsg) isHelloRetryRequest() bool {
	return bytes.Equal(m.random, helloRetryRequestRandom)
}

func (m *serverHelloMsg) marshal() ([]byte, error) {
	name := "ServerHello"
	if m.isHelloRetryRequest() {
		name = "HelloRetryRequest"
	}
	return marshalNamed(typeServerHello, name, func(b *cryptobyte.Builder) {
		b.AddUint16(m.vers)
		b.AddBytes(m.random)
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(m.sessionID) })
		b.AddUint16(m.cipherSuite)
		b.AddUint8(m.compression)
		addExtensions(b, m.exts)
	})
}

func (m *serverHelloMsg) unmarshal(data []byte) error {
	*m = serverHelloMsg{raw: data}
	s, err := readHandshakeBody(data, typeServerHello)
	if err != nil {
		return err
	}
	var sid cryptobyte.String
	if !s.ReadUint16(&m.vers) || !s.ReadBytes(&m.random, 32) ||
		!s.ReadUint8LengthPrefixed(&sid) || len(sid) > 32 ||
		!s.ReadUint16(&m.cipherSuite) || !s.ReadUint8(&m.compression) {
		return errDecode("ServerHello")
	}
	m.sessionID = []byte(sid)
	if s.Empty() {
		return nil // a TLS 1.2 ServerHello; the version check rejects it
	}
	if m.exts, err = readExtensions(&s); err != nil {
		return err
	}
	if !s.Empty() {
		return errDecode("ServerHello trailing data")
	}
	hrr := m.isHelloRetryRequest()
	for _, e := range m.exts {
		switch e.Type {
		case extSupportedVersions:
			m.supportedVersion, err = decodeUint16(e.Data, "supported_versions")
		case extKeyShare:
			if hrr {
				var g uint16
				g, err = decodeUint16(e.Data, "HelloRetryRequest key_share")
				m.selectedGroup = CurveID(g)
			} else {
				m.keyShare, err = decodeServerKeyShare(e.Data)
			}
		case extCookie:
			m.cookie, err = decodeOpaque16(e.Data, "cookie")
		}
		if err != nil {
			return err
		}
	}
	return nil
}
