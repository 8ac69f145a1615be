package parser

import (
	"slices"

	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/profile/poc"
	"github.com/attested-tls/conformance/impl/tls13"
)

const pocDraft = "CCC attested-tls-poc (paulhowardarm/mbedtls ph-tls-attestation, HEAD 01d71917e)"

// structures lists every parser vector file, in a fixed order.
func structures() []structure {
	t := codepoint.Default()
	var out []structure
	out = append(out, ta07Structures(t)...)
	out = append(out, ea07Structures(t)...)
	out = append(out, pocStructures(t)...)
	out = append(out, xp03Structures(t)...)
	return out
}

func pocStructures(t codepoint.Table) []structure {
	ext := &Extension{Name: "evidence_proposal", Codepoint: int(t.PoCEvidenceProposal)}
	entry := func(enc, cf int) []byte { return cat(u8(enc), u16(cf)) }
	eat := entry(0, int(poc.TypeEAT))
	chCases := []tcase{
		valid("[NUMERIC EAT]: what the PoC's client sends", v8(eat), "Basic", "ContentFormat"),
		valid("[NUMERIC EAT, NUMERIC 60]", v8(eat, entry(0, cfCBOR)), "ContentFormat"),
		valid("[NUMERIC 60] without EAT: the PoC's server then answers NONE(0)", v8(entry(0, cfCBOR)), "ContentFormat", "UnusualValue"),
		invalid("empty list", v8(), decodeError, "EmptyList"),
		invalid("list of 4 bytes: not whole 3-byte entries", v8(eat, u8(0)), decodeError, "Truncated"),
		invalid("STRING(1) encoding, which the PoC never implemented and whose length is unknown", v8(entry(1, int(poc.TypeEAT))), decodeError, "UnknownEncoding"),
		invalid("list length beyond the data (the fork's server walks entries without checking it)", drop(v8(eat, eat), 1), decodeError, "Truncated", "PoCLax"),
		invalid("one byte after the list", cat(v8(eat), u8(0)), decodeError, "TrailingData"),
		invalid("empty extension_data", nil, decodeError, "Truncated"),
	}
	ee := func(enc, cf int, nonce []byte) []byte { return cat(u8(enc), u16(cf), v8(nonce)) }
	eeCases := []tcase{
		valid("EAT with the fork server's fixed 8-byte nonce 00..07", ee(0, int(poc.TypeEAT), seq(8)), "Basic"),
		valid("EAT with a 32-byte nonce, the fork's maximum", ee(0, int(poc.TypeEAT), seq(32)), "NonceBounds"),
		acceptable("EAT with an empty nonce: the fork's client takes it, though it gives no freshness", ee(0, int(poc.TypeEAT), nil), decodeError, "NonceBounds", "PoCLax"),
		invalid("EAT with a 33-byte nonce: over the fork's MBEDTLS_SSL_ATTESTATION_NONCE_LEN_MAX", ee(0, int(poc.TypeEAT), seq(33)), decodeError, "NonceBounds", "PoCLimit"),
		invalid("EAT with a 255-byte nonce", ee(0, int(poc.TypeEAT), seq(255)), decodeError, "NonceBounds", "PoCLimit"),
		invalid("type NONE(0): the fork server's answer when nothing matched", ee(0, int(poc.TypeNone), seq(8)), decodeError, "PoCLimit"),
		invalid("type 60: not EAT", ee(0, cfCBOR, seq(8)), decodeError, "PoCLimit"),
		invalid("STRING(1) encoding", ee(1, int(poc.TypeEAT), seq(8)), decodeError, "UnknownEncoding"),
		invalid("nonce length beyond the data", drop(ee(0, int(poc.TypeEAT), seq(8)), 1), decodeError, "Truncated"),
		invalid("no nonce length", cat(u8(0), u16(int(poc.TypeEAT))), decodeError, "Truncated"),
		invalid("one byte after the nonce (the fork's client ignores it)", cat(ee(0, int(poc.TypeEAT), seq(8)), u8(0)), decodeError, "TrailingData", "PoCLax"),
		invalid("empty extension_data", nil, decodeError, "Truncated"),
	}
	header := []string{
		"Inputs are extension_data of extension 100 (MBEDTLS_TLS_EXT_EVIDENCE_PROPOSAL) as the PoC's mbedTLS fork put it on the wire.",
		"The format is historical (a -02-era background check in which only the client attests); verdicts follow a strict reading plus the fork client's own checks, with PoCLax/PoCLimit marking where the fork differs or limits.",
	}
	return []structure{
		{profile: poc.Name, name: "evidence_proposal.client_hello", algorithm: "poc evidence_proposal in ClientHello", draft: pocDraft, header: header,
			groups: []group{{typ: "ExtensionData", message: "client_hello", ext: ext,
				comment: "list_len(1) | { encoding(1) = NUMERIC(0) | content_format(2) }*",
				parse: func(b []byte) (any, error) {
					var x poc.EvidenceProposalCH
					if err := x.Unmarshal(b); err != nil {
						return nil, err
					}
					cfs := []any{}
					for _, cf := range x.ContentFormats {
						cfs = append(cfs, int(cf))
					}
					return map[string]any{"content_formats": cfs}, nil
				}, cases: chCases}}},
		{profile: poc.Name, name: "evidence_proposal.encrypted_extensions", algorithm: "poc evidence_proposal in EncryptedExtensions", draft: pocDraft, header: header,
			groups: []group{{typ: "ExtensionData", message: "encrypted_extensions", ext: ext,
				comment: "encoding(1) = NUMERIC(0) | content_format(2) | nonce_len(1) | nonce, judged as the fork's client does (poc.EvidenceProposalEE.CheckPoC)",
				parse: func(b []byte) (any, error) {
					var x poc.EvidenceProposalEE
					if err := x.Unmarshal(b); err != nil {
						return nil, err
					}
					if err := x.CheckPoC(); err != nil {
						return nil, err
					}
					return map[string]any{"content_format": int(x.ContentFormat), "nonce": hexs(x.Nonce)}, nil
				}, cases: eeCases}}},
		cmwStructure(poc.Name, "cmw", pocDraft, tls13.AlertDecodeError, nil,
			"poc CMW as the cert_data of the client's only CertificateEntry",
			slices.Concat(header[1:], []string{"The fork ends every verifier callback failure with decode_error, so a CMW it cannot use is decode_error."})),
	}
}
