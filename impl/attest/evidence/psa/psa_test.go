package psa_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/internal/evtest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/psa"
	"github.com/attested-tls/conformance/impl/attest/verify/local"
	"github.com/veraison/ear"
)

func newAttester(t testing.TB) *psa.Attester {
	t.Helper()
	a, err := psa.New(psa.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Extend(0, []byte("bootloader")); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAffirmingAndKeyBoundByPolicy(t *testing.T) {
	for _, qdLen := range []int{8, 32, 48, 64, 200} {
		a := newAttester(t)
		ch := attest.Challenge{Binder: evtest.Random(t, qdLen), TIK: a.Identity().Public()}
		r, p := evtest.AffirmsKeyBound(t, a, ch, local.PSASubmodName)
		// The same result for another key or another binder is refused.
		other := newAttester(t)
		if _, err := p.Accept(context.Background(), r.EAR, attest.Challenge{Binder: ch.Binder, TIK: other.Identity().Public()}, time.Now()); attest.ReasonOf(err) != attest.ReasonNonceMismatch {
			t.Fatalf("another key: %v", err)
		}
		p.RequireNonce = false
		if _, err := p.Accept(context.Background(), r.EAR, attest.Challenge{Binder: ch.Binder, TIK: other.Identity().Public()}, time.Now()); attest.ReasonOf(err) != attest.ReasonKeyMismatch {
			t.Fatalf("another key, passport: %v", err)
		}
	}
}

// With no key to bind (an attestation-only relying party), the challenge
// is the qualifying data, which a PSA token takes in three sizes only.
func TestChallengeWithoutKey(t *testing.T) {
	for _, n := range []int{32, 48, 64} {
		c, err := psa.Challenge(attest.Challenge{Nonce: bytes.Repeat([]byte{7}, n)})
		if err != nil || len(c) != n {
			t.Fatalf("%d: %x %v", n, c, err)
		}
	}
	for _, n := range []int{0, 8, 31, 33, 65} {
		if _, err := psa.Challenge(attest.Challenge{Nonce: bytes.Repeat([]byte{7}, n)}); err == nil {
			t.Fatalf("%d-byte challenge accepted without a key", n)
		}
	}
}

func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		f      parsectpm.Faults
		reason attest.Reason
		status ear.TrustTier
	}{
		{"wrong challenge", parsectpm.Faults{QualifyingData: bytes.Repeat([]byte{1}, 32)}, psa.ReasonChallenge, ear.TrustTierContraindicated},
		{"another key", parsectpm.Faults{CertifyOtherKey: true}, psa.ReasonChallenge, ear.TrustTierContraindicated},
		{"unendorsed IAK", parsectpm.Faults{UnendorsedKey: true}, psa.ReasonSignature, ear.TrustTierContraindicated},
		{"unendorsed software", parsectpm.Faults{QuotePCRs: []int{0, 1, 2}}, psa.ReasonMeasurement, ear.TrustTierWarning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAttester(t)
			ch := attest.Challenge{Nonce: evtest.Random(t, 32), TIK: a.Identity().Public()}
			r, _ := evtest.Appraise(t, a, ch, tc.f)
			if r.Status != tc.status || !bytes.HasPrefix([]byte(r.Problem), []byte(tc.reason)) {
				t.Fatalf("status %v, problem %q; want %v, %s", r.Status, r.Problem, tc.status, tc.reason)
			}
		})
	}
	a := newAttester(t)
	a.SetFaults(parsectpm.Faults{NotFixedTPM: true})
	if _, err := a.Evidence(context.Background(), attest.Challenge{Nonce: evtest.Random(t, 32), TIK: a.Identity().Public()}); err == nil {
		t.Fatal("NotFixedTPM: a PSA token cannot express it, yet evidence was made")
	}
}

// A drifted component (measured after endorsement) is software nobody
// endorsed.
func TestDrift(t *testing.T) {
	a := newAttester(t)
	v, err := local.New(local.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.AddEndorsement(a.Endorsement()); err != nil {
		t.Fatal(err)
	}
	if err := a.Extend(1, []byte("an unmeasured loader")); err != nil {
		t.Fatal(err)
	}
	ch := attest.Challenge{Nonce: evtest.Random(t, 32), TIK: a.Identity().Public()}
	ev, err := a.Evidence(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	r, err := v.Appraise(context.Background(), ev, ch)
	if err != nil || r.Status != ear.TrustTierWarning {
		t.Fatalf("%v %v", r, err)
	}
}

func TestUnendorsedAndMalformed(t *testing.T) {
	a := newAttester(t)
	v, err := local.New(local.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ch := attest.Challenge{Nonce: evtest.Random(t, 32), TIK: a.Identity().Public()}
	ev, err := a.Evidence(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	r, err := v.Appraise(context.Background(), ev, ch)
	if err != nil || r.Status != ear.TrustTierContraindicated || !bytes.HasPrefix([]byte(r.Problem), []byte(attest.ReasonNoEndorsement)) {
		t.Fatalf("no endorsement: %v %v", r, err)
	}
	// A PSA token under the Parsec TPM media type, and the reverse.
	if _, err := v.Appraise(context.Background(), attest.Evidence{MediaType: parsectpm.MediaType, Data: ev.Data}, ch); attest.ReasonOf(err) != parsectpm.ReasonMalformed {
		t.Fatalf("PSA token as Parsec TPM: %v", err)
	}
	for i := range ev.Data {
		bad := bytes.Clone(ev.Data[:i])
		if _, err := v.Appraise(context.Background(), attest.Evidence{MediaType: psa.MediaType, Data: bad}, ch); err == nil {
			t.Fatalf("token truncated to %d bytes accepted", i)
		}
	}
}
