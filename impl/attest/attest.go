// Package attest holds the roles of remote attestation as the attested TLS
// profiles use them: what an attester binds its evidence to (Challenge), what
// it produces (Evidence), who appraises it (Verifier) and what comes back
// (Result). Concrete attesters live under evidence/, verifiers under verify/,
// EAR checking under result/ and the relying party's rules under policy/.
//
// Failures carry a Reason, never a TLS alert: each profile maps reasons to
// the alert its draft prescribes.
package attest

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/veraison/ear"
)

// Challenge is what an attester must bind its evidence to.
type Challenge struct {
	// Profile names the attested TLS profile asking (e.g. "ta-07").
	Profile string
	// Nonce is the verifier- or relying-party-supplied nonce, if any.
	Nonce []byte
	// Binder is the profile's channel binder (TA-07 handshake exporter,
	// EA attestation binder); when set it replaces Nonce as the value the
	// evidence carries.
	Binder []byte
	// TIK is the TLS identity key the evidence must attest, when known.
	TIK crypto.PublicKey
}

// Bounded is an attester whose evidence binds at most MaxQualifyingData
// bytes of nonce or binder (a TPM's qualifyingData): a profile refuses a
// longer one when it is negotiated rather than failing to attest.
type Bounded interface {
	MaxQualifyingData() int
}

// QualifyingData is the value the evidence carries as its freshness and
// channel binding claim: the binder when there is one, else the nonce.
func (c Challenge) QualifyingData() []byte {
	if len(c.Binder) > 0 {
		return c.Binder
	}
	return c.Nonce
}

// Evidence is one attestation payload as it travels in the handshake.
type Evidence struct {
	// MediaType identifies the format, e.g.
	// "application/vnd.parallaxsecond.key-attestation.tpm".
	MediaType string
	// ContentFormat is the CoAP Content-Format number, 0 if none is assigned.
	ContentFormat uint16
	Data          []byte
}

// Attester produces evidence about itself and the TLS key it signs with.
type Attester interface {
	// Identity is the TLS identity key (TIK) the evidence attests.
	Identity() crypto.Signer
	// MediaTypes lists the evidence formats the attester can produce.
	MediaTypes() []string
	Evidence(ctx context.Context, ch Challenge) (Evidence, error)
}

// Keyless is an attester whose evidence names no key of its own (a PSA
// token): it binds the TLS identity key through the challenge
// (KeyBoundChallenge), so a relying party must know that key before it
// appraises: from an X.509 certificate, or from a verifier's result that
// attests it. An attestation-only credential appraised by background
// check has neither.
type Keyless interface {
	EvidenceNamesNoKey()
}

// Verifier appraises evidence and issues attestation results.
type Verifier interface {
	// NewNonce returns a fresh nonce for a background-check exchange.
	NewNonce(ctx context.Context) ([]byte, error)
	// Appraise returns a Result for evidence that could be appraised,
	// whatever its verdict; it returns an error only when no appraisal was
	// possible (malformed evidence, unknown nonce, transport failure).
	Appraise(ctx context.Context, ev Evidence, ch Challenge) (*Result, error)
	// Identity is the verifier's identity as the drafts' VerifierIdentityType
	// carries it (opaque verifier_identity<0..2^16-1>).
	Identity() []byte
}

// ResultSource hands an attester a result to present (passport model).
type ResultSource interface {
	Result(ctx context.Context, ch Challenge) (*Result, error)
}

// Result is an attestation result: the signed EAR plus what a relying party
// reads from it. Only EAR is authoritative; policy re-verifies it.
type Result struct {
	// EAR is the compact JWT as issued.
	EAR []byte
	// Status is the least trustworthy status over all submodules.
	Status ear.TrustTier
	// Submod names the appraisal TrustVector and AttestedKey come from.
	Submod      string
	TrustVector ear.TrustVector
	// Verifier is the identity (VerifierIdentityType bytes) of the trusted
	// verifier whose key verified EAR.
	Verifier []byte
	// VerifierBuild and VerifierDeveloper are the EAR's ear.verifier-id.
	VerifierBuild, VerifierDeveloper string
	// AttestedKey is ear.veraison.key-attestation.akpub, nil if absent;
	// or, when KeyBound, the challenge's TIK.
	AttestedKey crypto.PublicKey
	// KeyBound says the EAR attests no key and a policy found its
	// eat_nonce to be the key-bound challenge (KeyBoundChallenge) of the
	// TIK it then put in AttestedKey: the key is bound through the
	// evidence's challenge, not by a key claim.
	KeyBound bool
	// Nonce is the EAR's eat_nonce, nil if absent. Verifiers put the
	// challenge's qualifying data there.
	Nonce []byte
	// IssuedAt is the EAR's iat.
	IssuedAt time.Time
	// Expiry is the JWT exp, zero if the EAR has none (Veraison and the
	// local verifier issue none: freshness then comes from policy).
	Expiry time.Time
	// Problem is the verifier's explanation for a non-affirming status
	// (ear.veraison.policy-claims "problem"), empty if none.
	Problem string
}

// TrustedVerifier is a verifier a relying party accepts results from.
type TrustedVerifier struct {
	// ID is the verifier identity as negotiated (VerifierIdentityType).
	ID []byte
	// Key verifies the verifier's EAR signatures (ES256: *ecdsa.PublicKey).
	Key crypto.PublicKey
}

// VerifierIdentity derives a verifier identity from its EAR signing key:
// SHA-256 over the DER SubjectPublicKeyInfo. Stable, short and checkable
// against the key that signed a result.
func VerifierIdentity(key crypto.PublicKey) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return nil, fmt.Errorf("attest: verifier identity: %w", err)
	}
	sum := sha256.Sum256(spki)
	return sum[:], nil
}

// Reason names why evidence or a result was rejected. Specs and reports
// assert reasons, never error wording.
type Reason string

func (r Reason) String() string { return string(r) }

// Reasons shared by every verifier and relying party. Evidence formats
// define their own (e.g. parsectpm.ReasonBadMagic).
const (
	// ReasonUnsupportedEvidence: the verifier does not handle the media type.
	ReasonUnsupportedEvidence Reason = "evidence.unsupported-type"
	// ReasonNoEndorsement: no endorsement (trust anchor) for the attester.
	ReasonNoEndorsement Reason = "evidence.no-endorsement"
	// ReasonNonceUnknown: the nonce was never issued by this verifier.
	ReasonNonceUnknown Reason = "nonce.unknown"
	// ReasonNonceReused: the nonce was already used for an appraisal.
	ReasonNonceReused Reason = "nonce.reused"
	// ReasonNonceExpired: the nonce outlived its lifetime.
	ReasonNonceExpired Reason = "nonce.expired"

	// ReasonResultMalformed: the result is not a well-formed EAR JWT.
	ReasonResultMalformed Reason = "result.malformed"
	// ReasonUntrustedVerifier: no trusted verifier key verifies the result.
	ReasonUntrustedVerifier Reason = "result.untrusted-verifier"
	// ReasonStatus: the result's status is worse than policy requires.
	ReasonStatus Reason = "result.status"
	// ReasonStale: the result was issued longer ago than policy allows.
	ReasonStale Reason = "result.stale"
	// ReasonIssuedInFuture: the result's iat lies beyond the allowed skew.
	ReasonIssuedInFuture Reason = "result.issued-in-future"
	// ReasonExpired: the result's exp has passed.
	ReasonExpired Reason = "result.expired"
	// ReasonNonceMismatch: the result's eat_nonce is not the challenge's
	// qualifying data.
	ReasonNonceMismatch Reason = "result.nonce-mismatch"
	// ReasonNoAttestedKey: key binding required but the result attests no key.
	ReasonNoAttestedKey Reason = "result.no-attested-key"
	// ReasonKeyMismatch: the attested key is not the peer's TLS identity key.
	ReasonKeyMismatch Reason = "result.key-mismatch"
)

// Rejection is the error every check in this layer returns: a reason to
// assert on and a detail for people.
type Rejection struct {
	Reason Reason
	Detail string
}

// Reject builds a Rejection with a formatted detail.
func Reject(reason Reason, format string, args ...any) *Rejection {
	return &Rejection{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

func (r *Rejection) Error() string {
	if r.Detail == "" {
		return string(r.Reason)
	}
	return string(r.Reason) + ": " + r.Detail
}

// Is matches another Rejection with the same reason, so
// errors.Is(err, &attest.Rejection{Reason: attest.ReasonStale}) works.
func (r *Rejection) Is(target error) bool {
	t, ok := target.(*Rejection)
	return ok && t.Reason == r.Reason
}

// ReasonOf returns the reason carried by err, or "" if err is not a
// rejection.
func ReasonOf(err error) Reason {
	var r *Rejection
	if errors.As(err, &r) {
		return r.Reason
	}
	return ""
}
