package tls13

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Interop with Go's crypto/tls and Debian's openssl, both directions, for
// every suite and group, with client authentication and a HelloRetryRequest.
// Application data must round-trip and exporters must agree.

const exporterLabel = "EXPORTER-conformance"

var interopSuites = []uint16{TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256}

type interopCase struct {
	name       string
	suite      uint16
	group      CurveID
	clientAuth bool
	hrr        bool
	compat     bool // our client in RFC 8446 D.4 compatibility mode
}

func interopCases() []interopCase {
	var cs []interopCase
	for _, s := range interopSuites {
		for _, g := range []CurveID{X25519, CurveP256} {
			cs = append(cs, interopCase{name: CipherSuiteName(s) + "/" + groupName(g), suite: s, group: g})
		}
	}
	return append(cs,
		interopCase{name: "client-auth", suite: TLS_AES_128_GCM_SHA256, group: X25519, clientAuth: true},
		interopCase{name: "hello-retry", suite: TLS_AES_256_GCM_SHA384, group: CurveP256, hrr: true},
		interopCase{name: "client-auth+hello-retry", suite: TLS_CHACHA20_POLY1305_SHA256, group: CurveP256, clientAuth: true, hrr: true},
		interopCase{name: "compat", suite: TLS_AES_128_GCM_SHA256, group: X25519, compat: true},
		interopCase{name: "compat+hello-retry", suite: TLS_AES_256_GCM_SHA384, group: CurveP256, hrr: true, compat: true},
	)
}

func stdCurve(g CurveID) tls.CurveID { return tls.CurveID(g) }

func (p *testPKI) stdCert(c Credential) tls.Certificate {
	return tls.Certificate{Certificate: c.Chain, PrivateKey: c.Signer}
}

// ourClient configures our client for a case; with hrr it offers a share
// for X25519 only while the peer insists on the case's group.
func (p *testPKI) ourClient(tc interopCase) *Config {
	cfg := p.clientConfig()
	cfg.CompatibilityMode = tc.compat
	cfg.CipherSuites = []uint16{tc.suite}
	cfg.Groups = []CurveID{tc.group}
	if tc.hrr {
		cfg.Groups = []CurveID{X25519, tc.group}
		cfg.KeyShareGroups = []CurveID{X25519}
	}
	if tc.clientAuth {
		cfg.Certificates = []Credential{p.client}
	}
	return cfg
}

func (p *testPKI) ourServer(tc interopCase) *Config {
	cfg := p.serverConfig()
	cfg.CipherSuites = []uint16{tc.suite}
	cfg.Groups = []CurveID{tc.group}
	if tc.clientAuth {
		cfg.ClientAuth = RequireAndVerifyClientCert
	}
	return cfg
}

func checkOurState(t *testing.T, c *Conn, tc interopCase) {
	t.Helper()
	cs := c.ConnectionState()
	if cs.CipherSuite != tc.suite || cs.Group != tc.group || cs.HelloRetried != tc.hrr {
		t.Fatalf("negotiated suite %#x group %#x hrr %v; want %#x %#x %v", cs.CipherSuite, cs.Group, cs.HelloRetried, tc.suite, tc.group, tc.hrr)
	}
}

// checkClientCompat checks what our client sent and received in the
// change_cipher_spec of RFC 8446 D.4: ours only in compatibility mode, and
// then the peer's, which D.4 says it MUST send.
func checkClientCompat(t *testing.T, rec *recorder, tc interopCase) {
	t.Helper()
	if !tc.compat {
		expectNoCCS(t, rec.records(true))
		return
	}
	expectCompatCCS(t, rec.records(true), tc.hrr)
	if n := countCCS(rec.records(false)); n != 1 {
		t.Fatalf("the server sent %d change_cipher_spec records, want 1", n)
	}
}

// checkServerCompat checks our server against a client in compatibility
// mode, as crypto/tls and OpenSSL clients are by default: the client sent
// a session ID and one change_cipher_spec, which we dropped, and ours went
// right after our first handshake message (D.4).
func checkServerCompat(t *testing.T, rec *recorder, tc interopCase) {
	t.Helper()
	var ch clientHelloMsg
	lastMessage(t, rec.received, typeClientHello, &ch)
	if len(ch.sessionID) != 32 {
		t.Fatalf("the client's legacy_session_id is %x: not in compatibility mode, the checks below would prove nothing", ch.sessionID)
	}
	expectCompatCCS(t, rec.records(true), tc.hrr)
	if n := countCCS(rec.records(false)); n != 1 {
		t.Fatalf("the client sent %d change_cipher_spec records, want 1", n)
	}
}

func TestInteropOurClientGoServer(t *testing.T) {
	p := getPKI(t)
	for _, tc := range interopCases() {
		t.Run(tc.name, func(t *testing.T) {
			a, b := pipe(t)
			scfg := &tls.Config{Certificates: []tls.Certificate{p.stdCert(p.server)}, MinVersion: tls.VersionTLS13,
				CurvePreferences: []tls.CurveID{stdCurve(tc.group)}}
			if tc.clientAuth {
				scfg.ClientAuth, scfg.ClientCAs = tls.RequireAndVerifyClientCert, p.pool
			}
			srv := tls.Server(b, scfg)
			go func() {
				if srv.Handshake() == nil {
					io.Copy(srv, srv) // echo
				}
			}()
			cfg, rec := p.ourClient(tc), newRecorder()
			cfg.Trace = rec
			cli := Client(a, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := cli.HandshakeContext(ctx); err != nil {
				t.Fatal(err)
			}
			checkOurState(t, cli, tc)
			checkClientCompat(t, rec, tc)
			roundTrip(t, cli)
			ours, _ := cli.ExportKeyingMaterial(exporterLabel, []byte("ctx"), 32)
			st := srv.ConnectionState()
			theirs, err := st.ExportKeyingMaterial(exporterLabel, []byte("ctx"), 32)
			if err != nil || !bytes.Equal(ours, theirs) {
				t.Fatalf("exporters differ: %x vs %x (%v)", ours, theirs, err)
			}
			if tc.clientAuth && len(srv.ConnectionState().PeerCertificates) != 1 {
				t.Fatal("crypto/tls server saw no client certificate")
			}
		})
	}
}

func TestInteropGoClientOurServer(t *testing.T) {
	p := getPKI(t)
	for _, tc := range interopCases() {
		t.Run(tc.name, func(t *testing.T) {
			a, b := pipe(t)
			ccfg := &tls.Config{RootCAs: p.pool, ServerName: "server.test", MinVersion: tls.VersionTLS13,
				CurvePreferences: []tls.CurveID{stdCurve(tc.group)}}
			if tc.hrr {
				// crypto/tls sends a share for its first preference only.
				ccfg.CurvePreferences = []tls.CurveID{tls.X25519, stdCurve(tc.group)}
			}
			if tc.clientAuth {
				ccfg.Certificates = []tls.Certificate{p.stdCert(p.client)}
			}
			cfg, rec := p.ourServer(tc), newRecorder()
			cfg.Trace = rec
			srv := Server(b, cfg)
			errc := make(chan error, 1)
			go func() {
				err := srv.Handshake()
				if err == nil {
					_, err = io.Copy(srv, srv)
				}
				errc <- err
			}()
			cli := tls.Client(a, ccfg)
			cli.SetDeadline(time.Now().Add(10 * time.Second))
			if err := cli.Handshake(); err != nil {
				t.Fatal(err, <-errc)
			}
			checkOurState(t, srv, tc)
			checkServerCompat(t, rec, tc)
			roundTrip(t, cli)
			ours, _ := srv.ExportKeyingMaterial(exporterLabel, []byte("ctx"), 32)
			st := cli.ConnectionState()
			theirs, err := st.ExportKeyingMaterial(exporterLabel, []byte("ctx"), 32)
			if err != nil || !bytes.Equal(ours, theirs) {
				t.Fatalf("exporters differ: %x vs %x (%v)", ours, theirs, err)
			}
			if tc.clientAuth && srv.ConnectionState().PeerCertificate == nil {
				t.Fatal("our server saw no client certificate")
			}
		})
	}
}

func roundTrip(t *testing.T, c net.Conn) {
	t.Helper()
	msg := []byte("attested tls interop\n")
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("round trip: %q", got)
	}
}

// openssl returns the path of Debian's openssl; the interop specs must run
// where the suite runs, so its absence fails them (make deps installs it).
func opensslPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl not found: run `make deps` (interop tests cannot be skipped)")
	}
	return path
}

var opensslNames = map[uint16]string{
	TLS_AES_128_GCM_SHA256: "TLS_AES_128_GCM_SHA256", TLS_AES_256_GCM_SHA384: "TLS_AES_256_GCM_SHA384",
	TLS_CHACHA20_POLY1305_SHA256: "TLS_CHACHA20_POLY1305_SHA256",
}
var opensslGroups = map[CurveID]string{X25519: "X25519", CurveP256: "P-256"}

// writePEM writes a credential and the CA as PEM files for openssl.
func (p *testPKI) writePEM(t *testing.T, c Credential, name string) (cert, key, ca string) {
	dir := t.TempDir()
	cert, key, ca = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"), filepath.Join(dir, "ca.crt")
	der, err := x509.MarshalPKCS8PrivateKey(c.Signer)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Chain[0]}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.caCert.Raw}), 0o600)
	return cert, key, ca
}

// process runs an openssl command and collects its output.
type process struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	mu     sync.Mutex
	out    bytes.Buffer
	lines  chan string
	cancel context.CancelFunc
}

func startOpenSSL(t *testing.T, args ...string) *process {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	cmd := exec.CommandContext(ctx, opensslPath(t), args...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	pr := &process{cmd: cmd, stdin: stdin, lines: make(chan string, 1000), cancel: cancel}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			pr.mu.Lock()
			pr.out.WriteString(sc.Text() + "\n")
			pr.mu.Unlock()
			pr.lines <- sc.Text()
		}
		close(pr.lines)
	}()
	t.Cleanup(func() {
		stdin.Close()
		cancel()
		cmd.Wait()
	})
	return pr
}

// waitFor returns the first output line matching re, failing after 15 s.
func (pr *process) waitFor(t *testing.T, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	timeout := time.After(15 * time.Second)
	for {
		select {
		case line, ok := <-pr.lines:
			if !ok {
				t.Fatalf("openssl exited before printing %q; output:\n%s", re, pr.output())
			}
			if m := rx.FindStringSubmatch(line); m != nil {
				return m
			}
		case <-timeout:
			t.Fatalf("openssl did not print %q; output:\n%s", re, pr.output())
		}
	}
}

func (pr *process) output() string {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.out.String()
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestInteropOurClientOpenSSLServer(t *testing.T) {
	p := getPKI(t)
	for _, tc := range interopCases() {
		t.Run(tc.name, func(t *testing.T) {
			cert, key, ca := p.writePEM(t, p.server, "server")
			addr := freePort(t)
			args := []string{"s_server", "-accept", addr, "-tls1_3", "-cert", cert, "-key", key, "-naccept", "1",
				"-ciphersuites", opensslNames[tc.suite], "-groups", opensslGroups[tc.group],
				"-keymatexport", exporterLabel, "-keymatexportlen", "32"}
			if tc.clientAuth {
				args = append(args, "-Verify", "1", "-verify_return_error", "-CAfile", ca)
			}
			srv := startOpenSSL(t, args...)
			srv.waitFor(t, "^ACCEPT")
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			cfg, rec := p.ourClient(tc), newRecorder()
			cfg.Trace = rec
			cli := Client(conn, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := cli.HandshakeContext(ctx); err != nil {
				t.Fatalf("%v; openssl said:\n%s", err, srv.output())
			}
			checkOurState(t, cli, tc)
			checkClientCompat(t, rec, tc)
			// s_server prints what it reads and sends what it is given on stdin.
			theirs := srv.waitFor(t, `Keying material: ([0-9A-F]+)`)[1]
			if _, err := cli.Write([]byte("from-conformance\n")); err != nil {
				t.Fatal(err)
			}
			srv.waitFor(t, "^from-conformance$")
			fmt.Fprintln(srv.stdin, "from-openssl")
			got := make([]byte, len("from-openssl\n"))
			cli.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadFull(cli, got); err != nil || string(got) != "from-openssl\n" {
				t.Fatalf("round trip %q %v; openssl said:\n%s", got, err, srv.output())
			}
			ours, _ := cli.ExportKeyingMaterial(exporterLabel, nil, 32)
			if !strings.EqualFold(hex.EncodeToString(ours), theirs) {
				t.Fatalf("exporters differ: %x vs %s", ours, theirs)
			}
		})
	}
}

func TestInteropOpenSSLClientOurServer(t *testing.T) {
	p := getPKI(t)
	for _, tc := range interopCases() {
		t.Run(tc.name, func(t *testing.T) {
			cfg, rec := p.ourServer(tc), newRecorder()
			cfg.Trace = rec
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			srvConn := make(chan *Conn, 1)
			errc := make(chan error, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					errc <- err
					return
				}
				s := Server(c, cfg)
				err = s.Handshake()
				srvConn <- s
				if err == nil {
					buf := make([]byte, 100)
					n, rerr := s.Read(buf)
					if rerr == nil {
						s.Write(bytes.ToUpper(buf[:n]))
					}
					err = rerr
				}
				errc <- err
			}()
			_, _, ca := p.writePEM(t, p.server, "server")
			groups := opensslGroups[tc.group]
			if tc.hrr {
				groups = "X25519:" + groups // OpenSSL sends a share for the first group only
			}
			args := []string{"s_client", "-connect", ln.Addr().String(), "-tls1_3", "-servername", "server.test",
				"-CAfile", ca, "-verify_return_error", "-ciphersuites", opensslNames[tc.suite], "-groups", groups,
				"-keymatexport", exporterLabel, "-keymatexportlen", "32"}
			if tc.clientAuth {
				ccert, ckey, _ := p.writePEM(t, p.client, "client")
				args = append(args, "-cert", ccert, "-key", ckey)
			}
			cli := startOpenSSL(t, args...)
			theirs := cli.waitFor(t, `Keying material: ([0-9A-F]+)`)[1]
			fmt.Fprintln(cli.stdin, "interop")
			cli.waitFor(t, "^INTEROP$")
			cli.stdin.Close()
			if err := <-errc; err != nil {
				t.Fatalf("our server: %v; openssl said:\n%s", err, cli.output())
			}
			s := <-srvConn
			checkOurState(t, s, tc)
			checkServerCompat(t, rec, tc)
			ours, _ := s.ExportKeyingMaterial(exporterLabel, nil, 32)
			if !strings.EqualFold(hex.EncodeToString(ours), theirs) {
				t.Fatalf("exporters differ: %x vs %s", ours, theirs)
			}
			if tc.clientAuth && s.ConnectionState().PeerCertificate == nil {
				t.Fatal("our server saw no client certificate")
			}
		})
	}
}
