package xp03

import (
	"crypto"
	"fmt"

	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/tls13"
)

// Describe states what the profile is (party.Descriptor).
func (Profile) Describe() party.Descriptor {
	t := codepoint.Default()
	return party.Descriptor{
		Name: Name, Draft: "draft-fossati-seat-expat", Revision: "03", Title: "draft-fossati-seat-expat (editor's copy, -03)",
		Roles:       []party.Role{party.ServerAttests, party.ClientAttests, party.BothAttest},
		Topologies:  []party.Topology{party.BackgroundCheck, party.Passport},
		Credentials: []party.Credential{party.X509},
		MixedMutual: true,
		Bindings: map[party.Credential]party.Binding{
			party.X509: {Variant: Name, Binder: true, VerifierNonce: true,
				Text: "the binding value Hash(SPKI || TLS-Exporter(\"Attestation\", certificate_request_context, 32)) over the application traffic's exporter, the context carrying the verifier's nonce"},
		},
		Carriage: map[party.Credential]party.Carriage{
			party.X509: {Path: "Authenticator.Certificate.CertificateEntry[0].extensions.cmw_attestation.cmw_data",
				Text: "after the handshake, in the cmw_attestation extension of the end-entity CertificateEntry of an RFC 9261 exported authenticator answering the relying party's request"},
		},
		Extensions: []party.Extension{{Name: "cmw_attestation", Type: t.XP03CMWAttestation, InCertificate: true}},
		// Nothing travels in the handshake's first flights.
		FirstFlight: func(party.Model) []party.Extension { return nil },
		CMWIn:       cmwIn,
		// Nothing is negotiated: the request solicits cmw_attestation and
		// the attester puts in it what its topology makes.
		Selected: func(s party.Side, evidenceType string, _ []byte) string {
			if s.Topology == party.Passport {
				return "cmw_attestation (solicited by the authenticator request): an attestation result"
			}
			return "cmw_attestation (solicited by the authenticator request): " + evidenceType
		},
		Alerts: party.Alerts{
			Rejected: AlertRejected,
			Missing:  AlertRejected,
			// An attestation the request did not solicit (§3.1).
			Unoffered: tls13.AlertUnsupportedExtension,
			// An extension where it may not be (RFC 8446 §4.2): §3 allows
			// only the first entry.
			Misplaced: tls13.AlertIllegalParameter,
			// §7.2 forbids the offer; the draft names no alert (XP03-I-3).
			EarlyData: tls13.AlertIllegalParameter,
			Declined: map[party.Topology]tls13.AlertCode{
				party.BackgroundCheck: tls13.AlertCertificateRequired,
				party.Passport:        tls13.AlertCertificateRequired,
			},
		},
		Reqs: map[party.Rule][]string{
			party.RuleChallenge:       {"XP03-3.2-1", "XP03-4-1", "XP03-5.1-1"},
			party.RuleMalformed:       {"XP03-4-1"},
			party.RuleCertificateKey:  {"XP03-5.2-3"},
			party.RuleTrustedVerifier: {"XP03-4-2"},
			party.RuleDeclined:        {"XP03-4-1"},
			party.RuleBinder:          {"XP03-3.2-1", "XP03-5.1-1"},
			party.RuleKeyBinding:      {"XP03-5.2-3"},
			party.RuleAppraisal:       {"XP03-4-1", "XP03-7-1"},
			party.RuleAttesterBinds:   {"XP03-5.1-1", "XP03-5.2-1", "XP03-5.2-2"},
			party.RuleMisplaced:       {"XP03-3-1", "XP03-3-2"},
			party.RuleEarlyData:       {"XP03-7.2-2"},
		},
		Phase:  party.PostHandshake,
		Attest: attestAfterHandshake,
		Binder: binder,
	}
}

// cmwIn: the cmw_data of the end-entity entry's cmw_attestation.
func cmwIn(t codepoint.Table, _ party.Credential, _ []byte, exts []tls13.Extension) ([]byte, error) {
	d, ok := tls13.FindExtension(exts, t.XP03CMWAttestation)
	if !ok {
		return nil, fmt.Errorf("no cmw_attestation extension on the end-entity entry")
	}
	var ca CMWAttestation
	if err := ca.Unmarshal(d); err != nil {
		return nil, err
	}
	return ca.CMWData, nil
}

// binder recomputes a binding vector (§5.1, §5.2) from
// exporter_master_secret, label, certificate_request_context and spki:
// the exporter's output, then the binding value and AIK_pub_hash.
func binder(h crypto.Hash, in []party.Value) (intermediates, outputs []party.Value, err error) {
	names := []string{"exporter_master_secret", "label", "certificate_request_context", "spki"}
	if len(in) != len(names) {
		return nil, nil, fmt.Errorf("want the inputs %v, in that order", names)
	}
	for i, n := range names {
		if in[i].Name != n {
			return nil, nil, fmt.Errorf("input %d is %q, want %q", i, in[i].Name, n)
		}
	}
	exported := tls13.ExportKeyingMaterialFrom(h, in[0].Bytes, string(in[1].Bytes), in[2].Bytes, ExportedLength)
	b := Binding(h, in[3].Bytes, exported)
	d := h.New()
	d.Write(in[3].Bytes)
	return []party.Value{{Name: "exported_value", Bytes: exported}},
		[]party.Value{{Name: "binding", Bytes: b}, {Name: "aik_pub_hash", Bytes: d.Sum(nil)}}, nil
}
