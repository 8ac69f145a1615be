// Package result verifies EAR attestation results (draft-ietf-rats-ear, the
// Veraison profile "tag:github.com,2023:veraison/ear") for relying parties,
// in the background-check and the passport model alike.
//
// Signatures are checked with jwx's jws package and the claims parsed and
// validated by veraison/ear; time claims are left to policy, which judges
// them against its own clock (ear's own Verify would judge iat against the
// wall clock, which deterministic runs do not use).
package result

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/veraison/ear"
)

// MaxSize bounds the EAR accepted; results travel in handshake messages.
const MaxSize = 1 << 16

// Verify checks that token is a compact ES256 JWS from one of the trusted
// verifiers and carries a valid EAR, and returns what it says. Errors are
// *attest.Rejection: ReasonResultMalformed or ReasonUntrustedVerifier.
func Verify(token []byte, trusted []attest.TrustedVerifier) (*attest.Result, error) {
	if len(token) == 0 || len(token) > MaxSize {
		return nil, attest.Reject(attest.ReasonResultMalformed, "EAR of %d bytes", len(token))
	}
	if bytes.Count(token, []byte{'.'}) != 2 {
		return nil, attest.Reject(attest.ReasonResultMalformed, "not a compact JWS")
	}
	msg, err := jws.Parse(token, jws.WithCompact())
	if err != nil {
		return nil, attest.Reject(attest.ReasonResultMalformed, "%v", err)
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return nil, attest.Reject(attest.ReasonResultMalformed, "%d signatures", len(sigs))
	}
	if alg, ok := sigs[0].ProtectedHeaders().Algorithm(); !ok || alg != jwa.ES256() {
		return nil, attest.Reject(attest.ReasonUntrustedVerifier, "signature algorithm %v, want ES256", alg)
	}
	var (
		verifier []byte
		payload  []byte
		found    bool
	)
	for _, tv := range trusted {
		k, ok := tv.Key.(*ecdsa.PublicKey)
		if !ok || k.Curve != elliptic.P256() {
			continue
		}
		if p, err := jws.Verify(token, jws.WithKey(jwa.ES256(), k), jws.WithCompact()); err == nil {
			verifier, payload, found = tv.ID, p, true
			break
		}
	}
	if !found {
		return nil, attest.Reject(attest.ReasonUntrustedVerifier, "no trusted verifier key verifies the EAR")
	}
	ar, exp, err := parseClaims(payload)
	if err != nil {
		return nil, err
	}
	r, err := FromEAR(token, ar, verifier)
	if err != nil {
		return nil, err
	}
	r.Expiry = exp
	return r, nil
}

// parseClaims decodes and validates the EAR claims set, plus the JWT exp
// veraison/ear does not model.
func parseClaims(payload []byte) (*ear.AttestationResult, time.Time, error) {
	var ar ear.AttestationResult
	if err := json.Unmarshal(payload, &ar); err != nil {
		return nil, time.Time{}, attest.Reject(attest.ReasonResultMalformed, "EAR claims: %v", err)
	}
	var extra struct {
		Exp *float64 `json:"exp"`
	}
	if err := json.Unmarshal(payload, &extra); err != nil {
		return nil, time.Time{}, attest.Reject(attest.ReasonResultMalformed, "exp: %v", err)
	}
	var exp time.Time
	if extra.Exp != nil {
		if *extra.Exp < 0 || *extra.Exp > math.MaxInt64/2 {
			return nil, time.Time{}, attest.Reject(attest.ReasonResultMalformed, "exp %v out of range", *extra.Exp)
		}
		exp = time.Unix(int64(*extra.Exp), 0)
	}
	return &ar, exp, nil
}

// FromEAR builds the Result for an EAR whose signature is already known to
// be good: the issuing verifier uses it on what it just signed, Verify on
// what it just checked. verifier is the issuer's identity.
func FromEAR(token []byte, ar *ear.AttestationResult, verifier []byte) (*attest.Result, error) {
	if ar == nil || ar.IssuedAt == nil || len(ar.Submods) == 0 {
		return nil, attest.Reject(attest.ReasonResultMalformed, "EAR lacks iat or submods")
	}
	r := &attest.Result{
		EAR:      slices.Clone(token),
		Verifier: slices.Clone(verifier),
		IssuedAt: time.Unix(*ar.IssuedAt, 0),
	}
	if id := ar.VerifierID; id != nil {
		r.VerifierBuild = deref(id.Build)
		r.VerifierDeveloper = deref(id.Developer)
	}
	if ar.Nonce != nil {
		n, err := decodeNonce(*ar.Nonce)
		if err != nil {
			return nil, attest.Reject(attest.ReasonResultMalformed, "eat_nonce: %v", err)
		}
		r.Nonce = n
	}

	names := make([]string, 0, len(ar.Submods))
	for name := range ar.Submods {
		names = append(names, name)
	}
	slices.Sort(names) // deterministic choice below
	var keyed []string
	status := ear.TrustTierAffirming
	for _, name := range names {
		a := ar.Submods[name]
		if a == nil || a.Status == nil {
			return nil, attest.Reject(attest.ReasonResultMalformed, "submod %q has no status", name)
		}
		status = worse(status, *a.Status)
		if a.VeraisonKeyAttestation != nil {
			keyed = append(keyed, name)
		}
	}
	r.Status = status

	// The appraisal of interest is the one attesting a key, or the only one.
	switch {
	case len(keyed) > 1:
		return nil, attest.Reject(attest.ReasonResultMalformed, "submods %v each attest a key", keyed)
	case len(keyed) == 1:
		r.Submod = keyed[0]
	case len(names) == 1:
		r.Submod = names[0]
	}
	if r.Submod == "" {
		return r, nil
	}
	a := ar.Submods[r.Submod]
	if a.TrustVector != nil {
		r.TrustVector = *a.TrustVector
	}
	if a.VeraisonKeyAttestation != nil {
		k, err := a.GetKeyAttestation()
		if err != nil {
			return nil, attest.Reject(attest.ReasonResultMalformed, "submod %q: %v", r.Submod, err)
		}
		r.AttestedKey = k
	}
	if a.VeraisonPolicyClaims != nil {
		if p, ok := (*a.VeraisonPolicyClaims)["problem"].(string); ok {
			r.Problem = p
		}
	}
	return r, nil
}

// worse orders trust tiers by what they let a relying party conclude:
// none (no appraisal) is worst, then contraindicated, warning, affirming.
func worse(a, b ear.TrustTier) ear.TrustTier {
	rank := func(t ear.TrustTier) int {
		switch t {
		case ear.TrustTierAffirming:
			return 0
		case ear.TrustTierWarning:
			return 1
		case ear.TrustTierContraindicated:
			return 2
		}
		return 3
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// decodeNonce reads eat_nonce as base64url with or without padding:
// Veraison pads, the EAR draft does not.
func decodeNonce(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
