package parsecac

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
)

// DefaultTimeout bounds each Parsec call of an attester whose Config sets
// none, and each signature its Identity makes (crypto.Signer has no
// context).
const DefaultTimeout = 20 * time.Second

// Config sets up an Attester.
type Config struct {
	// Socket is the Parsec service's Unix socket.
	Socket string
	// Faults are the attester's initial faults.
	Faults parsectpm.Faults
	// Timeout bounds each Parsec call; 0 is DefaultTimeout.
	Timeout time.Duration
}

// Attester holds a TLS identity key in a TPM through Parsec: a P-256
// key its TPM provider generated, which signs CertificateVerify and the
// challenge. New activates a credential for it, so its Endorsement
// records the activation. It honours the faults the format can express
// (QualifyingData, CertifyOtherKey as another Parsec key's name and
// public area, UnendorsedKey as an EK never endorsed); Parsec exposes no
// PCRs and makes every key fixedTPM and TPM-generated, so QuotePCRs,
// NotFixedTPM and NotSensitiveDataOrigin make evidence fail. Safe for
// concurrent use.
type Attester struct {
	c       *Client
	timeout time.Duration
	key     string // the identity key's name in Parsec
	pub     *ecdsa.PublicKey
	prep    *Preparation
	endorse parsectpm.Endorsement

	parsectpm.FaultSwitch

	mu        sync.Mutex
	other     string       // another key's name in Parsec, once made
	otherPrep *Preparation // its name and public area
	otherEK   []byte       // an EK nobody endorsed, once made
}

var _ parsectpm.Attester = (*Attester)(nil)

// New makes an identity key in the TPM behind Parsec and activates a
// credential for it.
func New(ctx context.Context, cfg Config) (*Attester, error) {
	if cfg.Socket == "" {
		return nil, errors.New("parsecac: no Parsec socket")
	}
	a := &Attester{c: NewClient(cfg.Socket), timeout: cfg.Timeout}
	if a.timeout <= 0 {
		a.timeout = DefaultTimeout
	}
	a.SetFaults(cfg.Faults)
	var err error
	if a.key, err = keyName(); err != nil {
		return nil, err
	}
	if err := a.do(ctx, func(ctx context.Context) error { return a.c.GenerateKey(ctx, a.key) }); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()
	if err := a.do(ctx, func(ctx context.Context) (err error) { a.pub, err = a.c.PublicKey(ctx, a.key); return }); err != nil {
		return nil, err
	}
	if err := a.do(ctx, func(ctx context.Context) (err error) { a.prep, err = a.c.PrepareKeyAttestation(ctx, a.key); return }); err != nil {
		return nil, err
	}
	// The public area Parsec reports must be the key it signs with.
	k, err := (&Evidence{Name: a.prep.Name, Public: a.prep.Public, EK: a.prep.EK, QualifyingData: []byte{0}, Sig: []byte{0}}).Key()
	if err != nil {
		return nil, fmt.Errorf("parsecac: Parsec's public area: %w", err)
	}
	if !k.Equal(a.pub) {
		return nil, errors.New("parsecac: Parsec's public area is not the exported key")
	}
	actx, cancel := context.WithTimeout(ctx, 2*a.timeout)
	defer cancel()
	if a.endorse, err = Activate(actx, a, a.prep.EK, a.prep.Name); err != nil {
		return nil, err
	}
	ok = true
	return a, nil
}

func keyName() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "atls-" + hex.EncodeToString(b), nil
}

// do runs one Parsec call under the attester's timeout.
func (a *Attester) do(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	return f(ctx)
}

// ActivateCredential recovers c through Parsec's AttestKey: the TPM
// unwraps it only for its own EK and the identity key's name.
func (a *Attester) ActivateCredential(ctx context.Context, c *Credential) ([]byte, error) {
	var got []byte
	err := a.do(ctx, func(ctx context.Context) (err error) {
		got, err = a.c.AttestKey(ctx, a.key, c.Blob, c.EncSecret)
		return
	})
	return got, err
}

// Identity is the TLS identity key; it signs in the TPM through Parsec.
func (a *Attester) Identity() crypto.Signer { return signer{a} }

// MediaTypes returns the one format the attester produces.
func (a *Attester) MediaTypes() []string { return []string{MediaType} }

// Endorsement records the credential activation New did: the verifier
// that trusts it trusts the key to be in the TPM of that EK.
func (a *Attester) Endorsement() parsectpm.Endorsement { return a.endorse }

var errNoPCRs = errors.New("parsecac: Parsec exposes no PCRs")

// Select fails: Parsec has no operation that reads or quotes PCRs.
func (a *Attester) Select(...int) error { return errNoPCRs }

// Extend fails: Parsec has no operation that extends PCRs.
func (a *Attester) Extend(int, []byte) error { return errNoPCRs }

// Evidence signs the challenge's qualifying data with the identity key
// and carries what the endorsement's activation was of.
func (a *Attester) Evidence(ctx context.Context, ch attest.Challenge) (attest.Evidence, error) {
	f := a.CurrentFaults()
	if len(f.QuotePCRs) > 0 || f.NotFixedTPM || f.NotSensitiveDataOrigin {
		return attest.Evidence{}, errors.New("parsecac: Parsec quotes no PCRs and makes every key fixedTPM and TPM-generated (QuotePCRs, NotFixedTPM, NotSensitiveDataOrigin)")
	}
	qd := ch.QualifyingData()
	if f.QualifyingData != nil {
		qd = f.QualifyingData
	}
	digest, err := SignedDigest(qd)
	if err != nil {
		return attest.Evidence{}, err
	}
	ev := &Evidence{Name: a.prep.Name, Public: a.prep.Public, EK: a.prep.EK, QualifyingData: qd}
	if f.CertifyOtherKey {
		p, err := a.otherKey(ctx)
		if err != nil {
			return attest.Evidence{}, err
		}
		ev.Name, ev.Public = p.Name, p.Public
	}
	if f.UnendorsedKey {
		if ev.EK, err = a.unendorsedEK(); err != nil {
			return attest.Evidence{}, err
		}
	}
	if err := a.do(ctx, func(ctx context.Context) (err error) { ev.Sig, err = a.c.SignHash(ctx, a.key, digest); return }); err != nil {
		return attest.Evidence{}, err
	}
	data, err := Encode(ev)
	if err != nil {
		return attest.Evidence{}, err
	}
	return attest.Evidence{MediaType: MediaType, Data: data}, nil
}

// otherKey is a second Parsec key, made on first use.
func (a *Attester) otherKey(ctx context.Context) (*Preparation, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.otherPrep != nil {
		return a.otherPrep, nil
	}
	name, err := keyName()
	if err != nil {
		return nil, err
	}
	if err := a.do(ctx, func(ctx context.Context) error { return a.c.GenerateKey(ctx, name) }); err != nil {
		return nil, err
	}
	a.other = name
	err = a.do(ctx, func(ctx context.Context) (err error) { a.otherPrep, err = a.c.PrepareKeyAttestation(ctx, name); return })
	return a.otherPrep, err
}

// unendorsedEK is an RSA key no verifier was given, made on first use.
func (a *Attester) unendorsedEK() ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.otherEK == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		a.otherEK = x509.MarshalPKCS1PublicKey(&k.PublicKey)
	}
	return a.otherEK, nil
}

// Close destroys the attester's keys in Parsec.
func (a *Attester) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
	defer cancel()
	a.mu.Lock()
	other := a.other
	a.mu.Unlock()
	var errs []error
	for _, k := range []string{a.key, other} {
		if k != "" {
			errs = append(errs, a.c.DestroyKey(ctx, k))
		}
	}
	return errors.Join(errs...)
}

// signer is the identity key as a crypto.Signer: each signature is a
// PsaSignHash on the TPM provider.
type signer struct{ a *Attester }

func (s signer) Public() crypto.PublicKey { return s.a.pub }

// Sign signs a SHA-256 digest (the key's only permitted algorithm) and
// returns an ASN.1 DER signature, within the attester's timeout.
func (s signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil || opts.HashFunc() != crypto.SHA256 || len(digest) != sha256.Size {
		return nil, fmt.Errorf("parsecac: the identity key signs SHA-256 digests only")
	}
	var sig []byte
	err := s.a.do(context.Background(), func(ctx context.Context) (err error) {
		sig, err = s.a.c.SignHash(ctx, s.a.key, digest)
		return
	})
	return sig, err
}
