package tls13

import "golang.org/x/crypto/cryptobyte"

type encryptedExtensionsMsg struct {
	raw  []byte
	exts []Extension

	// Decoded by unmarshal.
	alpn              string
	clientCertType    CertificateType
	hasClientCertType bool
	serverCertType    CertificateType
	hasServerCertType bool
}

func (m *encryptedExtensionsMsg) marshal() ([]byte, error) {
	return marshalHandshake(typeEncryptedExtensions, func(b *cryptobyte.Builder) {
		addExtensions(b, m.exts)
	})
}

func (m *encryptedExtensionsMsg) unmarshal(data []byte) error {
	*m = encryptedExtensionsMsg{raw: data}
	s, err := readHandshakeBody(data, typeEncryptedExtensions)
	if err != nil {
		return err
	}
	if m.exts, err = readExtensions(&s); err != nil {
		return err
	}
	if !s.Empty() {
		return errDecode("EncryptedExtensions trailing data")
	}
	for _, e := range m.exts {
		switch e.Type {
		case extServerName:
			if len(e.Data) != 0 { // RFC 6066 §3: the server's extension_data is empty
				return errDecode("server_name in EncryptedExtensions")
			}
		case extALPN:
			var p []string
			if p, err = decodeALPN(e.Data); err == nil && len(p) != 1 {
				err = errDecode("ALPN in EncryptedExtensions")
			}
			if err == nil {
				m.alpn = p[0]
			}
		case extClientCertType, extServerCertType:
			if len(e.Data) != 1 {
				return errDecode("certificate_type in EncryptedExtensions")
			}
			if e.Type == extClientCertType {
				m.clientCertType, m.hasClientCertType = CertificateType(e.Data[0]), true
			} else {
				m.serverCertType, m.hasServerCertType = CertificateType(e.Data[0]), true
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}
