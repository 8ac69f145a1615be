package reference

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/rootoftrust"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison"
	"github.com/attested-tls/conformance/peers/contract"
)

// Roots of trust ATLS_TPM names.
const (
	TPMSoftware  = rootoftrust.Software
	TPMSimulator = rootoftrust.Simulator
	TPMSwtpm     = rootoftrust.Swtpm
)

// UnreachableError is a TPM or verifier the peer could not reach: the
// connection cannot happen, so it exits 1, not 2.
type UnreachableError struct {
	Name string // the variable that named it
	Err  error
}

func (e *UnreachableError) Error() string { return e.Name + ": " + e.Err.Error() }
func (e *UnreachableError) Unwrap() error { return e.Err }

// ParseTPM reads an ATLS_TPM value. A device TPM is unsupported by this
// peer, as is the simulator in a build without cgo.
func ParseTPM(v string) (rootoftrust.Root, error) {
	r, err := rootoftrust.Parse(v)
	switch {
	case err != nil && strings.HasPrefix(v, rootoftrust.Swtpm+":"):
		return r, &contract.VarError{Name: contract.EnvTPM, Err: err}
	case err != nil:
		return r, contract.Unsupportedf("%s=%q (this peer has software, simulator, swtpm, psa-iot and cca)", contract.EnvTPM, v)
	case r.Kind == rootoftrust.Simulator && !haveSimulator:
		return r, contract.Unsupportedf("%s=%s (this build has no cgo, so no simulator)", contract.EnvTPM, v)
	}
	return r, nil
}

// openAttester opens the attester ATLS_TPM names; closeFn releases its TPM.
func openAttester(ctx context.Context, v string) (a parsectpm.Attester, closeFn func() error, err error) {
	r, err := ParseTPM(v)
	if err != nil {
		return nil, nil, err
	}
	a, closeFn, err = rootoftrust.Open(ctx, r, parsectpm.Faults{})
	if err != nil && r.Kind != rootoftrust.Software {
		return nil, nil, &UnreachableError{Name: contract.EnvTPM, Err: err}
	}
	return a, closeFn, err
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
