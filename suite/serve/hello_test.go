package serve

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest/endpoint"
	"github.com/attested-tls/conformance/impl/tls13"
)

// clientHello is the first flight our engine's client sends with sni.
func clientHello(t testing.TB, sni string) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		cfg := endpoint.BaseConfig(true, sni, nil, tls13.Credential{})
		cfg.InsecureSkipVerify = true
		c := tls13.Client(b, cfg)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.HandshakeContext(ctx)
		b.Close()
	}()
	a.SetReadDeadline(time.Now().Add(5 * time.Second))
	raw, got, err := readClientHello(a, time.Now().Add(5*time.Second))
	if err != nil || got != sni {
		t.Fatalf("readClientHello: %q, %v, want %q", got, err, sni)
	}
	return raw
}

func TestReadClientHelloSplitAcrossRecords(t *testing.T) {
	raw := clientHello(t, "ta-07.server-attests.bg-x509.cases.attested.test")
	body := raw[5:]
	// The same message in records of 7 bytes each.
	var split []byte
	for len(body) > 0 {
		n := min(7, len(body))
		split = append(split, 22, 3, 1, 0, byte(n))
		split = append(split, body[:n]...)
		body = body[n:]
	}
	a, b := net.Pipe()
	go func() { b.Write(split); b.Close() }()
	got, sni, err := readClientHello(a, time.Now().Add(5*time.Second))
	if err != nil || sni != "ta-07.server-attests.bg-x509.cases.attested.test" || !bytes.Equal(got, split) {
		t.Fatalf("readClientHello of a split hello: %q, %v (read %d of %d bytes)", sni, err, len(got), len(split))
	}
}

func TestReadClientHelloRefuses(t *testing.T) {
	for name, in := range map[string][]byte{
		"http":      []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"empty":     {22, 3, 1, 0, 0},
		"huge":      {22, 3, 1, 0xff, 0xff},
		"not hello": {22, 3, 1, 0, 4, 2, 0, 0, 0},
		"truncated": {22, 3, 1, 0, 10, 1, 0},
	} {
		t.Run(name, func(t *testing.T) {
			a, b := net.Pipe()
			go func() { b.Write(in); b.Close() }()
			if _, sni, err := readClientHello(a, time.Now().Add(2*time.Second)); err == nil {
				t.Fatalf("no error (server name %q)", sni)
			}
		})
	}
	t.Run("slowloris", func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		go b.Write([]byte{22, 3})
		start := time.Now()
		_, _, err := readClientHello(a, time.Now().Add(200*time.Millisecond))
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || time.Since(start) > 2*time.Second {
			t.Fatalf("%v after %v, want a deadline error after 200ms", err, time.Since(start))
		}
	})
}

func FuzzServerName(f *testing.F) {
	raw := clientHello(f, "v--ta-07.server-attests.bg-x509.cases.attested.test")
	f.Add(raw[5:])
	f.Add([]byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, msg []byte) {
		ServerName(msg) // must not panic or hang
	})
}
