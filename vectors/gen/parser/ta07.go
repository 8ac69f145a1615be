package parser

import (
	"encoding/hex"
	"slices"

	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/profile/ta07"
	"github.com/attested-tls/conformance/impl/tls13"
)

const ta07Draft = "draft-fossati-tls-attestation-07"

var (
	decodeError      = tls13.AlertDecodeError
	illegalParameter = tls13.AlertIllegalParameter
)

// EvidenceType encodings (§6): credential_kind, type_encoding, then a
// uint16 content_format or an opaque media_type<0..2^16-1>.
func etCF(kind, cf int) []byte             { return cat(u8(kind), u8(0), u16(cf)) }
func etMT(kind int, mt string) []byte      { return cat(u8(kind), u8(1), v16(str(mt))) }
func etRaw(kind, enc int, b []byte) []byte { return cat(u8(kind), u8(enc), b) }

const (
	kindAttestation     = 0
	kindCertAttestation = 1
	// cfCBOR is the content-format of application/cbor; any uint16 will do.
	cfCBOR = 60
)

var tpmMT = parsectpm.MediaType

func hexs(b []byte) string { return hex.EncodeToString(b) }

func renderEvidenceType(t ta07.EvidenceType) map[string]any {
	m := map[string]any{"credential_kind": t.CredentialKind.String(), "type_encoding": t.Encoding.String()}
	if t.Encoding == ta07.ContentFormat {
		m["content_format"] = int(t.ContentFormat)
	} else {
		m["media_type"] = t.MediaType
	}
	return m
}

func renderEvidenceTypes(ts []ta07.EvidenceType) []any {
	out := []any{}
	for _, t := range ts {
		out = append(out, renderEvidenceType(t))
	}
	return out
}

func renderVerifiers(vs []ta07.VerifierIdentity) []any {
	out := []any{}
	for _, v := range vs {
		out = append(out, hexs(v))
	}
	return out
}

// manyCF is a supported_evidence_types list of n CONTENT_FORMAT entries.
func manyCF(n int) []byte {
	var b []byte
	for i := range n {
		b = append(b, etCF(kindAttestation, 1000+i)...)
	}
	return b
}

// evidenceTypeCases are EvidenceType on its own, as in the EE form of
// evidence_request; wrap builds the input around one EvidenceType.
func evidenceTypeCases(wrap func(et []byte) []byte) []tcase {
	return []tcase{
		valid("ATTESTATION, MEDIA_TYPE: Parsec TPM evidence", wrap(etMT(kindAttestation, tpmMT)), "Basic", "MediaType"),
		valid("CERT_ATTESTATION, MEDIA_TYPE: Parsec TPM evidence", wrap(etMT(kindCertAttestation, tpmMT)), "Basic", "MediaType"),
		valid("ATTESTATION, CONTENT_FORMAT 60", wrap(etCF(kindAttestation, cfCBOR)), "Basic", "ContentFormat"),
		valid("CERT_ATTESTATION, CONTENT_FORMAT 60", wrap(etCF(kindCertAttestation, cfCBOR)), "Basic", "ContentFormat"),
		valid("CONTENT_FORMAT 0", wrap(etCF(kindAttestation, 0)), "ContentFormat", "UnusualValue"),
		valid("CONTENT_FORMAT 65535", wrap(etCF(kindAttestation, 65535)), "ContentFormat", "UnusualValue"),
		valid("empty media_type: media_type<0..2^16-1> allows it", wrap(etMT(kindAttestation, "")), "MediaType", "EmptyValue"),
		valid("media_type with parameters", wrap(etMT(kindAttestation, `application/eat+cwt; eat_profile="tag:example.com,2026:x"`)), "MediaType", "UnusualValue"),
		invalid("type_encoding 2 has no select arm", wrap(etRaw(kindAttestation, 2, u16(cfCBOR))), decodeError, "UnknownEncoding"),
		invalid("type_encoding 255 has no select arm", wrap(etRaw(kindAttestation, 255, u16(cfCBOR))), decodeError, "UnknownEncoding"),
		invalid("credential_kind 2 is undefined", wrap(etCF(2, cfCBOR)), illegalParameter, "UnknownCredentialKind"),
		invalid("credential_kind 255 is undefined", wrap(etMT(255, tpmMT)), illegalParameter, "UnknownCredentialKind"),
		invalid("content_format cut to one byte", wrap(cat(u8(kindAttestation), u8(0), u8(cfCBOR))), decodeError, "Truncated"),
		invalid("media_type length says 10, 5 bytes follow", wrap(cat(u8(kindAttestation), u8(1), u16(10), str("appli"))), decodeError, "Truncated"),
		invalid("media_type length cut to one byte", wrap(cat(u8(kindAttestation), u8(1), u8(0))), decodeError, "Truncated"),
		invalid("credential_kind only", wrap(u8(kindAttestation)), decodeError, "Truncated"),
	}
}

func ta07Structures(t codepoint.Table) []structure {
	ext := func(name string, cp uint16) *Extension { return &Extension{Name: name, Codepoint: int(cp)} }
	nonce32 := seq(32)

	// evidence_request in ClientHello: supported_evidence_types<1..2^8-1>, nonce<8..2^8-1>.
	reqCH := func(types, nonce []byte) []byte { return cat(v8(types), v8(nonce)) }
	evReqCHCases := []tcase{
		valid("one MEDIA_TYPE type, 32-byte nonce (what the reference client sends)", reqCH(etMT(kindAttestation, tpmMT), nonce32), "Basic", "MediaType"),
		valid("one CONTENT_FORMAT type, 32-byte nonce", reqCH(etCF(kindAttestation, cfCBOR), nonce32), "Basic", "ContentFormat"),
		valid("both encodings and both credential kinds", reqCH(cat(etMT(kindCertAttestation, tpmMT), etCF(kindAttestation, cfCBOR)), nonce32), "Basic", "MediaType", "ContentFormat"),
		valid("nonce of 8 bytes, the minimum", reqCH(etMT(kindAttestation, tpmMT), seq(8)), "NonceBounds"),
		valid("nonce of 255 bytes, the maximum", reqCH(etMT(kindAttestation, tpmMT), seq(255)), "NonceBounds"),
		valid("63 CONTENT_FORMAT types: 252 bytes, the longest whole list", reqCH(manyCF(63), nonce32), "ListBounds"),
		valid("empty media_type", reqCH(etMT(kindAttestation, ""), nonce32), "EmptyValue"),
		invalid("nonce of 7 bytes, one below the minimum", reqCH(etMT(kindAttestation, tpmMT), seq(7)), decodeError, "NonceBounds"),
		invalid("empty nonce", reqCH(etMT(kindAttestation, tpmMT), nil), decodeError, "NonceBounds"),
		invalid("no nonce at all", v8(etMT(kindAttestation, tpmMT)), decodeError, "Truncated"),
		invalid("nonce length 32, 31 bytes follow", drop(reqCH(etMT(kindAttestation, tpmMT), nonce32), 1), decodeError, "Truncated"),
		invalid("empty supported_evidence_types", reqCH(nil, nonce32), decodeError, "EmptyList"),
		invalid("supported_evidence_types length 3 cuts a 4-byte EvidenceType", cat(u8(3), etCF(kindAttestation, cfCBOR), v8(nonce32)), decodeError, "Truncated"),
		invalid("supported_evidence_types length beyond the data", cat(u8(200), etCF(kindAttestation, cfCBOR)), decodeError, "Truncated"),
		invalid("type_encoding 2 in the list", reqCH(etRaw(kindAttestation, 2, u16(cfCBOR)), nonce32), decodeError, "UnknownEncoding"),
		invalid("credential_kind 2 in the list", reqCH(etCF(2, cfCBOR), nonce32), illegalParameter, "UnknownCredentialKind"),
		invalid("one byte after the nonce", cat(reqCH(etMT(kindAttestation, tpmMT), nonce32), u8(0)), decodeError, "TrailingData"),
		invalid("empty extension_data", nil, decodeError, "Truncated"),
		// Nonce lengths around a TPM's 64-byte qualifying data (TA07-I-6):
		// the wire allows them all.
		valid("nonce of 64 bytes, the most TPM qualifying data holds", reqCH(etMT(kindAttestation, tpmMT), seq(64)), "NonceBounds"),
		valid("nonce of 65 bytes, one more than TPM qualifying data holds", reqCH(etMT(kindAttestation, tpmMT), seq(65)), "NonceBounds"),
	}

	// evidence_proposal in EncryptedExtensions: selected type and nonce.
	propEE := func(et, nonce []byte) []byte { return cat(et, v8(nonce)) }
	evPropEECases := []tcase{
		valid("MEDIA_TYPE, 32-byte nonce (what the reference server sends)", propEE(etMT(kindAttestation, tpmMT), nonce32), "Basic", "MediaType"),
		valid("CERT_ATTESTATION, CONTENT_FORMAT, 32-byte nonce", propEE(etCF(kindCertAttestation, cfCBOR), nonce32), "Basic", "ContentFormat"),
		valid("nonce of 8 bytes, the minimum", propEE(etMT(kindAttestation, tpmMT), seq(8)), "NonceBounds"),
		valid("nonce of 64 bytes", propEE(etMT(kindAttestation, tpmMT), seq(64)), "NonceBounds"),
		valid("nonce of 255 bytes, the maximum", propEE(etMT(kindAttestation, tpmMT), seq(255)), "NonceBounds"),
		invalid("nonce of 7 bytes", propEE(etMT(kindAttestation, tpmMT), seq(7)), decodeError, "NonceBounds"),
		invalid("empty nonce", propEE(etMT(kindAttestation, tpmMT), nil), decodeError, "NonceBounds"),
		invalid("no nonce", etMT(kindAttestation, tpmMT), decodeError, "Truncated"),
		invalid("nonce length 32, 31 bytes follow", drop(propEE(etMT(kindAttestation, tpmMT), nonce32), 1), decodeError, "Truncated"),
		invalid("type_encoding 2", propEE(etRaw(kindAttestation, 2, u16(cfCBOR)), nonce32), decodeError, "UnknownEncoding"),
		invalid("credential_kind 2", propEE(etCF(2, cfCBOR), nonce32), illegalParameter, "UnknownCredentialKind"),
		invalid("one byte after the nonce", cat(propEE(etMT(kindAttestation, tpmMT), nonce32), u8(0)), decodeError, "TrailingData"),
		invalid("empty extension_data", nil, decodeError, "Truncated"),
		valid("nonce of 65 bytes, one more than TPM qualifying data holds (TA07-I-6)", propEE(etMT(kindAttestation, tpmMT), seq(65)), "NonceBounds"),
	}

	propCH := func(types []byte) []byte { return v8(types) }
	evPropCHCases := []tcase{
		valid("one MEDIA_TYPE type (what the reference client sends)", propCH(etMT(kindAttestation, tpmMT)), "Basic", "MediaType"),
		valid("one CONTENT_FORMAT type", propCH(etCF(kindCertAttestation, cfCBOR)), "Basic", "ContentFormat"),
		valid("both encodings", propCH(cat(etCF(kindAttestation, cfCBOR), etMT(kindCertAttestation, tpmMT))), "MediaType", "ContentFormat"),
		valid("63 CONTENT_FORMAT types: 252 bytes", propCH(manyCF(63)), "ListBounds"),
		invalid("empty supported_evidence_types", propCH(nil), decodeError, "EmptyList"),
		invalid("list length beyond the data", drop(propCH(etMT(kindAttestation, tpmMT)), 1), decodeError, "Truncated"),
		invalid("list length 3 cuts a 4-byte EvidenceType", cat(u8(3), etCF(kindAttestation, cfCBOR)), decodeError, "Truncated"),
		invalid("type_encoding 2", propCH(etRaw(kindAttestation, 2, u16(1))), decodeError, "UnknownEncoding"),
		invalid("credential_kind 2", propCH(etMT(2, tpmMT)), illegalParameter, "UnknownCredentialKind"),
		invalid("one byte after the list", cat(propCH(etMT(kindAttestation, tpmMT)), u8(0)), decodeError, "TrailingData"),
		invalid("empty extension_data", nil, decodeError, "Truncated"),
	}

	id32 := seq(32)
	vid := func(id []byte) []byte { return v16(id) }
	resCHCases := []tcase{
		valid("one 32-byte verifier identity (what the reference sends: SHA-256 of the verifier's key)", v8(vid(id32)), "Basic", "VerifierIdentity"),
		valid("two verifier identities", v8(vid(id32), vid(rep(0xee, 20))), "Basic", "VerifierIdentity"),
		valid("an empty verifier identity: verifier_identity<0..2^16-1> allows it", v8(vid(nil)), "VerifierIdentity", "EmptyValue"),
		valid("one identity of 253 bytes, filling the 255-byte list", v8(vid(rep(0x5a, 253))), "VerifierIdentity", "ListBounds"),
		invalid("empty trusted_verifiers", v8(), decodeError, "EmptyList"),
		invalid("identity length 32, 31 bytes follow (the list length counts the 33 bytes there are)", cat(u8(33), u16(32), seq(31)), decodeError, "Truncated"),
		invalid("list length beyond the data", drop(v8(vid(id32)), 1), decodeError, "Truncated"),
		invalid("a one-byte identity length", v8(u8(0)), decodeError, "Truncated"),
		invalid("one byte after the list", cat(v8(vid(id32)), u8(0)), decodeError, "TrailingData"),
		invalid("empty extension_data", nil, decodeError, "Truncated"),
	}
	resEECases := []tcase{
		valid("a 32-byte verifier identity", vid(id32), "Basic", "VerifierIdentity"),
		valid("an empty verifier identity", vid(nil), "VerifierIdentity", "EmptyValue"),
		valid("a 300-byte identity: longer than any the ClientHello list can offer", vid(rep(0x33, 300)), "VerifierIdentity", "UnusualValue"),
		invalid("identity length 32, 31 bytes follow", drop(vid(id32), 1), decodeError, "Truncated"),
		invalid("one byte", u8(0), decodeError, "Truncated"),
		invalid("one byte after the identity", cat(vid(id32), u8(0)), decodeError, "TrailingData"),
		invalid("empty extension_data", nil, decodeError, "Truncated"),
	}

	codepoints := "Extension codepoints, the certificate type and the alerts are TBD in the draft; the values here are this project's defaults (impl/attest/codepoint)."
	header := []string{"Inputs are extension_data of draft-fossati-tls-attestation-07 extensions (§6–§8).", codepoints}
	shared := "results_request and results_proposal share this form; the vectors hold for both codepoints."
	return []structure{
		{profile: ta07.Name, name: "evidence_request.client_hello", algorithm: "ta-07 evidence_request in ClientHello", draft: ta07Draft, header: header,
			groups: []group{{typ: "ExtensionData", message: "client_hello", ext: ext("evidence_request", t.TA07EvidenceRequest),
				comment: "struct { EvidenceType supported_evidence_types<1..2^8-1>; opaque nonce<8..2^8-1>; }",
				parse:   parseTA07(func() ta07Codec { return &ta07.EvidenceRequestCH{} }), cases: evReqCHCases}}},
		{profile: ta07.Name, name: "evidence_request.encrypted_extensions", algorithm: "ta-07 evidence_request in EncryptedExtensions (EvidenceType)", draft: ta07Draft, header: header,
			groups: []group{{typ: "ExtensionData", message: "encrypted_extensions", ext: ext("evidence_request", t.TA07EvidenceRequest),
				comment: "EvidenceType selected_evidence_type: both encodings, credential kinds, malformed",
				parse:   parseTA07(func() ta07Codec { return &ta07.EvidenceRequestEE{} }),
				cases: append(evidenceTypeCases(func(et []byte) []byte { return et }),
					invalid("one byte after the EvidenceType", cat(etCF(kindAttestation, cfCBOR), u8(0)), decodeError, "TrailingData"),
					invalid("empty extension_data", nil, decodeError, "Truncated"))}}},
		{profile: ta07.Name, name: "evidence_proposal.client_hello", algorithm: "ta-07 evidence_proposal in ClientHello", draft: ta07Draft, header: header,
			groups: []group{{typ: "ExtensionData", message: "client_hello", ext: ext("evidence_proposal", t.TA07EvidenceProposal),
				comment: "struct { EvidenceType supported_evidence_types<1..2^8-1>; }",
				parse:   parseTA07(func() ta07Codec { return &ta07.EvidenceProposalCH{} }), cases: evPropCHCases}}},
		{profile: ta07.Name, name: "evidence_proposal.encrypted_extensions", algorithm: "ta-07 evidence_proposal in EncryptedExtensions", draft: ta07Draft, header: header,
			groups: []group{{typ: "ExtensionData", message: "encrypted_extensions", ext: ext("evidence_proposal", t.TA07EvidenceProposal),
				comment: "struct { EvidenceType selected_evidence_type; opaque nonce<8..2^8-1>; }",
				parse:   parseTA07(func() ta07Codec { return &ta07.EvidenceProposalEE{} }), cases: evPropEECases}}},
		{profile: ta07.Name, name: "results.client_hello", algorithm: "ta-07 results_request and results_proposal in ClientHello", draft: ta07Draft,
			header: slices.Concat(header, []string{shared}),
			groups: []group{{typ: "ExtensionData", message: "client_hello", ext: ext("results_request", t.TA07ResultsRequest),
				comment: "struct { VerifierIdentityType trusted_verifiers<1..2^8-1>; }; VerifierIdentityType { opaque verifier_identity<0..2^16-1>; }",
				parse:   parseTA07(func() ta07Codec { return &ta07.ResultsCH{} }), cases: resCHCases}}},
		{profile: ta07.Name, name: "results.encrypted_extensions", algorithm: "ta-07 results_request and results_proposal in EncryptedExtensions", draft: ta07Draft,
			header: slices.Concat(header, []string{shared}),
			groups: []group{{typ: "ExtensionData", message: "encrypted_extensions", ext: ext("results_request", t.TA07ResultsRequest),
				comment: "struct { VerifierIdentityType selected_verifier; }",
				parse:   parseTA07(func() ta07Codec { return &ta07.ResultsEE{} }), cases: resEECases}}},
		certificateTypeStructure(t, []string{codepoints}),
		cmwStructure(ta07.Name, "cmw", ta07Draft, tls13.AlertBadCertificate, ext("attestation_evidence", t.TA07AttestationEvidence),
			"ta-07 CMW in the Certificate message (cert_data of an \"attestation\" certificate, or the attestation_evidence CertificateEntry extension)",
			[]string{codepoints, "The draft names no alert for an attestation it cannot use; the reference implementation sends bad_certificate (RFC 8446 §6.2)."}),
	}
}

// ta07Codec is what every ta-07 extension type implements.
type ta07Codec interface{ Unmarshal([]byte) error }

func parseTA07(mk func() ta07Codec) func([]byte) (any, error) {
	return func(b []byte) (any, error) {
		v := mk()
		if err := v.Unmarshal(b); err != nil {
			return nil, err
		}
		switch x := v.(type) {
		case *ta07.EvidenceRequestCH:
			return map[string]any{"supported_evidence_types": renderEvidenceTypes(x.SupportedEvidenceTypes), "nonce": hexs(x.Nonce)}, nil
		case *ta07.EvidenceRequestEE:
			return map[string]any{"selected_evidence_type": renderEvidenceType(x.SelectedEvidenceType)}, nil
		case *ta07.EvidenceProposalCH:
			return map[string]any{"supported_evidence_types": renderEvidenceTypes(x.SupportedEvidenceTypes)}, nil
		case *ta07.EvidenceProposalEE:
			return map[string]any{"selected_evidence_type": renderEvidenceType(x.SelectedEvidenceType), "nonce": hexs(x.Nonce)}, nil
		case *ta07.ResultsCH:
			return map[string]any{"trusted_verifiers": renderVerifiers(x.TrustedVerifiers)}, nil
		case *ta07.ResultsEE:
			return map[string]any{"selected_verifier": hexs(x.SelectedVerifier)}, nil
		}
		panic("parser: unrendered ta-07 type")
	}
}
