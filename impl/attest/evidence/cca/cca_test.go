package cca_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/cca"
	"github.com/attested-tls/conformance/impl/attest/evidence/internal/evtest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/verify/local"
	"github.com/veraison/ear"
)

func newAttester(t testing.TB) *cca.Attester {
	t.Helper()
	a, err := cca.New(cca.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Extend(0, []byte("firmware")); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAffirmingAndKeyBound(t *testing.T) {
	a := newAttester(t)
	evtest.AffirmsKeyBound(t, a, attest.Challenge{Binder: evtest.Random(t, 48), TIK: a.Identity().Public()}, local.CCASubmodName)
}

// Without a key to bind, the challenge is the qualifying data, padded in
// the realm token; more than 64 bytes is refused.
func TestChallengeWithoutKey(t *testing.T) {
	c, err := cca.Challenge(attest.Challenge{Nonce: []byte("sixteen byte nce")})
	if err != nil || len(c) != 16 || len(cca.RealmChallenge(c)) != cca.RealmChallengeSize {
		t.Fatalf("%x %v", c, err)
	}
	if _, err := cca.Challenge(attest.Challenge{Nonce: make([]byte, 65)}); err == nil {
		t.Fatal("a 65-byte challenge without a key")
	}
}

func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		f      parsectpm.Faults
		reason attest.Reason
		status ear.TrustTier
	}{
		{"wrong challenge", parsectpm.Faults{QualifyingData: bytes.Repeat([]byte{1}, 32)}, cca.ReasonChallenge, ear.TrustTierContraindicated},
		{"another key", parsectpm.Faults{CertifyOtherKey: true}, cca.ReasonChallenge, ear.TrustTierContraindicated},
		{"unendorsed IAK", parsectpm.Faults{UnendorsedKey: true}, cca.ReasonSignature, ear.TrustTierContraindicated},
		{"unendorsed platform software", parsectpm.Faults{QuotePCRs: []int{0, 1, 2}}, cca.ReasonMeasurement, ear.TrustTierWarning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAttester(t)
			r, _ := evtest.Appraise(t, a, attest.Challenge{Nonce: evtest.Random(t, 32), TIK: a.Identity().Public()}, tc.f)
			if r.Status != tc.status || !strings.HasPrefix(r.Problem, string(tc.reason)) {
				t.Fatalf("status %v, problem %q; want %v, %s", r.Status, r.Problem, tc.status, tc.reason)
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	a := newAttester(t)
	ch := attest.Challenge{Nonce: evtest.Random(t, 32), TIK: a.Identity().Public()}
	ev, err := a.Evidence(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(ev.Data); i += 7 {
		if _, err := cca.Decode(ev.Data[:i]); attest.ReasonOf(err) != cca.ReasonMalformed {
			t.Fatalf("truncated to %d: %v", i, err)
		}
	}
}
