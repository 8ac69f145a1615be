package harness

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/tls13"
)

// BenchmarkAttestationOverhead measures attested handshakes against the
// plain handshake of the same engine, keys and loopback transport, in one
// run, with the software attester and the in-process verifier. The
// "overhead" metric is attested/plain per handshake.
func BenchmarkAttestationOverhead(b *testing.B) {
	f, err := NewFixture()
	if err != nil {
		b.Fatal(err)
	}
	plainClient := &tls13.Config{ServerName: f.ServerName, RootCAs: f.Pool}
	plainServer := &tls13.Config{Certificates: []tls13.Credential{f.Plain[false]}}
	run := func(b *testing.B, cc, sc *tls13.Config) time.Duration {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		t0 := time.Now()
		r, err := Run(ctx, cc, sc)
		if err != nil || r.ClientErr != nil || r.ServerErr != nil {
			b.Fatal(err, r.Describe())
		}
		return time.Since(t0)
	}
	models := []party.Model{
		{Profile: "ta-07", Server: party.Side{Attests: true, Credential: party.X509}},
		{Profile: "ta-07", Server: party.Side{Attests: true}},
		{Profile: "ta-07", Server: party.Side{Attests: true, Topology: party.Passport, Credential: party.X509}},
		{Profile: "ta-07", Server: party.Side{Attests: true, Credential: party.X509}, Client: party.Side{Attests: true, Credential: party.X509}},
		{Profile: "ea-07", Server: party.Side{Attests: true, Credential: party.X509}},
		{Profile: "poc", Client: party.Side{Attests: true}},
	}
	for _, m := range models {
		cli, srv := f.Parties(m)
		cc, sc, err := f.Configs(m, cli, srv)
		if err != nil {
			continue // profile not registered in this build
		}
		b.Run(m.ID(), func(b *testing.B) {
			var plain, attested time.Duration
			for b.Loop() {
				plain += run(b, plainClient, plainServer)
				attested += run(b, cc, sc)
			}
			b.ReportMetric(float64(attested)/float64(plain), "overhead")
			b.ReportMetric(float64(plain.Microseconds())/float64(b.N), "plain-µs/op")
			b.ReportMetric(float64(attested.Microseconds())/float64(b.N), "attested-µs/op")
		})
	}
}

// BenchmarkVeraisonHandshake: background-check handshakes whose evidence
// real Veraison services appraise, on loopback (ta-07, server attests,
// X.509 plus attestation, software attester). Reports per-handshake
// latency (p50, p95) sequentially and handshakes per second with 8
// concurrent handshakes.
func BenchmarkVeraisonHandshake(b *testing.B) {
	f, err := NewFixtureOn(context.Background(), RootSoftware, VerifierVeraison)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	m := party.Model{Profile: "ta-07", Server: party.Side{Attests: true, Credential: party.X509}}
	once := func(b *testing.B) time.Duration {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		t0 := time.Now()
		r, err := f.Handshake(ctx, m, Tweaks{})
		if err != nil || r.ClientErr != nil || r.ServerErr != nil {
			b.Fatal(err, r.Describe())
		}
		return time.Since(t0)
	}
	report := func(b *testing.B, lat []time.Duration, wall time.Duration) {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
		b.ReportMetric(float64(len(lat))/wall.Seconds(), "handshakes/s")
	}
	b.Run("sequential", func(b *testing.B) {
		var lat []time.Duration
		t0 := time.Now()
		for b.Loop() {
			lat = append(lat, once(b))
		}
		report(b, lat, time.Since(t0))
	})
	b.Run("concurrent=8", func(b *testing.B) {
		var mu sync.Mutex
		var lat []time.Duration
		b.SetParallelism(4) // 4 × GOMAXPROCS(2) = 8 goroutines
		t0 := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				d := once(b)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		})
		report(b, lat, time.Since(t0))
	})
}
