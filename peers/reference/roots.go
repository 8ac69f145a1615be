package reference

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/software"
	"github.com/attested-tls/conformance/impl/attest/evidence/tpm"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison"
	"github.com/attested-tls/conformance/peers/contract"
)

// Roots of trust ATLS_TPM names.
const (
	TPMSoftware  = "software"
	TPMSimulator = "simulator"
	TPMSwtpm     = "swtpm"
)

// attester is what the peer needs of its root of trust: evidence, the
// TLS identity key it attests, and the endorsement it writes out.
type attester interface {
	attest.Attester
	Endorsement() parsectpm.Endorsement
}

// UnreachableError is a TPM or verifier the peer could not reach: the
// connection cannot happen, so it exits 1, not 2.
type UnreachableError struct {
	Name string // the variable that named it
	Err  error
}

func (e *UnreachableError) Error() string { return e.Name + ": " + e.Err.Error() }
func (e *UnreachableError) Unwrap() error { return e.Err }

// ParseTPM splits an ATLS_TPM value into the root of trust and, for
// swtpm, its address. A device TPM is unsupported by this peer, as is the
// simulator in a build without cgo.
func ParseTPM(v string) (kind, addr string, err error) {
	switch {
	case v == TPMSoftware:
		return TPMSoftware, "", nil
	case v == TPMSimulator:
		if !haveSimulator {
			return "", "", contract.Unsupportedf("%s=%s (this build has no cgo, so no simulator)", contract.EnvTPM, v)
		}
		return TPMSimulator, "", nil
	case strings.HasPrefix(v, "swtpm:"):
		addr := strings.TrimPrefix(v, "swtpm:")
		if host, port, err := net.SplitHostPort(addr); err != nil || host == "" || port == "" {
			return "", "", &contract.VarError{Name: contract.EnvTPM, Err: fmt.Errorf("%q: want swtpm:<host>:<port>", v)}
		}
		return TPMSwtpm, addr, nil
	}
	return "", "", contract.Unsupportedf("%s=%q (this peer has software, simulator and swtpm)", contract.EnvTPM, v)
}

// openAttester opens the attester ATLS_TPM names; closeFn releases its TPM.
func openAttester(ctx context.Context, v string) (a attester, closeFn func() error, err error) {
	kind, addr, err := ParseTPM(v)
	if err != nil {
		return nil, nil, err
	}
	if kind == TPMSoftware {
		sa, err := software.New(software.Config{})
		return sa, func() error { return nil }, err
	}
	cfg := tpm.Config{Transport: tpm.TransportSimulator}
	if kind == TPMSwtpm {
		cfg = tpm.Config{Transport: tpm.TransportSwtpm, Addr: addr}
	}
	ta, err := tpm.Open(ctx, cfg)
	if err != nil {
		return nil, nil, &UnreachableError{Name: contract.EnvTPM, Err: err}
	}
	return ta, ta.Close, nil
}

// VeraisonURL is the verification URL of an ATLS_VERIFIER=veraison:<URL>,
// "" for any other verifier.
func VeraisonURL(v string) string {
	u, ok := strings.CutPrefix(v, "veraison:")
	if !ok {
		return ""
	}
	return u
}

// openVeraison discovers the Veraison verification service (its EAR key).
func openVeraison(ctx context.Context, url string) (*veraison.Verifier, error) {
	v, err := veraison.New(ctx, veraison.Config{VerificationURL: url})
	if err != nil {
		return nil, &UnreachableError{Name: contract.EnvVerifier, Err: err}
	}
	return v, nil
}

// keyTrust is the verifier whose EAR key ATLS_VERIFIER_KEY holds: a PEM
// public key, or a private key (PKCS #8) whose public half is meant.
func keyTrust(b []byte) (attest.TrustedVerifier, error) {
	var pub *ecdsa.PublicKey
	if k, err := contract.ParseECPrivateKeyPEM(b); err == nil {
		pub = &k.PublicKey
	} else {
		blk, _ := pem.Decode(b)
		if blk == nil || blk.Type != "PUBLIC KEY" {
			return attest.TrustedVerifier{}, errors.New("want a PEM PUBLIC KEY or PRIVATE KEY")
		}
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return attest.TrustedVerifier{}, err
		}
		ek, ok := k.(*ecdsa.PublicKey)
		if !ok {
			return attest.TrustedVerifier{}, fmt.Errorf("want an ECDSA key, got %T", k)
		}
		pub = ek
	}
	id, err := attest.VerifierIdentity(pub)
	if err != nil {
		return attest.TrustedVerifier{}, err
	}
	return attest.TrustedVerifier{ID: id, Key: pub}, nil
}
