package attack

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/verify/local"
)

// Nonces wraps a verifier's nonce source: it logs the nonces issued and,
// with Pin set, hands out Pin every time (the attacker relaying a
// victim's nonce, or a relying party that reuses nonces, as the PoC
// fork's fixed one did).
type Nonces struct {
	attest.Verifier
	Pin []byte

	mu     sync.Mutex
	issued [][]byte
}

func (n *Nonces) NewNonce(ctx context.Context) ([]byte, error) {
	nonce := slices.Clone(n.Pin)
	if nonce == nil {
		var err error
		if nonce, err = n.Verifier.NewNonce(ctx); err != nil {
			return nil, err
		}
	}
	n.mu.Lock()
	n.issued = append(n.issued, slices.Clone(nonce))
	n.mu.Unlock()
	return nonce, nil
}

// Issued lists the nonces handed out so far.
func (n *Nonces) Issued() [][]byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.issued)
}

// NonceRegistry is an in-process verifier that accepts a nonce only if it
// issued it and only once (local.Config.IssuedNonces), endorsing e.
func NonceRegistry(e parsectpm.Endorsement) (*local.Verifier, error) {
	v, err := local.New(local.Config{IssuedNonces: true, Build: "nonce-registry"})
	if err != nil {
		return nil, err
	}
	return v, v.AddEndorsement(e)
}

// Fault is how a Faulty verifier fails.
type Fault int

const (
	// VerifierDown: every appraisal fails at once, as with the service
	// unreachable.
	VerifierDown Fault = iota + 1
	// VerifierTimeout: appraisals take far longer than any deadline and
	// end only when the caller's context does.
	VerifierTimeout
	// VerifierContraindicates: appraisals return a signed, contraindicated
	// result from a verifier the relying party trusts (Trusted).
	VerifierContraindicates
)

func (f Fault) String() string {
	switch f {
	case VerifierDown:
		return "verifier-down"
	case VerifierTimeout:
		return "verifier-timeout"
	case VerifierContraindicates:
		return "contraindicated"
	}
	return fmt.Sprintf("fault(%d)", int(f))
}

// Faulty decorates a relying party's verifier with one fault; nonces
// still come from the verifier it wraps.
type Faulty struct {
	attest.Verifier
	Fault Fault
	// Hang is how long a VerifierTimeout appraisal lasts if its context
	// has no earlier end.
	Hang time.Duration

	contra *local.Verifier

	mu    sync.Mutex
	calls []Call
}

// Call is one appraisal a Faulty verifier served.
type Call struct {
	// Took is how long the appraisal ran.
	Took time.Duration
	// Deadline is how long the caller's context had left when it started
	// (0 if it had no deadline).
	Deadline time.Duration
}

// NewFaulty wraps v with fault.
func NewFaulty(v attest.Verifier, fault Fault) (*Faulty, error) {
	f := &Faulty{Verifier: v, Fault: fault, Hang: time.Minute}
	if fault == VerifierContraindicates {
		// A verifier that knows no attester: it signs a contraindicated
		// result for any well-formed evidence (no endorsement).
		c, err := local.New(local.Config{Build: "contraindicating"})
		if err != nil {
			return nil, err
		}
		f.contra = c
	}
	return f, nil
}

// Trusted is the trust anchor a relying party needs for a
// VerifierContraindicates verifier's results to be read at all.
func (f *Faulty) Trusted() attest.TrustedVerifier {
	if f.contra != nil {
		return f.contra.Trusted()
	}
	if t, ok := f.Verifier.(interface{ Trusted() attest.TrustedVerifier }); ok {
		return t.Trusted()
	}
	return attest.TrustedVerifier{}
}

func (f *Faulty) Appraise(ctx context.Context, ev attest.Evidence, ch attest.Challenge) (*attest.Result, error) {
	start := time.Now()
	var left time.Duration
	if d, ok := ctx.Deadline(); ok {
		left = time.Until(d)
	}
	defer func() {
		f.mu.Lock()
		f.calls = append(f.calls, Call{Took: time.Since(start), Deadline: left})
		f.mu.Unlock()
	}()
	switch f.Fault {
	case VerifierDown:
		return nil, fmt.Errorf("attack: verifier unreachable: %w", syscall.ECONNREFUSED)
	case VerifierTimeout:
		t := time.NewTimer(f.Hang)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("attack: verifier did not answer: %w", ctx.Err())
		case <-t.C:
			return nil, fmt.Errorf("attack: verifier answered after %s", f.Hang)
		}
	case VerifierContraindicates:
		return f.contra.Appraise(ctx, ev, ch)
	}
	return f.Verifier.Appraise(ctx, ev, ch)
}

// Calls lists the appraisals served.
func (f *Faulty) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}
