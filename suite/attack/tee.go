package attack

import (
	"context"
	"crypto"
	"crypto/x509"
	"sync"

	"github.com/attested-tls/conformance/impl/attest"
)

// TEE models an attester whose TIK and binder computation live inside the
// TEE (ea-07 §5.2–5.3): its own TLS stack computes the challenge of every
// handshake it terminates, and the TEE attests exactly those challenges.
// Anyone else asking (a compromised host, the attacker) is refused unless
// the TEE's stack computed that very challenge, TIK included.
type TEE struct {
	inner attest.Attester

	mu       sync.Mutex
	computed map[string]bool
	refused  int
}

// NewTEE puts inner inside a TEE.
func NewTEE(inner attest.Attester) *TEE {
	return &TEE{inner: inner, computed: map[string]bool{}}
}

// Own is the attester the TEE's own TLS stack uses: every challenge it
// asks for is one it computed.
func (t *TEE) Own() attest.Attester { return ownStack{t} }

// Attest is the TEE's attestation interface as seen from outside: it
// attests ch only if the TEE's own stack computed it.
func (t *TEE) Attest(ctx context.Context, ch attest.Challenge) (attest.Evidence, error) {
	t.mu.Lock()
	ok := t.computed[challengeKey(ch)]
	if !ok {
		t.refused++
	}
	t.mu.Unlock()
	if !ok {
		return attest.Evidence{}, attest.Reject(ReasonNotComputed, "the TEE's TLS stack did not compute this challenge")
	}
	return t.inner.Evidence(ctx, ch)
}

// Refused counts the challenges Attest refused.
func (t *TEE) Refused() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.refused
}

// ReasonNotComputed: a TEE-bound attester was asked to attest a challenge
// its own TLS stack did not compute.
const ReasonNotComputed attest.Reason = "tee.challenge-not-computed"

type ownStack struct{ t *TEE }

func (o ownStack) Identity() crypto.Signer { return o.t.inner.Identity() }
func (o ownStack) MediaTypes() []string    { return o.t.inner.MediaTypes() }

func (o ownStack) Evidence(ctx context.Context, ch attest.Challenge) (attest.Evidence, error) {
	o.t.mu.Lock()
	o.t.computed[challengeKey(ch)] = true
	o.t.mu.Unlock()
	return o.t.inner.Evidence(ctx, ch)
}

// challengeKey identifies a challenge: its qualifying data and the TIK it
// names (the TEE checks the public key too, §5.3).
func challengeKey(ch attest.Challenge) string {
	k := string(ch.QualifyingData())
	if ch.TIK != nil {
		spki, err := x509.MarshalPKIXPublicKey(ch.TIK)
		if err != nil {
			return "\x00unusable TIK"
		}
		k += "\x00" + string(spki)
	}
	return k
}
