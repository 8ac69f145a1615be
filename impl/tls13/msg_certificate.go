package tls13

import "golang.org/x/crypto/cryptobyte"

type certificateMsg struct {
	raw     []byte
	context []byte
	entries []CertificateEntry
}

func (m *certificateMsg) marshal() ([]byte, error) {
	return marshalHandshake(typeCertificate, func(b *cryptobyte.Builder) {
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(m.context) })
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, e := range m.entries {
				b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.Data) })
				addExtensions(b, e.Extensions)
			}
		})
	})
}

func (m *certificateMsg) unmarshal(data []byte) error {
	*m = certificateMsg{raw: data}
	s, err := readHandshakeBody(data, typeCertificate)
	if err != nil {
		return err
	}
	var ctx, list cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&ctx) || !s.ReadUint24LengthPrefixed(&list) || !s.Empty() {
		return errDecode("Certificate")
	}
	m.context = []byte(ctx)
	for !list.Empty() {
		var certData cryptobyte.String
		if !list.ReadUint24LengthPrefixed(&certData) || len(certData) == 0 {
			return errDecode("CertificateEntry")
		}
		exts, err := readExtensions(&list)
		if err != nil {
			return err
		}
		m.entries = append(m.entries, CertificateEntry{Data: []byte(certData), Extensions: exts})
	}
	return nil
}

type certificateVerifyMsg struct {
	raw       []byte
	scheme    SignatureScheme
	signature []byte
}

func (m *certificateVerifyMsg) marshal() ([]byte, error) {
	return marshalHandshake(typeCertificateVerify, func(b *cryptobyte.Builder) {
		b.AddUint16(uint16(m.scheme))
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(m.signature) })
	})
}

func (m *certificateVerifyMsg) unmarshal(data []byte) error {
	*m = certificateVerifyMsg{raw: data}
	s, err := readHandshakeBody(data, typeCertificateVerify)
	if err != nil {
		return err
	}
	var scheme uint16
	var sig cryptobyte.String
	if !s.ReadUint16(&scheme) || !s.ReadUint16LengthPrefixed(&sig) || !s.Empty() {
		return errDecode("CertificateVerify")
	}
	m.scheme, m.signature = SignatureScheme(scheme), []byte(sig)
	return nil
}

type finishedMsg struct {
	raw        []byte
	verifyData []byte
}

func (m *finishedMsg) marshal() ([]byte, error) {
	return marshalHandshake(typeFinished, func(b *cryptobyte.Builder) { b.AddBytes(m.verifyData) })
}

// unmarshal accepts any length; the handshake compares against Hash.length.
func (m *finishedMsg) unmarshal(data []byte) error {
	*m = finishedMsg{raw: data}
	s, err := readHandshakeBody(data, typeFinished)
	if err != nil {
		return err
	}
	m.verifyData = []byte(s)
	return nil
}
