// Package inputs makes what the suite hands the two peers of a case: the
// run's files (CA certificate and key, the local verifier's EAR key, the
// trusted-verifiers list) and the pair of contract configurations, one per
// role, with each side's output folder, key log and endorsement exchange
// wired to the other's.
package inputs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/endpoint"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/peers/contract"
)

// ServerName is the server's name in every case.
const ServerName = "server.attested.test"

// File names under a run's input folder and a peer's output folder.
const (
	CACertFile           = "ca.pem"
	CAKeyFile            = "ca-key.pem"
	VerifierKeyFile      = "verifier-key.pem"
	TrustedVerifiersFile = "trusted-verifiers.json"
	EndorsementFile      = "endorsements.json"
	KeyLogFile           = "keylog.txt"
)

// Inputs are a run's input files, in Dir.
type Inputs struct {
	Dir string
	CA  *endpoint.CA
	// Verifier is the identity and key of the local verifier every peer
	// with ATLS_VERIFIER=local runs with the key in VerifierKeyFile.
	Verifier attest.TrustedVerifier
}

// Prepare writes a fresh CA, verifier key and trusted-verifiers list to dir.
func Prepare(dir string) (*Inputs, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ca, err := endpoint.NewCA()
	if err != nil {
		return nil, err
	}
	vk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	id, err := attest.VerifierIdentity(&vk.PublicKey)
	if err != nil {
		return nil, err
	}
	in := &Inputs{Dir: dir, CA: ca, Verifier: attest.TrustedVerifier{ID: id, Key: &vk.PublicKey}}
	caKey, err := contract.MarshalPrivateKeyPEM(ca.Key)
	if err != nil {
		return nil, err
	}
	vkPEM, err := contract.MarshalPrivateKeyPEM(vk)
	if err != nil {
		return nil, err
	}
	trusted, err := contract.MarshalTrustedVerifiers([]attest.TrustedVerifier{in.Verifier})
	if err != nil {
		return nil, err
	}
	for name, b := range map[string][]byte{
		CACertFile:           pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}),
		CAKeyFile:            caKey,
		VerifierKeyFile:      vkPEM,
		TrustedVerifiersFile: trusted,
	} {
		// Readable by a container running as any user: the keys are test keys.
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// Load reads the inputs Prepare wrote to dir: a long-running server
// (conformance serve) restarted keeps the trust anchors its visitors
// already have. It fails if a file is missing or malformed, or the CA
// has expired.
func Load(dir string) (*Inputs, error) {
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("inputs: %w", err)
		}
		return b, nil
	}
	b, err := read(CACertFile)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("inputs: %s: no PEM CERTIFICATE", CACertFile)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("inputs: %s: %w", CACertFile, err)
	}
	if time.Now().After(cert.NotAfter) {
		return nil, fmt.Errorf("inputs: %s expired at %s", CACertFile, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	keys := map[string]*ecdsa.PrivateKey{}
	for _, name := range []string{CAKeyFile, VerifierKeyFile} {
		b, err := read(name)
		if err != nil {
			return nil, err
		}
		if keys[name], err = contract.ParseECPrivateKeyPEM(b); err != nil {
			return nil, fmt.Errorf("inputs: %s: %w", name, err)
		}
	}
	if !keys[CAKeyFile].PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("inputs: %s is not the key of %s", CAKeyFile, CACertFile)
	}
	vk := &keys[VerifierKeyFile].PublicKey
	id, err := attest.VerifierIdentity(vk)
	if err != nil {
		return nil, err
	}
	return &Inputs{Dir: dir, CA: &endpoint.CA{Cert: cert, Key: keys[CAKeyFile]},
		Verifier: attest.TrustedVerifier{ID: id, Key: vk}}, nil
}

// Path is the path of one of the run's input files.
func (in *Inputs) Path(name string) string { return filepath.Join(in.Dir, name) }

// Pair describes one case for both peers.
type Pair struct {
	// TestCase is the case ID; it begins with the model ID.
	TestCase string
	Model    party.Model
	// Dirs are each role's output folder (created by Configs).
	Dirs map[contract.Role]string
	// Misbehave names a misbehaviour per role.
	Misbehave map[contract.Role]string
	// Codepoints are the ATLS_CODEPOINTS of both peers.
	Codepoints string
	Timeout    time.Duration
}

// Configs returns the server's and the client's configuration; the
// server's Listen and the client's Connect are left for the caller (the
// driver knows the addresses).
func (in *Inputs) Configs(p Pair) (server, client contract.Config, err error) {
	for _, r := range []contract.Role{contract.Server, contract.Client} {
		if p.Dirs[r] == "" {
			return server, client, fmt.Errorf("inputs: no output folder for the %s", r)
		}
		if err := os.MkdirAll(p.Dirs[r], 0o755); err != nil {
			return server, client, err
		}
	}
	base := contract.Config{TestCase: p.TestCase, Profile: p.Model.Profile, ServerName: ServerName,
		CACert: in.Path(CACertFile), CAKey: in.Path(CAKeyFile), Codepoints: p.Codepoints, Timeout: p.Timeout}
	base.ServerAttests, base.ServerCredential = Attests(p.Model.Server)
	base.ClientAttests, base.ClientCredential = Attests(p.Model.Client)
	mk := func(r contract.Role) contract.Config {
		c := base
		c.Role, c.Misbehave, c.Out = r, p.Misbehave[r], p.Dirs[r]
		c.KeyLog = filepath.Join(c.Out, KeyLogFile)
		if c.SelfAttests() != contract.AttestsNone {
			c.TPM = "software"
			c.EndorsementsOut = filepath.Join(c.Out, EndorsementFile)
		}
		if c.PeerAttests() != contract.AttestsNone {
			c.Endorsements = filepath.Join(p.Dirs[r.Other()], EndorsementFile)
		}
		if c.PeerAttests() != contract.AttestsNone || c.SelfAttests() == contract.AttestsPassport {
			c.Verifier, c.VerifierKey, c.TrustedVerifiers = "local", in.Path(VerifierKeyFile), in.Path(TrustedVerifiersFile)
		}
		return c
	}
	return mk(contract.Server), mk(contract.Client), nil
}

// Attests is how a harness side reads in the contract.
func Attests(s party.Side) (contract.Attests, contract.Credential) {
	if !s.Attests {
		return contract.AttestsNone, ""
	}
	a, c := contract.AttestsBG, contract.AttestationOnly
	if s.Topology == party.Passport {
		a = contract.AttestsPassport
	}
	if s.Credential == party.X509 {
		c = contract.X509
	}
	return a, c
}
