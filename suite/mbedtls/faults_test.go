package mbedtls_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/suite/harness/wire"
	"github.com/attested-tls/conformance/suite/interop"
)

// What the fail-open and attack specs share: a verifier that fails the
// way a broken Veraison does, a tap on the Go endpoint's socket that
// keeps every byte the mbedTLS peer sent, and one connection between the
// two with the Go endpoint misbehaving after the failure.

// startFakeVeraison puts a FaultyVeraison with fault in front of
// upstream for the test's duration.
func startFakeVeraison(t *testing.T, upstream string, fault interop.VerifierFault) *interop.FaultyVeraison {
	t.Helper()
	f, err := interop.StartFaultyVeraison("127.0.0.1", upstream, fault)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
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
