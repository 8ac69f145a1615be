package harness

import (
	"context"
	"fmt"
	"os"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/software"
	"github.com/attested-tls/conformance/impl/attest/evidence/tpm"
)

// Roots of trust a fixture's attesters can stand on.
const (
	RootSoftware  = "software"  // software keys and PCRs (fast, no TPM)
	RootSimulator = "simulator" // the Microsoft reference TPM, in process
	RootSwtpm     = "swtpm"     // swtpm, started by the fixture
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

// Faults are the attester misbehaviours specs use, whatever the root of trust.
type Faults struct {
	// CertifyOtherKey makes the key attestation certify a key other than
	// the TLS identity key.
	CertifyOtherKey bool
	// QualifyingData, when non-nil, replaces the challenge in the evidence
	// (a stale or foreign nonce or binder).
	QualifyingData []byte
	// The following take effect only in NewAttester, when the attester is made.

	// UnendorsedKey signs the evidence with an attestation key the verifier
	// was never given.
	UnendorsedKey bool
	// NotFixedTPM makes the identity key duplicable (fixedTPM clear).
	NotFixedTPM bool
	// MeasuredBootDrift extends a quoted PCR after endorsement: the
	// platform no longer matches its reference values.
	MeasuredBootDrift bool
}

// Attester is an attester of the fixture: evidence, its endorsement,
// measured boot, faults.
type Attester interface {
	attest.Attester
	Endorsement() parsectpm.Endorsement
	Extend(pcr int, data []byte) error
	Select(pcrs ...int) error
	SetFaults(Faults)
}

// softwareAttester keeps the faults it was made with (base) under later ones.
type softwareAttester struct {
	*software.Attester
	base software.Faults
}

func (a softwareAttester) SetFaults(f Faults) {
	sf := a.base
	sf.CertifyOtherKey, sf.QualifyingData = f.CertifyOtherKey, f.QualifyingData
	a.Attester.SetFaults(sf)
}

type tpmAttester struct{ *tpm.Attester }

func (a tpmAttester) SetFaults(f Faults) {
	a.Attester.SetFaults(tpm.Faults{CertifyOtherKey: f.CertifyOtherKey, QualifyingData: f.QualifyingData})
}

// newAttester makes one attester on root; closers release what it holds.
func (f *Fixture) newAttester(ctx context.Context, root string) (Attester, error) {
	return f.newFaultyAttester(ctx, root, Faults{})
}

func (f *Fixture) newFaultyAttester(ctx context.Context, root string, faults Faults) (Attester, error) {
	switch root {
	case RootSimulator:
		a, err := tpm.Open(ctx, tpm.Config{Transport: tpm.TransportSimulator,
			Faults: tpm.Faults{NotFixedTPM: faults.NotFixedTPM, UnendorsedKey: faults.UnendorsedKey}})
		if err != nil {
			return nil, err
		}
		f.closers = append(f.closers, a.Close)
		return tpmAttester{a}, nil
	case RootSwtpm:
		if f.swtpm == nil {
			dir, err := os.MkdirTemp("", "atls-swtpm-")
			if err != nil {
				return nil, err
			}
			s, err := tpm.StartSwtpm(ctx, dir)
			if err != nil {
				os.RemoveAll(dir)
				return nil, err
			}
			f.swtpm = s
			// s.Close removes its state folder, made inside dir.
			f.closers = append(f.closers, s.Close, func() error { return os.RemoveAll(dir) })

		}
		a, err := tpm.Open(ctx, tpm.Config{Transport: tpm.TransportSwtpm, Addr: f.swtpm.Addr,
			Faults: tpm.Faults{NotFixedTPM: faults.NotFixedTPM, UnendorsedKey: faults.UnendorsedKey}})
		if err != nil {
			return nil, err
		}
		f.closers = append([]func() error{a.Close}, f.closers...) // attesters before their TPM
		return tpmAttester{a}, nil
	}
	base := software.Faults{UnendorsedKey: faults.UnendorsedKey, ClearFixedTPM: faults.NotFixedTPM}
	a, err := software.New(software.Config{Faults: base})
	if err != nil {
		return nil, err
	}
	return softwareAttester{a, base}, nil
}

// driftPCR is the PCR a MeasuredBootDrift attester quotes and extends: the
// application-specific PCR 23, which no other attester of a run quotes.
const driftPCR = 23

// NewAttester makes a fresh attester on the fixture's root of trust with
// faults, endorses it with the fixture's verifier (the endorsement an
// UnendorsedKey attester presents is not its signing key's) and certifies
// its TLS key for the given side. Specs use it for faults that cannot be
// undone, so the shared attesters stay sound.
func (f *Fixture) NewAttester(ctx context.Context, isClient bool, faults Faults) (Attester, [][]byte, error) {
	a, err := f.newFaultyAttester(ctx, f.Root, faults)
	if err != nil {
		return nil, nil, err
	}
	if faults.MeasuredBootDrift {
		// A TPM's PCRs are shared by every attester on it: drift a PCR
		// that only this attester quotes.
		if err := a.Select(driftPCR); err != nil {
			return nil, nil, err
		}
	}
	if err := f.endorse(ctx, a.Endorsement()); err != nil {
		return nil, nil, err
	}
	if faults.MeasuredBootDrift {
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
