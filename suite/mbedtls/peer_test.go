package mbedtls_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest/evidence/tpm"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
)

// peerTimeout is each mbedTLS peer's ATLS_TIMEOUT.
const peerTimeout = 20 * time.Second

// mbedPeer is one run of the mbedTLS peer process.
type mbedPeer struct {
	cfg            contract.Config
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
	exit           int
	swtpm          *tpm.Swtpm
}

// peerConfig is the contract configuration of the mbedTLS peer in role
// for model (profile, who attests), with its own output folder; an
// attesting peer gets a fresh swtpm, a relying party Veraison.
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
		CACert: w.caCert, Out: out, Timeout: peerTimeout}
	c.ServerAttests, c.ServerCredential = att(serverAttests)
	c.ClientAttests, c.ClientCredential = att(clientAttests)
	if role == contract.Server {
		c.CAKey = w.caKey
		c.Listen = freeAddr(t)
	}
	if c.PeerAttests() != contract.AttestsNone {
		c.Verifier = "veraison:" + w.svc.VerificationURL
	}
	if c.SelfAttests() != contract.AttestsNone {
		c.EndorsementsOut = filepath.Join(out, "endorsements.json")
	}
	return c
}

// startPeer starts the peer; an attesting one gets its own swtpm. A
// server is returned once its port accepts connections.
func startPeer(t *testing.T, w *world, cfg contract.Config) *mbedPeer {
	t.Helper()
	p := &mbedPeer{cfg: cfg, done: make(chan struct{}), exit: -1}
	if cfg.SelfAttests() != contract.AttestsNone {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		s, err := tpm.StartSwtpm(ctx, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		p.swtpm = s
		t.Cleanup(func() { s.Close() })
		p.cfg.TPM = "swtpm:" + s.Addr
	}
	p.cmd = exec.Command(w.peer)
	p.cmd.Env = append(os.Environ(), p.cfg.Env()...)
	if lvl := os.Getenv("ATLS_MBEDTLS_DEBUG"); lvl != "" {
		p.cmd.Env = append(p.cmd.Env, "ATLS_MBEDTLS_DEBUG="+lvl)
	}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", w.peer, err)
	}
	go func() {
		err := p.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
			p.exit = 0
		case errors.As(err, &ee):
			p.exit = ee.ExitCode()
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
	if cfg.Role == contract.Server {
		p.waitListening(t)
	}
	return p
}

// waitListening dials until the server accepts (a port check the peer
// ignores, as the contract says).
func (p *mbedPeer) waitListening(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", p.cfg.Listen, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-p.done:
			t.Fatalf("the mbedTLS server exited (%d) before listening\n%s", p.exit, p.describe())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("the mbedTLS server did not listen on %s\n%s", p.cfg.Listen, p.describe())
}

// wait returns the peer's outcome and exit code.
func (p *mbedPeer) wait(t *testing.T) (contract.Outcome, int) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(peerTimeout + 10*time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		t.Fatalf("the mbedTLS %s outlived its deadline\n%s", p.cfg.Role, p.describe())
	}
	o, err := contract.ParseOutcome(p.stdout.Bytes())
	if err != nil {
		t.Fatalf("the mbedTLS %s printed no valid outcome: %v\n%s", p.cfg.Role, err, p.describe())
	}
	return o, p.exit
}

func (p *mbedPeer) describe() string {
	return "mbedTLS " + string(p.cfg.Role) + " peer, exit " + strconv.Itoa(p.exit) + "\nstdout:\n" + tail(p.stdout.String(), 5) +
		"\nstderr:\n" + tail(p.stderr.String(), 30) + "\nlogs: " + p.cfg.Out
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
		done := make(chan struct{}, 2)
		pipe := func(dst, src net.Conn) {
			io.Copy(dst, src)
			if tc, ok := dst.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
			done <- struct{}{}
		}
		go pipe(out, in)
		go pipe(in, out)
		<-done
		<-done
		return nil
	}
}
