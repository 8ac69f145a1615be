package tls13

import "golang.org/x/crypto/cryptobyte"

type certificateRequestMsg struct {
	raw     []byte
	context []byte
	exts    []Extension

	// Decoded by unmarshal.
	sigAlgs     []SignatureScheme
	sigAlgsCert []SignatureScheme // nil if signature_algorithms_cert is absent
}

func (m *certificateRequestMsg) marshal() ([]byte, error) {
	return m.marshalAs(typeCertificateRequest)
}

func (m *certificateRequestMsg) unmarshal(data []byte) error {
	return m.unmarshalAs(data, typeCertificateRequest)
}

// clientCertificateRequestMsg is RFC 9261 §4's ClientCertificateRequest:
// a client's authenticator request, with the CertificateRequest structure
// under its own message type.
type clientCertificateRequestMsg struct {
	certificateRequestMsg
}

func (m *clientCertificateRequestMsg) marshal() ([]byte, error) {
	return m.marshalAs(typeClientCertificateRequest)
}

func (m *clientCertificateRequestMsg) unmarshal(data []byte) error {
	return m.unmarshalAs(data, typeClientCertificateRequest)
}

// marshalAs encodes the message under type typ (13 or 17).
func (m *certificateRequestMsg) marshalAs(typ uint8) ([]byte, error) {
	return marshalHandshake(typ, func(b *cryptobyte.Builder) {
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(m.context) })
		addExtensions(b, m.exts)
	})
}

// unmarshalAs decodes a message of type typ (13 or 17).
func (m *certificateRequestMsg) unmarshalAs(data []byte, typ uint8) error {
	*m = certificateRequestMsg{raw: data}
	name := messageName(typ)
	s, err := readHandshakeBody(data, typ)
	if err != nil {
		return err
	}
	var ctx cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&ctx) {
		return errDecode(name)
	}
	m.context = []byte(ctx)
	if m.exts, err = readExtensions(&s); err != nil {
		return err
	}
	if !s.Empty() {
		return errDecode(name + " trailing data")
	}
	for _, e := range m.exts {
		switch e.Type {
		case extSignatureAlgorithms:
			m.sigAlgs, err = decodeSchemes(e.Data, e.Type)
		case extSignatureAlgsCert: // RFC 8446 §4.3.2: MAY be present
			m.sigAlgsCert, err = decodeSchemes(e.Data, e.Type)
		}
		if err != nil {
			return err
		}
	}
	// RFC 8446 §4.3.2: signature_algorithms MUST be specified (RFC 9261
	// §4 keeps the structure for authenticator requests).
	if m.sigAlgs == nil {
		return Alertf(AlertMissingExtension, "%s without signature_algorithms", name)
	}
	return nil
}
