package veraison_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/cca"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/policy"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison"
	"github.com/veraison/ear"
)

// provisionedCCA is a fresh CCA attester with non-zero platform
// measurements whose platform and realm endorsements Veraison holds.
func provisionedCCA(t *testing.T) *cca.Attester {
	t.Helper()
	a, err := cca.New(cca.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range cca.DefaultComponents {
		if err := a.Extend(i, []byte{byte(i), 'f', 'w'}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := veraison.ProvisionEndorsement(deadline(t, 10*time.Second), veraisonT(t).ProvisioningURL, a.Endorsement(), nil); err != nil {
		t.Fatal(err)
	}
	return a
}

// Real Veraison's ARM_CCA scheme affirms a platform and realm token
// whose realm challenge is the key-bound challenge, and each fault of the
// format gets its verdict; the relying party's policy takes the
// eat_nonce as the nonce and the key binding.
func TestCCA(t *testing.T) {
	v := newVerifier(t, veraison.Config{})
	for _, tc := range []struct {
		name    string
		f       parsectpm.Faults
		status  ear.TrustTier
		problem string
	}{
		{"genuine", parsectpm.Faults{}, ear.TrustTierAffirming, ""},
		{"wrong challenge", parsectpm.Faults{QualifyingData: bytes.Repeat([]byte{1}, 32)}, ear.TrustTierContraindicated, "integrity"},
		{"another key", parsectpm.Faults{CertifyOtherKey: true}, ear.TrustTierContraindicated, "integrity"},
		{"unendorsed IAK", parsectpm.Faults{UnendorsedKey: true}, ear.TrustTierContraindicated, "integrity"},
		{"unendorsed platform software", parsectpm.Faults{QuotePCRs: []int{0, 1}}, ear.TrustTierWarning, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := provisionedCCA(t)
			a.SetFaults(tc.f)
			ch := attest.Challenge{Profile: "xp-03", Binder: bytes.Repeat([]byte{0x42}, 32), TIK: a.Identity().Public()}
			ev, err := a.Evidence(deadline(t, 5*time.Second), ch)
			if err != nil {
				t.Fatal(err)
			}
			r, err := v.Appraise(deadline(t, 10*time.Second), ev, ch)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %s in %s, problem %q, trust vector %+v", tc.name, r.Status, r.Submod, r.Problem, r.TrustVector)
			if r.Status != tc.status || !strings.Contains(r.Problem, tc.problem) {
				t.Fatalf("status %s problem %q, want %s and %q", r.Status, r.Problem, tc.status, tc.problem)
			}
			p := policy.Policy{Verifiers: []attest.TrustedVerifier{v.Trusted()}, RequireNonce: true, RequireKeyBinding: true}
			_, err = p.Accept(deadline(t, time.Second), r.EAR, ch, time.Now())
			if tc.status == ear.TrustTierAffirming && err != nil || tc.status != ear.TrustTierAffirming && attest.ReasonOf(err) != attest.ReasonStatus {
				t.Fatalf("policy: %v", err)
			}
		})
	}
}
