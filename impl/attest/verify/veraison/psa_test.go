package veraison_test

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/psa"
	"github.com/attested-tls/conformance/impl/attest/policy"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison"
	"github.com/veraison/corim/corim"
	"github.com/veraison/ear"
)

// provisionedPSA is a fresh PSA attester with non-zero measurements whose
// endorsement (IAK and reference values) Veraison holds.
func provisionedPSA(t *testing.T) *psa.Attester {
	t.Helper()
	a, err := psa.New(psa.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range psa.DefaultComponents {
		if err := a.Extend(i, []byte{byte(i), 's', 'w'}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := veraison.ProvisionEndorsement(deadline(t, 10*time.Second), veraisonT(t).ProvisioningURL, a.Endorsement(), nil); err != nil {
		t.Fatal(err)
	}
	return a
}

// appraisePSA has v appraise a's evidence for ch.
func appraisePSA(t *testing.T, v *veraison.Verifier, a *psa.Attester, ch attest.Challenge) *attest.Result {
	t.Helper()
	ev, err := a.Evidence(deadline(t, 5*time.Second), ch)
	if err != nil {
		t.Fatal(err)
	}
	r, err := v.Appraise(deadline(t, 10*time.Second), ev, ch)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func binderFor(t *testing.T, a *psa.Attester) attest.Challenge {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return attest.Challenge{Profile: "ea-07", Binder: b, TIK: a.Identity().Public()}
}

func TestPSACoRIM(t *testing.T) {
	a, err := psa.New(psa.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := veraison.EndorsementCoRIM(a.Endorsement(), veraison.ClassID{})
	if err != nil {
		t.Fatal(err)
	}
	var uc corim.UnsignedCorim
	if err := uc.FromCBOR(b); err != nil {
		t.Fatal(err)
	}
	if p, err := uc.Profile.Get(); err != nil || p != veraison.PSACoRIMProfile {
		t.Fatalf("profile %v %v", p, err)
	}
}

// Real Veraison appraises a PSA token bound to the key-bound challenge as
// affirming, and the relying party's policy takes its eat_nonce as both
// the nonce and the key binding, in background check and passport.
func TestPSAAffirming(t *testing.T) {
	v := newVerifier(t, veraison.Config{})
	a := provisionedPSA(t)
	ch := binderFor(t, a)
	r := appraisePSA(t, v, a, ch)
	if r.Status != ear.TrustTierAffirming || r.Submod != veraison.PSASubmodName {
		t.Fatalf("status %s submod %q (problem %q), want affirming from %s", r.Status, r.Submod, r.Problem, veraison.PSASubmodName)
	}
	t.Logf("PSA_IOT: %s, trust vector %+v", r.Status, r.TrustVector)
	want, _ := attest.KeyBoundChallenge(ch.Binder, ch.TIK)
	if !bytes.Equal(r.Nonce, want) || r.AttestedKey != nil {
		t.Fatalf("eat_nonce %x akpub %v, want the key-bound challenge %x and no key", r.Nonce, r.AttestedKey, want)
	}
	for _, requireNonce := range []bool{true, false} {
		p := policy.Policy{Verifiers: []attest.TrustedVerifier{v.Trusted()}, RequireNonce: requireNonce, RequireKeyBinding: true}
		if _, err := p.Accept(deadline(t, time.Second), r.EAR, ch, time.Now()); err != nil {
			t.Fatalf("RequireNonce %v: %v", requireNonce, err)
		}
	}
}

// What Veraison's PSA_IOT scheme makes of each fault of the format.
func TestPSAFaults(t *testing.T) {
	v := newVerifier(t, veraison.Config{})
	for _, tc := range []struct {
		name   string
		f      parsectpm.Faults
		status ear.TrustTier
		// problem is part of the EAR's policy-claims problem.
		problem string
	}{
		{"wrong challenge", parsectpm.Faults{QualifyingData: bytes.Repeat([]byte{1}, 32)}, ear.TrustTierContraindicated, "integrity"},
		{"another key", parsectpm.Faults{CertifyOtherKey: true}, ear.TrustTierContraindicated, "integrity"},
		{"unendorsed IAK", parsectpm.Faults{UnendorsedKey: true}, ear.TrustTierContraindicated, "integrity"},
		{"unendorsed software", parsectpm.Faults{QuotePCRs: []int{0, 1}}, ear.TrustTierWarning, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := provisionedPSA(t)
			a.SetFaults(tc.f)
			ch := binderFor(t, a)
			r := appraisePSA(t, v, a, ch)
			t.Logf("%s: %s, problem %q, trust vector %+v", tc.name, r.Status, r.Problem, r.TrustVector)
			if r.Status != tc.status || !strings.Contains(r.Problem, tc.problem) {
				t.Fatalf("status %s problem %q, want %s and %q", r.Status, r.Problem, tc.status, tc.problem)
			}
			p := policy.Policy{Verifiers: []attest.TrustedVerifier{v.Trusted()}, RequireNonce: true, RequireKeyBinding: true}
			if _, err := p.Accept(deadline(t, time.Second), r.EAR, ch, time.Now()); attest.ReasonOf(err) != attest.ReasonStatus {
				t.Fatalf("policy: %v, want %s", err, attest.ReasonStatus)
			}
		})
	}
}

// Veraison's EAR attests no key: a passport whose challenge the relying
// party cannot recompute (the verifier's own nonce) binds none, and the
// policy says so.
func TestPSAPassportWithoutChallenge(t *testing.T) {
	v := newVerifier(t, veraison.Config{})
	a := provisionedPSA(t)
	n, err := v.NewNonce(deadline(t, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ch := attest.Challenge{Nonce: n, TIK: a.Identity().Public()}
	ev, err := a.Evidence(deadline(t, 5*time.Second), ch)
	if err != nil {
		t.Fatal(err)
	}
	r, err := v.Appraise(deadline(t, 10*time.Second), ev, ch)
	if err != nil || r.Status != ear.TrustTierAffirming {
		t.Fatalf("%v %v", r, err)
	}
	p := policy.Policy{Verifiers: []attest.TrustedVerifier{v.Trusted()}, RequireKeyBinding: true}
	if _, err := p.Accept(deadline(t, time.Second), r.EAR, attest.Challenge{TIK: ch.TIK}, time.Now()); attest.ReasonOf(err) != attest.ReasonNoAttestedKey {
		t.Fatalf("passport without its challenge: %v, want %s", err, attest.ReasonNoAttestedKey)
	}
}
