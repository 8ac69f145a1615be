package ea07

import (
	"errors"

	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/tls13"
)

// Describe states what the profile is (party.Descriptor).
func (Profile) Describe() party.Descriptor {
	t := codepoint.Default()
	ra := party.Extension{Name: "remoteAttestation", Type: t.EA07RemoteAttestation, InCertificate: true}
	return party.Descriptor{
		Name: Name, Draft: "draft-fossati-seat-early-attestation", Revision: "07", Title: "draft-fossati-seat-early-attestation-07",
		Roles:       []party.Role{party.ServerAttests, party.ClientAttests, party.BothAttest},
		Topologies:  []party.Topology{party.BackgroundCheck, party.Passport},
		Credentials: []party.Credential{party.X509},
		MixedMutual: true,
		Bindings: map[party.Credential]party.Binding{
			party.X509: {Variant: "ea-07", Binder: true,
				Text: "the attestation binder over attest_base (the hello transcript) and the TLS identity key"},
		},
		Carriage: map[party.Credential]party.Carriage{
			party.X509: {Path: "CertificateEntry[0].extensions.remoteAttestation.cmw_payload",
				Text: "in the remoteAttestation extension of its end-entity CertificateEntry, evidence bound by the attestation binder"},
		},
		Extensions: []party.Extension{ra},
		FirstFlight: func(m party.Model) []party.Extension {
			if !m.Server.Attests && !m.Client.Attests {
				return nil
			}
			return []party.Extension{ra}
		},
		CMWIn: cmwIn,
		Alerts: party.Alerts{
			Rejected:     t.EA07AttestationFailed,
			Missing:      t.EA07AttestationFailed,
			NoCommonType: t.EA07UnsupportedAttestationSchemes,
			Unoffered:    tls13.AlertIllegalParameter,
			Declined: map[party.Topology]tls13.AlertCode{
				party.BackgroundCheck: t.EA07AttestationRequired,
				party.Passport:        t.EA07AttestationRequired,
			},
		},
		EvidenceTypes: true,
		Reqs: map[party.Rule][]string{
			party.RuleChallenge:       {"EA07-5.1.2-1", "EA07-5.1.2-2", "EA07-5.1.2-3", "EA07-5.1.2-4"},
			party.RuleMalformed:       {"EA07-5.1.2-2"},
			party.RuleCertificateKey:  {"EA07-2-1", "EA07-5.1.2-7", "EA07-5.2-2", "EA07-5.2-4"},
			party.RuleTrustedVerifier: {"EA07-5.1.2-7"},
			party.RuleNoCommonType:    {"EA07-7.2-1"},
			party.RuleDeclined:        {"EA07-7.4-2"},
			party.RuleBinder:          {"EA07-5.1.2-1", "EA07-5.1.2-2", "EA07-5.1.2-3"},
			party.RuleKeyBinding:      {"EA07-2-1", "EA07-5.2-2"},
			party.RuleAttesterBinds:   {"EA07-4-2", "EA07-4.1-5"},
		},
		Secrets:  secrets,
		Selected: selected,
		Binder:   binder,
	}
}

// cmwIn: the cmw_payload of the end-entity entry's remoteAttestation.
func cmwIn(t codepoint.Table, _ party.Credential, _ []byte, exts []tls13.Extension) ([]byte, error) {
	d, ok := tls13.FindExtension(exts, t.EA07RemoteAttestation)
	if !ok {
		return nil, errors.New("no remoteAttestation extension on the end-entity entry")
	}
	var rc RemoteAttestationCertificate
	if err := rc.Unmarshal(d); err != nil {
		return nil, err
	}
	return rc.CMWPayload, nil
}
