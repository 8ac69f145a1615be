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
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/attested-tls/conformance/containers/services"
	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/eaframe"
	"github.com/attested-tls/conformance/impl/attest/endpoint"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/policy"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/impl/attest/verify/local"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/suite/harness/wire"
)

// Fixture is the root of trust of a run: a CA, an in-process verifier
// with both attesters endorsed, and the attesters' certified TLS keys.
type Fixture struct {
	Pool           *x509.CertPool
	Verifier       Verifier
	Attester       map[bool]parsectpm.Attester // by isClient
	Root           string                      // the attesters' root of trust (RootSoftware, …)
	VerifierKind   string                      // VerifierLocal or VerifierVeraison
	VeraisonURL    string                      // the verification service, with VerifierVeraison
	Veraison       *services.Veraison          // its processes, with VerifierVeraison
	Chain          map[bool][][]byte           // X.509 for each attester's TIK
	Plain          map[bool]tls13.Credential   // a non-attested credential per side
	caCert         *x509.Certificate
	caKey          crypto.Signer
	MediaTypes     []string
	OtherVerifier  *local.Verifier // trusted by nobody
	ServerName     string
	HandshakeLimit time.Duration
	swtpm          *services.Swtpm
	parsec         *services.Parsec
	endorse        endorser
	closers        []func() error
}

// NewFixture makes fresh keys, a CA and an in-process verifier, with
// software attesters.
func NewFixture() (*Fixture, error) {
	return NewFixtureOn(context.Background(), RootSoftware, VerifierLocal)
}

// NewFixtureOn is NewFixture with attesters on the given root of trust and
// the given verifier; a swtpm or Veraison it needs is started here and
// stopped by Close.
func NewFixtureOn(ctx context.Context, root, verifier string) (*Fixture, error) {
	f := &Fixture{Attester: map[bool]parsectpm.Attester{}, Chain: map[bool][][]byte{}, Plain: map[bool]tls13.Credential{},
		ServerName: "server.attested.test", MediaTypes: []string{parsectpm.MediaType}, HandshakeLimit: 20 * time.Second, Root: root, VerifierKind: verifier}
	if root == RootParsec && verifier == VerifierVeraison {
		return nil, fmt.Errorf("harness: Veraison has no scheme for %s evidence (Parsec credential activation): run root of trust %s with the in-process verifier", root, root)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
		}
	}()
	ca, err := endpoint.NewCA()
	if err != nil {
		return nil, err
	}
	f.caCert, f.caKey, f.Pool = ca.Cert, ca.Key, ca.Pool()
	if f.Verifier, f.endorse, err = f.newVerifier(ctx, verifier); err != nil {
		return nil, err
	}
	if f.OtherVerifier, err = local.New(local.Config{}); err != nil {
		return nil, err
	}
	for _, isClient := range []bool{false, true} {
		a, err := f.newAttester(ctx, root, parsectpm.Faults{})
		if err != nil {
			return nil, fmt.Errorf("harness: %s attester: %w", root, err)
		}
		if err := f.endorse(ctx, a.Endorsement()); err != nil {
			return nil, err
		}
		if err := f.OtherVerifier.AddEndorsement(a.Endorsement()); err != nil {
			return nil, err
		}
		f.Attester[isClient] = a
		// Relying parties take the format the root of trust produces.
		f.MediaTypes = a.MediaTypes()
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
	ok = true
	return f, nil
}

// ChainWithCA is the attester's chain for its X.509 credential followed by
// the CA certificate: a two-entry Certificate message.
func (f *Fixture) ChainWithCA(isClient bool) [][]byte {
	return append(slices.Clone(f.Chain[isClient]), f.caCert.Raw)
}

// Certify issues a leaf for key from the fixture's CA.
func (f *Fixture) Certify(key crypto.Signer, isClient bool) ([][]byte, error) {
	return (&endpoint.CA{Cert: f.caCert, Key: f.caKey}).Issue(key, isClient, f.ServerName)
}

// Policy is the strict relying-party policy trusting the fixture's verifier.
func (f *Fixture) Policy() *policy.Policy {
	return &policy.Policy{Verifiers: []attest.TrustedVerifier{f.Verifier.Trusted()}, RequireKeyBinding: true}
}

// Parties builds the client's and the server's roles for m: whoever
// attests uses its software attester; the other side requires and checks
// that attestation with the fixture's verifier and policy.
func (f *Fixture) Parties(m party.Model) (client, server *party.Party) {
	mk := func(isClient bool, self, peer party.Side) *party.Party {
		return endpoint.NewParty(self, peer, endpoint.Roles{Attester: f.Attester[isClient], Chain: f.Chain[isClient],
			Verifier: f.Verifier, MediaTypes: f.MediaTypes, Policy: f.Policy()})
	}
	return mk(true, m.Client, m.Server), mk(false, m.Server, m.Client)
}

// Configs turns the parties into engine configurations for m.Profile.
func (f *Fixture) Configs(m party.Model, client, server *party.Party) (ccfg, scfg *tls13.Config, err error) {
	prof, err := profile.ByName(m.Profile)
	if err != nil {
		return nil, nil, err
	}
	base := func(isClient bool) *tls13.Config {
		return endpoint.BaseConfig(isClient, f.ServerName, f.Pool, f.Plain[false])
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
	// ClientErr and ServerErr are what each side's handshake returned.
	ClientErr, ServerErr error
	Client, Server       tls13.ConnectionState
	// ClientGot and ServerGot are the application data each side's Read
	// returned after the handshake ("" when the connection failed closed).
	ClientGot, ServerGot string
	// ClientReadErr and ServerReadErr are the errors that ended those
	// reads. A TLS 1.3 client's handshake is over once it sends Finished,
	// so an alert the server sends about the client's Certificate reaches
	// the client here, not in ClientErr.
	ClientReadErr, ServerReadErr error
	// ClientSent and ServerSent are the handshake messages each side sent.
	ClientSent, ServerSent wire.Flight
	// ClientFrames and ServerFrames are the post-handshake frames each
	// side sent, as the reference's wire recorder read them off the
	// application data records (Foreign results; in process the
	// profile's own log has them).
	ClientFrames, ServerFrames []eaframe.Frame
	// Foreign says one side was a peer under test, seen only through the
	// in-process reference: its keys are not the fixture's, and both
	// connection states are the reference's.
	Foreign bool
}

// Failure is the first error the client (client=true) or the server saw:
// its handshake error, or else the error that ended its read.
func (r *Result) Failure(client bool) error {
	if client {
		return cmpOr(r.ClientErr, r.ClientReadErr)
	}
	return cmpOr(r.ServerErr, r.ServerReadErr)
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// Ping and Pong are the application data the client and server exchange.
const (
	Ping = "ping from the client"
	Pong = "pong from the server"
)

// Run handshakes our client and our server over loopback within ctx and
// then tries to exchange application data both ways, whatever the
// handshakes returned, so specs can check nothing flows after a failure.
// ccfg and scfg are not modified.
func Run(ctx context.Context, ccfg, scfg *tls13.Config) (*Result, error) {
	return RunPost(ctx, ccfg, scfg, Post{})
}

// Post runs a post-handshake profile's attestation on each side after its
// handshake (party.Descriptor.Attest with the side's party); the stream
// it returns carries the application data. A nil side runs none. Its
// error is the side's handshake error in Result: the connection failed
// before application data could flow.
type Post struct {
	Client, Server func(ctx context.Context, c *tls13.Conn) (io.ReadWriter, error)
}

// Post is m's post-handshake phase for the parties client and server, if
// its profile has one.
func (f *Fixture) Post(m party.Model, client, server *party.Party) Post {
	d, err := profile.Describe(m.Profile)
	if err != nil || d.Phase != party.PostHandshake || d.Attest == nil {
		return Post{}
	}
	side := func(isClient bool, p *party.Party) func(context.Context, *tls13.Conn) (io.ReadWriter, error) {
		return func(ctx context.Context, c *tls13.Conn) (io.ReadWriter, error) { return d.Attest(ctx, c, isClient, p) }
	}
	return Post{Client: side(true, client), Server: side(false, server)}
}

// attestAfter runs phase, if any, on c after a successful handshake and
// returns the stream application data flows on.
func attestAfter(ctx context.Context, c *tls13.Conn, hsErr error, phase func(context.Context, *tls13.Conn) (io.ReadWriter, error)) (io.ReadWriter, error) {
	if hsErr != nil || phase == nil {
		return c, hsErr
	}
	rw, err := phase(ctx, c)
	if err != nil {
		return c, err
	}
	return rw, nil
}

// RunPost is Run with a post-handshake phase on each side.
func RunPost(ctx context.Context, ccfg, scfg *tls13.Config, post Post) (*Result, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	crec, srec := &wire.Recorder{Next: ccfg.Trace}, &wire.Recorder{Next: scfg.Trace}
	ccfg, scfg = withTrace(ccfg, crec), withTrace(scfg, srec)
	type side struct {
		err, readErr error
		state        tls13.ConnectionState
		got          string
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
		var rw io.ReadWriter
		rw, s.err = attestAfter(ctx, c, s.err, post.Server)
		s.state = c.ConnectionState()
		// Read whatever the client sends, handshake failure or not.
		s.got, s.readErr = readSome(ctx, c, rw, len(Ping))
		if s.err == nil && s.got == Ping {
			rw.Write([]byte(Pong))
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
	var rw io.ReadWriter
	rw, r.ClientErr = attestAfter(ctx, c, r.ClientErr, post.Client)
	r.Client = c.ConnectionState()
	if r.ClientErr == nil {
		rw.Write([]byte(Ping))
	}
	r.ClientGot, r.ClientReadErr = readSome(ctx, c, rw, len(Pong))
	c.Close()
	s := <-srvc
	r.ServerErr, r.Server, r.ServerGot, r.ServerReadErr = s.err, s.state, s.got, s.readErr
	r.ClientSent, r.ServerSent = crec.Sent(), srec.Sent()
	return r, nil
}

func withTrace(c *tls13.Config, t tls13.Trace) *tls13.Config {
	cc := c.Clone()
	cc.Trace = t
	return cc
}

// readSome reads up to n bytes of application data before ctx ends, and
// returns what arrived (nothing, if Read failed first) and the error that
// ended the read, if it ended early.
func readSome(ctx context.Context, c *tls13.Conn, rw io.Reader, n int) (string, error) {
	if d, ok := ctx.Deadline(); ok {
		c.SetReadDeadline(d)
	}
	buf := make([]byte, n)
	k, err := io.ReadFull(rw, buf)
	if err != nil && k == 0 {
		return "", err
	}
	return string(buf[:k]), err
}

// Tweaks change one run of a model, for specs that make a party misbehave
// or deviate from the model's defaults. Nil fields change nothing.
type Tweaks struct {
	// Parties runs after Fixture.Parties built the client and the server.
	Parties func(client, server *party.Party)
	// Configs runs after the profile configured both endpoints.
	Configs func(client, server *tls13.Config)
}

// Handshake builds m's parties, applies t, configures both endpoints for
// m.Profile and runs them against each other within the fixture's
// HandshakeLimit.
func (f *Fixture) Handshake(ctx context.Context, m party.Model, t Tweaks) (*Result, error) {
	cli, srv := f.Parties(m)
	if t.Parties != nil {
		t.Parties(cli, srv)
	}
	ccfg, scfg, err := f.Configs(m, cli, srv)
	if err != nil {
		return nil, err
	}
	if t.Configs != nil {
		t.Configs(ccfg, scfg)
	}
	ctx, cancel := context.WithTimeout(ctx, f.HandshakeLimit)
	defer cancel()
	return RunPost(ctx, ccfg, scfg, f.Post(m, cli, srv))
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
	fmt.Fprintf(&b, "client: err=%v read=%v got=%q\nserver: err=%v read=%v got=%q",
		r.ClientErr, r.ClientReadErr, r.ClientGot, r.ServerErr, r.ServerReadErr, r.ServerGot)
	return b.String()
}
