package veraison_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison"
	"github.com/veraison/ear"
)

// latencies collects per-appraisal durations across goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return
	}
	slices.Sort(l.d)
	q := func(p float64) float64 {
		return float64(l.d[min(len(l.d)-1, int(p*float64(len(l.d))))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.95), "p95-ms")
}

// BenchmarkAppraise: sequential background-check appraisals through
// Veraison on loopback (session, evidence submission, session deletion,
// EAR verification), with per-appraisal latency percentiles.
func BenchmarkAppraise(b *testing.B) {
	benchAppraise(b, 1)
}

// BenchmarkAppraiseParallel8: 8 goroutines appraising concurrently;
// appraisals/s is the verifier's throughput on this machine.
func BenchmarkAppraiseParallel8(b *testing.B) {
	benchAppraise(b, 8)
}

func benchAppraise(b *testing.B, workers int) {
	v := newVerifier(b, veraison.Config{})
	a := provisioned(b)
	var lat latencies
	var failures atomic.Int64
	// one is a background-check appraisal as a relying party runs it:
	// nonce, the attester's evidence for it, then session, submission,
	// session deletion and EAR verification through Veraison.
	one := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		n, err := v.NewNonce(ctx)
		if err != nil {
			b.Error(err)
			return
		}
		ch := attest.Challenge{Profile: "ta-07", Nonce: n, TIK: a.Identity().Public()}
		ev, err := a.Evidence(ctx, ch)
		if err != nil {
			b.Error(err)
			return
		}
		r, err := v.Appraise(ctx, ev, ch)
		if err != nil || r.Status != ear.TrustTierAffirming {
			failures.Add(1)
			return
		}
		lat.add(time.Since(start))
	}
	one() // warm connections and Veraison's caches
	lat = latencies{}

	b.ResetTimer()
	start := time.Now()
	if workers == 1 {
		for range b.N {
			one()
		}
	} else {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for next.Add(1) <= int64(b.N) {
					one()
				}
			})
		}
		wg.Wait()
	}
	el := time.Since(start)
	b.StopTimer()
	if f := failures.Load(); f > 0 {
		b.Fatalf("%d of %d appraisals failed", f, b.N)
	}
	lat.report(b)
	b.ReportMetric(float64(b.N)/el.Seconds(), "appraisals/s")
}
