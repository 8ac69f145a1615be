package result_test

import (
	"testing"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/result"
	"github.com/veraison/ear"
)

// FuzzVerify: arbitrary tokens never panic the parser and are rejected only
// as malformed or untrusted.
func FuzzVerify(f *testing.F) {
	good := sign(f, newEAR(f), fixedKey(f, "verifier"))
	f.Add(good)
	f.Add([]byte("a.b.c"))
	f.Add([]byte("eyJhbGciOiJub25lIn0.e30."))
	tr := trusted(f)
	f.Fuzz(func(t *testing.T, token []byte) {
		r, err := result.Verify(token, tr)
		if err == nil {
			checkInvariants(t, r)
			return
		}
		if re := attest.ReasonOf(err); re != attest.ReasonResultMalformed && re != attest.ReasonUntrustedVerifier {
			t.Fatalf("rejection without a result reason: %v", err)
		}
	})
}

func checkInvariants(t *testing.T, r *attest.Result) {
	t.Helper()
	if _, ok := ear.TrustTierToString[r.Status]; !ok {
		t.Fatalf("status %d is not a trust tier", r.Status)
	}
	if string(r.Verifier) != string(verID) {
		t.Fatalf("accepted under verifier %q", r.Verifier)
	}
}
