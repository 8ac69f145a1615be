package harness

import (
	"context"
	"fmt"
	"os"

	"github.com/attested-tls/conformance/containers/services"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/rootoftrust"
)

// Roots of trust a fixture's attesters can stand on.
const (
	RootSoftware  = rootoftrust.Software  // software keys and PCRs (fast, no TPM)
	RootSimulator = rootoftrust.Simulator // the Microsoft reference TPM, in process
	RootSwtpm     = rootoftrust.Swtpm     // swtpm, started by the fixture
)

// RootOfTrustEnv selects the root of trust of the suite's fixture.
const RootOfTrustEnv = "ATLS_ROOT_OF_TRUST"

// RootOfTrust is the root of trust the environment asks for (software by default).
func RootOfTrust() (string, error) {
	switch r := os.Getenv(RootOfTrustEnv); r {
	case "", RootSoftware:
		return RootSoftware, nil
	case RootSimulator, RootSwtpm:
		return r, nil
	default:
		return "", fmt.Errorf("%s=%q: want %s, %s or %s", RootOfTrustEnv, r, RootSoftware, RootSimulator, RootSwtpm)
	}
}

// newAttester makes one attester on root with faults; closers release
// what it holds.
func (f *Fixture) newAttester(ctx context.Context, root string, faults parsectpm.Faults) (parsectpm.Attester, error) {
	r := rootoftrust.Root{Kind: root}
	if root == RootSwtpm {
		if f.swtpm == nil {
			dir, err := os.MkdirTemp("", "atls-swtpm-")
			if err != nil {
				return nil, err
			}
			s, err := services.StartSwtpm(ctx, dir)
			if err != nil {
				os.RemoveAll(dir)
				return nil, err
			}
			f.swtpm = s
			// s.Close removes its state folder, made inside dir.
			f.closers = append(f.closers, s.Close, func() error { return os.RemoveAll(dir) })
		}
		r.Addr = f.swtpm.Addr
	}
	a, release, err := rootoftrust.Open(ctx, r, faults)
	if err != nil {
		return nil, err
	}
	f.closers = append([]func() error{release}, f.closers...) // attesters before their TPM
	return a, nil
}

// driftPCR is the PCR a MeasuredBootDrift attester quotes and extends: the
// application-specific PCR 23, which no other attester of a run quotes.
const driftPCR = 23

// NewAttester makes a fresh attester on the fixture's root of trust with
// faults, endorses it with the fixture's verifier (the endorsement an
// UnendorsedKey attester presents is not its signing key's) and certifies
// its TLS key for the given side; with drift, its platform then drifts
// from the endorsement: a quoted PCR is extended after it. Specs use it
// for faults that cannot be undone, so the shared attesters stay sound.
func (f *Fixture) NewAttester(ctx context.Context, isClient bool, faults parsectpm.Faults, drift bool) (parsectpm.Attester, [][]byte, error) {
	a, err := f.newAttester(ctx, f.Root, faults)
	if err != nil {
		return nil, nil, err
	}
	if drift {
		// A TPM's PCRs are shared by every attester on it: drift a PCR
		// that only this attester quotes.
		if err := a.Select(driftPCR); err != nil {
			return nil, nil, err
		}
	}
	if err := f.endorse(ctx, a.Endorsement()); err != nil {
		return nil, nil, err
	}
	if drift {
		if err := a.Extend(driftPCR, []byte("an unmeasured bootloader")); err != nil {
			return nil, nil, err
		}
	}
	a.SetFaults(faults)
	chain, err := f.Certify(a.Identity(), isClient)
	return a, chain, err
}

// Close releases the fixture's TPM connections and stops its swtpm.
func (f *Fixture) Close() error {
	var first error
	for _, c := range f.closers {
		if err := c(); err != nil && first == nil {
			first = err
		}
	}
	f.closers = nil
	return first
}
