package specs

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/veraison/ear"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsecac"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/reports/requirements"
	"github.com/attested-tls/conformance/suite/harness"
)

// ea-07 §5.1.2, the background-check case: the relying party conveys the
// attestation binder it computed to its Verifier (EA07-5.1.2-5), and the
// Verifier appraises that the conveyed binder is the one signed in the
// evidence (EA07-5.1.2-6). Neither is on the wire; both are observed at
// the relying party's Verifier interface, with whichever verifier the run
// uses (in process, or Veraison through its adapter, which checks the
// evidence's extraData itself: veraison/services#447).

// challenges records the challenges a party's attester was asked, or its
// verifier was given, and the verifier's answers.
type challenges struct {
	mu      sync.Mutex
	asked   []attest.Challenge
	results []*attest.Result
	errs    []error
}

func (c *challenges) add(ch attest.Challenge, res *attest.Result, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked, c.results, c.errs = append(c.asked, ch), append(c.results, res), append(c.errs, err)
}

func (c *challenges) all() ([]attest.Challenge, []*attest.Result, []error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.asked), slices.Clone(c.results), slices.Clone(c.errs)
}

// askedAttester is an attester that records its challenges.
type askedAttester struct {
	attest.Attester
	rec *challenges
}

func (a askedAttester) Evidence(ctx context.Context, ch attest.Challenge) (attest.Evidence, error) {
	ev, err := a.Attester.Evidence(ctx, ch)
	a.rec.add(ch, nil, err)
	return ev, err
}

// conveyingVerifier records what the relying party conveys to its
// verifier, after alter (if set) changed it, and the verifier's answer.
type conveyingVerifier struct {
	attest.Verifier
	rec   *challenges
	alter func(ch *attest.Challenge)
}

func (v conveyingVerifier) Appraise(ctx context.Context, ev attest.Evidence, ch attest.Challenge) (*attest.Result, error) {
	if v.alter != nil {
		v.alter(&ch)
	}
	res, err := v.Verifier.Appraise(ctx, ev, ch)
	v.rec.add(ch, res, err)
	return res, err
}

// binderRefused says whether a verifier's answer refuses the evidence for
// carrying another binder than the conveyed one: a rejection (the
// Veraison adapter) or a non-affirming result (the in-process verifier)
// for the qualifying data or the nonce.
func binderRefused(res *attest.Result, err error) bool {
	reasons := []attest.Reason{parsectpm.ReasonQualifyingData, parsecac.ReasonQualifyingData, attest.ReasonNonceMismatch}
	for _, k := range keylessFormats {
		reasons = append(reasons, k.challenge)
	}
	if _, keyless := keylessFormats[evidenceMediaType()]; keyless && fixture().VerifierKind == harness.VerifierVeraison {
		// Veraison's PSA_IOT and ARM_CCA compare the challenge with the
		// session nonce themselves and refuse a mismatch as an integrity
		// failure.
		reasons = append(reasons, veraisonIntegrityFailed)
	}
	if err != nil {
		return slices.Contains(reasons, attest.ReasonOf(err))
	}
	return res != nil && res.Status != ear.TrustTierAffirming &&
		slices.ContainsFunc(reasons, func(r attest.Reason) bool { return strings.Contains(res.Problem, string(r)) })
}

var _ = Describe("ea-07 §5.1.2: the binder between the relying party and its Verifier", func() {
	for _, m := range oneSided(ea07Spec) {
		att := attester(m)
		if side(m, att).Topology != party.BackgroundCheck {
			continue
		}
		rp := att.Other()
		// spies puts recorders on the attester's challenges and on what
		// the relying party conveys to its verifier.
		spies := func(alter func(*attest.Challenge)) (harness.Tweaks, *challenges, *challenges) {
			asked, conveyed := &challenges{}, &challenges{}
			return harness.Tweaks{Parties: func(c, s *party.Party) {
				a, r := s, c
				if att == Client {
					a, r = c, s
				}
				a.Attester = askedAttester{a.Attester, asked}
				r.Verifier = conveyingVerifier{r.Verifier, conveyed, alter}
			}}, asked, conveyed
		}
		Describe(describeModel(m), Case{Model: m}.Labels(), func() {
			It(fmt.Sprintf("the %s conveys to its Verifier the attestation binder the %s's evidence signs", rp, att),
				Label(requirements.Label("EA07-5.1.2-5")), func() {
					tw, asked, conveyed := spies(nil)
					r := run(m, tw)
					Expect(r).To(ExchangeApplicationData())
					signed, _, _ := asked.all()
					got, _, _ := conveyed.all()
					Expect(signed).To(HaveLen(1), "the attester's challenges")
					Expect(got).To(HaveLen(1), "the appraisals the relying party asked for")
					Expect(signed[0].Binder).NotTo(BeEmpty(), "the attester was given no binder")
					Expect(got[0].Binder).To(Equal(signed[0].Binder), "the binder conveyed to the Verifier is not the one the evidence signs")
					Expect(got[0].QualifyingData()).To(Equal(signed[0].Binder), "the Verifier is asked to check another value than the binder")
				})
			It(fmt.Sprintf("the Verifier refuses evidence whose signed binder is not the one the %s conveyed, and the %s aborts with attestation_failed", rp, rp),
				Label(requirements.Label("EA07-5.1.2-6"), requirements.Label("EA07-5.1.2-7")), func() {
					tw, _, conveyed := spies(func(ch *attest.Challenge) {
						ch.Binder = slices.Clone(ch.Binder)
						ch.Binder[0] ^= 0xff
					})
					r := run(m, tw)
					_, res, errs := conveyed.all()
					Expect(errs).To(HaveLen(1), "the appraisals the relying party asked for")
					Expect(binderRefused(res[0], errs[0])).To(BeTrue(),
						"the Verifier did not refuse the evidence for its binder: result %+v, error %v", res[0], errs[0])
					Expect(r).To(AbortWith(codepoint.Default().EA07AttestationFailed, SentBy(rp)))
					Expect(r).To(FailClosed())
				})
		})
	}
})
