package harness

import (
	"context"
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
	models := []Model{
		{Profile: "ta-07", Server: Side{Attests: true, Credential: party.X509}},
		{Profile: "ta-07", Server: Side{Attests: true}},
		{Profile: "ta-07", Server: Side{Attests: true, Topology: party.Passport, Credential: party.X509}},
		{Profile: "ta-07", Server: Side{Attests: true, Credential: party.X509}, Client: Side{Attests: true, Credential: party.X509}},
		{Profile: "ea-07", Server: Side{Attests: true, Credential: party.X509}},
		{Profile: "poc", Client: Side{Attests: true}},
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
