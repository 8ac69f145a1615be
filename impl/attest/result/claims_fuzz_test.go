package result

import (
	"testing"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/veraison/ear"
)

// FuzzClaims fuzzes the EAR claims parsing that sits behind the signature
// check (reached in production only with a trusted verifier's signature):
// it never panics, rejects only as malformed, and what it accepts has a
// real trust tier and a key only when the chosen submodule attests one.
func FuzzClaims(f *testing.F) {
	f.Add([]byte(`{"eat_profile":"tag:github.com,2023:veraison/ear","iat":1900000000,` +
		`"eat_nonce":"zc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc0=",` +
		`"ear.verifier-id":{"build":"b","developer":"d"},` +
		`"submods":{"PARSEC_TPM":{"ear.status":"affirming","ear.trustworthiness-vector":{"hardware":2},` +
		`"ear.veraison.key-attestation":{"akpub":"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEGDMx5c5GQUghY1HEWyH47_Mn8ntDN2G92gbF6OqTQc2fB3_Zo8IxFi4nkVY3mEMvvu0LbBRbMaEkzG_9wAJP7g"},` +
		`"ear.veraison.policy-claims":{"problem":"x"}}}}`))
	f.Add([]byte(`{"eat_profile":"tag:github.com,2023:veraison/ear","iat":1,"ear.verifier-id":{},"submods":{"a":{"ear.status":2},"b":{"ear.status":96}}}`))
	f.Add([]byte(`{"submods":{"a":null}}`))
	f.Add([]byte(`{"exp":1e308}`))
	f.Fuzz(func(t *testing.T, claims []byte) {
		ar, exp, err := parseClaims(claims)
		if err == nil {
			var r *attest.Result
			r, err = FromEAR([]byte("token"), ar, []byte("v"))
			if err == nil {
				if _, ok := ear.TrustTierToString[r.Status]; !ok {
					t.Fatalf("status %d is not a trust tier", r.Status)
				}
				if r.AttestedKey != nil && ar.Submods[r.Submod].VeraisonKeyAttestation == nil {
					t.Fatal("key from a submodule that attests none")
				}
				if !exp.IsZero() && exp.Unix() < 0 {
					t.Fatal("negative exp accepted")
				}
				return
			}
		}
		if attest.ReasonOf(err) != attest.ReasonResultMalformed {
			t.Fatalf("rejection without the malformed reason: %v", err)
		}
	})
}
