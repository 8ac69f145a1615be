// Package browser drives Debian's chromium for the tests that check a
// page renders and runs (the HTML report, conformance serve's results
// page): finding and launching it (chromedp) and collecting what a tab
// reports as wrong.
package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Chromium finds Debian's chromium; the test fails without it, because
// "report.html renders" is part of the definition of done.
func Chromium(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found on PATH: install it with `apt-get install -y chromium` (make deps)")
	}
	return p
}

// Launch starts Debian's chromium headless (chromedp), a throwaway
// profile, no sandbox (the tests may run as root); cancel ends it.
func Launch(ctx context.Context, bin string) (context.Context, context.CancelFunc) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.WindowSize(1400, 1000))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	return bctx, func() { cancelBrowser(); cancelAlloc() }
}

// Errors collects what a tab reports as wrong: console errors and
// failed assertions, uncaught exceptions, error log entries (a resource
// that failed to load).
type Errors struct {
	mu   sync.Mutex
	errs []string
}

// Listen is a chromedp listener of a tab (chromedp.Listen).
func (p *Errors) Listen(ev any) {
	var msg string
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type != runtime.ConsoleAPICalledTypeError && e.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		var parts []string
		for _, a := range e.Args {
			var v any
			if a.Description != "" || json.Unmarshal([]byte(a.Value), &v) != nil {
				parts = append(parts, a.Description)
			} else {
				parts = append(parts, fmt.Sprint(v))
			}
		}
		msg = "console." + string(e.Type) + ": " + strings.Join(parts, " ")
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		msg = "exception: " + d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
	case *log.EventEntryAdded:
		if e.Entry.Level != log.EntryLevelError {
			return
		}
		msg = fmt.Sprintf("log (%s): %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL)
	default:
		return
	}
	p.mu.Lock()
	p.errs = append(p.errs, strings.TrimSpace(msg))
	p.mu.Unlock()
}

// List is what was collected so far.
func (p *Errors) List() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errs...)
}
