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
	return marshalHandshake(typeCertificateRequest, func(b *cryptobyte.Builder) {
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(m.context) })
		addExtensions(b, m.exts)
	})
}

func (m *certificateRequestMsg) unmarshal(data []byte) error {
	*m = certificateRequestMsg{raw: data}
	s, err := readHandshakeBody(data, typeCertificateRequest)
	if err != nil {
		return err
	}
	var ctx cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&ctx) {
		return errDecode("CertificateRequest")
	}
	m.context = []byte(ctx)
	if m.exts, err = readExtensions(&s); err != nil {
		return err
	}
	if !s.Empty() {
		return errDecode("CertificateRequest trailing data")
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
	// RFC 8446 §4.3.2: signature_algorithms MUST be specified.
	if m.sigAlgs == nil {
		return Alertf(AlertMissingExtension, "CertificateRequest without signature_algorithms")
	}
	return nil
}
