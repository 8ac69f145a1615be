package evtest

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/verify/local"
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
