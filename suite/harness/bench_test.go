package harness

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/impl/tls13"
)

// BenchmarkAttestationOverhead measures attested handshakes against the
// plain handshake of the same engine, keys and loopback transport, in one
// run, with the software attester and the in-process verifier. The
// "overhead" metric is attested/plain per handshake; "excess" is
// (attested − plain) / floor, where the floor is the cryptography the
// model inherently adds (cryptoFloor), timed in the same loop: what is
// above 1 is ours to remove.
func BenchmarkAttestationOverhead(b *testing.B) {
	f, err := NewFixture()
	if err != nil {
		b.Fatal(err)
	}
	plainClient := &tls13.Config{ServerName: f.ServerName, RootCAs: f.Pool}
	plainServer := &tls13.Config{Certificates: []tls13.Credential{f.Plain[false]}}
	run := func(b *testing.B, cc, sc *tls13.Config, post Post) time.Duration {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		t0 := time.Now()
		r, err := RunPost(ctx, cc, sc, post)
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
		{Profile: "xp-03", Server: party.Side{Attests: true, Credential: party.X509}},
		{Profile: "poc", Client: party.Side{Attests: true}},
	}
	unit := newCryptoUnit(b)
	for _, m := range models {
		cli, srv := f.Parties(m)
		cc, sc, err := f.Configs(m, cli, srv)
		if err != nil {
			continue // profile not registered in this build
		}
		signs, verifies := cryptoFloor(m)
		post := f.Post(m, cli, srv)
		b.Run(m.ID(), func(b *testing.B) {
			var plain, attested, sign, verify time.Duration
			for b.Loop() {
				plain += run(b, plainClient, plainServer, Post{})
				attested += run(b, cc, sc, post)
				s, v := unit.time(b)
				sign += s
				verify += v
			}
			floor := time.Duration(signs)*sign + time.Duration(verifies)*verify
			n := float64(b.N)
			b.ReportMetric(float64(attested)/float64(plain), "overhead")
			b.ReportMetric(float64(attested-plain)/float64(floor), "excess")
			b.ReportMetric(float64(plain.Microseconds())/n, "plain-µs/op")
			b.ReportMetric(float64(attested.Microseconds())/n, "attested-µs/op")
			b.ReportMetric(float64(floor.Microseconds())/n, "floor-µs/op")
		})
	}
}

// cryptoFloor counts the ECDSA P-256 signatures and verifications model m
// adds to the plain handshake (server authentication with an X.509 chain
// of one P-256 leaf under a P-256 CA), with the software attester and
// the in-process verifier. Per attesting side: the attester signs the KAT
// and the PAT; the verifier checks both and signs the EAR; the relying
// party checks the EAR. An attesting side also authenticates where the
// plain handshake does not: an attesting client in the handshake (its
// CertificateVerify, and its chain with X.509), and every attesting side
// of a post-handshake profile in its authenticator (CertificateVerify and
// chain again). An attestation-only server has no chain to validate.
func cryptoFloor(m party.Model) (signs, verifies int) {
	post := false
	if d, err := profile.Describe(m.Profile); err == nil {
		post = d.Phase == party.PostHandshake
	}
	for _, client := range []bool{false, true} {
		side := m.Attesting(client)
		if !side.Attests {
			continue
		}
		signs, verifies = signs+3, verifies+3
		switch {
		case post:
			signs, verifies = signs+1, verifies+2
		case client && side.Credential == party.X509:
			signs, verifies = signs+1, verifies+2
		case client:
			signs, verifies = signs+1, verifies+1
		case side.Credential != party.X509:
			verifies--
		}
	}
	return signs, verifies
}

// cryptoUnit times one ECDSA P-256 signature and one verification, each
// over the SHA-256 of a token-sized input, as the floor's units.
type cryptoUnit struct {
	key *ecdsa.PrivateKey
	msg []byte
	sig []byte
}

func newCryptoUnit(b *testing.B) *cryptoUnit {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	return &cryptoUnit{key: key, msg: make([]byte, 512)}
}

func (u *cryptoUnit) time(b *testing.B) (sign, verify time.Duration) {
	t0 := time.Now()
	d := sha256.Sum256(u.msg)
	sig, err := ecdsa.SignASN1(rand.Reader, u.key, d[:])
	if err != nil {
		b.Fatal(err)
	}
	t1 := time.Now()
	d = sha256.Sum256(u.msg)
	if !ecdsa.VerifyASN1(&u.key.PublicKey, d[:], sig) {
		b.Fatal("floor: signature does not verify")
	}
	return t1.Sub(t0), time.Since(t1)
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
