package tls13

import "golang.org/x/crypto/cryptobyte"

type clientHelloMsg struct {
	raw                []byte
	vers               uint16
	random             []byte
	sessionID          []byte
	cipherSuites       []uint16
	compressionMethods []uint8
	exts               []Extension

	// Decoded by unmarshal from exts.
	serverName        string
	supportedGroups   []CurveID
	sigAlgs           []SignatureScheme
	sigAlgsCert       []SignatureScheme
	supportedVersions []uint16
	keyShares         []keyShare
	hasKeyShare       bool
	pskModes          []uint8
	cookie            []byte
	clientCertTypes   []CertificateType
	serverCertTypes   []CertificateType
	postHandshakeAuth bool
	alpn              []string
}

func (m *clientHelloMsg) marshal() ([]byte, error) {
	return marshalHandshake(typeClientHello, func(b *cryptobyte.Builder) {
		b.AddUint16(m.vers)
		b.AddBytes(m.random)
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(m.sessionID) })
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, s := range m.cipherSuites {
				b.AddUint16(s)
			}
		})
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(m.compressionMethods) })
		addExtensions(b, m.exts)
	})
}

func (m *clientHelloMsg) unmarshal(data []byte) error {
	*m = clientHelloMsg{raw: data}
	s, err := readHandshakeBody(data, typeClientHello)
	if err != nil {
		return err
	}
	var sid, suites, comp cryptobyte.String
	if !s.ReadUint16(&m.vers) || !s.ReadBytes(&m.random, 32) ||
		!s.ReadUint8LengthPrefixed(&sid) || len(sid) > 32 ||
		!s.ReadUint16LengthPrefixed(&suites) || len(suites) < 2 || len(suites)%2 != 0 ||
		!s.ReadUint8LengthPrefixed(&comp) || len(comp) < 1 {
		return errDecode("ClientHello")
	}
	m.sessionID = []byte(sid)
	for !suites.Empty() {
		var cs uint16
		suites.ReadUint16(&cs)
		m.cipherSuites = append(m.cipherSuites, cs)
	}
	m.compressionMethods = []byte(comp)
	if s.Empty() {
		// A ClientHello without extensions cannot be TLS 1.3; the version
		// check reports it as protocol_version.
		return nil
	}
	if m.exts, err = readExtensions(&s); err != nil {
		return err
	}
	if !s.Empty() {
		return errDecode("ClientHello trailing data")
	}
	for i, e := range m.exts {
		if err := m.decodeExtension(e); err != nil {
			return err
		}
		// RFC 8446 §4.2.11: pre_shared_key MUST be the last extension.
		if e.Type == extPreSharedKey && i != len(m.exts)-1 {
			return Alertf(AlertIllegalParameter, "pre_shared_key is not the last extension")
		}
	}
	return nil
}

func (m *clientHelloMsg) decodeExtension(e Extension) error {
	var err error
	switch e.Type {
	case extServerName:
		m.serverName, err = decodeServerName(e.Data)
	case extSupportedGroups:
		var v []uint16
		v, err = decodeUint16List(e.Data, false, "supported_groups")
		for _, g := range v {
			m.supportedGroups = append(m.supportedGroups, CurveID(g))
		}
	case extSignatureAlgorithms:
		m.sigAlgs, err = decodeSchemes(e.Data, e.Type)
	case extSignatureAlgsCert:
		m.sigAlgsCert, err = decodeSchemes(e.Data, e.Type)
	case extSupportedVersions:
		m.supportedVersions, err = decodeUint16List(e.Data, true, "supported_versions")
	case extKeyShare:
		m.hasKeyShare = true
		m.keyShares, err = decodeClientKeyShares(e.Data)
	case extPSKModes:
		m.pskModes, err = decodeUint8List(e.Data, "psk_key_exchange_modes")
	case extCookie:
		m.cookie, err = decodeOpaque16(e.Data, "cookie")
	case extClientCertType, extServerCertType:
		var v []uint8
		v, err = decodeUint8List(e.Data, "certificate_type")
		types := make([]CertificateType, len(v))
		for i, t := range v {
			types[i] = CertificateType(t)
		}
		if e.Type == extClientCertType {
			m.clientCertTypes = types
		} else {
			m.serverCertTypes = types
		}
	case extPostHandshakeAuth:
		if len(e.Data) != 0 {
			err = errDecode("post_handshake_auth")
		}
		m.postHandshakeAuth = true
	case extALPN:
		m.alpn, err = decodeALPN(e.Data)
	}
	return err
}
