package interop

import (
	"fmt"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/verify/local"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
)

// Bad credentials: where the peer is the relying party, the reference
// presents each kind of credential a relying party must refuse, made by
// its own attester and verifier (beyond the contract's misbehaviours):
// evidence for another key, from an unendorsed attestation key, of a
// type the peer does not take, and passports from a verifier the peer
// does not trust or with a contraindicated status.

func init() { generators = append(generators, BadCredentials) }

// badCredential is one kind of bad credential: when it applies (the
// reference attests with side ref, playing refRole), what the peer must
// do, and how the reference's party makes it.
type badCredential struct {
	name    string
	applies func(d party.Descriptor, refRole contract.Role, ref party.Topology) bool
	want    func(d party.Descriptor, ref party.Credential) (it string, alert tls13.AlertCode, reqs []string, ok bool)
	tweak   func(p *party.Party) error
}

func bg(_ party.Descriptor, _ contract.Role, t party.Topology) bool {
	return t == party.BackgroundCheck
}
func passport(_ party.Descriptor, _ contract.Role, t party.Topology) bool {
	return t == party.Passport
}

var badCredentials = []badCredential{
	{
		name:    "other-key",
		applies: bg,
		want: func(d party.Descriptor, cred party.Credential) (string, tls13.AlertCode, []string, bool) {
			if cred == party.AttestationOnly {
				// Only CertificateVerify by the attested key ties the
				// evidence to the connection.
				return "rejects evidence that attests another key than the one signing CertificateVerify", tls13.AlertDecryptError,
					d.Reqs[party.RuleCertificateVerifyKey], true
			}
			a, ok := alertOf(d.Alerts.Rejected)
			return "rejects evidence that attests another key than the end-entity certificate's", a, d.Reqs[party.RuleCertificateKey], ok
		},
		tweak: func(p *party.Party) error {
			return withFaults(p, parsectpm.Faults{CertifyOtherKey: true})
		},
	},
	{
		name:    "unendorsed-key",
		applies: bg,
		want: func(d party.Descriptor, _ party.Credential) (string, tls13.AlertCode, []string, bool) {
			a, ok := alertOf(d.Alerts.Rejected)
			return "rejects evidence signed by an attestation key nobody endorsed", a, nil, ok
		},
		tweak: func(p *party.Party) error {
			return withFaults(p, parsectpm.Faults{UnendorsedKey: true})
		},
	},
	{
		name: "unsupported-evidence-type",
		applies: func(d party.Descriptor, refRole contract.Role, t party.Topology) bool {
			// The server judges the client's proposal.
			return t == party.BackgroundCheck && refRole == contract.Client && d.EvidenceTypes
		},
		want: func(d party.Descriptor, _ party.Credential) (string, tls13.AlertCode, []string, bool) {
			it, alert, reqs := noCommonType(d)
			return it, alert, reqs, true
		},
		tweak: func(p *party.Party) error {
			p.Attester = otherType{p.Attester}
			return nil
		},
	},
	{
		name:    "untrusted-verifier",
		applies: passport,
		want: func(d party.Descriptor, _ party.Credential) (string, tls13.AlertCode, []string, bool) {
			a, ok := alertOf(d.Alerts.Rejected)
			return "rejects results signed by a verifier it does not trust", a, d.Reqs[party.RuleTrustedVerifier], ok
		},
		tweak: func(p *party.Party) error {
			// Another verifier appraises our evidence; we still offer the
			// trusted one's identity.
			v, err := local.New(local.Config{Build: "untrusted-verifier"})
			if err != nil {
				return err
			}
			if e, ok := p.Attester.(interface{ Endorsement() parsectpm.Endorsement }); ok {
				if err := v.AddEndorsement(e.Endorsement()); err != nil {
					return err
				}
			}
			p.Results = party.PassportSource{Attester: p.Attester, Verifier: v}
			return nil
		},
	},
	{
		name:    "contraindicated-result",
		applies: passport,
		want: func(d party.Descriptor, _ party.Credential) (string, tls13.AlertCode, []string, bool) {
			a, ok := alertOf(d.Alerts.Rejected)
			return "rejects a passport whose status is contraindicated", a, nil, ok
		},
		tweak: func(p *party.Party) error {
			// A duplicable identity key: the verifier contraindicates it.
			return withFaults(p, parsectpm.Faults{NotFixedTPM: true})
		},
	},
}

// BadCredentials is the battery of bad credentials for one claimed,
// one-sided case in which the reference attests and the peer appraises.
func BadCredentials(m *contract.Manifest, c Case) []Case {
	refRole, ref, _ := c.sides()
	if !ref.Attests || mutual(c) {
		return nil
	}
	d := describe(c.Model)
	var out []Case
	for _, b := range badCredentials {
		if !b.applies(d, refRole, ref.Topology) {
			continue
		}
		it, alert, reqs, ok := b.want(d, ref.Credential)
		if !ok {
			continue
		}
		tweak := b.tweak
		out = append(out, variant(m, c, "rejects-"+b.name, it, alert, reqs, func(k *Case) {
			k.Reference.Tweak = func(p *party.Party, _ *tls13.Config) error {
				if p.Attester == nil {
					return nil
				}
				return tweak(p)
			}
		}))
	}
	return out
}

// withFaults sets the faults on the party's attester, whichever root of
// trust it is.
func withFaults(p *party.Party, f parsectpm.Faults) error {
	a, ok := p.Attester.(parsectpm.Attester)
	if !ok {
		return contract.Unsupportedf("faults on a %T attester", p.Attester)
	}
	a.SetFaults(f)
	return nil
}

// otherType offers only an evidence type no relying party takes.
type otherType struct{ attest.Attester }

func (otherType) MediaTypes() []string { return []string{"application/x-no-such-evidence"} }

// Malformed or unanswerable requests: the reference's own extensions cut
// short, a relying party that can appraise no evidence type the attester
// offers, and a poc nonce over the fork's 32 bytes.

func init() { generators = append(generators, BadRequests) }

// BadRequests is the battery of malformed or unanswerable messages for
// one claimed, one-sided case.
func BadRequests(m *contract.Manifest, c Case) []Case {
	if mutual(c) {
		return nil
	}
	refRole, ref, peer := c.sides()
	d := describe(c.Model)
	var out []Case
	// Every attestation extension of the profile, truncated in whatever
	// message the reference sends it. After the handshake only the
	// attester's has a body to cut (a request's is empty).
	if exts := extensionTypes(d); len(exts) > 0 && (d.Phase == party.InHandshake || ref.Attests) {
		out = append(out, variant(m, c, "rejects-malformed-extension", "rejects an attestation extension whose length fields do not add up",
			tls13.AlertDecodeError, nil, func(k *Case) {
				k.Reference.Tweak = func(_ *party.Party, cfg *tls13.Config) error {
					cfg.Bugs.TruncateExtensions = exts
					return nil
				}
			}))
	}
	// The reference appraises, but no evidence type the peer offers.
	if peer.Attests && peer.Topology == party.BackgroundCheck && refRole == contract.Client && d.EvidenceTypes {
		it, alert, reqs := noCommonType(d)
		out = append(out, variant(m, c, "rejects-no-common-type", it, alert, reqs, func(k *Case) {
			k.Reference.Tweak = func(p *party.Party, _ *tls13.Config) error {
				p.VerifierMediaTypes = []string{"application/x-no-such-evidence"}
				return nil
			}
		}))
	}
	if d.NonceMax > 0 && peer.Attests && refRole == contract.Server {
		it := fmt.Sprintf("rejects a nonce longer than %d bytes", d.NonceMax)
		out = append(out, variant(m, c, "rejects-long-nonce", it, tls13.AlertDecodeError, d.Reqs[party.RuleNonceLength],
			func(k *Case) {
				k.Reference.Tweak = func(p *party.Party, _ *tls13.Config) error {
					p.Bugs.NonceLength = d.NonceMax + 1
					return nil
				}
			}))
	}
	return out
}

// noCommonType is what a server does when it shares no evidence type
// with the client, whichever side would attest.
func noCommonType(d party.Descriptor) (it string, alert tls13.AlertCode, reqs []string) {
	a := d.Alerts.NoCommonType
	return "aborts with " + alertCalled(a) + " when no evidence type is shared", a, d.Reqs[party.RuleNoCommonType]
}

// extensionTypes are a profile's extension codepoints (defaults).
func extensionTypes(d party.Descriptor) []uint16 {
	var out []uint16
	for _, e := range d.Extensions {
		out = append(out, e.Type)
	}
	return out
}
