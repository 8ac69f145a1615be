package ta07

import (
	"errors"

	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/tls13"
)

// Describe states what the profile is (party.Descriptor).
func (Profile) Describe() party.Descriptor {
	t := codepoint.Default()
	return party.Descriptor{
		Name: Name, Draft: "draft-fossati-tls-attestation", Revision: "07", Title: "draft-fossati-tls-attestation-07",
		Roles:       []party.Role{party.ServerAttests, party.ClientAttests, party.BothAttest},
		Topologies:  []party.Topology{party.BackgroundCheck, party.Passport},
		Credentials: []party.Credential{party.AttestationOnly, party.X509},
		MixedMutual: true,
		Bindings: map[party.Credential]party.Binding{
			party.AttestationOnly: {Variant: "ta-07/ao", VerifierNonce: true,
				Text: "the relying party's nonce in the evidence; the attested key signs CertificateVerify"},
			party.X509: {Variant: "ta-07/x509", Binder: true, VerifierNonce: true,
				Text: "the channel binder from the handshake exporter secret and the nonce"},
		},
		Carriage: map[party.Credential]party.Carriage{
			party.AttestationOnly: {Path: "CertificateEntry[0].cert_data",
				Text: "as the cert_data of the certificate type \"attestation\" (ATTESTATION), the attested key signing CertificateVerify"},
			party.X509: {Path: "CertificateEntry[0].extensions.attestation_evidence",
				Text: "in the attestation_evidence extension of its end-entity CertificateEntry (CERT_ATTESTATION), bound by the channel binder when a nonce was negotiated"},
		},
		Extensions: []party.Extension{
			{Name: "evidence_request", Type: t.TA07EvidenceRequest},
			{Name: "evidence_proposal", Type: t.TA07EvidenceProposal},
			{Name: "results_request", Type: t.TA07ResultsRequest},
			{Name: "results_proposal", Type: t.TA07ResultsProposal},
			{Name: "attestation_evidence", Type: t.TA07AttestationEvidence, InCertificate: true},
		},
		FirstFlight: func(m party.Model) []party.Extension { return firstFlight(t, m) },
		CMWIn:       cmwIn,
		Alerts: party.Alerts{
			Rejected:     tls13.AlertBadCertificate,
			NoCommonType: t.TA07UnsupportedEvidence,
			Unoffered:    tls13.AlertIllegalParameter,
			Declined: map[party.Topology]tls13.AlertCode{
				party.BackgroundCheck: t.TA07UnsupportedEvidence,
				party.Passport:        t.TA07UnsupportedVerifiers,
			},
		},
		NonceMin:                   8,
		EvidenceTypes:              true,
		CertificateRequestRequired: true,
		Reqs: map[party.Rule][]string{
			party.RuleNoCommonType:               {"TA07-8.1.2-1"},
			party.RuleCertificateRequest:         {"TA07-8.1.2-4"},
			party.RuleCertificateRequestPassport: {"TA07-8.2.2-4"},
		},
		Secrets:  secrets,
		Selected: selected,
		Binder:   binder,
	}
}

// firstFlight: each attesting side's request (server attests) or
// proposal (client attests), for its topology, and the certificate type
// extension of an attestation-only credential.
func firstFlight(t codepoint.Table, m party.Model) []party.Extension {
	var out []party.Extension
	for _, s := range []struct {
		side                 party.Side
		bg, passport, certTy party.Extension
	}{
		{m.Server, party.Extension{Name: "evidence_request", Type: t.TA07EvidenceRequest},
			party.Extension{Name: "results_request", Type: t.TA07ResultsRequest},
			party.Extension{Name: "server_certificate_type", Type: tls13.ExtServerCertType}},
		{m.Client, party.Extension{Name: "evidence_proposal", Type: t.TA07EvidenceProposal},
			party.Extension{Name: "results_proposal", Type: t.TA07ResultsProposal},
			party.Extension{Name: "client_certificate_type", Type: tls13.ExtClientCertType}},
	} {
		if !s.side.Attests {
			continue
		}
		if s.side.Topology == party.Passport {
			out = append(out, s.passport)
		} else {
			out = append(out, s.bg)
		}
		if s.side.Credential == party.AttestationOnly {
			out = append(out, s.certTy)
		}
	}
	return out
}

// cmwIn: the cert_data itself (§6.1), or the attestation_evidence
// extension of the end-entity entry.
func cmwIn(t codepoint.Table, cred party.Credential, data []byte, exts []tls13.Extension) ([]byte, error) {
	if cred != party.X509 {
		return data, nil
	}
	d, ok := tls13.FindExtension(exts, t.TA07AttestationEvidence)
	if !ok {
		return nil, errors.New("no attestation_evidence extension on the end-entity entry")
	}
	return d, nil
}
