package ta07

import (
	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/profile/codec"
	"github.com/attested-tls/conformance/impl/tls13"
)

// Extensions is where each ta-07 extension may appear.
//
// The four negotiation extensions go in ClientHello and EncryptedExtensions:
// §12.1 says "These extensions are used in the ClientHello and the
// EncryptedExtensions messages", as do the §8 figures. The structs' select
// names "server_hello" and §8.1.2 says the proposal "in the ServerHello MUST
// be omitted", but RFC 8446 §4.2 keeps ServerHello for key exchange, and no
// text puts a value there: ServerHello is not allowed.
//
// attestation_evidence is a CertificateEntry extension (§6.2). The draft
// does not say which entry; the evidence speaks for the end-entity's key
// (§6.2.1 binds the leaf), so the first entry alone.
func Extensions(t codepoint.Table) []codec.Extension {
	negotiation := tls13.InClientHello | tls13.InEncryptedExtensions
	return []codec.Extension{
		{Name: "evidence_request", Type: t.TA07EvidenceRequest, Allowed: negotiation},
		{Name: "evidence_proposal", Type: t.TA07EvidenceProposal, Allowed: negotiation},
		{Name: "results_request", Type: t.TA07ResultsRequest, Allowed: negotiation},
		{Name: "results_proposal", Type: t.TA07ResultsProposal, Allowed: negotiation},
		{Name: "attestation_evidence", Type: t.TA07AttestationEvidence, Allowed: tls13.InFirstCertificateEntry},
	}
}
