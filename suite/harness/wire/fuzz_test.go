package wire

import (
	"testing"

	"github.com/attested-tls/conformance/impl/tls13"
)

// FuzzMessage: the readers never panic, and what they read re-encodes to
// the input (the formats have one encoding).
func FuzzMessage(f *testing.F) {
	f.Add([]byte(clientHello(sample)))
	f.Add([]byte(certificate([]tls13.CertificateEntry{{Data: []byte("leaf"), Extensions: sample}, {Data: []byte("ca")}})))
	f.Add([]byte{EncryptedExtensions, 0, 0, 2, 0, 0})
	f.Add([]byte{CertificateRequest, 0, 0, 3, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		m := Message(data)
		if exts, err := m.Extensions(); err == nil && m.Type() == EncryptedExtensions {
			if re := encryptedExtensions(exts); string(re) != string(data) {
				t.Fatalf("EncryptedExtensions re-encodes to %x, input %x", re, data)
			}
		}
		if c, err := m.Certificate(); err == nil && len(c.Context) == 0 {
			if re := certificate(c.Entries); string(re) != string(data) {
				t.Fatalf("Certificate re-encodes to %x, input %x", re, data)
			}
		}
	})
}
