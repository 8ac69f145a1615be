package veraison_test

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/cca"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/psa"
	"github.com/attested-tls/conformance/impl/attest/policy"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison"
	"github.com/veraison/corim/corim"
	"github.com/veraison/ear"
)

// keylessFormats are the evidence formats that bind the TLS key through
// their challenge, each with a fresh attester of it and the EAR
// submodules Veraison appraises it in.
var keylessFormats = []struct {
	name     string
	attester func() (parsectpm.Attester, error)
	submods  []string
}{
	{"PSA_IOT", func() (parsectpm.Attester, error) { return psa.New(psa.Config{}) }, []string{veraison.PSASubmodName}},
	{"ARM_CCA", func() (parsectpm.Attester, error) { return cca.New(cca.Config{}) }, []string{"CCA_REALM", "CCA_SSD_PLATFORM"}},
}

// provisioned is a fresh attester from newAttester with non-zero
// measurements whose endorsement Veraison holds.
func provisionedKeyless(t *testing.T, newAttester func() (parsectpm.Attester, error)) parsectpm.Attester {
	t.Helper()
	a, err := newAttester()
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

// appraiseWith has v appraise a's evidence for ch.
func appraiseWith(t *testing.T, v *veraison.Verifier, a attest.Attester, ch attest.Challenge) *attest.Result {
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

func binderFor(t *testing.T, a attest.Attester) attest.Challenge {
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

// Real Veraison appraises PSA and CCA tokens bound to the key-bound
// challenge as affirming, the relying party's policy takes their eat_nonce
// as both the nonce and the key binding (background check and passport
// with the binder), and each fault of the formats gets its verdict.
func TestKeylessFormats(t *testing.T) {
	v := newVerifier(t, veraison.Config{})
	for _, format := range keylessFormats {
		for _, tc := range []struct {
			name   string
			f      parsectpm.Faults
			status ear.TrustTier
			// problem is part of the EAR's policy-claims problem.
			problem string
		}{
			{"genuine", parsectpm.Faults{}, ear.TrustTierAffirming, ""},
			{"wrong challenge", parsectpm.Faults{QualifyingData: bytes.Repeat([]byte{1}, 32)}, ear.TrustTierContraindicated, "integrity"},
			{"another key", parsectpm.Faults{CertifyOtherKey: true}, ear.TrustTierContraindicated, "integrity"},
			{"unendorsed IAK", parsectpm.Faults{UnendorsedKey: true}, ear.TrustTierContraindicated, "integrity"},
			{"unendorsed software", parsectpm.Faults{QuotePCRs: []int{0, 1}}, ear.TrustTierWarning, ""},
		} {
			t.Run(format.name+"/"+tc.name, func(t *testing.T) {
				a := provisionedKeyless(t, format.attester)
				a.SetFaults(tc.f)
				ch := binderFor(t, a)
				r := appraiseWith(t, v, a, ch)
				t.Logf("%s: %s, problem %q, trust vector %+v", tc.name, r.Status, r.Problem, r.TrustVector)
				if r.Status != tc.status || !strings.Contains(r.Problem, tc.problem) {
					t.Fatalf("status %s problem %q, want %s and %q", r.Status, r.Problem, tc.status, tc.problem)
				}
				for _, requireNonce := range []bool{true, false} {
					p := policy.Policy{Verifiers: []attest.TrustedVerifier{v.Trusted()}, RequireNonce: requireNonce, RequireKeyBinding: true}
					_, err := p.Accept(deadline(t, time.Second), r.EAR, ch, time.Now())
					if tc.status == ear.TrustTierAffirming && err != nil || tc.status != ear.TrustTierAffirming && attest.ReasonOf(err) != attest.ReasonStatus {
						t.Fatalf("policy (RequireNonce %v): %v", requireNonce, err)
					}
				}
				if tc.status != ear.TrustTierAffirming {
					return
				}
				want, _ := attest.KeyBoundChallenge(ch.Binder, ch.TIK)
				if !bytes.Equal(r.Nonce, want) || r.AttestedKey != nil {
					t.Fatalf("eat_nonce %x akpub %v, want the key-bound challenge %x and no key", r.Nonce, r.AttestedKey, want)
				}
				if r.Submod != "" && len(format.submods) == 1 && r.Submod != format.submods[0] {
					t.Fatalf("submod %q, want %v", r.Submod, format.submods)
				}
			})
		}
	}
}

// Veraison's EAR attests no key: a passport whose challenge the relying
// party cannot recompute (the verifier's own nonce) binds none, and the
// policy says so.
func TestKeylessPassportWithoutChallenge(t *testing.T) {
	v := newVerifier(t, veraison.Config{})
	for _, format := range keylessFormats {
		a := provisionedKeyless(t, format.attester)
		n, err := v.NewNonce(deadline(t, time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ch := attest.Challenge{Nonce: n, TIK: a.Identity().Public()}
		if r := appraiseWith(t, v, a, ch); r.Status != ear.TrustTierAffirming {
			t.Fatalf("%s: %v", format.name, r.Status)
		} else {
			p := policy.Policy{Verifiers: []attest.TrustedVerifier{v.Trusted()}, RequireKeyBinding: true}
			if _, err := p.Accept(deadline(t, time.Second), r.EAR, attest.Challenge{TIK: ch.TIK}, time.Now()); attest.ReasonOf(err) != attest.ReasonNoAttestedKey {
				t.Fatalf("%s passport without its challenge: %v, want %s", format.name, err, attest.ReasonNoAttestedKey)
			}
		}
	}
}
