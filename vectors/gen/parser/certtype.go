package parser

import (
	"slices"

	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/profile/ta07"
	"github.com/attested-tls/conformance/impl/tls13"
)

// RFC 7250 certificate type extensions, which ta-07 uses to negotiate its
// "attestation" certificate type (§6.1).
const (
	extClientCertType = 19
	extServerCertType = 20
)

// ext is one extension on the wire.
func extEntry(typ int, data []byte) []byte { return cat(u16(typ), v16(data)) }

// clientHello is a minimal TLS 1.3 ClientHello (one suite, X25519 key
// share of 32 zero bytes, supported_versions) with extra extensions.
func clientHello(exts ...[]byte) []byte {
	body := cat(u16(0x0303), rep(0x11, 32), v8(), v16(u16(int(tls13.TLS_AES_128_GCM_SHA256))), v8(u8(0)),
		v16(extEntry(43, v8(u16(0x0304))), extEntry(51, v16(u16(int(tls13.X25519)), v16(rep(0, 32)))), cat(exts...)))
	return cat(u8(1), v24(body))
}

// encryptedExtensions is an EncryptedExtensions message with exts.
func encryptedExtensions(exts ...[]byte) []byte {
	return cat(u8(8), v24(v16(cat(exts...))))
}

func parseMessage(b []byte) (any, error) { return nil, tls13.ParseHandshakeMessage(b) }

func certificateTypeStructure(t codepoint.Table, header []string) structure {
	att := int(t.TA07AttestationCertType)
	const x509 = 0
	chCases := []tcase{
		valid("server_certificate_type [attestation]: the client accepts only an attestation credential",
			clientHello(extEntry(extServerCertType, v8(u8(att)))), "Basic", "CertificateType"),
		valid("server_certificate_type [attestation, X.509]", clientHello(extEntry(extServerCertType, v8(u8(att), u8(x509)))), "Basic", "CertificateType"),
		valid("client_certificate_type [attestation]: the client can present an attestation credential",
			clientHello(extEntry(extClientCertType, v8(u8(att)))), "Basic", "CertificateType"),
		valid("both extensions, attestation preferred", clientHello(extEntry(extClientCertType, v8(u8(att), u8(x509))), extEntry(extServerCertType, v8(u8(att), u8(x509)))), "CertificateType"),
		invalid("server_certificate_type with an empty list (<1..2^8-1>)", clientHello(extEntry(extServerCertType, v8())), decodeError, "CertificateType", "EmptyList"),
		invalid("client_certificate_type list length 2, one type follows", clientHello(extEntry(extClientCertType, cat(u8(2), u8(att)))), decodeError, "CertificateType", "Truncated"),
		invalid("server_certificate_type with a byte after the list", clientHello(extEntry(extServerCertType, cat(v8(u8(att)), u8(0)))), decodeError, "CertificateType", "TrailingData"),
		invalid("server_certificate_type with empty extension_data", clientHello(extEntry(extServerCertType, nil)), decodeError, "CertificateType", "Truncated"),
	}
	eeCases := []tcase{
		valid("server_certificate_type attestation: the server's Certificate carries a CMW", encryptedExtensions(extEntry(extServerCertType, u8(att))), "Basic", "CertificateType"),
		valid("client_certificate_type attestation: the client must present a CMW", encryptedExtensions(extEntry(extClientCertType, u8(att))), "Basic", "CertificateType"),
		valid("both, with ta-07's evidence_proposal beside them", encryptedExtensions(extEntry(extServerCertType, u8(att)), extEntry(extClientCertType, u8(att)),
			extEntry(int(t.TA07EvidenceProposal), cat(etMT(kindAttestation, tpmMT), v8(seq(32))))), "CertificateType"),
		invalid("server_certificate_type as a list [attestation] (the ClientHello form)", encryptedExtensions(extEntry(extServerCertType, v8(u8(att)))), decodeError, "CertificateType", "TrailingData"),
		invalid("server_certificate_type with two types", encryptedExtensions(extEntry(extServerCertType, cat(u8(att), u8(x509)))), decodeError, "CertificateType", "TrailingData"),
		invalid("client_certificate_type with empty extension_data", encryptedExtensions(extEntry(extClientCertType, nil)), decodeError, "CertificateType", "Truncated"),
	}
	return structure{profile: ta07.Name, name: "certificate_type", algorithm: "ta-07 certificate type negotiation (RFC 7250 extensions with the \"attestation\" type)",
		draft: ta07Draft, header: slices.Concat(header, []string{
			"Inputs are whole handshake messages (4-byte header included) carrying client_certificate_type (19) and server_certificate_type (20).",
			"The \"attestation\" certificate type is TBD in the draft; the vectors use this project's default (224).",
			"Negotiation rules beyond syntax (a selected type that was not offered, a Certificate that does not match the selected type) are handshake-level checks the traces exercise."}),
		groups: []group{
			{typ: "HandshakeMessage", message: "client_hello", comment: "ClientHello with certificate type lists (CertificateType client_certificate_types<1..2^8-1>)", parse: parseMessage, cases: chCases},
			{typ: "HandshakeMessage", message: "encrypted_extensions", comment: "EncryptedExtensions with one selected certificate type", parse: parseMessage, cases: eeCases},
		}}
}
