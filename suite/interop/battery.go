package interop

import (
	"slices"

	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
)

// The negative battery: for each case a peer claims, the in-process
// reference commits each contract misbehaviour that applies to the model
// and the roles, and the peer must abort with the alert the profile
// prescribes, while the reference keeps offering application data. Each
// negative is derived from the positive case alone, so every peer gets
// the same battery for the same manifest.

// negative is one entry of the battery: the reference misbehaviour, when
// it applies, and what the peer must then do.
type negative struct {
	misbehave string
	// applies says whether the reference can commit it in this model,
	// with ref and peer the reference's and the peer's sides.
	applies func(m party.Model, refRole contract.Role, ref, peer party.Side) bool
	// want is the peer's sentence, alert and requirement IDs; ok=false
	// means the profile has no rule for it.
	want func(m party.Model, refRole contract.Role, ref party.Side) (it string, alert tls13.AlertCode, reqs []string, ok bool)
}

var defaults = codepoint.Default()

// byProfile picks the alert of a rejected attestation for each profile.
func byProfile(profile string, ta07, ea07, poc tls13.AlertCode) (tls13.AlertCode, bool) {
	switch profile {
	case "ta-07":
		return ta07, ta07 != 0
	case "ea-07":
		return ea07, ea07 != 0
	case "poc":
		return poc, poc != 0
	}
	return 0, false
}

// rejected is the alert a relying party sends for a credential it
// appraised and refused, by profile.
func rejected(profile string) (tls13.AlertCode, bool) {
	return byProfile(profile, tls13.AlertBadCertificate, defaults.EA07AttestationFailed, tls13.AlertDecodeError)
}

func refAttests(_ party.Model, _ contract.Role, ref, _ party.Side) bool { return ref.Attests }

func refAttestsBG(_ party.Model, _ contract.Role, ref, _ party.Side) bool {
	return ref.Attests && ref.Topology == party.BackgroundCheck
}

var battery = []negative{
	{
		misbehave: contract.WrongChallenge,
		applies:   refAttestsBG,
		want: func(m party.Model, _ contract.Role, ref party.Side) (string, tls13.AlertCode, []string, bool) {
			a, ok := rejected(m.Profile)
			reqs := map[string][]string{"ea-07": {"EA07-5.1.2-1", "EA07-5.1.2-2", "EA07-5.1.2-3", "EA07-5.1.2-4"}, "poc": {"POC-cert-2"}}[m.Profile]
			return "rejects evidence bound to another challenge", a, reqs, ok
		},
	},
	{
		misbehave: contract.MalformedPayload,
		applies:   refAttests,
		want: func(m party.Model, _ contract.Role, _ party.Side) (string, tls13.AlertCode, []string, bool) {
			a, ok := rejected(m.Profile)
			reqs := map[string][]string{"ea-07": {"EA07-5.1.2-2"}, "poc": {"POC-cert-2"}}[m.Profile]
			return "rejects an attestation that is not a CMW", a, reqs, ok
		},
	},
	{
		misbehave: contract.OmitPayload,
		applies:   refAttests,
		want: func(m party.Model, _ contract.Role, _ party.Side) (string, tls13.AlertCode, []string, bool) {
			a, ok := byProfile(m.Profile, 0, defaults.EA07AttestationFailed, 0)
			return "rejects a Certificate that carries no remoteAttestation", a, nil, ok
		},
	},
	{
		misbehave: contract.Decline,
		applies: func(m party.Model, refRole contract.Role, ref, _ party.Side) bool {
			// A declining client is the server's to judge; a declining
			// server with an attestation-only credential has no
			// certificate to send and aborts itself (RFC 7250 §4.2).
			return ref.Attests && refRole == contract.Server && !(m.Profile == "ta-07" && ref.Credential == party.AttestationOnly)
		},
		want: func(m party.Model, _ contract.Role, ref party.Side) (string, tls13.AlertCode, []string, bool) {
			switch m.Profile {
			case "ta-07":
				if ref.Topology == party.Passport {
					return "aborts with unsupported_verifiers when it requires the server's attestation and the server declines", defaults.TA07UnsupportedVerifiers, nil, true
				}
				return "aborts with unsupported_evidence when it requires the server's attestation and the server declines", defaults.TA07UnsupportedEvidence, nil, true
			case "ea-07":
				return "aborts with attestation_required when it requires the server's attestation and the server declines", defaults.EA07AttestationRequired, []string{"EA07-7.4-2"}, true
			}
			return "", 0, nil, false
		},
	},
	{
		misbehave: contract.SelectUnoffered,
		applies: func(m party.Model, refRole contract.Role, _, _ party.Side) bool {
			return refRole == contract.Server && (m.Server.Attests || m.Client.Attests)
		},
		want: func(m party.Model, _ contract.Role, _ party.Side) (string, tls13.AlertCode, []string, bool) {
			a, ok := byProfile(m.Profile, tls13.AlertIllegalParameter, tls13.AlertIllegalParameter, tls13.AlertDecodeError)
			reqs := map[string][]string{"poc": {"POC-ee-2"}}[m.Profile]
			return "rejects a selection it did not offer", a, reqs, ok
		},
	},
	{
		misbehave: contract.ShortNonce,
		applies: func(m party.Model, _ contract.Role, _, peer party.Side) bool {
			return m.Profile == "ta-07" && peer.Attests && peer.Topology == party.BackgroundCheck
		},
		want: func(party.Model, contract.Role, party.Side) (string, tls13.AlertCode, []string, bool) {
			return "rejects a nonce shorter than 8 bytes", tls13.AlertDecodeError, nil, true
		},
	},
	{
		misbehave: contract.OmitCertificateRequest,
		applies: func(m party.Model, refRole contract.Role, _, peer party.Side) bool {
			return m.Profile == "ta-07" && refRole == contract.Server && peer.Attests
		},
		want: func(m party.Model, _ contract.Role, _ party.Side) (string, tls13.AlertCode, []string, bool) {
			req := "TA07-8.1.2-4"
			if m.Client.Topology == party.Passport {
				req = "TA07-8.2.2-4"
			}
			return "aborts with illegal_parameter when the server accepts its proposal without a CertificateRequest", tls13.AlertIllegalParameter, []string{req}, true
		},
	},
	{
		misbehave: contract.CorruptCertificateVerify,
		applies: func(_ party.Model, refRole contract.Role, ref, _ party.Side) bool {
			// A client signs CertificateVerify only when it authenticates.
			return refRole == contract.Server || ref.Attests
		},
		want: func(party.Model, contract.Role, party.Side) (string, tls13.AlertCode, []string, bool) {
			return "rejects a CertificateVerify whose signature does not verify", tls13.AlertDecryptError, nil, true
		},
	},
	{
		misbehave: contract.CorruptFinished,
		applies:   func(party.Model, contract.Role, party.Side, party.Side) bool { return true },
		want: func(party.Model, contract.Role, party.Side) (string, tls13.AlertCode, []string, bool) {
			return "rejects a Finished that does not verify", tls13.AlertDecryptError, nil, true
		},
	},
}

// generators derive a claimed case's further cases, in this order; each
// file of the battery adds its own. The positive case they get has the
// services the run gives positive cases; m is the peer's manifest.
var generators = []func(m *contract.Manifest, c Case) []Case{Negatives}

// Negatives is the battery for one claimed case: one case per
// misbehaviour of the reference that applies, each the model with the
// reference misbehaving and the peer's expected abort. They run with the
// services the peer's manifest needs (not --services real): what they
// judge is the peer's answer to the reference, and a run stays short.
// Like the in-process negative specs they take the one-sided models: a
// mutual model's failure paths are its two directions', which the
// one-sided models of the same profile already drive.
func Negatives(m *contract.Manifest, c Case) []Case {
	if mutual(c) {
		return nil
	}
	refRole, ref, peer := c.sides()
	var out []Case
	for _, n := range battery {
		if !n.applies(c.Model, refRole, ref, peer) {
			continue
		}
		it, alert, reqs, ok := n.want(c.Model, refRole, ref)
		if !ok {
			continue
		}
		out = append(out, variant(m, c, "rejects-"+n.misbehave, it, alert, reqs, func(k *Case) {
			k.Misbehave = map[contract.Role]string{refRole: n.misbehave}
		}))
	}
	return out
}

// firstFor reports whether c is the first case of m's claimed matrix for
// which ok holds: what is checked once (per peer, profile, role, …) rides
// on that case.
func firstFor(m *contract.Manifest, c Case, ok func(Case) bool) bool {
	claimed := Matrix(m, false)
	i := slices.IndexFunc(claimed, ok)
	return i >= 0 && claimed[i].ID() == c.ID()
}

// sides are the role the reference plays and the reference's and the
// peer's sides of c's model.
func (c Case) sides() (refRole contract.Role, ref, peer party.Side) {
	refRole, ref, peer = c.PeerRole.Other(), c.Model.Server, c.Model.Client
	if refRole == contract.Client {
		ref, peer = peer, ref
	}
	return refRole, ref, peer
}

// mutual reports whether both sides of c's model attest.
func mutual(c Case) bool { return c.Model.Server.Attests && c.Model.Client.Attests }

// variant is a negative case of c's model: the needed services only, the
// reference adjusted by set, the peer to abort with alert.
func variant(m *contract.Manifest, c Case, name, it string, alert tls13.AlertCode, reqs []string, set func(*Case)) Case {
	k := withServices(m, Case{Model: c.Model, PeerRole: c.PeerRole, Timeout: c.Timeout}, false)
	k.Variant, k.It, k.Reqs, k.Negative = name, it, reqs, &Negative{Alert: alert}
	if set != nil {
		set(&k)
	}
	return k
}
