// Package endpoint builds one attested-TLS endpoint: its interaction
// model side, its party (what it attests and appraises with) and its base
// engine configuration. The in-process fixture, the reference peer and
// the suite all build endpoints this way.
package endpoint

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/policy"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/impl/tls13"
)

// The construction shared by the in-process fixture and the reference
// peer (peers/reference): both build an endpoint's party and base engine
// configuration the same way, whether its keys come from a Fixture or
// from the files the peer contract hands a peer.

// ClientName is the name in an attesting client's certificate.
const ClientName = "client.attested.test"

// CA is a run's certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewCA makes a fresh self-signed CA valid for two days.
func NewCA() (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "conformance test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// Pool is a pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issue certifies key for a server called serverName, or for a client
// (ClientName), and returns the one-certificate chain.
func (ca *CA) Issue(key crypto.Signer, isClient bool, serverName string) ([][]byte, error) {
	eku, cn := x509.ExtKeyUsageServerAuth, serverName
	if isClient {
		eku, cn = x509.ExtKeyUsageClientAuth, ClientName
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{eku}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, err
	}
	return [][]byte{der}, nil
}

// Plain is a fresh server credential for serverName without attestation:
// what every profile's server may present.
func (ca *CA) Plain(serverName string) (tls13.Credential, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls13.Credential{}, err
	}
	chain, err := ca.Issue(key, false, serverName)
	if err != nil {
		return tls13.Credential{}, err
	}
	return tls13.Credential{Chain: chain, Signer: key}, nil
}

// Configure is the engine configuration of an in-process endpoint of the
// named profile for party p (default codepoints unless p has its own),
// trusting ca both ways; a server also holds a plain credential from ca,
// as every profile's server may need one.
func (ca *CA) Configure(profileName string, isClient bool, serverName string, p *party.Party) (*tls13.Config, error) {
	if p.Codepoints == nil {
		t := codepoint.Default()
		p.Codepoints = &t
	}
	var plain tls13.Credential
	if !isClient {
		var err error
		if plain, err = ca.Plain(serverName); err != nil {
			return nil, err
		}
	}
	prof, err := profile.ByName(profileName)
	if err != nil {
		return nil, err
	}
	return prof.Configure(BaseConfig(isClient, serverName, ca.Pool(), plain), isClient, p)
}

// Roles are what one endpoint attests and appraises with.
type Roles struct {
	// Attester and Chain (certifying its identity key) are used when the
	// endpoint attests.
	Attester attest.Attester
	Chain    [][]byte
	// Verifier appraises the peer's evidence and issues our passports.
	Verifier attest.Verifier
	// MediaTypes are the evidence types Verifier appraises.
	MediaTypes []string
	// Policy judges the peer's results.
	Policy *policy.Policy
}

// NewParty builds one endpoint's party: self says whether and how it
// attests, peer whether and how it demands the peer attest.
func NewParty(self, peer party.Side, r Roles) *party.Party {
	p := &party.Party{Policy: r.Policy}
	if self.Attests {
		p.Attester, p.Topology, p.Credential, p.Chain = r.Attester, self.Topology, self.Credential, r.Chain
		p.Results = party.PassportSource{Attester: r.Attester, Verifier: r.Verifier}
		if r.Verifier != nil {
			p.ResultVerifiers = [][]byte{r.Verifier.Identity()}
		}
	}
	if peer.Attests {
		p.VerifyPeer, p.RequirePeer = true, true
		p.PeerTopology, p.PeerCredential = peer.Topology, peer.Credential
		p.Verifier, p.VerifierMediaTypes = r.Verifier, r.MediaTypes
	}
	return p
}

// BaseConfig is an endpoint's engine configuration before its profile
// configures it: it trusts pool both ways, and a server presents plain
// unless its attestation brings another credential.
func BaseConfig(isClient bool, serverName string, pool *x509.CertPool, plain tls13.Credential) *tls13.Config {
	c := &tls13.Config{ServerName: serverName, RootCAs: pool, ClientCAs: pool}
	if !isClient {
		c.Certificates = []tls13.Credential{plain}
	}
	return c
}
