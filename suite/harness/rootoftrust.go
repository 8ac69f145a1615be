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
	// QualifyingData, when non-nil, replaces the challenge in the evidence.
	QualifyingData []byte
}

// Attester is an attester of the fixture: evidence, its endorsement, faults.
type Attester interface {
	attest.Attester
	Endorsement() parsectpm.Endorsement
	SetFaults(Faults)
}

type softwareAttester struct{ *software.Attester }

func (a softwareAttester) SetFaults(f Faults) {
	a.Attester.SetFaults(software.Faults{CertifyOtherKey: f.CertifyOtherKey, QualifyingData: f.QualifyingData})
}

type tpmAttester struct{ *tpm.Attester }

func (a tpmAttester) SetFaults(f Faults) {
	a.Attester.SetFaults(tpm.Faults{CertifyOtherKey: f.CertifyOtherKey, QualifyingData: f.QualifyingData})
}

// newAttester makes one attester on root; closers release what it holds.
func (f *Fixture) newAttester(ctx context.Context, root string) (Attester, error) {
	switch root {
	case RootSimulator:
		a, err := tpm.Open(ctx, tpm.Config{Transport: tpm.TransportSimulator})
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
			f.closers = append(f.closers, s.Close) // Close removes dir

		}
		a, err := tpm.Open(ctx, tpm.Config{Transport: tpm.TransportSwtpm, Addr: f.swtpm.Addr})
		if err != nil {
			return nil, err
		}
		f.closers = append([]func() error{a.Close}, f.closers...) // attesters before their TPM
		return tpmAttester{a}, nil
	}
	a, err := software.New(software.Config{})
	if err != nil {
		return nil, err
	}
	return softwareAttester{a}, nil
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
