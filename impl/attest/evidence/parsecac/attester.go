package parsecac

import (
	"bytes"
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
// challenge. New activates a credential for it, and for a second key in
// the same TPM, so its Endorsement records both. It honours the faults
// the format can express (QualifyingData; CertifyOtherKey as evidence of
// the second key, signed by it; UnendorsedKey as an EK never endorsed);
// Parsec exposes no PCRs and makes every key fixedTPM and TPM-generated,
// so QuotePCRs, NotFixedTPM and NotSensitiveDataOrigin make evidence
// fail. Safe for concurrent use.
type Attester struct {
	c           *Client
	timeout     time.Duration
	tik, other  *key
	ek          []byte // as PrepareKeyAttestation exports it
	endorsement parsectpm.Endorsement
	// unendorsedEK is an EK nobody endorsed, for UnendorsedKey, made on
	// first use (an RSA key takes a while).
	unendorsedEK func() ([]byte, error)

	parsectpm.FaultSwitch
}

// key is one key in Parsec.
type key struct {
	parsec string           // its name in Parsec
	pub    *ecdsa.PublicKey // exported
	prep   *Preparation     // its TPM name and public area
}

var _ parsectpm.Attester = (*Attester)(nil)

// New makes an identity key and a second key in the TPM behind Parsec
// and activates a credential for each.
func New(ctx context.Context, cfg Config) (*Attester, error) {
	if cfg.Socket == "" {
		return nil, errors.New("parsecac: no Parsec socket")
	}
	a := &Attester{c: NewClient(cfg.Socket), timeout: cfg.Timeout}
	if a.timeout <= 0 {
		a.timeout = DefaultTimeout
	}
	a.SetFaults(cfg.Faults)
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()
	// newKey sets a.tik, then a.other, as soon as Parsec holds them.
	for range 2 {
		if err := a.newKey(ctx); err != nil {
			return nil, err
		}
	}
	a.ek = a.tik.prep.EK
	if !bytes.Equal(a.other.prep.EK, a.ek) {
		return nil, errors.New("parsecac: Parsec reported two EKs")
	}
	// The verifier's EK is the one Parsec reports: a swtpm has no EK
	// certificate to check it against.
	actx, cancel := context.WithTimeout(ctx, 4*a.timeout)
	defer cancel()
	var err error
	if a.endorsement, err = Activate(actx, a, a.ek,
		Key{a.tik.parsec, a.tik.prep.Name}, Key{a.other.parsec, a.other.prep.Name}); err != nil {
		return nil, err
	}
	a.unendorsedEK = sync.OnceValues(func() ([]byte, error) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		return x509.MarshalPKCS1PublicKey(&k.PublicKey), nil
	})
	ok = true
	return a, nil
}

// newKey generates a key, records it as the identity key or else the
// other key, and reads what activation needs of it.
func (a *Attester) newKey(ctx context.Context) error {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	k := &key{parsec: "atls-" + hex.EncodeToString(b)}
	if err := a.do(ctx, func(ctx context.Context) error { return a.c.GenerateKey(ctx, k.parsec) }); err != nil {
		return err
	}
	if a.tik == nil {
		a.tik = k // for Close, should what follows fail
	} else {
		a.other = k
	}
	if err := a.do(ctx, func(ctx context.Context) (err error) { k.pub, err = a.c.PublicKey(ctx, k.parsec); return }); err != nil {
		return err
	}
	if err := a.do(ctx, func(ctx context.Context) (err error) { k.prep, err = a.c.PrepareKeyAttestation(ctx, k.parsec); return }); err != nil {
		return err
	}
	// The public area Parsec reports must be the key it signs with.
	got, err := (&Evidence{KID: []byte{0}, Name: k.prep.Name, Public: k.prep.Public, EK: k.prep.EK, QualifyingData: []byte{0}, Sig: []byte{0}}).Key()
	if err != nil {
		return fmt.Errorf("parsecac: Parsec's public area: %w", err)
	}
	if !got.Equal(k.pub) {
		return errors.New("parsecac: Parsec's public area is not the exported key")
	}
	return nil
}

// do runs one Parsec call under the attester's timeout.
func (a *Attester) do(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	return f(ctx)
}

// ActivateCredential recovers c through Parsec's AttestKey for the
// attester's key named k in Parsec: the TPM unwraps it only for its own
// EK and that key's TPM name.
func (a *Attester) ActivateCredential(ctx context.Context, k string, c *Credential) ([]byte, error) {
	var got []byte
	err := a.do(ctx, func(ctx context.Context) (err error) {
		got, err = a.c.AttestKey(ctx, k, c.Blob, c.EncSecret)
		return
	})
	return got, err
}

// Identity is the TLS identity key; it signs in the TPM through Parsec.
func (a *Attester) Identity() crypto.Signer { return signer{a} }

// MediaTypes returns the one format the attester produces.
func (a *Attester) MediaTypes() []string { return []string{MediaType} }

// Endorsement records the credential activations New did: the verifier
// that trusts it trusts those keys to be in the TPM of that EK.
func (a *Attester) Endorsement() parsectpm.Endorsement { return a.endorsement }

// Keys are the identity key's Parsec name and the second key's, which
// New activated.
func (a *Attester) Keys() (identity, other Key) {
	return Key{a.tik.parsec, a.tik.prep.Name}, Key{a.other.parsec, a.other.prep.Name}
}

var errNoPCRs = errors.New("parsecac: Parsec exposes no PCRs")

// Select fails: Parsec has no operation that reads or quotes PCRs.
func (a *Attester) Select(...int) error { return errNoPCRs }

// Extend fails: Parsec has no operation that extends PCRs.
func (a *Attester) Extend(int, []byte) error { return errNoPCRs }

// Evidence signs the challenge's qualifying data with the identity key
// and carries what its activation was of.
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
	k := a.tik
	if f.CertifyOtherKey {
		k = a.other
	}
	ev := &Evidence{KID: a.endorsement.KeyID, Name: k.prep.Name, Public: k.prep.Public, EK: a.ek, QualifyingData: qd}
	if f.UnendorsedKey {
		if ev.EK, err = a.unendorsedEK(); err != nil {
			return attest.Evidence{}, err
		}
	}
	if err := a.do(ctx, func(ctx context.Context) (err error) { ev.Sig, err = a.c.SignHash(ctx, k.parsec, digest); return }); err != nil {
		return attest.Evidence{}, err
	}
	data, err := Encode(ev)
	if err != nil {
		return attest.Evidence{}, err
	}
	return attest.Evidence{MediaType: MediaType, Data: data}, nil
}

// Close destroys the attester's keys in Parsec.
func (a *Attester) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
	defer cancel()
	var errs []error
	for _, k := range []*key{a.tik, a.other} {
		if k != nil {
			errs = append(errs, a.c.DestroyKey(ctx, k.parsec))
		}
	}
	return errors.Join(errs...)
}

// signer is the identity key as a crypto.Signer: each signature is a
// PsaSignHash on the TPM provider.
type signer struct{ a *Attester }

func (s signer) Public() crypto.PublicKey { return s.a.tik.pub }

// Sign signs a SHA-256 digest (the key's only permitted algorithm) and
// returns an ASN.1 DER signature, within the attester's timeout.
func (s signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil || opts.HashFunc() != crypto.SHA256 || len(digest) != sha256.Size {
		return nil, fmt.Errorf("parsecac: the identity key signs SHA-256 digests only")
	}
	var sig []byte
	err := s.a.do(context.Background(), func(ctx context.Context) (err error) {
		sig, err = s.a.c.SignHash(ctx, s.a.tik.parsec, digest)
		return
	})
	return sig, err
}
