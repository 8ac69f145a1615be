package tls13

import (
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// Handshake cost of our engine against Go's crypto/tls, in one run, with
// the same suite (TLS_AES_128_GCM_SHA256), group (X25519) and ECDSA P-256
// key, over in-memory pipes, client and server in the same process. The
// ratio benchmark interleaves both so machine noise hits them alike.

func benchOurs(b *testing.B, p *testPKI) {
	cc, sc := p.clientConfig(), p.serverConfig()
	cc.CipherSuites, cc.Groups = []uint16{TLS_AES_128_GCM_SHA256}, []CurveID{X25519}
	a, s := net.Pipe()
	srv, cli := Server(s, sc), Client(a, cc)
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }()
	if err := cli.Handshake(); err != nil {
		b.Fatal(err)
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	if cli.ConnectionState().CipherSuite != TLS_AES_128_GCM_SHA256 {
		b.Fatal("wrong suite")
	}
	a.Close()
	s.Close()
}

func benchStd(b *testing.B, p *testPKI) {
	a, s := net.Pipe()
	srv := tls.Server(s, &tls.Config{Certificates: []tls.Certificate{p.stdCert(p.server)}, MinVersion: tls.VersionTLS13,
		SessionTicketsDisabled: true, CurvePreferences: []tls.CurveID{tls.X25519}})
	cli := tls.Client(a, &tls.Config{RootCAs: p.pool, ServerName: "server.test", MinVersion: tls.VersionTLS13,
		CurvePreferences: []tls.CurveID{tls.X25519}})
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }()
	if err := cli.Handshake(); err != nil {
		b.Fatal(err)
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	if cli.ConnectionState().CipherSuite != tls.TLS_AES_128_GCM_SHA256 {
		b.Skip("crypto/tls picked another suite on this CPU; the comparison would not be like for like")
	}
	a.Close()
	s.Close()
}

func BenchmarkHandshake(b *testing.B) {
	p := getPKI(b)
	b.Run("engine=tls13", func(b *testing.B) {
		for b.Loop() {
			benchOurs(b, p)
		}
	})
	b.Run("engine=crypto-tls", func(b *testing.B) {
		for b.Loop() {
			benchStd(b, p)
		}
	})
}

// BenchmarkHandshakeRatio reports ours/crypto-tls per handshake as "ratio".
func BenchmarkHandshakeRatio(b *testing.B) {
	p := getPKI(b)
	var ours, std time.Duration
	for b.Loop() {
		t0 := time.Now()
		benchOurs(b, p)
		t1 := time.Now()
		benchStd(b, p)
		ours += t1.Sub(t0)
		std += time.Since(t1)
	}
	b.ReportMetric(float64(ours)/float64(std), "ratio")
	b.ReportMetric(float64(ours.Microseconds())/float64(b.N), "tls13-µs/op")
	b.ReportMetric(float64(std.Microseconds())/float64(b.N), "crypto-tls-µs/op")
}
