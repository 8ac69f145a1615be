package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2/types"
)

// progress shows how far a run is. On a terminal: one line, redrawn in
// place, "spec n of N · pair · profile/model · elapsed". Elsewhere (a
// pipe, CI set): a plain line every quietEvery, so logs stay short.
type progress struct {
	w   io.Writer
	tty bool

	mu       sync.Mutex
	on       bool // drawing (Ginkgo's own output is off)
	total, n int
	failed   int
	current  string
	began    time.Time
	drawn    bool // a status line is on screen
	lastNote time.Time
	stopped  chan struct{}
	ticker   *time.Ticker
}

// quietEvery is the interval of plain progress lines off a terminal.
const quietEvery = 30 * time.Second

func newProgress(w io.Writer, tty bool) *progress {
	return &progress{w: w, tty: tty}
}

// enable turns the display on (off when Ginkgo prints its verbose output).
func (p *progress) enable() {
	p.mu.Lock()
	p.on = true
	p.mu.Unlock()
}

func (p *progress) start(total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total, p.began, p.lastNote = total, time.Now(), time.Now()
	if !p.on {
		return
	}
	if !p.tty {
		fmt.Fprintf(p.w, "conformance: %d specs to run\n", total)
		return
	}
	p.stopped = make(chan struct{})
	p.ticker = time.NewTicker(500 * time.Millisecond)
	go func(t *time.Ticker, stop chan struct{}) {
		for {
			select {
			case <-t.C:
				p.mu.Lock()
				p.draw()
				p.mu.Unlock()
			case <-stop:
				return
			}
		}
	}(p.ticker, p.stopped)
}

// begin is a ReportBeforeEach: a spec starts.
func (p *progress) begin(sr types.SpecReport) {
	if sr.State.Is(types.SpecStateSkipped | types.SpecStatePending) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	p.current = describeSpec(sr)
	if !p.on {
		return
	}
	if p.tty {
		p.draw()
	} else if time.Since(p.lastNote) >= quietEvery {
		p.lastNote = time.Now()
		fmt.Fprintf(p.w, "conformance: spec %d of %d, %s, %s\n", p.n, p.total, p.current, clock(time.Since(p.began)))
	}
}

// end is a ReportAfterEach: on a terminal a failure is printed above the
// status line as it happens (whether the baseline expects it is decided
// after the run).
func (p *progress) end(sr types.SpecReport) {
	if !sr.State.Is(types.SpecStateFailureStates) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failed++
	if p.on && p.tty {
		p.clear()
		fmt.Fprintf(p.w, "✗ %s\n", strings.Join(append(sr.ContainerHierarchyTexts, sr.LeafNodeText), " "))
		p.draw()
	}
}

// describeSpec is "pair · profile/model" from the spec's labels.
func describeSpec(sr types.SpecReport) string {
	pair, profile, model, role := "go-go", "", "", ""
	for _, l := range sr.Labels() {
		k, v, _ := strings.Cut(l, ":")
		switch k {
		case "pair":
			pair = v
		case "profile":
			profile = v
		case "model":
			model = v
		case "role":
			role = v + "-attests"
		}
	}
	what := strings.Trim(profile+"/"+strings.Trim(role+"/"+model, "/"), "/")
	if what == "" {
		what = "-"
	}
	return pair + " · " + what
}

func (p *progress) draw() {
	if !p.on || !p.tty || p.total == 0 {
		return
	}
	line := fmt.Sprintf("spec %d of %d · %s · %s", p.n, p.total, p.current, clock(time.Since(p.began)))
	if p.failed > 0 {
		line += fmt.Sprintf(" · %d failed", p.failed)
	}
	fmt.Fprintf(p.w, "\r\033[K%s", line)
	p.drawn = true
}

func (p *progress) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

// logf prints a log line (the driver's choice, image builds) without
// tearing the status line.
func (p *progress) logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintf(p.w, format+"\n", args...)
	p.draw()
}

func (p *progress) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ticker != nil {
		p.ticker.Stop()
		close(p.stopped)
		p.ticker = nil
	}
	p.clear()
	if p.on && p.total > 0 {
		fmt.Fprintf(p.w, "conformance: ran %d of %d specs in %s\n", p.n, p.total, clock(time.Since(p.began)))
	}
}

func clock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}
