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
	RootPSA       = rootoftrust.PSA       // a software PSA root of trust (PSA tokens)
	RootCCA       = rootoftrust.CCA       // a software Arm CCA platform and realm (CCA tokens)
	RootParsec    = rootoftrust.Parsec    // a Parsec service on a swtpm, started by the fixture
)

// RootOfTrustEnv selects the root of trust of the suite's fixture, where
// commands and tests read it (FixtureFromEnv).
const RootOfTrustEnv = "ATLS_ROOT_OF_TRUST"

// ParseRootOfTrust reads a root of trust's name ("" is software).
func ParseRootOfTrust(v string) (string, error) {
	switch v {
	case "", RootSoftware:
		return RootSoftware, nil
	case RootSimulator, RootSwtpm, RootPSA, RootCCA, RootParsec:
		return v, nil
	}
	return "", fmt.Errorf("root of trust %q: want %s, %s, %s, %s, %s or %s", v, RootSoftware, RootSimulator, RootSwtpm, RootPSA, RootCCA, RootParsec)
}

// FixtureFromEnv is the root of trust and verifier the environment asks
// the fixture for (RootOfTrustEnv, VerifierEnv). For commands and tests;
// libraries take them as parameters.
func FixtureFromEnv() (root, verifier string, err error) {
	if root, err = ParseRootOfTrust(os.Getenv(RootOfTrustEnv)); err != nil {
		return "", "", fmt.Errorf("%s: %w", RootOfTrustEnv, err)
	}
	if verifier, err = ParseVerifierKind(os.Getenv(VerifierEnv)); err != nil {
		return "", "", fmt.Errorf("%s: %w", VerifierEnv, err)
	}
	return root, verifier, nil
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
	if root == RootParsec {
		if f.parsec == nil {
			p, err := services.StartParsec(ctx, "")
			if err != nil {
				return nil, err
			}
			f.parsec = p
			f.closers = append(f.closers, p.Close)
		}
		r.Addr = f.parsec.Socket
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
