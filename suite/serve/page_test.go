package serve

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/chromedp"

	"github.com/attested-tls/conformance/internal/browser"
	"github.com/attested-tls/conformance/peers/contract"
)

// pageState is what the probe reads off the results page.
type pageState struct {
	Visitors []string `json:"visitors"`
	Rows     int      `json:"rows"`
	Pass     int      `json:"pass"`
	Fail     int      `json:"fail"`
	Links    []string `json:"links"`
	External []string `json:"external"`
	Status   string   `json:"status"`
}

const pageProbe = `(() => ({
  visitors: [...document.querySelectorAll("h2")].map(h => h.textContent),
  rows: document.querySelectorAll("tr[data-seq]").length,
  pass: document.querySelectorAll("td.pass").length,
  fail: document.querySelectorAll("td.fail").length,
  links: [...document.querySelectorAll("tr[data-seq] a")].map(a => a.href),
  external: [...document.querySelectorAll("[src], link[href]")].map(e => e.getAttribute("src") || e.getAttribute("href")),
  status: document.getElementById("status").textContent,
}))()`

// TestResultsPageInChromium opens the results page while visitors
// connect, and checks it shows their verdicts as they come (no reload),
// links each connection's files, loads nothing from elsewhere and
// reports no error.
func TestResultsPageInChromium(t *testing.T) {
	bin := browser.Chromium(t)
	s := startServe(t, t.TempDir(), func(c *Config) { c.Log = nil })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	bctx, stop := browser.Launch(ctx, bin)
	defer stop()
	tab, _ := chromedp.NewContext(bctx)
	errs := &browser.Errors{}
	if err := chromedp.Listen(tab, errs.Listen); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(tab, log.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(tab, chromedp.Navigate(s.url("/"))); err != nil {
		t.Fatal(err)
	}

	// Visitors connect while the page is open.
	v := newVisitor(t, s, "live")
	w := newVisitor(t, s, "other")
	pass := find(t, s, "ta-07/server-attests/passport+x509", contract.Client)
	neg := find(t, s, "ta-07/server-attests/bg+x509/rejects-wrong-challenge", contract.Client)
	// Each pair of visits waits until the page has shown the one before
	// (at most 10 s), so updates are seen however fast the machine is.
	shown := make(chan int, 16)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 3 {
			v.connect(t, s, pass, "")
			w.connect(t, s, neg, contract.AcceptAny)
			for timeout := time.After(10 * time.Second); ; {
				select {
				case n := <-shown:
					if n < 2*(i+1) {
						continue
					}
				case <-timeout:
				}
				break
			}
		}
	}()
	var seen []int // rows the page showed as the connections went on
	var st pageState
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		var err error
		if st, err = chromedp.Run(tab, chromedp.Evaluate[pageState](pageProbe)); err != nil {
			t.Fatal(err)
		}
		if len(seen) == 0 || seen[len(seen)-1] != st.Rows {
			seen = append(seen, st.Rows)
			select {
			case shown <- st.Rows:
			default:
			}
		}
		if st.Rows == 6 {
			break
		}
	}
	wg.Wait()
	t.Logf("rows as they came: %v; page: %+v", seen, st)
	if st.Rows != 6 || st.Pass != 3 || st.Fail != 3 {
		t.Fatalf("the page shows %d rows, %d passed, %d failed; want 6, 3, 3", st.Rows, st.Pass, st.Fail)
	}
	if len(seen) < 3 {
		t.Errorf("the page did not update as connections came: rows %v", seen)
	}
	heads := strings.Join(st.Visitors, "; ")
	if !strings.Contains(heads, "live: 3 passed, 0 failed") || !strings.Contains(heads, "other: 0 passed, 3 failed") {
		t.Errorf("visitor headings: %s", heads)
	}
	if len(st.External) > 0 {
		t.Errorf("external resources: %v", st.External)
	}
	if len(st.Links) < 18 {
		t.Errorf("%d file links, want a key log, a capture and a log per connection", len(st.Links))
	}
	for _, l := range st.Links {
		if len(get(t, l)) == 0 {
			t.Errorf("%s is empty", l)
		}
	}
	if e := errs.List(); len(e) > 0 {
		t.Errorf("the page reported: %v", e)
	}
}
