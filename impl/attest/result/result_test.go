package result_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/result"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/veraison/ear"
)

func fixedKey(tb testing.TB, label string) *ecdsa.PrivateKey {
	tb.Helper()
	d := sha256.Sum256([]byte(label))
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

var (
	iat    = time.Unix(1_900_000_000, 0)
	nonce  = bytes.Repeat([]byte{0xcd}, 32)
	verID  = []byte("verifier-1")
	tikKey = func() *ecdsa.PublicKey {
		d := sha256.Sum256([]byte("tik"))
		k, _ := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
		return &k.PublicKey
	}()
)

// newEAR is an affirming PARSEC_TPM result attesting tikKey.
func newEAR(t testing.TB) *ear.AttestationResult {
	t.Helper()
	ar := ear.NewAttestationResult("PARSEC_TPM", "build-1", "dev-1")
	i := iat.Unix()
	ar.IssuedAt = &i
	n := "zc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc0=" // padded, as Veraison writes it
	ar.Nonce = &n
	a := ar.Submods["PARSEC_TPM"]
	a.TrustVector.Hardware = ear.GenuineHardwareClaim
	a.TrustVector.InstanceIdentity = ear.TrustworthyInstanceClaim
	if err := a.SetKeyAttestation(tikKey); err != nil {
		t.Fatal(err)
	}
	a.UpdateStatusFromTrustVector()
	return ar
}

func sign(t testing.TB, ar *ear.AttestationResult, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	tok, err := ar.Sign(jwa.ES256(), k)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// signPayload signs arbitrary claims, bypassing ear's validation.
func signPayload(t testing.TB, claims any, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	p, ok := claims.([]byte)
	if !ok {
		var err error
		if p, err = json.Marshal(claims); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := jws.Sign(p, jws.WithKey(jwa.ES256(), k))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func trusted(t testing.TB) []attest.TrustedVerifier {
	return []attest.TrustedVerifier{
		{ID: []byte("other"), Key: &fixedKey(t, "other").PublicKey},
		{ID: verID, Key: &fixedKey(t, "verifier").PublicKey},
	}
}

func TestVerify(t *testing.T) {
	tok := sign(t, newEAR(t), fixedKey(t, "verifier"))
	r, err := result.Verify(tok, trusted(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != ear.TrustTierAffirming || r.Submod != "PARSEC_TPM" || !bytes.Equal(r.Verifier, verID) {
		t.Fatalf("status %v submod %q verifier %q", r.Status, r.Submod, r.Verifier)
	}
	if !r.IssuedAt.Equal(iat) || !r.Expiry.IsZero() || !bytes.Equal(r.Nonce, nonce) || !bytes.Equal(r.EAR, tok) {
		t.Fatalf("iat %v exp %v nonce %x", r.IssuedAt, r.Expiry, r.Nonce)
	}
	if k, ok := r.AttestedKey.(*ecdsa.PublicKey); !ok || !k.Equal(tikKey) {
		t.Fatal("akpub not read")
	}
	if r.TrustVector.Hardware != ear.GenuineHardwareClaim || r.VerifierBuild != "build-1" || r.VerifierDeveloper != "dev-1" {
		t.Fatalf("trust vector %+v verifier-id %q %q", r.TrustVector, r.VerifierBuild, r.VerifierDeveloper)
	}
}

func TestVerifyReadsExpAndProblem(t *testing.T) {
	m := newEAR(t).AsMap()
	m["exp"] = iat.Add(time.Minute).Unix()
	sub := m["submods"].(map[string]any)["PARSEC_TPM"].(map[string]any)
	sub["ear.veraison.policy-claims"] = map[string]any{"problem": "integrity validation failed"}
	sub["ear.status"] = "contraindicated"
	r, err := result.Verify(signPayload(t, m, fixedKey(t, "verifier")), trusted(t))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Expiry.Equal(iat.Add(time.Minute)) || r.Problem != "integrity validation failed" || r.Status != ear.TrustTierContraindicated {
		t.Fatalf("exp %v problem %q status %v", r.Expiry, r.Problem, r.Status)
	}
}

// TestStatusIsTheWorstSubmod: one bad appraisal spoils the result.
func TestStatusIsTheWorstSubmod(t *testing.T) {
	for _, c := range []struct {
		other ear.TrustTier
		want  ear.TrustTier
	}{
		{ear.TrustTierAffirming, ear.TrustTierAffirming},
		{ear.TrustTierWarning, ear.TrustTierWarning},
		{ear.TrustTierContraindicated, ear.TrustTierContraindicated},
		{ear.TrustTierNone, ear.TrustTierNone},
	} {
		ar := newEAR(t)
		st := c.other
		ar.Submods["OTHER"] = &ear.Appraisal{Status: &st}
		r, err := result.Verify(sign(t, ar, fixedKey(t, "verifier")), trusted(t))
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != c.want || r.Submod != "PARSEC_TPM" {
			t.Errorf("other %v: status %v submod %q", c.other, r.Status, r.Submod)
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	good := sign(t, newEAR(t), fixedKey(t, "verifier"))
	hs, err := jws.Sign([]byte(`{}`), jws.WithKey(jwa.HS256(), []byte("secret")))
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), nil)
	if err != nil {
		t.Fatal(err)
	}
	es384, err := newEAR(t).Sign(jwa.ES384(), p384)
	if err != nil {
		t.Fatal(err)
	}
	twoKeyed := newEAR(t)
	st := ear.TrustTierAffirming
	twoKeyed.Submods["OTHER"] = &ear.Appraisal{Status: &st}
	_ = twoKeyed.Submods["OTHER"].SetKeyAttestation(tikKey)

	bad := func(mut func(m map[string]any)) []byte {
		m := newEAR(t).AsMap()
		mut(m)
		return signPayload(t, m, fixedKey(t, "verifier"))
	}
	cases := map[string]struct {
		token   []byte
		trusted []attest.TrustedVerifier
		reason  attest.Reason
	}{
		"empty":              {nil, trusted(t), attest.ReasonResultMalformed},
		"not a JWS":          {[]byte("hello"), trusted(t), attest.ReasonResultMalformed},
		"bad base64":         {[]byte("a.b.c"), trusted(t), attest.ReasonResultMalformed},
		"too large":          {bytes.Repeat([]byte{'.'}, result.MaxSize+1), trusted(t), attest.ReasonResultMalformed},
		"untrusted key":      {sign(t, newEAR(t), fixedKey(t, "stranger")), trusted(t), attest.ReasonUntrustedVerifier},
		"no trusted keys":    {good, nil, attest.ReasonUntrustedVerifier},
		"HS256":              {hs, trusted(t), attest.ReasonUntrustedVerifier},
		"ES384":              {es384, []attest.TrustedVerifier{{Key: &p384.PublicKey}}, attest.ReasonUntrustedVerifier},
		"tampered signature": {tamperSignature(good), trusted(t), attest.ReasonUntrustedVerifier},
		"tampered payload":   {swapPayload(good, bad(func(m map[string]any) { m["iat"] = 1 })), trusted(t), attest.ReasonUntrustedVerifier},
		"wrong profile":      {bad(func(m map[string]any) { m["eat_profile"] = "tag:example.com,2026:other" }), trusted(t), attest.ReasonResultMalformed},
		"no iat":             {bad(func(m map[string]any) { delete(m, "iat") }), trusted(t), attest.ReasonResultMalformed},
		"no submods":         {bad(func(m map[string]any) { m["submods"] = map[string]any{} }), trusted(t), attest.ReasonResultMalformed},
		"bad status":         {bad(func(m map[string]any) { m["submods"] = map[string]any{"X": map[string]any{"ear.status": "great"}} }), trusted(t), attest.ReasonResultMalformed},
		"bad nonce":          {bad(func(m map[string]any) { m["eat_nonce"] = "!!!!!!!!!!!!" }), trusted(t), attest.ReasonResultMalformed},
		"bad akpub":          {bad(func(m map[string]any) { setAKPub(m, "AAAA") }), trusted(t), attest.ReasonResultMalformed},
		"negative exp":       {bad(func(m map[string]any) { m["exp"] = -5 }), trusted(t), attest.ReasonResultMalformed},
		"exp not a number":   {bad(func(m map[string]any) { m["exp"] = "soon" }), trusted(t), attest.ReasonResultMalformed},
		"two attested keys":  {sign(t, twoKeyed, fixedKey(t, "verifier")), trusted(t), attest.ReasonResultMalformed},
		"payload not JSON":   {signPayload(t, []byte("not json"), fixedKey(t, "verifier")), trusted(t), attest.ReasonResultMalformed},
		"payload JSON array": {signPayload(t, []byte("[1,2]"), fixedKey(t, "verifier")), trusted(t), attest.ReasonResultMalformed},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := result.Verify(c.token, c.trusted)
			if got := attest.ReasonOf(err); got != c.reason {
				t.Fatalf("got %v, want reason %q", err, c.reason)
			}
		})
	}
}

func setAKPub(m map[string]any, v string) {
	sub := m["submods"].(map[string]any)["PARSEC_TPM"].(map[string]any)
	sub["ear.veraison.key-attestation"] = map[string]any{"akpub": v}
}

// swapPayload puts the payload of one token under the signature of another.
func swapPayload(sigFrom, payloadFrom []byte) []byte {
	a := bytes.Split(sigFrom, []byte{'.'})
	b := bytes.Split(payloadFrom, []byte{'.'})
	return bytes.Join([][]byte{a[0], b[1], a[2]}, []byte{'.'})
}

// tamperSignature changes one character well inside the JWS signature
// (the last ones may carry only padding bits), always to another one.
func tamperSignature(jws []byte) []byte {
	out := bytes.Clone(jws)
	i := len(out) - 10
	if out[i] == 'A' {
		out[i] = 'B'
	} else {
		out[i] = 'A'
	}
	return out
}
