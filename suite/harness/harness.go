// Package harness builds the parties of an interaction model, runs one
// attested handshake and an application-data exchange between two
// endpoints, and reports what each side saw on the wire: the spec
// sentences in suite/specs assert on its Result.
package harness

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/software"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/policy"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/impl/attest/verify/local"
	"github.com/attested-tls/conformance/impl/tls13"
)

// Side says whether and how one endpoint attests.
type Side struct {
	Attests    bool
	Topology   party.Topology
	Credential party.Credential
}

func (s Side) String() string { return s.Topology.String() + "+" + s.Credential.String() }

// Model is one interaction model of a profile.
type Model struct {
	Profile        string
	Server, Client Side
}

// ID is the model's stable name, e.g. "ta-07/server-attests/bg+x509".
func (m Model) ID() string {
	switch {
	case m.Server.Attests && m.Client.Attests:
		return fmt.Sprintf("%s/mutual/server=%s,client=%s", m.Profile, m.Server, m.Client)
	case m.Server.Attests:
		return fmt.Sprintf("%s/server-attests/%s", m.Profile, m.Server)
	case m.Client.Attests:
		return fmt.Sprintf("%s/client-attests/%s", m.Profile, m.Client)
	}
	return m.Profile + "/no-attestation"
}

// Fixture is the root of trust of a run: a CA, an in-process verifier
// with both attesters endorsed, and the attesters' certified TLS keys.
type Fixture struct {
	Pool           *x509.CertPool
	Verifier       *local.Verifier
	Attester       map[bool]*software.Attester // by isClient
	Chain          map[bool][][]byte           // X.509 for each attester's TIK
	Plain          map[bool]tls13.Credential   // a non-attested credential per side
	caCert         *x509.Certificate
	caKey          crypto.Signer
	MediaTypes     []string
	OtherVerifier  *local.Verifier // trusted by nobody
	ServerName     string
	HandshakeLimit time.Duration
}

// NewFixture makes fresh keys, a CA and an in-process verifier.
func NewFixture() (*Fixture, error) {
	f := &Fixture{Attester: map[bool]*software.Attester{}, Chain: map[bool][][]byte{}, Plain: map[bool]tls13.Credential{},
		ServerName: "server.attested.test", MediaTypes: []string{parsectpm.MediaType}, HandshakeLimit: 20 * time.Second}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "conformance test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	f.caCert, _ = x509.ParseCertificate(der)
	f.caKey = caKey
	f.Pool = x509.NewCertPool()
	f.Pool.AddCert(f.caCert)
	if f.Verifier, err = local.New(local.Config{Build: "conformance-local", Developer: "attested-tls conformance"}); err != nil {
		return nil, err
	}
	if f.OtherVerifier, err = local.New(local.Config{}); err != nil {
		return nil, err
	}
	for _, isClient := range []bool{false, true} {
		a, err := software.New(software.Config{})
		if err != nil {
			return nil, err
		}
		if err := f.Verifier.AddEndorsement(a.Endorsement()); err != nil {
			return nil, err
		}
		if err := f.OtherVerifier.AddEndorsement(a.Endorsement()); err != nil {
			return nil, err
		}
		f.Attester[isClient] = a
		if f.Chain[isClient], err = f.Certify(a.Identity(), isClient); err != nil {
			return nil, err
		}
		plainKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		chain, err := f.Certify(plainKey, isClient)
		if err != nil {
			return nil, err
		}
		f.Plain[isClient] = tls13.Credential{Chain: chain, Signer: plainKey}
	}
	return f, nil
}

// Certify issues a leaf for key from the fixture's CA.
func (f *Fixture) Certify(key crypto.Signer, isClient bool) ([][]byte, error) {
	eku, cn := x509.ExtKeyUsageServerAuth, f.ServerName
	if isClient {
		eku, cn = x509.ExtKeyUsageClientAuth, "client.attested.test"
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{eku}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, f.caCert, key.Public(), f.caKey)
	if err != nil {
		return nil, err
	}
	return [][]byte{der}, nil
}

// Policy is the strict relying-party policy trusting the fixture's verifier.
func (f *Fixture) Policy() *policy.Policy {
	return &policy.Policy{Verifiers: []attest.TrustedVerifier{f.Verifier.Trusted()}, RequireKeyBinding: true}
}

// Parties builds the client's and the server's roles for m: whoever
// attests uses its software attester; the other side requires and checks
// that attestation with the fixture's verifier and policy.
func (f *Fixture) Parties(m Model) (client, server *party.Party) {
	mk := func(isClient bool, self, peer Side) *party.Party {
		p := &party.Party{Policy: f.Policy()}
		if self.Attests {
			a := f.Attester[isClient]
			p.Attester, p.Topology, p.Credential, p.Chain = a, self.Topology, self.Credential, f.Chain[isClient]
			p.Results = party.PassportSource{Attester: a, Verifier: f.Verifier}
			p.ResultVerifiers = [][]byte{f.Verifier.Identity()}
		}
		if peer.Attests {
			p.VerifyPeer, p.RequirePeer = true, true
			p.PeerTopology, p.PeerCredential = peer.Topology, peer.Credential
			p.Verifier, p.VerifierMediaTypes = f.Verifier, f.MediaTypes
		}
		return p
	}
	return mk(true, m.Client, m.Server), mk(false, m.Server, m.Client)
}

// Configs turns the parties into engine configurations for m.Profile.
func (f *Fixture) Configs(m Model, client, server *party.Party) (ccfg, scfg *tls13.Config, err error) {
	prof, err := profile.ByName(m.Profile)
	if err != nil {
		return nil, nil, err
	}
	base := func(isClient bool) *tls13.Config {
		c := &tls13.Config{ServerName: f.ServerName, RootCAs: f.Pool, ClientCAs: f.Pool}
		if !isClient {
			c.Certificates = []tls13.Credential{f.Plain[false]}
		}
		return c
	}
	if ccfg, err = prof.Configure(base(true), true, client); err != nil {
		return nil, nil, err
	}
	if scfg, err = prof.Configure(base(false), false, server); err != nil {
		return nil, nil, err
	}
	return ccfg, scfg, nil
}

// Result is what both endpoints saw.
type Result struct {
	ClientErr, ServerErr error
	Client, Server       tls13.ConnectionState
	// ClientGot and ServerGot are the application data each side's Read
	// returned after the handshake ("" when the connection failed closed).
	ClientGot, ServerGot string
}

// Ping and Pong are the application data the client and server exchange.
const (
	Ping = "ping from the client"
	Pong = "pong from the server"
)

// Run handshakes our client and our server over loopback within ctx and
// then tries to exchange application data both ways, whatever the
// handshakes returned, so specs can check nothing flows after a failure.
func Run(ctx context.Context, ccfg, scfg *tls13.Config) (*Result, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	type side struct {
		err   error
		state tls13.ConnectionState
		got   string
	}
	srvc := make(chan side, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			srvc <- side{err: err}
			return
		}
		defer raw.Close()
		c := tls13.Server(raw, scfg)
		s := side{err: c.HandshakeContext(ctx)}
		s.state = c.ConnectionState()
		// Read whatever the client sends, handshake failure or not.
		s.got = readSome(ctx, c, len(Ping))
		if s.err == nil && s.got == Ping {
			c.Write([]byte(Pong))
		}
		c.Close()
		srvc <- s
	}()
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	c := tls13.Client(raw, ccfg)
	r := &Result{ClientErr: c.HandshakeContext(ctx)}
	r.Client = c.ConnectionState()
	if r.ClientErr == nil {
		c.Write([]byte(Ping))
	}
	r.ClientGot = readSome(ctx, c, len(Pong))
	c.Close()
	s := <-srvc
	r.ServerErr, r.Server, r.ServerGot = s.err, s.state, s.got
	return r, nil
}

// readSome reads up to n bytes of application data before ctx ends, and
// returns what arrived (nothing, if Read failed first).
func readSome(ctx context.Context, c *tls13.Conn, n int) string {
	if d, ok := ctx.Deadline(); ok {
		c.SetReadDeadline(d)
	}
	buf := make([]byte, n)
	k, err := io.ReadFull(c, buf)
	if err != nil && k == 0 {
		return ""
	}
	return string(buf[:k])
}

// Alert returns the alert err carries and whether we sent it.
func Alert(err error) (code tls13.AlertCode, sent, ok bool) {
	ae, ok := tls13.AsAlert(err)
	if !ok {
		return 0, false, false
	}
	return ae.Code, ae.Sent, true
}

// Describe summarizes a result for failure messages.
func (r *Result) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "client: err=%v got=%q\nserver: err=%v got=%q", r.ClientErr, r.ClientGot, r.ServerErr, r.ServerGot)
	return b.String()
}

// ErrNoHandshake is returned when a model is not defined for a profile.
var ErrNoHandshake = errors.New("harness: no handshake")
