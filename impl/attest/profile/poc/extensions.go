package poc

import (
	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/profile/codec"
	"github.com/attested-tls/conformance/impl/tls13"
)

// Extensions is where extension 100 may appear: the fork writes and parses
// it in ClientHello and EncryptedExtensions only, and its Certificate has
// none ("Currently, we don't have any certificate extensions defined").
func Extensions(t codepoint.Table) []codec.Extension {
	return []codec.Extension{{Name: "evidence_proposal", Type: t.PoCEvidenceProposal,
		Allowed: tls13.InClientHello | tls13.InEncryptedExtensions}}
}
