package mbedtls_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/suite/harness/wire"
)

// What the fail-open and attack specs share: a verifier that fails the
// way a broken Veraison does, a tap on the Go endpoint's socket that
// keeps every byte the mbedTLS peer sent, and one connection between the
// two with the Go endpoint misbehaving after the failure.

// verifierFault is how the fake Veraison fails.
type verifierFault int

const (
	faultNone verifierFault = iota
	// faultError answers the evidence submission 500 with a problem
	// document, as Veraison does when an appraisal errs.
	faultError
	// faultDown closes the session request's connection with no answer:
	// the service died after its discovery document was read.
	faultDown
	// faultHang accepts the evidence submission and never answers.
	faultHang
	// faultResign re-signs every result with a key of its own and names
	// that key in its discovery document: a verifier the relying party
	// was not configured to trust.
	faultResign
)

// fakeVeraison is a reverse proxy in front of the run's Veraison with one
// fault on the challenge-response API (discovery, newSession, evidence
// submission in a session).
type fakeVeraison struct {
	URL   string
	fault verifierFault
	key   *ecdsa.PrivateKey // faultResign's signing key

	srv     *http.Server
	stop    chan struct{}
	stopped sync.Once

	mu    sync.Mutex
	hangs []hang
}

// hang is one request faultHang held: when it arrived and when the
// client gave up on it (closed its connection).
type hang struct{ start, end time.Time }

func startFakeVeraison(t *testing.T, upstream string, fault verifierFault) *fakeVeraison {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeVeraison{URL: "http://" + ln.Addr().String(), fault: fault, stop: make(chan struct{})}
	if fault == faultResign {
		if f.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = f.modify
	f.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/newSession") && fault == faultDown:
			f.drop(w)
		case r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/session/") && fault == faultError:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"type":"about:blank","title":"Internal Server Error","status":500,"detail":"fake verifier: appraisal failed"}`)
		case r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/session/") && fault == faultHang:
			f.hold(w)
		default:
			proxy.ServeHTTP(w, r)
		}
	}), ReadHeaderTimeout: 10 * time.Second}
	go f.srv.Serve(ln)
	t.Cleanup(f.close)
	return f
}

func (f *fakeVeraison) close() {
	f.stopped.Do(func() { close(f.stop) })
	f.srv.Close()
}

// drop closes the connection without an HTTP answer.
func (f *fakeVeraison) drop(w http.ResponseWriter) {
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0) // a reset, as from a dead service
	}
	c.Close()
}

// hold keeps the request unanswered until the client closes its
// connection (or the fake stops), and records how long that took.
func (f *fakeVeraison) hold(w http.ResponseWriter) {
	start := time.Now()
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	defer c.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, c)
		close(done)
	}()
	select {
	case <-done:
	case <-f.stop:
	}
	f.mu.Lock()
	f.hangs = append(f.hangs, hang{start, time.Now()})
	f.mu.Unlock()
}

// held returns the requests faultHang held and the client gave up on.
func (f *fakeVeraison) held() []hang {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.hangs)
}

// modify rewrites upstream answers for faultResign: the discovery
// document names our key, and each session's result is signed with it.
func (f *fakeVeraison) modify(resp *http.Response) error {
	if f.fault != faultResign || resp.StatusCode != http.StatusOK {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("fake verifier: upstream answer is not JSON: %w", err)
	}
	switch {
	case strings.HasSuffix(resp.Request.URL.Path, "/.well-known/veraison/verification"):
		pub := f.key.PublicKey
		x, y := make([]byte, 32), make([]byte, 32)
		pub.X.FillBytes(x)
		pub.Y.FillBytes(y)
		doc["ear-verification-key"] = map[string]any{"kty": "EC", "crv": "P-256", "alg": "ES256",
			"x": base64.RawURLEncoding.EncodeToString(x), "y": base64.RawURLEncoding.EncodeToString(y)}
	case strings.Contains(resp.Request.URL.Path, "/session/"):
		if jwt, ok := doc["result"].(string); ok {
			if doc["result"], err = f.resign(jwt); err != nil {
				return err
			}
		}
	}
	if body, err = json.Marshal(doc); err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

// resign keeps a compact JWS's header and claims and signs them (ES256)
// with the fake's key.
func (f *fakeVeraison) resign(jwt string) (string, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "", errors.New("fake verifier: the result is not a compact JWS")
	}
	input := parts[0] + "." + parts[1]
	h := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, f.key, h[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// tap is the Go endpoint's socket: it keeps every byte each way.
type tap struct {
	net.Conn
	mu      sync.Mutex
	in, out []byte
}

func (c *tap) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	c.in = append(c.in, b[:n]...)
	c.mu.Unlock()
	return n, err
}

func (c *tap) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.mu.Lock()
	c.out = append(c.out, b[:n]...)
	c.mu.Unlock()
	return n, err
}

func (c *tap) bytes() (in, out []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.in), slices.Clone(c.out)
}

// records splits a byte stream into TLS records; rest is a trailing
// partial record.
func records(b []byte) (recs [][]byte, rest []byte) {
	for len(b) >= 5 {
		n := 5 + (int(b[3])<<8 | int(b[4]))
		if len(b) < n {
			break
		}
		recs = append(recs, b[:n])
		b = b[n:]
	}
	return recs, b
}

// trace counts the records the Go engine read and keeps the handshake
// messages it sent (for an attacker's capture).
type trace struct {
	wire.Recorder
	mu       sync.Mutex
	received int
}

func (t *trace) Record(sent bool, raw []byte) {
	if !sent {
		t.mu.Lock()
		t.received++
		t.mu.Unlock()
	}
}

func (t *trace) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.received
}

// exchange is one connection between the mbedTLS peer and a Go endpoint
// and everything the specs assert on.
type exchange struct {
	goSide
	outcome contract.Outcome
	exit    int
	peer    *mbedPeer
	tap     *tap
	trace   *trace
	// tail is what the mbedTLS peer sent after the Go endpoint stopped
	// reading (the stream drained to EOF), tailErr how the drain ended.
	tail    []byte
	tailErr error
	// replayed counts the application-data records the Go endpoint wrote
	// again after the failure (the data-after-alert behaviour).
	replayed int
}

// exchangeOptions set up one exchange; goOptions.peer adjusts the
// mbedTLS peer's configuration (verifier, deadline).
type exchangeOptions struct {
	goOptions
	// afterAlert has the Go endpoint write its protected
	// application-data records again once its connection failed.
	afterAlert bool
}

// runExchange runs m with the mbedTLS peer in mbRole and the Go reference
// in the other, tapping the Go endpoint's socket.
func runExchange(t *testing.T, m model, mbRole contract.Role, o exchangeOptions) *exchange {
	t.Helper()
	w := env(t)
	hm := m.harness()
	cfg := peerConfig(t, w, m.id(), m.profile, mbRole, hm.Server.Attests, hm.Client.Attests)
	if o.peer != nil {
		o.peer(&cfg)
	}
	// The exchange's deadline runs from when the peer is up: starting its
	// containers on a loaded machine is not the peer's time.
	exchangeCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), cfg.Timeout+5*time.Second)
	}
	x := &exchange{trace: &trace{}}
	if mbRole == contract.Server {
		x.peer = startPeer(t, w, cfg)
		ctx, cancel := exchangeCtx()
		defer cancel()
		gcfg := goConfig(t, w, m, true, x.peer.cfg.EndorsementsOut, o.goOptions)
		gcfg.Trace = x.trace
		raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", cfg.Listen)
		if err != nil {
			t.Fatal(err)
		}
		x.goSide = x.play(ctx, raw, gcfg, true, o.afterAlert)
	} else {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		cfg.Connect = ln.Addr().String()
		gcfg := goConfig(t, w, m, false, cfg.EndorsementsOut, o.goOptions)
		gcfg.Trace = x.trace
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				c = nil
			}
			accepted <- c
		}()
		x.peer = startPeer(t, w, cfg)
		var raw net.Conn
		select {
		case raw = <-accepted:
		case <-x.peer.done:
		case <-time.After(cfg.Timeout + startAllowance):
		}
		if raw == nil {
			t.Fatalf("the mbedTLS client never connected\n%s", x.peer.describe())
		}
		ctx, cancel := exchangeCtx()
		defer cancel()
		x.goSide = x.play(ctx, raw, gcfg, false, o.afterAlert)
	}
	x.outcome, x.exit = x.peer.wait(t)
	return x
}

// play runs the Go endpoint on raw: the contract's ping/pong, then, if
// the connection failed, the after-alert writes and the drain.
func (x *exchange) play(ctx context.Context, raw net.Conn, cfg *tls13.Config, isClient, afterAlert bool) goSide {
	defer raw.Close()
	if d, ok := ctx.Deadline(); ok {
		raw.SetDeadline(d)
	}
	x.tap = &tap{Conn: raw}
	var g goSide
	var c *tls13.Conn
	if isClient {
		c = tls13.Client(x.tap, cfg)
	} else {
		c = tls13.Server(x.tap, cfg)
	}
	g.err = c.HandshakeContext(ctx)
	g.state = c.ConnectionState()
	if g.err == nil && isClient {
		c.Write([]byte("ping\n"))
	}
	g.got, g.readErr = readSome(c, 5)
	if g.err == nil && !isClient && g.got == "ping\n" {
		c.Write([]byte("pong\n"))
	}
	if g.failure() == nil {
		c.Close()
		return g
	}
	if afterAlert {
		// A fail-open attester keeps talking: its protected records again,
		// as if the alert had not come.
		_, out := x.tap.bytes()
		recs, _ := records(out)
		for _, r := range recs {
			if r[0] == 23 {
				if _, err := x.tap.Conn.Write(r); err == nil {
					x.replayed++
				}
			}
		}
	}
	// Whatever the mbedTLS peer still sends: nothing, then EOF.
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	var tail bytes.Buffer
	_, x.tailErr = io.Copy(&tail, x.tap.Conn)
	x.tail = tail.Bytes()
	return g
}

func (x *exchange) describe() string {
	in, out := x.tap.bytes()
	return x.peer.describe() + fmt.Sprintf("\nGo side: err=%s read=%s got=%q; bytes from the peer %d (+%d after), to the peer %d",
		errString(x.err), errString(x.readErr), x.got, len(in), len(x.tail), len(out))
}

// wantFailedClosed asserts the mbedTLS peer aborted with code and that
// no application data was accepted, on both sides and on the wire.
// strictGo requires the Go endpoint to have read the alert; otherwise a
// reset (the peer closed with the attester's unread records in its
// socket) may take its place.
func wantFailedClosed(t *testing.T, x *exchange, code tls13.AlertCode, strictGo bool) {
	t.Helper()
	o := x.outcome
	if x.exit != contract.ExitFailed || o.Handshake != contract.HandshakeFailed {
		t.Fatalf("mbedTLS peer: exit %d, handshake %s; want 1, failed\n%s", x.exit, o.Handshake, x.describe())
	}
	if o.AlertSent == nil || o.AlertSent.Code != int(code) {
		t.Fatalf("mbedTLS peer reports alert_sent %+v, want %d (%v)\n%s", o.AlertSent, code, code, x.describe())
	}
	if o.AppData != contract.AppDataNone || o.Negotiated != nil {
		t.Fatalf("mbedTLS peer: app_data %s, negotiated %+v after the failure\n%s", o.AppData, o.Negotiated, x.describe())
	}
	if x.got != "" {
		t.Fatalf("the Go endpoint read %q from the mbedTLS peer after the failure\n%s", x.got, x.describe())
	}
	ae, ok := tls13.AsAlert(x.failure())
	switch {
	case ok && !ae.Sent && ae.Code == code:
	case !strictGo && isReset(x.failure()):
	default:
		t.Fatalf("Go endpoint: want alert %v received, got %v\n%s", code, x.failure(), x.describe())
	}
	// On the wire: the mbedTLS peer's stream is whole records, every one
	// of them read by the Go engine (so the alert it reported was the
	// last), and nothing came after it.
	in, _ := x.tap.bytes()
	recs, rest := records(in)
	if len(rest) != 0 {
		t.Fatalf("the mbedTLS peer's stream ends in a partial record (%d bytes)\n%s", len(rest), x.describe())
	}
	if ok && len(recs) != x.trace.count() {
		t.Fatalf("the mbedTLS peer sent %d records, the Go engine read %d: records followed the alert\n%s",
			len(recs), x.trace.count(), x.describe())
	}
	if len(x.tail) != 0 {
		t.Fatalf("the mbedTLS peer sent %d bytes after its alert\n%s", len(x.tail), x.describe())
	}
	if x.tailErr != nil && !isReset(x.tailErr) {
		t.Fatalf("the mbedTLS peer did not close the connection after its alert: %v\n%s", x.tailErr, x.describe())
	}
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// wantVerdict asserts the reason the mbedTLS relying party recorded.
func wantVerdict(t *testing.T, x *exchange, status string, reasons ...string) {
	t.Helper()
	v := x.outcome.Verdict
	if v == nil || !slices.Contains(reasons, v.Reason) || (status != "" && v.Status != status) {
		t.Fatalf("mbedTLS relying party verdict %+v, want status %q and a reason in %v\n%s", v, status, reasons, x.describe())
	}
}
