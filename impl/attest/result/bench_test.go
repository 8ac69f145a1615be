package result_test

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"testing"

	"github.com/attested-tls/conformance/impl/attest/result"
)

// BenchmarkVerify is one relying party's EAR check (signature, claims)
// beside the ECDSA verification it inherently costs ("floor"), so the
// ratio is what JWS and JSON handling add.
func BenchmarkVerify(b *testing.B) {
	k := fixedKey(b, "verifier")
	tok := sign(b, newEAR(b), k)
	tv := trusted(b)[1:] // the issuer alone: one verification
	d := sha256.Sum256(tok)
	sig, err := ecdsa.SignASN1(nil, k, d[:])
	if err != nil {
		b.Fatal(err)
	}
	b.Run("result.Verify", func(b *testing.B) {
		for b.Loop() {
			if _, err := result.Verify(tok, tv); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("floor", func(b *testing.B) {
		for b.Loop() {
			d := sha256.Sum256(tok)
			if !ecdsa.VerifyASN1(&k.PublicKey, d[:], sig) {
				b.Fatal("floor")
			}
		}
	})
}
