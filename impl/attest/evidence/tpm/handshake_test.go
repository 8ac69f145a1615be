// The handshake tests sit in package tpm_test: suite/harness may come to
// import this package, and an in-package test importing it would then be
// an import cycle.
package tpm_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/attested-tls/conformance/containers/services"
	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/software"
	"github.com/attested-tls/conformance/impl/attest/evidence/tpm"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/verify/local"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/suite/harness"
)

// attesterKind names an attester the handshake tests and benchmarks run
// with; open returns it and releases it through tb.Cleanup.
type attesterKind struct {
	name string
	open func(tb testing.TB) attest.Attester
}

func attesterKinds() []attesterKind {
	return []attesterKind{
		{"software", func(tb testing.TB) attest.Attester {
			a, err := software.New(software.Config{})
			if err != nil {
				tb.Fatal(err)
			}
			return a
		}},
		{"tpm-simulator", func(tb testing.TB) attest.Attester {
			return openTPM(tb, tpm.Config{Transport: tpm.TransportSimulator})
		}},
		{"swtpm", func(tb testing.TB) attest.Attester {
			if err := services.HaveSwtpm(); err != nil {
				tb.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			sw, err := services.StartSwtpm(ctx, tb.TempDir())
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { sw.Close() })
			a := openTPM(tb, tpm.Config{Transport: tpm.TransportSwtpm, Addr: sw.Addr})
			outsideCPU.Store(a, sw.CPU)
			return a
		}},
	}
}

// outsideCPU holds, per attester whose TPM is another process, how to
// read that process's CPU time.
var outsideCPU sync.Map // attest.Attester → func() (time.Duration, error)

// cpuTime is this process's CPU time (user and system) plus that of the
// attester's TPM when it is another process.
func cpuTime(tb testing.TB, a attest.Attester) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	d := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if f, ok := outsideCPU.Load(a); ok {
		t, err := f.(func() (time.Duration, error))()
		if err != nil {
			tb.Fatal(err)
		}
		d += t
	}
	return d
}

func openTPM(tb testing.TB, cfg tpm.Config) *tpm.Attester {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := tpm.Open(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.Close() })
	for _, m := range []string{"firmware", "bootloader", "kernel"} {
		if err := a.Extend(0, []byte(m)); err != nil {
			tb.Fatal(err)
		}
	}
	return a
}

// serverAttests builds the harness fixture and puts a in place of the
// server's software attester: endorsed by the fixture's verifier, its
// identity key certified by the fixture's CA.
// tweak, if given, adjusts the server's Party last.
func serverAttests(tb testing.TB, a attest.Attester, m party.Model, tweak ...func(*party.Party)) (cc, sc *tls13.Config) {
	tb.Helper()
	f, err := harness.NewFixture()
	if err != nil {
		tb.Fatal(err)
	}
	v := f.Verifier.(*local.Verifier) // NewFixture's verifier is the in-process one
	switch a := a.(type) {
	case *tpm.Attester:
		err = v.AddEndorsement(a.Endorsement())
	case *software.Attester:
		err = v.AddEndorsement(a.Endorsement())
	}
	if err != nil {
		tb.Fatal(err)
	}
	chain, err := f.Certify(a.Identity(), false)
	if err != nil {
		tb.Fatal(err)
	}
	// Fixture.Attester holds *software.Attester, so the attester is put
	// into the server's Party instead.
	cli, srv := f.Parties(m)
	srv.Attester, srv.Chain = a, chain
	srv.Results = party.PassportSource{Attester: a, Verifier: f.Verifier}
	for _, t := range tweak {
		t(srv)
	}
	cc, sc, err = f.Configs(m, cli, srv)
	if err != nil {
		tb.Fatal(err)
	}
	return cc, sc
}

var serverBG = []party.Model{
	{Profile: "ta-07", Server: party.Side{Attests: true}},
	{Profile: "ta-07", Server: party.Side{Attests: true, Credential: party.X509}},
}

func handshake(tb testing.TB, cc, sc *tls13.Config) *harness.Result {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := harness.Run(ctx, cc, sc)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func TestAttestedHandshake(t *testing.T) {
	for _, k := range attesterKinds()[1:] {
		for _, m := range serverBG {
			t.Run(k.name+"/"+m.ID(), func(t *testing.T) {
				a := k.open(t)
				cc, sc := serverAttests(t, a, m)
				r := handshake(t, cc, sc)
				if r.ClientErr != nil || r.ServerErr != nil || r.ClientGot != harness.Pong || r.ServerGot != harness.Ping {
					t.Fatal(r.Describe())
				}
				// A platform whose measurements moved on is refused.
				if err := a.(*tpm.Attester).Extend(0, []byte("rootkit")); err != nil {
					t.Fatal(err)
				}
				r = handshake(t, cc, sc)
				if r.ClientErr == nil || r.ClientGot != "" || r.ServerGot != "" {
					t.Fatalf("handshake with a mismatching PCR: %s", r.Describe())
				}
				if !strings.Contains(r.ClientErr.Error(), string(parsectpm.ReasonPCRDigest)) {
					t.Fatalf("client error does not give the PCR digest reason: %v", r.ClientErr)
				}
				if _, sent, ok := harness.Alert(r.ClientErr); !ok || !sent {
					t.Fatalf("client sent no alert: %v", r.ClientErr)
				}
			})
		}
	}
}

// TestHandshakeTPMStops: a TPM that stops answering mid-run fails the
// server's handshake within the party's timeout, the error naming the
// TPM command, and the client gets an alert rather than a hang.
func TestHandshakeTPMStops(t *testing.T) {
	if err := services.HaveSwtpm(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sw, err := services.StartSwtpm(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	a := openTPM(t, tpm.Config{Transport: tpm.TransportSwtpm, Addr: sw.Addr})
	cc, sc := serverAttests(t, a, serverBG[1], func(p *party.Party) { p.Timeout = 500 * time.Millisecond })
	if r := handshake(t, cc, sc); r.ClientErr != nil || r.ServerErr != nil {
		t.Fatal(r.Describe())
	}
	if err := sw.Pause(); err != nil {
		t.Fatal(err)
	}
	defer sw.Resume()
	t0 := time.Now()
	r := handshake(t, cc, sc)
	if took := time.Since(t0); took > 3*time.Second {
		t.Fatalf("handshake took %v with a stalled TPM", took)
	}
	if r.ServerErr == nil || r.ClientErr == nil || r.ClientGot != "" {
		t.Fatalf("handshake with a stalled TPM: %s", r.Describe())
	}
	if !strings.Contains(r.ServerErr.Error(), "TPM2_") {
		t.Fatalf("server error does not name the TPM command: %v", r.ServerErr)
	}
	t.Logf("server: %v\nclient: %v", r.ServerErr, r.ClientErr)
}

// BenchmarkEvidence is one Evidence call per attester; the TPM commands
// it consists of are timed one by one by BenchmarkTPMCommands.
func BenchmarkEvidence(b *testing.B) {
	qd := sha256.Sum256([]byte("nonce"))
	ch := attest.Challenge{Nonce: qd[:]}
	for _, k := range attesterKinds() {
		b.Run(k.name, func(b *testing.B) {
			a := k.open(b)
			ctx := context.Background()
			for b.Loop() {
				if _, err := a.Evidence(ctx, ch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHandshakeAtTPMPace compares each attested handshake (ta-07,
// server attests, background check, X.509) with the TPM commands it
// cannot do without — TPM2_Certify, TPM2_Quote and TPM2_Sign, keys
// loaded — timed one by one right after it on the same TPM: "pace" is
// handshake time over their sum, what the rest (session and key
// handling, transport, the TLS and verification work) costs on top.
// "batched" (the engine's default) holds the server's flight until
// CertificateVerify is signed; "flushed" (Config.FlushBeforeCredential)
// sends it ahead of the credential, so the client works while the TPM
// does.
func BenchmarkHandshakeAtTPMPace(b *testing.B) {
	m := party.Model{Profile: "ta-07", Server: party.Side{Attests: true, Credential: party.X509}}
	qd := sha256.Sum256([]byte("nonce"))
	for _, k := range attesterKinds()[1:] {
		for _, flush := range []bool{false, true} {
			name := k.name + "/batched"
			if flush {
				name = k.name + "/flushed"
			}
			b.Run(name, func(b *testing.B) {
				a := k.open(b).(*tpm.Attester)
				cc, sc := serverAttests(b, a, m)
				sc.FlushBeforeCredential = flush
				var clock attesterClock
				clock.wrap(sc)
				cmds, err := tpm.Commands(a, qd[:])
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				var hs, floor, busy time.Duration
				var sent int64
				for b.Loop() {
					n, w, t0 := tpm.Sent(a), tpm.Busy(a), time.Now()
					if r := handshake(b, cc, sc); r.ClientErr != nil || r.ServerErr != nil {
						b.Fatal(r.Describe())
					}
					hs += time.Since(t0)
					sent += tpm.Sent(a) - n
					busy += tpm.Busy(a) - w
					floor += timeCommands(b, ctx, cmds)
				}
				n := float64(b.N)
				b.ReportMetric(float64(hs.Microseconds())/1000/n, "handshake-ms")
				b.ReportMetric(float64(floor.Microseconds())/1000/n, "tpm-ms")
				b.ReportMetric(float64(hs)/float64(floor), "pace")
				b.ReportMetric(float64(sent)/n, "tpm-commands/handshake")
				// The handshake's own waits on the TPM against the three
				// commands alone, and what is left: TLS and appraisal.
				b.ReportMetric(float64(busy)/float64(floor), "tpm-wait/floor")
				b.ReportMetric(float64((hs-busy).Microseconds())/1000/n, "not-tpm-ms")
				// The attester's part alone (ClientHello read to
				// CertificateVerify signed) against the same commands.
				att := time.Duration(clock.total.Load())
				b.ReportMetric(float64(att.Microseconds())/1000/n, "attester-ms")
				b.ReportMetric(float64(att)/float64(floor), "attester-pace")
			})
		}
	}
}

// timeCommands runs each of cmds once and returns the time they took
// together: one handshake's TPM floor.
func timeCommands(b *testing.B, ctx context.Context, cmds []tpm.Command) time.Duration {
	var took time.Duration
	for _, c := range cmds {
		t0 := time.Now()
		if err := c.Run(ctx); err != nil {
			b.Fatal(err)
		}
		took += time.Since(t0)
	}
	return took
}

// BenchmarkHandshakeAtTPMPaceInFlight is BenchmarkHandshakeAtTPMPace with
// several handshakes in flight, as a server meets them: the TPM, one
// command at a time, is the bottleneck, and "pace" is the wall time per
// handshake over the sum of its TPM commands timed alone (sequentially,
// on an idle TPM, after the run). At 1.0 the TPM never waits for the rest.
func BenchmarkHandshakeAtTPMPaceInFlight(b *testing.B) {
	m := party.Model{Profile: "ta-07", Server: party.Side{Attests: true, Credential: party.X509}}
	qd := sha256.Sum256([]byte("nonce"))
	for _, k := range attesterKinds()[1:] {
		for _, inFlight := range []int{2, 4} {
			b.Run(fmt.Sprintf("%s/%d-in-flight", k.name, inFlight), func(b *testing.B) {
				a := k.open(b).(*tpm.Attester)
				cc, sc := serverAttests(b, a, m)
				sc.FlushBeforeCredential = true
				cmds, err := tpm.Commands(a, qd[:])
				if err != nil {
					b.Fatal(err)
				}
				n0, t0, cpu0 := tpm.Sent(a), time.Now(), cpuTime(b, a)
				var next atomic.Int64
				var wg sync.WaitGroup
				for range inFlight {
					wg.Go(func() {
						for next.Add(1) <= int64(b.N) {
							if r := handshake(b, cc, sc); r.ClientErr != nil || r.ServerErr != nil {
								b.Error(r.Describe())
								return
							}
						}
					})
				}
				wg.Wait()
				wall := time.Since(t0)
				cpu := cpuTime(b, a) - cpu0
				sent := tpm.Sent(a) - n0
				b.StopTimer()
				// The floor: the same commands alone, as many sets as
				// handshakes (at most 200), on the now idle TPM.
				ctx := context.Background()
				sets := min(b.N, 200)
				var floor time.Duration
				for range sets {
					floor += timeCommands(b, ctx, cmds)
				}
				n := float64(b.N)
				perFloor := float64(floor) / float64(sets)
				b.ReportMetric(float64(wall.Microseconds())/1000/n, "handshake-ms")
				b.ReportMetric(perFloor/1e6, "tpm-ms")
				b.ReportMetric(float64(wall)/n/perFloor, "pace")
				b.ReportMetric(float64(sent)/n, "tpm-commands/handshake")
				// Every process's CPU per handshake (both TLS endpoints,
				// appraisal and, for a swtpm, the TPM's own), and the pace
				// the machine's cores allow at that: where it is above
				// 1.0, the TPM waits for processors, not for our code.
				cpuPer := float64(cpu) / n
				b.ReportMetric(cpuPer/1e6, "cpu-ms")
				b.ReportMetric(cpuPer/float64(runtime.GOMAXPROCS(0))/perFloor, "cpu-pace")
			})
		}
	}
}

// attesterClock times the server's part of each handshake: from the
// ClientHello read to CertificateVerify signed (the TPM's last command),
// the stretch in which the attester works and its TPM answers; what
// follows is the relying party's appraisal and the Finished messages.
type attesterClock struct {
	total atomic.Int64 // nanoseconds
}

// wrap makes cfg's hooks time each handshake on c.
func (c *attesterClock) wrap(cfg *tls13.Config) {
	inner := cfg.NewHooks
	cfg.NewHooks = func() tls13.Hooks { return &timedHooks{Hooks: inner(), clock: c} }
}

type timedHooks struct {
	tls13.Hooks
	clock *attesterClock
	start time.Time
}

func (h *timedHooks) ReadClientHello(hs *tls13.HookState, exts []tls13.Extension) error {
	h.start = time.Now()
	return h.Hooks.ReadClientHello(hs, exts)
}

func (h *timedHooks) Credential(hs *tls13.HookState) (*tls13.OutgoingCertificate, error) {
	oc, err := h.Hooks.Credential(hs)
	if oc != nil && oc.Signer != nil {
		oc.Signer = timedSigner{Signer: oc.Signer, done: func() { h.clock.total.Add(int64(time.Since(h.start))) }}
	}
	return oc, err
}

type timedSigner struct {
	crypto.Signer
	done func()
}

func (s timedSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	defer s.done()
	return s.Signer.Sign(r, digest, opts)
}

// BenchmarkAttestedHandshake is a full ta-07 handshake (server attests,
// background check, X.509) with each attester, against the same engine
// and in-process verifier.
func BenchmarkAttestedHandshake(b *testing.B) {
	m := party.Model{Profile: "ta-07", Server: party.Side{Attests: true, Credential: party.X509}}
	for _, k := range attesterKinds() {
		b.Run(fmt.Sprintf("%s/%s", k.name, m.ID()), func(b *testing.B) {
			a := k.open(b)
			cc, sc := serverAttests(b, a, m)
			for b.Loop() {
				r := handshake(b, cc, sc)
				if r.ClientErr != nil || r.ServerErr != nil {
					b.Fatal(r.Describe())
				}
			}
		})
	}
}
