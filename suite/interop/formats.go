package interop

import (
	"context"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/driver"
)

// Evidence formats beyond Parsec TPM key attestation: a peer whose
// manifest lists a root of trust that produces PSA or CCA tokens (tpms)
// attests with them to a reference that takes only that format, and a
// peer whose relying party lists them (evidence) appraises them from the
// reference and rejects them bound to another challenge. Each rides on
// the one-sided background-check cases with an X.509 credential the peer
// claims, so every profile and role sees every format the manifest names.

func init() { generators = append(generators, Formats) }

// tokenFormats are the formats whose root of trust (ATLS_TPM) has the
// format's name: the software PSA and CCA attesters.
var tokenFormats = []string{contract.RootPSA, contract.RootCCA}

// Formats is c's cases for each non-TPM evidence format m produces or
// appraises.
func Formats(m *contract.Manifest, c Case) []Case {
	if mutual(c) {
		return nil
	}
	refRole, ref, peer := c.sides()
	// A token names no key, so the attester's credential is X.509: an
	// attestation-only credential appraised by background check would
	// leave the relying party no key to recompute the challenge with.
	if (peer.Attests && peer.Credential != party.X509) || (ref.Attests && ref.Credential != party.X509) {
		return nil
	}
	var out []Case
	for _, f := range tokenFormats {
		switch {
		case peer.Attests && peer.Topology == party.BackgroundCheck && slices.Contains(m.TPMs, f):
			k := own(m, c)
			k.Variant, k.Kind = "evidence-"+f, "positive"
			k.It = "attests with " + f + " evidence to a relying party that takes no other format"
			k.after(func(_ context.Context, _ driver.Case, p, r *contract.Config) error {
				p.TPM, r.Evidence = f, f
				return nil
			})
			k.Check = thenAffirmed(k.Check)
			out = append(out, k)
		case ref.Attests && ref.Topology == party.BackgroundCheck && slices.Contains(m.Evidence, f):
			asRP := func(_ context.Context, _ driver.Case, p, r *contract.Config) error {
				p.Evidence, r.TPM = f, f
				return nil
			}
			k := own(m, c)
			k.Variant, k.Kind = "appraises-"+f, "positive"
			k.It = "appraises " + f + " evidence and completes"
			k.after(asRP)
			out = append(out, k)
			d := describe(c.Model)
			if a, ok := alertOf(d.Alerts.Rejected); ok {
				out = append(out, variant(m, c, "rejects-"+f+"-wrong-challenge",
					"rejects "+f+" evidence bound to another challenge", a, d.Reqs[party.RuleChallenge], func(k *Case) {
						k.Misbehave = map[contract.Role]string{refRole: contract.WrongChallenge}
						k.after(asRP)
					}))
			}
		}
	}
	return out
}

// own is c's model and roles with services of its own, as c got them:
// a case's services keep state (its Veraison) that two cases running at
// once must not share.
func own(m *contract.Manifest, c Case) Case {
	return withServices(m, Case{Model: c.Model, PeerRole: c.PeerRole, Timeout: c.Timeout}, c.real)
}

// thenAffirmed is check (if any), then: the reference, taking only the
// case's format, accepted the peer's evidence as affirming.
func thenAffirmed(check func(Case, *Result)) func(Case, *Result) {
	return func(c Case, r *Result) {
		if check != nil {
			check(c, r)
		}
		affirmed(c, r)
	}
}

func affirmed(c Case, r *Result) {
	GinkgoHelper()
	v := r.Reference.Verdict
	Expect(v).NotTo(BeNil(), "the reference gave no verdict on the peer's evidence\n%s", r.Describe())
	Expect(v.Status).To(Equal("affirming"), "the reference's verdict on the peer's %s evidence\n%s", c.Variant, r.Describe())
}
