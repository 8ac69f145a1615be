// Package rootoftrust opens the attester a root of trust names: keys in
// software, the TPM 2.0 reference simulator in process, a swtpm, or a
// software PSA root of trust (PSA initial attestation tokens) or Arm CCA
// platform and realm (CCA tokens), or a Parsec service whose TPM
// provider holds the TLS key (credential-activation evidence). Every
// caller that turns a name into an attester (the reference peer's
// ATLS_TPM, the in-process fixture) goes through Open.
package rootoftrust

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"github.com/attested-tls/conformance/impl/attest/evidence/cca"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsecac"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/psa"
	"github.com/attested-tls/conformance/impl/attest/evidence/software"
	"github.com/attested-tls/conformance/impl/attest/evidence/tpm"
)

// Kinds of root of trust.
const (
	Software  = "software"
	Simulator = "simulator"
	Swtpm     = "swtpm"
	// PSA is a software PSA root of trust from test keys: its evidence
	// is a PSA token (psa.MediaType), not Parsec TPM key attestation.
	PSA = "psa-iot"
	// CCA is a software Arm CCA platform and realm from test keys: its
	// evidence is a CCA token (cca.MediaType).
	CCA = "cca"
	// Parsec is a Parsec service's TPM provider, on its Unix socket: the
	// TLS key lives in the TPM behind it, and its evidence is credential
	// activation (parsecac.MediaType).
	Parsec = "parsec"
)

// Root is a root of trust: its kind and, for a swtpm, its TPM command
// socket (host:port), for Parsec its Unix socket's path.
type Root struct {
	Kind string
	Addr string
}

func (r Root) String() string {
	if r.Kind == Swtpm || r.Kind == Parsec {
		return r.Kind + ":" + r.Addr
	}
	return r.Kind
}

// Parse reads "software", "simulator", "psa-iot", "cca",
// "swtpm:<host>:<port>" or "parsec:<socket path>".
func Parse(v string) (Root, error) {
	switch {
	case v == Software || v == Simulator || v == PSA || v == CCA:
		return Root{Kind: v}, nil
	case strings.HasPrefix(v, Swtpm+":"):
		addr := strings.TrimPrefix(v, Swtpm+":")
		if host, port, err := net.SplitHostPort(addr); err != nil || host == "" || port == "" {
			return Root{}, fmt.Errorf("%q: want swtpm:<host>:<port>", v)
		}
		return Root{Kind: Swtpm, Addr: addr}, nil
	case strings.HasPrefix(v, Parsec+":"):
		sock := strings.TrimPrefix(v, Parsec+":")
		if !filepath.IsAbs(sock) {
			return Root{}, fmt.Errorf("%q: want parsec:<absolute socket path>", v)
		}
		return Root{Kind: Parsec, Addr: sock}, nil
	}
	return Root{}, fmt.Errorf("%q: want %s, %s, %s, %s, %s:<host>:<port> or %s:<socket path>", v, Software, Simulator, PSA, CCA, Swtpm, Parsec)
}

// Open opens an attester on r, made with faults (some of which, like a
// duplicable identity key, only take effect when the attester is made);
// release frees what it holds on the TPM.
func Open(ctx context.Context, r Root, faults parsectpm.Faults) (a parsectpm.Attester, release func() error, err error) {
	switch r.Kind {
	case Software:
		sa, err := software.New(software.Config{Faults: faults})
		if err != nil {
			return nil, nil, err
		}
		return sa, func() error { return nil }, nil
	case PSA:
		pa, err := psa.New(psa.Config{Faults: faults})
		if err != nil {
			return nil, nil, err
		}
		return pa, func() error { return nil }, nil
	case CCA:
		ca, err := cca.New(cca.Config{Config: psa.Config{Faults: faults}})
		if err != nil {
			return nil, nil, err
		}
		return ca, func() error { return nil }, nil
	case Parsec:
		pa, err := parsecac.New(ctx, parsecac.Config{Socket: r.Addr, Faults: faults})
		if err != nil {
			return nil, nil, err
		}
		return pa, pa.Close, nil
	case Simulator, Swtpm:
		cfg := tpm.Config{Transport: tpm.TransportSimulator, Faults: faults}
		if r.Kind == Swtpm {
			cfg.Transport, cfg.Addr = tpm.TransportSwtpm, r.Addr
		}
		ta, err := tpm.Open(ctx, cfg)
		if err != nil {
			return nil, nil, err
		}
		return ta, ta.Close, nil
	}
	return nil, nil, fmt.Errorf("rootoftrust: unknown kind %q", r.Kind)
}
