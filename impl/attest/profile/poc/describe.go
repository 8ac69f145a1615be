package poc

import (
	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/tls13"
)

// Describe states what the profile is (party.Descriptor).
func (Profile) Describe() party.Descriptor {
	t := codepoint.Default()
	ep := party.Extension{Name: "evidence_proposal", Type: t.PoCEvidenceProposal}
	return party.Descriptor{
		Name: Name, Draft: "CCC attested-tls-poc", Revision: "731ca82",
		Title:       "CCC attested-tls-poc (paulhowardarm/mbedtls ph-tls-attestation)",
		Roles:       []party.Role{party.ClientAttests},
		Topologies:  []party.Topology{party.BackgroundCheck},
		Credentials: []party.Credential{party.AttestationOnly},
		Bindings: map[party.Credential]party.Binding{
			party.AttestationOnly: {Variant: "poc", VerifierNonce: true,
				Text: "the server's nonce in the evidence only; the attested key signs CertificateVerify"},
		},
		Carriage: map[party.Credential]party.Carriage{
			party.AttestationOnly: {Path: "CertificateEntry[0].cert_data",
				Text: "as the cert_data of its only CertificateEntry under the X.509 certificate type, the attested key signing CertificateVerify"},
		},
		Extensions: []party.Extension{ep},
		FirstFlight: func(m party.Model) []party.Extension {
			if !m.Server.Attests && !m.Client.Attests {
				return nil
			}
			return []party.Extension{ep}
		},
		CMWIn: func(_ codepoint.Table, _ party.Credential, data []byte, _ []tls13.Extension) ([]byte, error) {
			return data, nil
		},
		Alerts: party.Alerts{
			Rejected:  tls13.AlertDecodeError,
			Unoffered: tls13.AlertDecodeError,
		},
		NonceMax: 32,
		Reqs: map[party.Rule][]string{
			party.RuleChallenge:            {"POC-cert-2"},
			party.RuleMalformed:            {"POC-cert-2"},
			party.RuleCertificateVerifyKey: {"POC-cv-1"},
			party.RuleUnoffered:            {"POC-ee-2"},
			party.RuleNonceLength:          {"POC-ee-2"},
			party.RuleAppraisal:            {"POC-cert-2"},
		},
		// The server's evidence_proposal selects the one content format
		// the client offers.
		Selected: func(party.Side, string, []byte) string { return "content_format=1 (EAT)" },
	}
}
