package tls13

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// runPair runs a handshake between our client and our server and returns
// both sides' errors.
func runPair(t *testing.T, ccfg, scfg *Config) (*Conn, *Conn, error, error) {
	t.Helper()
	a, b := pipe(t)
	cli, srv := Client(a, ccfg), Server(b, scfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		err := srv.HandshakeContext(ctx)
		if err != nil {
			b.Close()
		}
		errc <- err
	}()
	cerr := cli.HandshakeContext(ctx)
	if cerr != nil {
		a.Close()
	}
	return cli, srv, cerr, <-errc
}

func echo(t *testing.T, cli, srv *Conn) {
	t.Helper()
	// A side that fails must not leave the other waiting for ever.
	deadline := time.Now().Add(10 * time.Second)
	cli.SetDeadline(deadline)
	srv.SetDeadline(deadline)
	defer cli.SetDeadline(time.Time{})
	defer srv.SetDeadline(time.Time{})
	msg := []byte("hello over tls13")
	serr := make(chan error, 1)
	go func() {
		buf := make([]byte, 100)
		n, err := srv.Read(buf)
		if err == nil {
			_, err = srv.Write(buf[:n])
		}
		serr <- err
	}()
	if _, err := cli.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(cli, got); err != nil {
		t.Fatalf("client read: %v; server: %v", err, <-serr)
	}
	if err := <-serr; err != nil {
		t.Fatalf("server: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo %q", got)
	}
}

func TestHandshakeSuitesAndGroups(t *testing.T) {
	p := getPKI(t)
	for _, suite := range defaultCipherSuites {
		for _, g := range []CurveID{X25519, CurveP256, CurveP384, X25519MLKEM768} {
			t.Run(CipherSuiteName(suite)+"/"+groupName(g), func(t *testing.T) {
				cc, sc := p.clientConfig(), p.serverConfig()
				cc.CipherSuites = []uint16{suite}
				cc.Groups = []CurveID{g}
				cli, srv, cerr, serr := runPair(t, cc, sc)
				if cerr != nil || serr != nil {
					t.Fatalf("client %v server %v", cerr, serr)
				}
				echo(t, cli, srv)
				if cs := cli.ConnectionState(); cs.CipherSuite != suite || cs.Group != g {
					t.Fatalf("negotiated %#x %#x", cs.CipherSuite, cs.Group)
				}
				e1, _ := cli.ExportKeyingMaterial("EXPORTER-test", []byte("ctx"), 32)
				e2, _ := srv.ExportKeyingMaterial("EXPORTER-test", []byte("ctx"), 32)
				if !bytes.Equal(e1, e2) {
					t.Fatal("exporters differ")
				}
			})
		}
	}
}

func groupName(g CurveID) string {
	switch g {
	case X25519:
		return "x25519"
	case CurveP256:
		return "secp256r1"
	case CurveP384:
		return "secp384r1"
	case X25519MLKEM768:
		return "X25519MLKEM768"
	}
	return "unknown"
}

func TestHelloRetryRequest(t *testing.T) {
	p := getPKI(t)
	cc, sc := p.clientConfig(), p.serverConfig()
	cc.Groups = []CurveID{X25519, CurveP256}
	cc.KeyShareGroups = []CurveID{X25519}
	sc.Groups = []CurveID{CurveP256}
	sc.HelloRetryCookie = []byte("cookie!")
	cli, srv, cerr, serr := runPair(t, cc, sc)
	if cerr != nil || serr != nil {
		t.Fatalf("client %v server %v", cerr, serr)
	}
	if !cli.ConnectionState().HelloRetried || cli.ConnectionState().Group != CurveP256 {
		t.Fatal("no HelloRetryRequest")
	}
	echo(t, cli, srv)
}

func TestClientAuth(t *testing.T) {
	p := getPKI(t)
	cc, sc := p.clientConfig(), p.serverConfig()
	cc.Certificates = []Credential{p.client}
	sc.ClientAuth = RequireAndVerifyClientCert
	cli, srv, cerr, serr := runPair(t, cc, sc)
	if cerr != nil || serr != nil {
		t.Fatalf("client %v server %v", cerr, serr)
	}
	if pc := srv.ConnectionState().PeerCertificate; pc == nil || len(pc.Chain) != 1 {
		t.Fatal("server saw no client chain")
	}
	echo(t, cli, srv)
}

func TestClientAuthRequiredButNone(t *testing.T) {
	p := getPKI(t)
	cc, sc := p.clientConfig(), p.serverConfig()
	sc.ClientAuth = RequireAnyClientCert
	_, _, _, serr := runPair(t, cc, sc)
	expectAlert(t, serr, AlertCertificateRequired, true)
}

func expectAlert(t *testing.T, err error, code AlertCode, sent bool) {
	t.Helper()
	ae, ok := AsAlert(err)
	if !ok {
		t.Fatalf("want alert %s (sent=%v), got %v", code, sent, err)
	}
	if ae.Code != code || ae.Sent != sent {
		t.Fatalf("want alert %s (sent=%v), got %s (sent=%v): %v", code, sent, ae.Code, ae.Sent, err)
	}
}

func TestUnknownCA(t *testing.T) {
	p := getPKI(t)
	cc := &Config{ServerName: "server.test"}
	cli, _, cerr, serr := runPair(t, cc, p.serverConfig())
	expectAlert(t, cerr, AlertUnknownCA, true)
	expectAlert(t, serr, AlertUnknownCA, false)
	if _, err := cli.Write([]byte("x")); err == nil {
		t.Fatal("write after failed handshake")
	}
}

func TestNoCommonSuite(t *testing.T) {
	p := getPKI(t)
	cc, sc := p.clientConfig(), p.serverConfig()
	cc.CipherSuites = []uint16{TLS_AES_128_GCM_SHA256}
	sc.CipherSuites = []uint16{TLS_AES_256_GCM_SHA384}
	_, _, cerr, serr := runPair(t, cc, sc)
	expectAlert(t, serr, AlertHandshakeFailure, true)
	expectAlert(t, cerr, AlertHandshakeFailure, false)
}

func TestKeyUpdate(t *testing.T) {
	p := getPKI(t)
	cli, srv, cerr, serr := runPair(t, p.clientConfig(), p.serverConfig())
	if cerr != nil || serr != nil {
		t.Fatal(cerr, serr)
	}
	if err := cli.KeyUpdate(true); err != nil {
		t.Fatal(err)
	}
	echo(t, cli, srv)
	echo(t, cli, srv)
}

func TestPostHandshakeAuth(t *testing.T) {
	p := getPKI(t)
	cc, sc := p.clientConfig(), p.serverConfig()
	cc.Certificates = []Credential{p.client}
	cc.PostHandshakeAuth = true
	sc.ClientAuth = NoClientCert
	cli, srv, cerr, serr := runPair(t, cc, sc)
	if cerr != nil || serr != nil {
		t.Fatal(cerr, serr)
	}
	// The client answers the request from inside Read.
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 10)
		_, err := cli.Read(buf)
		done <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sc.ClientAuth = RequireAndVerifyClientCert
	if err := srv.RequestClientCertificate(ctx); err != nil {
		t.Fatal(err)
	}
	if pc := srv.ConnectionState().PeerCertificate; pc == nil || len(pc.Chain) != 1 {
		t.Fatal("no client certificate after post-handshake auth")
	}
	srv.Write([]byte("ok"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestHandshakeDeadline(t *testing.T) {
	a, _ := pipe(t) // nobody answers
	cli := Client(a, getPKI(t).clientConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := cli.HandshakeContext(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline exceeded, got %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("deadline not honoured")
	}
}

// With injected randomness and deterministic signatures, two runs of the
// same handshake are identical on the wire.
func TestDeterministicHandshake(t *testing.T) {
	p := getPKI(t)
	transcript := func() [][]byte {
		rec := newRecorder()
		cc, sc := p.clientConfig(), p.serverConfig()
		cc.Rand = bytes.NewReader(bytes.Repeat([]byte{1}, 4096))
		sc.Rand = bytes.NewReader(bytes.Repeat([]byte{2}, 4096))
		cc.DeterministicSignatures, sc.DeterministicSignatures = true, true
		cc.Trace = rec
		if _, _, cerr, serr := runPair(t, cc, sc); cerr != nil || serr != nil {
			t.Fatal(cerr, serr)
		}
		return append(rec.sent, rec.received...)
	}
	a, b := transcript(), transcript()
	if len(a) != len(b) {
		t.Fatalf("%d vs %d messages", len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("message %d differs between runs", i)
		}
	}
}

// A message that cannot be encoded (an extension longer than its 2-byte
// length allows, from Bugs, a hook or the configuration) ends the
// handshake with internal_error on the wire from the side that built it,
// and an error naming the message, not a panic.
func TestUnencodableMessageIsInternalError(t *testing.T) {
	p := getPKI(t)
	huge := []Extension{{Type: 0xfe00, Data: make([]byte, 70000)}}
	extra := func(typ uint8) map[uint8][]Extension { return map[uint8][]Extension{typ: huge} }
	requestCert := func(cc, sc *Config) {
		sc.ClientAuth = RequireAnyClientCert
		cc.Certificates = []Credential{p.client}
	}
	for _, tc := range []struct {
		name   string
		client bool // the side that cannot encode
		want   string
		setup  func(cc, sc *Config)
	}{
		{"ClientHello", true, "cannot encode ClientHello", func(cc, sc *Config) { cc.Bugs.ExtraExtensions = extra(MsgClientHello) }},
		{"ClientHello ALPN", true, "cannot encode extension 16", func(cc, sc *Config) { cc.NextProtos = []string{string(make([]byte, 300))} }},
		{"HelloRetryRequest", false, "cannot encode HelloRetryRequest", func(cc, sc *Config) {
			sc.Bugs.AlwaysHelloRetry, sc.Bugs.ExtraExtensions = true, extra(MsgServerHello)
		}},
		{"HelloRetryRequest cookie", false, "cannot encode extension 44", func(cc, sc *Config) {
			sc.Bugs.AlwaysHelloRetry, sc.HelloRetryCookie = true, make([]byte, 70000)
		}},
		{"ServerHello", false, "cannot encode ServerHello", func(cc, sc *Config) { sc.Bugs.ExtraExtensions = extra(MsgServerHello) }},
		{"EncryptedExtensions", false, "cannot encode EncryptedExtensions", func(cc, sc *Config) { sc.Bugs.ExtraExtensions = extra(MsgEncryptedExtensions) }},
		{"EncryptedExtensions from a hook", false, "cannot encode EncryptedExtensions", func(cc, sc *Config) {
			sc.NewHooks = func() Hooks { return eeHooks{exts: huge} }
		}},
		{"CertificateRequest", false, "cannot encode CertificateRequest", func(cc, sc *Config) {
			requestCert(cc, sc)
			sc.Bugs.ExtraExtensions = extra(MsgCertificateRequest)
		}},
		{"server Certificate", false, "cannot encode Certificate", func(cc, sc *Config) { sc.Bugs.ExtraEntryExtensions = map[int][]Extension{0: huge} }},
		{"client Certificate", true, "cannot encode Certificate", func(cc, sc *Config) {
			requestCert(cc, sc)
			cc.Bugs.ExtraEntryExtensions = map[int][]Extension{0: huge}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc, sc := p.clientConfig(), p.serverConfig()
			tc.setup(cc, sc)
			_, _, cerr, serr := runPair(t, cc, sc)
			err, peerErr := serr, cerr
			if tc.client {
				err, peerErr = cerr, serr
			}
			if ae, ok := AsAlert(err); !ok || ae.Code != AlertInternalError || !ae.Sent || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want internal_error sent and %q", err, tc.want)
			}
			if ae, ok := AsAlert(peerErr); !ok || ae.Code != AlertInternalError || ae.Sent {
				t.Fatalf("peer: %v, want internal_error received", peerErr)
			}
		})
	}
}

type eeHooks struct {
	NoHooks
	exts []Extension
}

func (h eeHooks) WriteEncryptedExtensions(*HookState) ([]Extension, error) { return h.exts, nil }

// A NewSessionTicket that cannot be encoded is an error to the caller;
// nothing goes out and the connection goes on.
func TestUnencodableSessionTicket(t *testing.T) {
	p := getPKI(t)
	cli, srv, cerr, serr := runPair(t, p.clientConfig(), p.serverConfig())
	if cerr != nil || serr != nil {
		t.Fatal(cerr, serr)
	}
	err := srv.WriteSessionTicket(60, 0, []byte{0}, make([]byte, 70000), nil)
	if err == nil || !strings.Contains(err.Error(), "cannot encode NewSessionTicket") {
		t.Fatalf("WriteSessionTicket: %v", err)
	}
	echo(t, cli, srv)
}
