package evtest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/policy"
	"github.com/attested-tls/conformance/impl/attest/verify/local"
	"github.com/veraison/ear"
)

// Random is n random bytes.
func Random(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// Appraise endorses a with a fresh in-process verifier, then gives a the
// faults f and returns the verifier's result for a's evidence for ch.
func Appraise(t testing.TB, a parsectpm.Attester, ch attest.Challenge, f parsectpm.Faults) (*attest.Result, *local.Verifier) {
	t.Helper()
	v, err := local.New(local.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.AddEndorsement(a.Endorsement()); err != nil {
		t.Fatal(err)
	}
	a.SetFaults(f)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev, err := a.Evidence(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	if mts := a.MediaTypes(); len(mts) != 1 || ev.MediaType != mts[0] {
		t.Fatalf("media type %q, the attester makes %v", ev.MediaType, mts)
	}
	r, err := v.Appraise(ctx, ev, ch)
	if err != nil {
		t.Fatal(err)
	}
	return r, v
}

// AffirmsKeyBound appraises a's evidence for ch, whose challenge binds
// a's TLS key (a PSA or CCA token): the result is affirming from submod,
// attests a's key and carries the key-bound challenge as its nonce, and a
// policy trusting the verifier and requiring both accepts it for ch. It
// returns the result and that policy.
func AffirmsKeyBound(t testing.TB, a parsectpm.Attester, ch attest.Challenge, submod string) (*attest.Result, policy.Policy) {
	t.Helper()
	r, v := Appraise(t, a, ch, parsectpm.Faults{})
	tik := a.Identity().Public().(interface{ Equal(crypto.PublicKey) bool })
	if r.Status != ear.TrustTierAffirming || r.Submod != submod || !tik.Equal(r.AttestedKey) {
		t.Fatalf("status %v submod %q akpub %v problem %q", r.Status, r.Submod, r.AttestedKey, r.Problem)
	}
	want, err := attest.KeyBoundChallenge(ch.QualifyingData(), ch.TIK)
	if err != nil || !bytes.Equal(r.Nonce, want) {
		t.Fatalf("eat_nonce %x, want the key-bound challenge %x (%v)", r.Nonce, want, err)
	}
	p := policy.Policy{Verifiers: []attest.TrustedVerifier{v.Trusted()}, RequireNonce: true, RequireKeyBinding: true}
	if _, err := p.Accept(context.Background(), r.EAR, ch, time.Now()); err != nil {
		t.Fatalf("%d-byte challenge: %v", len(ch.QualifyingData()), err)
	}
	return r, p
}
