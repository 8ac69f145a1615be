package serve

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/attested-tls/conformance/containers/services"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/rootoftrust"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/inputs"
)

// Services say which root of trust and verifier serve's reference uses,
// as `conformance run --services` does.
const (
	// ServicesLocal: a software root of trust and the in-process verifier.
	ServicesLocal = "local"
	// ServicesReal: a swtpm and Veraison's services, as host processes
	// (containers/services).
	ServicesReal = "real"
)

// realServices are the swtpm and Veraison of a serve run with
// ServicesReal.
type realServices struct {
	swtpm    *services.Swtpm
	veraison *services.Veraison
	release  func() error

	mu          sync.Mutex
	provisioned map[string]bool // key IDs Veraison has (one provisioning each)
}

// startServices opens serve's attester: a software one, or (real) one on
// a swtpm of its own, with Veraison started under the run's verifier key
// (so the trusted-verifiers list visitors have already names it) and
// the attester's endorsement provisioned.
func startServices(ctx context.Context, kind, dir string, in *inputs.Inputs) (parsectpm.Attester, *realServices, error) {
	switch kind {
	case ServicesLocal, "":
		a, _, err := rootoftrust.Open(ctx, rootoftrust.Root{Kind: rootoftrust.Software}, parsectpm.Faults{})
		return a, nil, err
	case ServicesReal:
	default:
		return nil, nil, fmt.Errorf("serve: services %q: want %s or %s", kind, ServicesLocal, ServicesReal)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := services.HaveSwtpm(); err != nil {
		return nil, nil, fmt.Errorf("serve: --services real needs swtpm: %w", err)
	}
	b, err := os.ReadFile(in.Path(inputs.VerifierKeyFile))
	if err != nil {
		return nil, nil, err
	}
	key, err := contract.ParseECPrivateKeyPEM(b)
	if err != nil {
		return nil, nil, fmt.Errorf("serve: %s: %w", inputs.VerifierKeyFile, err)
	}
	rs := &realServices{provisioned: map[string]bool{}}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	if rs.swtpm, err = services.StartSwtpm(ctx, dir); err != nil {
		return nil, nil, fmt.Errorf("serve: starting swtpm: %w", err)
	}
	a, release, err := rootoftrust.Open(ctx, rootoftrust.Root{Kind: rootoftrust.Swtpm, Addr: rs.swtpm.Addr}, parsectpm.Faults{})
	if err != nil {
		rs.close()
		return nil, nil, fmt.Errorf("serve: the swtpm's attester: %w", err)
	}
	rs.release = release
	if rs.veraison, err = services.StartVeraison(ctx, services.VeraisonConfig{EARKey: key}); err != nil {
		rs.close()
		return nil, nil, fmt.Errorf("serve: starting Veraison: %w", err)
	}
	if err := rs.provision(ctx, a.Endorsement()); err != nil {
		rs.close()
		return nil, nil, err
	}
	return a, rs, nil
}

// provision gives Veraison an attester's endorsement, once per key ID:
// Veraison takes a key ID provisioned twice but then fails its
// appraisals.
func (rs *realServices) provision(ctx context.Context, e parsectpm.Endorsement) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.provisioned[string(e.KeyID)] {
		return nil
	}
	if _, err := veraison.ProvisionEndorsement(ctx, rs.veraison.ProvisioningURL, e, nil); err != nil {
		return fmt.Errorf("serve: provisioning Veraison: %w", err)
	}
	rs.provisioned[string(e.KeyID)] = true
	return nil
}

// verifier is the ATLS_VERIFIER of the reference's configurations.
func (rs *realServices) verifier() string { return "veraison:" + rs.veraison.VerificationURL }

// tpm is the ATLS_TPM naming the swtpm.
func (rs *realServices) tpm() string { return rootoftrust.Swtpm + ":" + rs.swtpm.Addr }

func (rs *realServices) close() error {
	if rs == nil {
		return nil
	}
	var errs []error
	if rs.release != nil {
		errs = append(errs, rs.release())
	}
	if rs.veraison != nil {
		errs = append(errs, rs.veraison.Stop())
	}
	if rs.swtpm != nil {
		errs = append(errs, rs.swtpm.Close())
	}
	return errors.Join(errs...)
}

// servicesDir is where a real run's swtpm keeps its state.
func servicesDir(out string) string { return filepath.Join(out, "services") }
