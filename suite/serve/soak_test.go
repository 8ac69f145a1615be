package serve

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/reference"
	"github.com/attested-tls/conformance/reports/results"
)

// soakFor is how long the soak test loads serve; SERVE_SOAK overrides it
// (e.g. 10m for a longer soak by hand).
func soakFor(t *testing.T) time.Duration {
	if v := os.Getenv("SERVE_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SERVE_SOAK: %v", err)
		}
		return d
	}
	return 25 * time.Second // with the wind-down, about a minute
}

type usage struct {
	goroutines, fds int
	heap            uint64
}

func measure(t *testing.T) usage {
	httpClient.CloseIdleConnections()
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return usage{runtime.NumGoroutine(), len(fds), ms.HeapAlloc}
}

// TestSoak loads serve with good visitors (each case's verdict known)
// alongside garbage, slowloris and half-open clients, then checks that
// the good verdicts were unaffected, that bad clients were cut off, and
// that goroutines, descriptors and heap come back to their baseline and
// the connection files stay in their budget.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	const budget = 4 << 20
	s := startServe(t, dir, func(c *Config) {
		c.MaxConns, c.HelloTimeout, c.CaptureBudget, c.Log = 8, time.Second, budget, nil
	})
	v := newVisitor(t, s, "warm")
	cases := []struct {
		e         Entry
		misbehave string
		want      results.Outcome
	}{
		{find(t, s, "ta-07/server-attests/passport+x509", contract.Client), "", results.Pass},
		{find(t, s, "ea-07/server-attests/bg+x509", contract.Client), "", results.Pass},
		{find(t, s, "ta-07/server-attests/bg+x509/rejects-corrupt-finished", contract.Client), "", results.Pass},
		{find(t, s, "ta-07/server-attests/bg+x509/rejects-wrong-challenge", contract.Client), contract.NoAlert, results.Fail},
	}
	// Warm up: the first connections allocate what serve keeps.
	for _, k := range cases {
		v.connect(t, s, k.e, k.misbehave)
	}
	base := measure(t)
	t.Logf("baseline: %d goroutines, %d fds, heap %d KiB", base.goroutines, base.fds, base.heap>>10)

	ctx, stop := context.WithTimeout(context.Background(), soakFor(t))
	defer stop()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wants := map[string]results.Outcome{} // visitor → the verdict its case must get
	played := 0
	for w := range 6 {
		k := cases[w%len(cases)]
		name := fmt.Sprintf("good%d", w)
		mu.Lock()
		wants[name] = k.want
		mu.Unlock()
		gv := &visitor{name: name, dir: v.dir, in: v.in, att: v.att}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				cfg, opt := gv.config(t, k.e, k.misbehave)
				cfg.Connect, cfg.ServerName = s.Addr().String(), name+VisitorSep+k.e.Name
				reference.Run(context.Background(), cfg, opt)
				mu.Lock()
				played++
				mu.Unlock()
			}
		}()
	}
	unknown := clientHello(t, "nosuchcase."+DefaultDomain)
	bad := map[string]func(net.Conn){
		"garbage": func(c net.Conn) {
			b := make([]byte, 1+rand.IntN(4096))
			for i := range b {
				b[i] = byte(rand.Uint32())
			}
			if rand.IntN(2) == 0 {
				b[0] = 22 // looks like a handshake record
			}
			c.Write(b)
			c.Read(make([]byte, 64))
		},
		"slowloris": func(c net.Conn) {
			for i := 0; i < 20 && ctx.Err() == nil; i++ {
				if _, err := c.Write([]byte{22}); err != nil {
					return
				}
				time.Sleep(300 * time.Millisecond)
			}
		},
		"half-open": func(c net.Conn) {
			c.(*net.TCPConn).CloseWrite()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			c.Read(make([]byte, 1))
		},
		"unknown-name": func(c net.Conn) {
			c.Write(unknown)
			c.Read(make([]byte, 64)) // the unrecognized_name alert
		},
	}
	for _, f := range bad {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
				if err != nil {
					continue
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				f(c)
				c.Close()
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	// Serve finishes what it accepted, then is idle.
	for deadline := time.Now().Add(20 * time.Second); len(s.sem) > 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)

	judged := map[string]int{}
	rotated := 0
	for _, c := range s.Conns(0) {
		if c.Dir == "" {
			rotated++
		}
		want, ok := wants[c.Visitor]
		if !ok {
			continue
		}
		judged[c.Visitor]++
		if c.Verdict != want {
			t.Errorf("#%d %s in %s: %s (%s), want %s", c.Seq, c.Visitor, c.ID, c.Verdict, firstLine(c.Reason), want)
		}
	}
	total := 0
	for _, n := range judged {
		total += n
	}
	if total < len(wants) || total < played-len(wants) {
		t.Errorf("%d good connections judged of %d played", total, played)
	}
	rej := s.Rejected()
	if rej["no ClientHello"] == 0 || rej["unknown server name"] == 0 {
		t.Errorf("no bad client was cut off: %v", rej)
	}
	after := measure(t)
	t.Logf("after %d good connections (%v) and %v not played: %d goroutines, %d fds, heap %d KiB",
		total, judged, rej, after.goroutines, after.fds, after.heap>>10)
	if after.goroutines > base.goroutines+5 {
		t.Errorf("goroutines: %d after, %d before\n%s", after.goroutines, base.goroutines, goroutines())
	}
	if after.fds > base.fds+5 {
		t.Errorf("open descriptors: %d after, %d before", after.fds, base.fds)
	}
	if after.heap > base.heap*2+16<<20 {
		t.Errorf("heap: %d KiB after, %d KiB before", after.heap>>10, base.heap>>10)
	}
	n, _ := dirSize(filepath.Join(dir, "conns"))
	if n > budget+1<<20 || rotated == 0 {
		t.Errorf("connection files: %d bytes, budget %d, %d connections' files rotated out", n, budget, rotated)
	}
	t.Logf("connection files: %d KiB kept (budget %d KiB), %d connections' files rotated out, their verdicts kept", n>>10, budget>>10, rotated)
}

func goroutines() string {
	b := make([]byte, 1<<20)
	b = b[:runtime.Stack(b, true)]
	return strings.TrimSpace(string(b))
}
