package harness

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison"
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
	plainClient, plainServer := plainConfigs(f)
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
			var plain, attested, plainCPU, attestedCPU, sign, verify time.Duration
			for b.Loop() {
				w, c := timedRun(b, plainClient, plainServer, Post{})
				plain, plainCPU = plain+w, plainCPU+c
				w, c = timedRun(b, cc, sc, post)
				attested, attestedCPU = attested+w, attestedCPU+c
				s, v := unit.time(b)
				sign += s
				verify += v
			}
			floor := time.Duration(signs)*sign + time.Duration(verifies)*verify
			n := float64(b.N)
			b.ReportMetric(float64(attested)/float64(plain), "overhead")
			b.ReportMetric(float64(attested-plain)/float64(floor), "excess")
			b.ReportMetric(float64(attestedCPU)/float64(plainCPU), "cpu-overhead")
			b.ReportMetric(float64(attestedCPU-plainCPU)/float64(floor), "cpu-excess")
			b.ReportMetric(float64(plain.Microseconds())/n, "plain-µs/op")
			b.ReportMetric(float64(attested.Microseconds())/n, "attested-µs/op")
			b.ReportMetric(float64(floor.Microseconds())/n, "floor-µs/op")
		})
	}
}

// plainConfigs are the fixture's client and server without attestation:
// the server's plain credential, validated against the fixture's CA.
func plainConfigs(f *Fixture) (client, server *tls13.Config) {
	return &tls13.Config{ServerName: f.ServerName, RootCAs: f.Pool},
		&tls13.Config{Certificates: []tls13.Credential{f.Plain[false]}}
}

// timedRun runs one handshake with its ping and pong and returns its
// wall time and the process's CPU time during it (both sides and the
// garbage collector): CPU time is what the handshake costs whatever else
// the machine is doing.
func timedRun(b *testing.B, cc, sc *tls13.Config, post Post) (wall, cpu time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c0, t0 := cpuTime(b), time.Now()
	r, err := RunPost(ctx, cc, sc, post)
	if err != nil || r.ClientErr != nil || r.ServerErr != nil {
		b.Fatal(err, r.Describe())
	}
	return time.Since(t0), cpuTime(b) - c0
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

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
// X.509 plus attestation, software attester), with 1, 8 and 32 in flight.
// Reports per-handshake latency (p50, p95, p99), handshakes per second,
// and the split: "veraison-ms" is the time per handshake the relying
// party spent waiting for Veraison's answers (its HTTP round trips on
// loopback, timed at the transport), the rest of "p50-ms" is the TLS
// handshake, the attester and the relying party's own checks.
func BenchmarkVeraisonHandshake(b *testing.B) {
	ctx := context.Background()
	f, err := NewFixtureOn(ctx, RootSoftware, VerifierVeraison)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	// A verifier of the same service whose round trips are timed.
	rt := &timedTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
	rt.reset()
	rt.base.(*http.Transport).MaxIdleConnsPerHost = veraison.DefaultMaxConcurrent
	if f.Verifier, err = veraison.New(ctx, veraison.Config{VerificationURL: f.VeraisonURL, Transport: rt}); err != nil {
		b.Fatal(err)
	}
	m := party.Model{Profile: "ta-07", Server: party.Side{Attests: true, Credential: party.X509}}
	once := func(b *testing.B) time.Duration {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		t0 := time.Now()
		r, err := f.Handshake(ctx, m, Tweaks{})
		if err != nil || r.ClientErr != nil || r.ServerErr != nil {
			b.Fatal(err, r.Describe())
		}
		return time.Since(t0)
	}
	for _, inFlight := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("concurrent=%d", inFlight), func(b *testing.B) {
			var mu sync.Mutex
			var lat []time.Duration
			rt.reset()
			cpu0, err := f.Veraison.CPU()
			if err != nil {
				b.Fatal(err)
			}
			ours0 := cpuTime(b)
			work := make(chan struct{})
			var wg sync.WaitGroup
			t0 := time.Now()
			for range inFlight {
				wg.Go(func() {
					for range work {
						d := once(b)
						mu.Lock()
						lat = append(lat, d)
						mu.Unlock()
					}
				})
			}
			for b.Loop() {
				work <- struct{}{}
			}
			close(work)
			wg.Wait()
			wall := time.Since(t0)
			slices.Sort(lat)
			q := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
			}
			b.ReportMetric(q(0.50), "p50-ms")
			b.ReportMetric(q(0.95), "p95-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(float64(len(lat))/wall.Seconds(), "handshakes/s")
			n := float64(len(lat))
			b.ReportMetric(float64(rt.total().Microseconds())/1000/n, "veraison-ms")
			for _, k := range []string{"session", "evidence", "delete"} {
				c, d := rt.of(k)
				b.ReportMetric(float64(d.Microseconds())/1000/float64(max(c, 1)), k+"-ms")
			}
			// Processor time per handshake in each Veraison service, and
			// in this process (both TLS sides, the attester, the relying
			// party and its HTTP client).
			cpu1, err := f.Veraison.CPU()
			if err != nil {
				b.Fatal(err)
			}
			for name, t1 := range cpu1 {
				b.ReportMetric(float64((t1-cpu0[name]).Microseconds())/1000/n, name+"-cpu-ms")
			}
			b.ReportMetric(float64((cpuTime(b)-ours0).Microseconds())/1000/n, "ours-cpu-ms")
		})
	}
}

// timedTransport sums the time requests spend between being sent and
// their response headers arriving, overall and per kind of request: a
// session is a POST to open it ("session"), a POST of the evidence
// ("evidence") and a DELETE ("delete").
type timedTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
	d    map[string]time.Duration
}

func (t *timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t0 := time.Now()
	resp, err := t.base.RoundTrip(r)
	d := time.Since(t0)
	kind := "evidence"
	switch {
	case r.Method == http.MethodDelete:
		kind = "delete"
	case strings.HasSuffix(r.URL.Path, "/newSession"):
		kind = "session"
	}
	t.mu.Lock()
	t.n[kind]++
	t.d[kind] += d
	t.mu.Unlock()
	return resp, err
}

func (t *timedTransport) reset() {
	t.mu.Lock()
	t.n, t.d = map[string]int{}, map[string]time.Duration{}
	t.mu.Unlock()
}

func (t *timedTransport) of(kind string) (int, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n[kind], t.d[kind]
}

func (t *timedTransport) total() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var sum time.Duration
	for _, d := range t.d {
		sum += d
	}
	return sum
}

// BenchmarkRootsOfTrust is one attested handshake (ta-07, server
// attests, background check, X.509) per root of trust, each appraised by
// the in-process verifier, beside a plain handshake of the same engine in
// the same loop: what each backend costs a handshake.
func BenchmarkRootsOfTrust(b *testing.B) {
	m := party.Model{Profile: "ta-07", Server: party.Side{Attests: true, Credential: party.X509}}
	for _, root := range []string{RootSoftware, RootSimulator, RootSwtpm, RootPSA, RootCCA, RootParsec} {
		b.Run(root, func(b *testing.B) {
			ctx := context.Background()
			f, err := NewFixtureOn(ctx, root, VerifierLocal)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			plainClient, plainServer := plainConfigs(f)
			var plain, attested time.Duration
			for b.Loop() {
				w, _ := timedRun(b, plainClient, plainServer, Post{})
				ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				t0 := time.Now()
				r, err := f.Handshake(ctx, m, Tweaks{})
				if err != nil || r.ClientErr != nil || r.ServerErr != nil {
					b.Fatal(err, r.Describe())
				}
				plain, attested = plain+w, attested+time.Since(t0)
				cancel()
			}
			n := float64(b.N)
			b.ReportMetric(float64(attested.Microseconds())/1000/n, "attested-ms")
			b.ReportMetric(float64(plain.Microseconds())/1000/n, "plain-ms")
			b.ReportMetric(float64(attested)/float64(plain), "overhead")
		})
	}
}
