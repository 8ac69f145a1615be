package parser

import (
	"slices"

	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/profile/ea07"
	"github.com/attested-tls/conformance/impl/tls13"
)

const ea07Draft = "draft-fossati-seat-early-attestation-07"

// AttestationScheme encodings (§4.1): mechanism, then an EvidenceType
// (type_encoding and content_format or media_type) for evidence(0), or a
// VerifierIdentityType for result(1).
func schemeMT(mt string) []byte     { return cat(u8(0), u8(1), v16(str(mt))) }
func schemeCF(cf int) []byte        { return cat(u8(0), u8(0), u16(cf)) }
func schemeResult(id []byte) []byte { return cat(u8(1), v16(id)) }

func renderScheme(s ea07.AttestationScheme) map[string]any {
	m := map[string]any{"mechanism": s.Mechanism.String()}
	switch s.Mechanism {
	case ea07.MechanismEvidence:
		et := map[string]any{}
		if s.Evidence.Encoding == ea07.ContentFormat {
			et["type_encoding"], et["content_format"] = "CONTENT_FORMAT", int(s.Evidence.ContentFormat)
		} else {
			et["type_encoding"], et["media_type"] = "MEDIA_TYPE", s.Evidence.MediaType
		}
		m["evidence_type"] = et
	case ea07.MechanismResult:
		m["verifier_identity"] = hexs(s.Verifier)
	}
	return m
}

func renderSchemes(list []ea07.AttestationScheme) []any {
	out := []any{}
	for _, s := range list {
		out = append(out, renderScheme(s))
	}
	return out
}

// schemeCases are one AttestationScheme on its own (the EncryptedExtensions
// and CertificateRequest forms).
func schemeCases() []tcase {
	return []tcase{
		valid("evidence, MEDIA_TYPE: Parsec TPM evidence (what the reference implementation chooses)", schemeMT(tpmMT), "Basic", "MediaType"),
		valid("evidence, CONTENT_FORMAT 60", schemeCF(cfCBOR), "Basic", "ContentFormat"),
		valid("result from a verifier with a 32-byte identity", schemeResult(seq(32)), "Basic", "VerifierIdentity"),
		valid("result from a verifier with an empty identity", schemeResult(nil), "VerifierIdentity", "EmptyValue"),
		valid("evidence with an empty media_type", schemeMT(""), "MediaType", "EmptyValue"),
		invalid("mechanism 2 has no select arm", cat(u8(2), v16(seq(32))), decodeError, "UnknownMechanism"),
		invalid("mechanism 255", cat(u8(255), v16(seq(32))), decodeError, "UnknownMechanism"),
		invalid("evidence with type_encoding 2", cat(u8(0), u8(2), u16(cfCBOR)), decodeError, "UnknownEncoding"),
		invalid("evidence with content_format cut to one byte", cat(u8(0), u8(0), u8(cfCBOR)), decodeError, "Truncated"),
		invalid("evidence with media_type length beyond the data", drop(schemeMT(tpmMT), 1), decodeError, "Truncated"),
		invalid("result with verifier_identity length beyond the data", drop(schemeResult(seq(32)), 1), decodeError, "Truncated"),
		invalid("mechanism only", u8(0), decodeError, "Truncated"),
		invalid("two schemes where one is expected", cat(schemeMT(tpmMT), schemeCF(cfCBOR)), decodeError, "TrailingData"),
		invalid("empty extension_data", nil, decodeError, "Truncated"),
	}
}

func ea07Structures(t codepoint.Table) []structure {
	ext := &Extension{Name: "remoteAttestation", Codepoint: int(t.EA07RemoteAttestation)}
	unsupported := tls13.AlertCode(t.EA07UnsupportedAttestationSchemes)
	ch := func(srv, cli []byte) []byte { return cat(v16(srv), v16(cli)) }
	chCases := []tcase{
		valid("server_attester_schemes [evidence], no client schemes: the client verifies the server", ch(schemeMT(tpmMT), nil), "Basic", "MediaType"),
		valid("client_attester_schemes [evidence], no server schemes: the client offers to attest", ch(nil, schemeMT(tpmMT)), "Basic", "MediaType"),
		valid("both lists, evidence and result schemes", ch(cat(schemeMT(tpmMT), schemeResult(seq(32))), cat(schemeResult(seq(32)), schemeCF(cfCBOR))), "Basic", "VerifierIdentity", "ContentFormat"),
		valid("a result scheme naming a 255-byte verifier identity", ch(schemeResult(rep(0x77, 255)), nil), "VerifierIdentity", "UnusualValue"),
		invalid("both lists empty: §7.2 requires unsupported_attestation_schemes", ch(nil, nil), unsupported, "SemanticCheck", "EmptyList"),
		invalid("mechanism 2 in server_attester_schemes", ch(cat(u8(2), v16(seq(32))), nil), decodeError, "UnknownMechanism"),
		invalid("type_encoding 2 in client_attester_schemes", ch(nil, cat(u8(0), u8(2), u16(cfCBOR))), decodeError, "UnknownEncoding"),
		invalid("server_attester_schemes length cuts a scheme", cat(u16(3), schemeCF(cfCBOR), v16()), decodeError, "Truncated"),
		invalid("client_attester_schemes missing", v16(schemeMT(tpmMT)), decodeError, "Truncated"),
		invalid("client_attester_schemes length beyond the data", drop(ch(nil, schemeMT(tpmMT)), 1), decodeError, "Truncated"),
		invalid("one byte after the lists", cat(ch(schemeMT(tpmMT), nil), u8(0)), decodeError, "TrailingData"),
		invalid("empty extension_data", nil, decodeError, "Truncated"),
	}
	certCases := []tcase{
		valid("cmw_payload holding a CBOR record (what the reference implementation sends)", v24(cArray(cText(tpmMT), cBytes(str("parsec tpm evidence")))), "Basic"),
		valid("a one-byte cmw_payload: the extension's syntax does not look inside", v24(u8(0x82)), "ListBounds"),
		invalid("empty cmw_payload (<1..2^24-1>)", v24(), decodeError, "EmptyList"),
		invalid("cmw_payload length beyond the data", drop(v24(seq(10)), 1), decodeError, "Truncated"),
		invalid("a two-byte length", u16(1), decodeError, "Truncated"),
		invalid("one byte after cmw_payload", cat(v24(seq(10)), u8(0)), decodeError, "TrailingData"),
		invalid("empty extension_data", nil, decodeError, "Truncated"),
	}
	source := []string{
		"Source: the editor's copy of draft-fossati-seat-early-attestation at 0108ee6 (post -06); §4.1 and §5.1.1 are reported unchanged in -07.",
		"The extension codepoint and the alerts are TBD in the draft; the values here are this project's defaults (impl/attest/codepoint).",
	}
	header := slices.Concat([]string{"Inputs are extension_data of the remoteAttestation extension (§4.1) in each message it appears in."}, source)
	return []structure{
		{profile: ea07.Name, name: "remote_attestation.client_hello", algorithm: "ea-07 remoteAttestation in ClientHello", draft: ea07Draft, header: header,
			groups: []group{{typ: "ExtensionData", message: "client_hello", ext: ext,
				comment: "struct { AttestationScheme server_attester_schemes<0..2^16-1>; AttestationScheme client_attester_schemes<0..2^16-1>; }",
				parse:   parseEA07CH(unsupported), cases: chCases}}},
		{profile: ea07.Name, name: "remote_attestation.encrypted_extensions", algorithm: "ea-07 remoteAttestation in EncryptedExtensions", draft: ea07Draft, header: header,
			groups: []group{{typ: "ExtensionData", message: "encrypted_extensions", ext: ext,
				comment: "struct { AttestationScheme chosen_server_scheme; }",
				parse: func(b []byte) (any, error) {
					var x ea07.RemoteAttestationEE
					if err := x.Unmarshal(b); err != nil {
						return nil, err
					}
					return map[string]any{"chosen_server_scheme": renderScheme(x.ChosenServerScheme)}, nil
				}, cases: schemeCases()}}},
		{profile: ea07.Name, name: "remote_attestation.certificate_request", algorithm: "ea-07 remoteAttestation in CertificateRequest", draft: ea07Draft, header: header,
			groups: []group{{typ: "ExtensionData", message: "certificate_request", ext: ext,
				comment: "struct { AttestationScheme chosen_client_scheme; }",
				parse: func(b []byte) (any, error) {
					var x ea07.RemoteAttestationCR
					if err := x.Unmarshal(b); err != nil {
						return nil, err
					}
					return map[string]any{"chosen_client_scheme": renderScheme(x.ChosenClientScheme)}, nil
				}, cases: schemeCases()}}},
		{profile: ea07.Name, name: "remote_attestation.certificate", algorithm: "ea-07 remoteAttestation in the first CertificateEntry", draft: ea07Draft,
			header: slices.Concat(header, []string{"cmw_payload<1..2^24-1> sits in extension_data<0..2^16-1>, so at most 65532 bytes fit; the draft does not address this."}),
			groups: []group{{typ: "ExtensionData", message: "certificate", ext: ext,
				comment: "struct { opaque cmw_payload<1..2^24-1>; }",
				parse: func(b []byte) (any, error) {
					var x ea07.RemoteAttestationCertificate
					if err := x.Unmarshal(b); err != nil {
						return nil, err
					}
					return map[string]any{"cmw_payload": hexs(x.CMWPayload)}, nil
				}, cases: certCases}}},
		cmwStructure(ea07.Name, "cmw", ea07Draft, tls13.AlertCode(t.EA07AttestationFailed), ext,
			"ea-07 CMW in cmw_payload of the remoteAttestation Certificate extension",
			slices.Concat(source, []string{"§5.1.2: a CMW the relying party cannot use is attestation_failed."})),
	}
}

// parseEA07CH is the ClientHello extension's syntax plus §7.2's rule that a
// server supporting the extension rejects two empty lists (the check the
// ea-07 hooks make on receipt).
func parseEA07CH(unsupported tls13.AlertCode) func([]byte) (any, error) {
	return func(b []byte) (any, error) {
		var x ea07.RemoteAttestationCH
		if err := x.Unmarshal(b); err != nil {
			return nil, err
		}
		if len(x.ServerAttesterSchemes) == 0 && len(x.ClientAttesterSchemes) == 0 {
			return nil, tls13.Alertf(unsupported, "ea-07: both scheme lists empty (§7.2)")
		}
		return map[string]any{"server_attester_schemes": renderSchemes(x.ServerAttesterSchemes),
			"client_attester_schemes": renderSchemes(x.ClientAttesterSchemes)}, nil
	}
}
