// Package policy is what a relying party accepts as an attestation result:
// whose results, how good, how fresh, and bound to which key. It judges the
// signed EAR itself, never the fields a Result arrived with, so a passport
// presented by the peer is checked exactly like a result fetched from the
// relying party's own verifier.
package policy

import (
	"bytes"
	"context"
	"crypto"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/result"
	"github.com/veraison/ear"
)

// Defaults for zero Policy fields.
const (
	DefaultFreshness = 5 * time.Minute
	DefaultClockSkew = 30 * time.Second
)

// Policy is a relying party's acceptance rules. Zero fields take the
// strict defaults documented on each.
type Policy struct {
	// Verifiers are the verifiers whose results are accepted.
	Verifiers []attest.TrustedVerifier
	// RequiredStatus is the least trustworthy status accepted: zero means
	// affirming only; ear.TrustTierWarning also accepts warnings.
	// TrustTierNone is never accepted.
	RequiredStatus ear.TrustTier
	// Freshness is how old (by iat) a result may be; zero means
	// DefaultFreshness.
	Freshness time.Duration
	// ClockSkew is how far in the future iat may lie; zero means
	// DefaultClockSkew.
	ClockSkew time.Duration
	// RequireKeyBinding demands the result attest the challenge's TIK:
	// as its attested key, or, for evidence with no key claim, through
	// an eat_nonce that is the key-bound challenge of the challenge's
	// qualifying data and TIK.
	RequireKeyBinding bool
	// RequireNonce demands the result's eat_nonce equal the challenge's
	// qualifying data (background check; a cached passport carries
	// another).
	RequireNonce bool
}

// Check verifies r.EAR against the trusted verifiers and applies the
// policy to it. Errors are *attest.Rejection.
func (p *Policy) Check(ctx context.Context, r *attest.Result, ch attest.Challenge, now time.Time) error {
	if r == nil {
		return attest.Reject(attest.ReasonResultMalformed, "no result")
	}
	_, err := p.Accept(ctx, r.EAR, ch, now)
	return err
}

// Accept verifies an EAR and applies the policy, returning the result as
// read from the verified token; a key bound through its challenge
// becomes its AttestedKey (Result.KeyBound).
func (p *Policy) Accept(ctx context.Context, token []byte, ch attest.Challenge, now time.Time) (*attest.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r, err := result.Verify(token, p.Verifiers)
	if err != nil {
		return nil, err
	}
	if !acceptable(r.Status, p.RequiredStatus) {
		return nil, attest.Reject(attest.ReasonStatus, "status %s (problem %q), policy accepts at worst %s", r.Status, r.Problem, required(p.RequiredStatus))
	}

	skew := orDefault(p.ClockSkew, DefaultClockSkew)
	if r.IssuedAt.After(now.Add(skew)) {
		return nil, attest.Reject(attest.ReasonIssuedInFuture, "iat %s is after %s", stamp(r.IssuedAt), stamp(now))
	}
	if fresh := orDefault(p.Freshness, DefaultFreshness); now.Sub(r.IssuedAt) > fresh {
		return nil, attest.Reject(attest.ReasonStale, "iat %s is more than %s before %s", stamp(r.IssuedAt), fresh, stamp(now))
	}
	if !r.Expiry.IsZero() && !now.Before(r.Expiry) {
		return nil, attest.Reject(attest.ReasonExpired, "exp %s is not after %s", stamp(r.Expiry), stamp(now))
	}

	// Evidence with no key claim carries the key-bound challenge
	// (attest.KeyBoundChallenge): that eat_nonce is the challenge and
	// binds the TIK at once.
	keyBound := r.BoundTo(ch.QualifyingData(), ch.TIK)
	if p.RequireNonce && !keyBound && !bytes.Equal(r.Nonce, ch.QualifyingData()) {
		return nil, attest.Reject(attest.ReasonNonceMismatch, "eat_nonce %x, challenge %x", r.Nonce, ch.QualifyingData())
	}
	if p.RequireKeyBinding {
		if r.AttestedKey == nil && !keyBound {
			return nil, attest.Reject(attest.ReasonNoAttestedKey, "result attests no key, and its eat_nonce is not the key-bound challenge")
		}
		tik, ok := ch.TIK.(interface{ Equal(crypto.PublicKey) bool })
		if r.AttestedKey != nil && (!ok || !tik.Equal(r.AttestedKey)) {
			return nil, attest.Reject(attest.ReasonKeyMismatch, "attested key is not the peer's TLS identity key")
		}
	}
	if keyBound && r.AttestedKey == nil {
		// What the profiles compare with the peer's key: the one the
		// challenge bound.
		r.AttestedKey, r.KeyBound = ch.TIK, true
	}
	return r, nil
}

func required(t ear.TrustTier) ear.TrustTier {
	if t == ear.TrustTierNone {
		return ear.TrustTierAffirming
	}
	return t
}

// acceptable: affirming is best, then warning, then contraindicated; none
// means no appraisal happened and is never enough.
func acceptable(status, req ear.TrustTier) bool {
	switch status {
	case ear.TrustTierAffirming:
		return true
	case ear.TrustTierWarning:
		r := required(req)
		return r == ear.TrustTierWarning || r == ear.TrustTierContraindicated
	case ear.TrustTierContraindicated:
		return required(req) == ear.TrustTierContraindicated
	}
	return false
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
