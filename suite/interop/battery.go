package interop

import (
	"fmt"
	"slices"

	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile"
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

// describe is the descriptor of m's profile.
func describe(m party.Model) party.Descriptor { return profile.MustDescribe(m.Profile) }

// alertOf is a profile alert and whether the profile has it (0: no rule).
func alertOf(a tls13.AlertCode) (tls13.AlertCode, bool) { return a, a != 0 }

// alertCalled is a's name in the default codepoint table.
func alertCalled(a tls13.AlertCode) string {
	if n, ok := codepoint.AlertNames(defaults)[a]; ok {
		return n
	}
	return a.String()
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
			d := describe(m)
			a, ok := alertOf(d.Alerts.Rejected)
			return "rejects evidence bound to another challenge", a, d.Reqs[party.RuleChallenge], ok
		},
	},
	{
		misbehave: contract.MalformedPayload,
		applies:   refAttests,
		want: func(m party.Model, _ contract.Role, _ party.Side) (string, tls13.AlertCode, []string, bool) {
			d := describe(m)
			a, ok := alertOf(d.Alerts.Rejected)
			return "rejects an attestation that is not a CMW", a, d.Reqs[party.RuleMalformed], ok
		},
	},
	{
		misbehave: contract.OmitPayload,
		applies:   refAttests,
		want: func(m party.Model, _ contract.Role, _ party.Side) (string, tls13.AlertCode, []string, bool) {
			a, ok := alertOf(describe(m).Alerts.Missing)
			return "rejects a Certificate that carries no remoteAttestation", a, nil, ok
		},
	},
	{
		misbehave: contract.Decline,
		applies: func(m party.Model, refRole contract.Role, ref, _ party.Side) bool {
			// A declining client is the server's to judge; a declining
			// server with an attestation-only credential has no
			// certificate to send and aborts itself (RFC 7250 §4.2).
			return ref.Attests && refRole == contract.Server && ref.Credential != party.AttestationOnly
		},
		want: func(m party.Model, _ contract.Role, ref party.Side) (string, tls13.AlertCode, []string, bool) {
			d := describe(m)
			a, ok := alertOf(d.Alerts.Declined[ref.Topology])
			return "aborts with " + alertCalled(a) + " when it requires the server's attestation and the server declines", a, d.Reqs[party.RuleDeclined], ok
		},
	},
	{
		misbehave: contract.SelectUnoffered,
		applies: func(m party.Model, refRole contract.Role, _, _ party.Side) bool {
			// After the handshake the attester's cmw_attestation answers
			// a request that always asks for it: nothing is selected
			// that the peer did not offer.
			return describe(m).Phase == party.InHandshake && refRole == contract.Server && (m.Server.Attests || m.Client.Attests)
		},
		want: func(m party.Model, _ contract.Role, _ party.Side) (string, tls13.AlertCode, []string, bool) {
			d := describe(m)
			a, ok := alertOf(d.Alerts.Unoffered)
			return "rejects a selection it did not offer", a, d.Reqs[party.RuleUnoffered], ok
		},
	},
	{
		// After the handshake the reference's chain gets a second entry
		// to misplace its cmw_attestation in; in the handshake the
		// in-process specs cover the placement.
		misbehave: contract.PayloadNotFirstEntry,
		applies: func(m party.Model, _ contract.Role, ref, _ party.Side) bool {
			return ref.Attests && describe(m).Phase == party.PostHandshake && ref.Credential == party.X509
		},
		want: func(m party.Model, _ contract.Role, _ party.Side) (string, tls13.AlertCode, []string, bool) {
			d := describe(m)
			a, ok := alertOf(d.Alerts.Misplaced)
			return "rejects the attestation outside the end-entity CertificateEntry with " + alertCalled(a), a, d.Reqs[party.RuleMisplaced], ok
		},
	},
	{
		// The reference client offers 0-RTT; every model of a profile
		// with the rule has an attesting side, so the connection is in
		// scope for the peer server.
		misbehave: contract.EarlyDataOffer,
		applies: func(m party.Model, refRole contract.Role, _, _ party.Side) bool {
			return refRole == contract.Client && describe(m).Alerts.EarlyData != 0
		},
		want: func(m party.Model, _ contract.Role, _ party.Side) (string, tls13.AlertCode, []string, bool) {
			d := describe(m)
			a, ok := alertOf(d.Alerts.EarlyData)
			return "refuses a 0-RTT offer on a connection that requires attestation with " + alertCalled(a), a, d.Reqs[party.RuleEarlyData], ok
		},
	},
	{
		misbehave: contract.ShortNonce,
		applies: func(m party.Model, _ contract.Role, _, peer party.Side) bool {
			return describe(m).NonceMin > 0 && peer.Attests && peer.Topology == party.BackgroundCheck
		},
		want: func(m party.Model, _ contract.Role, _ party.Side) (string, tls13.AlertCode, []string, bool) {
			return fmt.Sprintf("rejects a nonce shorter than %d bytes", describe(m).NonceMin), tls13.AlertDecodeError, nil, true
		},
	},
	{
		misbehave: contract.OmitCertificateRequest,
		applies: func(m party.Model, refRole contract.Role, _, peer party.Side) bool {
			return describe(m).CertificateRequestRequired && refRole == contract.Server && peer.Attests
		},
		want: func(m party.Model, _ contract.Role, _ party.Side) (string, tls13.AlertCode, []string, bool) {
			rule := party.RuleCertificateRequest
			if m.Client.Topology == party.Passport {
				rule = party.RuleCertificateRequestPassport
			}
			return "aborts with illegal_parameter when the server accepts its proposal without a CertificateRequest", tls13.AlertIllegalParameter, describe(m).Reqs[rule], true
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
