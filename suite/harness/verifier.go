package harness

import (
	"context"
	"fmt"

	"github.com/attested-tls/conformance/containers/services"
	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/verify/local"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison"
)

// Verifiers a fixture's relying parties can use.
const (
	VerifierLocal    = "local"    // the in-process verifier
	VerifierVeraison = "veraison" // real Veraison services, started by the fixture
)

// VerifierEnv selects the verifier of the suite's fixture, where commands
// and tests read it (FixtureFromEnv).
const VerifierEnv = "ATLS_VERIFIER"

// ParseVerifierKind reads a verifier kind ("" is local).
func ParseVerifierKind(v string) (string, error) {
	switch v {
	case "", VerifierLocal:
		return VerifierLocal, nil
	case VerifierVeraison:
		return v, nil
	}
	return "", fmt.Errorf("verifier %q: want %s or %s", v, VerifierLocal, VerifierVeraison)
}

// Verifier is the fixture's verifier: it appraises, and relying parties
// trust its result-signing key.
type Verifier interface {
	attest.Verifier
	Trusted() attest.TrustedVerifier
}

// endorse makes the fixture's verifier trust e.
type endorser func(ctx context.Context, e parsectpm.Endorsement) error

// newVerifier starts the verifier of kind and returns how to endorse attesters with it.
func (f *Fixture) newVerifier(ctx context.Context, kind string) (Verifier, endorser, error) {
	if kind != VerifierVeraison {
		v, err := local.New(local.Config{Build: "conformance-local", Developer: "attested-tls conformance"})
		if err != nil {
			return nil, nil, err
		}
		return v, func(_ context.Context, e parsectpm.Endorsement) error { return v.AddEndorsement(e) }, nil
	}
	bin, err := services.VeraisonBinaries(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("building Veraison: %w", err)
	}
	svc, err := services.StartVeraison(ctx, services.VeraisonConfig{BinDir: bin})
	if err != nil {
		return nil, nil, fmt.Errorf("starting Veraison: %w", err)
	}
	f.closers = append(f.closers, svc.Stop)
	f.VeraisonURL, f.Veraison = svc.VerificationURL, svc
	v, err := veraison.New(ctx, veraison.Config{VerificationURL: svc.VerificationURL})
	if err != nil {
		return nil, nil, err
	}
	return v, func(ctx context.Context, e parsectpm.Endorsement) error {
		_, err := veraison.ProvisionEndorsement(ctx, svc.ProvisioningURL, e, nil)
		return err
	}, nil
}
