package mbedtls_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest/evidence/tpm"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/driver"
)

// peerTimeout is each mbedTLS peer's ATLS_TIMEOUT.
const peerTimeout = 20 * time.Second

// mbedPeer is one run of the mbedTLS peer, a container or a process.
// cfg carries host paths and addresses as the test process sees them:
// a server's Listen is where the test process reaches it.
type mbedPeer struct {
	cfg            contract.Config
	running        driver.Running
	res            *driver.Result
	stdout, stderr bytes.Buffer // filled by wait
	exit           int
	done           chan struct{} // closed when the peer exited (or was killed)
	swtpm          *tpm.Swtpm    // process runs: the peer's own swtpm
	mu             sync.Mutex
}

// peerConfig is the contract configuration of the mbedTLS peer in role
// for model (profile, who attests), with its own output folder and key
// log; an attesting peer gets a fresh swtpm (startPeer), a relying party
// Veraison and the suite's trust in it.
func peerConfig(t *testing.T, w *world, testcase, profile string, role contract.Role, serverAttests, clientAttests bool) contract.Config {
	t.Helper()
	out := t.TempDir()
	att := func(b bool) (contract.Attests, contract.Credential) {
		if b {
			return contract.AttestsBG, contract.AttestationOnly
		}
		return contract.AttestsNone, ""
	}
	c := contract.Config{TestCase: testcase, Role: role, Profile: profile, ServerName: ServerName,
		CACert: w.caCert, Out: out, KeyLog: filepath.Join(out, keyLogFile), Timeout: peerTimeout}
	c.ServerAttests, c.ServerCredential = att(serverAttests)
	c.ClientAttests, c.ClientCredential = att(clientAttests)
	if role == contract.Server {
		c.CAKey = w.caKey
		c.Listen = freeAddr(t)
	}
	if c.PeerAttests() != contract.AttestsNone {
		c.Verifier = "veraison:" + w.svc.VerificationURL
		c.TrustedVerifiers = w.trusted
	}
	if c.SelfAttests() != contract.AttestsNone {
		c.EndorsementsOut = filepath.Join(out, "endorsements.json")
	}
	return c
}

// keyLogFile is the peer's SSLKEYLOGFILE in its output folder.
const keyLogFile = "keylog.txt"

// startPeer starts the peer in the test's case; an attesting one gets
// its own swtpm. A server is returned once its port is open, reachable
// at cfg.Listen. A client's cfg.Connect may be a listener of the test
// process on loopback, or the cfg.Listen of a server of the same test.
func startPeer(t *testing.T, w *world, cfg contract.Config) *mbedPeer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	k := w.caseFor(t)
	p := &mbedPeer{cfg: cfg, exit: -1, done: make(chan struct{})}
	// The driver's deadline counts from the container's creation, which
	// has taken tens of seconds on 2 loaded cores; the peer's own
	// ATLS_TIMEOUT bounds it once it runs.
	spec := driver.Spec{Peer: w.mb, Config: cfg, In: w.dir, Deadline: cfg.Timeout + 10*time.Second}
	if k.containers() {
		spec.Deadline = cfg.Timeout + startAllowance
	}
	if lvl := os.Getenv("ATLS_MBEDTLS_DEBUG"); lvl != "" {
		spec.Env = append(spec.Env, "ATLS_MBEDTLS_DEBUG="+lvl)
	}
	if cfg.SelfAttests() != contract.AttestsNone {
		tpmAddr, sw, err := k.swtpm(ctx, w, t)
		if err != nil {
			t.Fatal(err)
		}
		p.swtpm = sw
		p.cfg.TPM = "swtpm:" + tpmAddr
		spec.Config.TPM = p.cfg.TPM
	}
	if u := strings.TrimPrefix(cfg.Verifier, "veraison:"); k.containers() && cfg.PeerAttests() != contract.AttestsNone && onLoopback(u) {
		u, err := k.reach(u)
		if err != nil {
			t.Fatal(err)
		}
		spec.Config.Verifier = "veraison:" + u
	}
	if cfg.Role == contract.Client {
		// Peers of one case connect directly (on the case's network);
		// a container reaches the test process through its gateway.
		if srv := k.server(cfg.Connect); srv != nil {
			spec.Config.Connect = srv.PeerAddr()
		} else if k.containers() {
			a, err := k.reach(cfg.Connect)
			if err != nil {
				t.Fatal(err)
			}
			spec.Config.Connect = a
		}
	}
	r, err := k.Start(ctx, spec)
	if err != nil {
		if r != nil {
			p.collect(r.Wait(ctx))
		}
		close(p.done)
		t.Fatalf("starting the mbedTLS %s: %v\n%s", cfg.Role, err, p.describe())
	}
	p.running = r
	// Wait kills the peer at its deadline; the case's Close at the end of
	// the test stops it sooner.
	go func() {
		res := r.Wait(context.Background())
		p.mu.Lock()
		p.collect(res)
		p.mu.Unlock()
		close(p.done)
	}()
	if cfg.Role == contract.Server {
		// The test process reaches the server at cfg.Listen.
		if err := k.forward(cfg.Listen, r.Addr()); err != nil {
			t.Fatal(err)
		}
		k.addServer(cfg.Listen, r)
	}
	return p
}

// onLoopback: the URL's host is the test host's loopback (the run's
// Veraison), which a container reaches only through a forwarder; a
// Veraison on the case's network (driver.StartVeraison) it reaches as is.
func onLoopback(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return u.Hostname() == "localhost" || ip != nil && ip.IsLoopback()
}

// wait returns the peer's outcome and exit code.
func (p *mbedPeer) wait(t *testing.T) (contract.Outcome, int) {
	t.Helper()
	<-p.done
	if p.res.Killed {
		t.Fatalf("the mbedTLS %s outlived its deadline\n%s", p.cfg.Role, p.describe())
	}
	if p.res.Outcome == nil {
		t.Fatalf("the mbedTLS %s printed no valid outcome: %v\n%s", p.cfg.Role, p.res.OutcomeErr, p.describe())
	}
	return *p.res.Outcome, p.exit
}

func (p *mbedPeer) collect(r *driver.Result) {
	if p.res != nil || r == nil {
		return
	}
	p.res, p.exit = r, r.Exit
	p.stdout.Write(r.Stdout)
	p.stderr.Write(r.Stderr)
}

func (p *mbedPeer) describe() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := "mbedTLS " + string(p.cfg.Role) + " peer, exit " + strconv.Itoa(p.exit)
	if p.res != nil && p.res.Err != nil {
		s += " (" + p.res.Err.Error() + ")"
	}
	return s + "\nstdout:\n" + tail(p.stdout.String(), 5) + "\nstderr:\n" + tail(p.stderr.String(), 30) + "\nlogs: " + p.cfg.Out
}

// goSide is what the Go endpoint saw.
type goSide struct {
	err, readErr error
	got          string
	state        tls13.ConnectionState
}

// failure is the first error: the handshake's, else the read's.
func (g goSide) failure() error {
	if g.err != nil {
		return g.err
	}
	return g.readErr
}

// runGoServer accepts one connection on ln and plays the contract's
// server: handshake, then "ping\n" in, "pong\n" out.
func runGoServer(ctx context.Context, ln net.Listener, cfg *tls13.Config) goSide {
	var g goSide
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		raw, err := ln.Accept()
		if err != nil {
			g.err = err
			return g
		}
		// A connection closed before its first byte is a port check.
		if d, ok := ctx.Deadline(); ok {
			raw.SetDeadline(d)
		}
		first := make([]byte, 1)
		if n, _ := raw.Read(first); n == 0 {
			raw.Close()
			continue
		}
		defer raw.Close()
		c := tls13.Server(&prefixed{Conn: raw, first: first}, cfg)
		g.err = c.HandshakeContext(ctx)
		g.state = c.ConnectionState()
		g.got, g.readErr = readSome(c, 5)
		if g.err == nil && g.got == "ping\n" {
			c.Write([]byte("pong\n"))
		}
		c.Close()
		return g
	}
}

// runGoClient connects to addr and plays the contract's client.
func runGoClient(ctx context.Context, addr string, cfg *tls13.Config) goSide {
	var g goSide
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		g.err = err
		return g
	}
	defer raw.Close()
	if d, ok := ctx.Deadline(); ok {
		raw.SetDeadline(d)
	}
	c := tls13.Client(raw, cfg)
	g.err = c.HandshakeContext(ctx)
	g.state = c.ConnectionState()
	if g.err == nil {
		c.Write([]byte("ping\n"))
	}
	g.got, g.readErr = readSome(c, 5)
	c.Close()
	return g
}

// readSome reads up to n bytes of application data and returns what
// arrived and the error that ended the read early.
func readSome(c *tls13.Conn, n int) (string, error) {
	buf := make([]byte, n)
	k, err := io.ReadFull(c, buf)
	if err != nil && k == 0 {
		return "", err
	}
	return string(buf[:k]), err
}

type prefixed struct {
	net.Conn
	first []byte
}

func (p *prefixed) Read(b []byte) (int, error) {
	if len(p.first) > 0 {
		n := copy(b, p.first)
		p.first = p.first[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// relay forwards one connection from ln to addr, calling before() once
// the client connected (the client's endorsement exists then) and before
// the server sees a byte.
func relay(ctx context.Context, ln net.Listener, addr string, before func() error) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		in, err := ln.Accept()
		if err != nil {
			return err
		}
		first := make([]byte, 1)
		if d, ok := ctx.Deadline(); ok {
			in.SetReadDeadline(d)
		}
		if n, _ := in.Read(first); n == 0 {
			in.Close()
			continue
		}
		in.SetReadDeadline(time.Time{})
		defer in.Close()
		if err := before(); err != nil {
			return err
		}
		out, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		defer out.Close()
		if _, err := out.Write(first); err != nil {
			return err
		}
		driver.Splice(in, out)
		return nil
	}
}
