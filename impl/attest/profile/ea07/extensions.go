package ea07

import (
	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/profile/codec"
	"github.com/attested-tls/conformance/impl/tls13"
)

// Extensions is where remoteAttestation may appear: the four cases of its
// §4.1 select (client_hello, encrypted_extensions, certificate_request,
// certificate), the last one only in "the first CertificateEntry" (§4.1,
// whose MUST NOT for the others names illegal_parameter itself). A
// post-handshake CertificateRequest (§5.4.1) is a CertificateRequest.
func Extensions(t codepoint.Table) []codec.Extension {
	return []codec.Extension{{Name: "remoteAttestation", Type: t.EA07RemoteAttestation,
		Allowed: tls13.InClientHello | tls13.InEncryptedExtensions | tls13.InCertificateRequest | tls13.InFirstCertificateEntry}}
}
