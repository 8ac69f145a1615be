package render

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/chromedp"

	"github.com/attested-tls/conformance/internal/browser"
)

var screenshotDir = flag.String("screenshot-dir", "", "also copy the browser test's screenshot here (default: only the test's temp dir)")

// pageFacts is what the in-page probe reports.
type pageFacts struct {
	Title       string   `json:"title"`
	Matrices    int      `json:"matrices"`
	Cells       []string `json:"cells"` // fragment targets of matrix cells
	EmptyCells  []string `json:"emptyCells"`
	Links       int      `json:"links"`
	Missing     []string `json:"missing"`
	Artifacts   []string `json:"artifacts"`
	External    []string `json:"external"`
	SpecCount   int      `json:"specCount"`
	HiddenPass  int      `json:"hiddenPass"`
	PassCount   int      `json:"passCount"`
	TargetShown bool     `json:"targetShown"`
	// Overview are the targets of the overview's model links.
	Overview []string `json:"overview"`
}

// probe runs in the page: collects links and targets, and exercises the
// page's script (outcome filter, following a cell link).
const probe = `(() => {
  const byId = id => document.getElementById(decodeURIComponent(id));
  const cells = [...document.querySelectorAll("table.matrix td.cell a")].map(a => a.getAttribute("href").slice(1));
  const emptyCells = cells.filter(id => { const t = byId(id); return !t || t.querySelectorAll("article.spec").length === 0; });
  const inPage = [...document.querySelectorAll('a[href^="#"]')].map(a => a.getAttribute("href").slice(1));
  const missing = inPage.filter(id => !byId(id));
  const artifacts = [...document.querySelectorAll("a.artifact")].map(a => a.href);
  const external = [...document.querySelectorAll("[src], link[href]")]
    .map(e => e.getAttribute("src") || e.getAttribute("href")).filter(u => !u.startsWith("data:"));
  const overview = [...document.querySelectorAll("table.overview td a")].map(a => a.getAttribute("href").slice(1));
  const specs = document.querySelectorAll("article.spec");
  const passBox = document.querySelector('input[data-filter="pass"]');
  let hiddenPass = 0, passCount = 0, targetShown = false;
  if (passBox) {
    passBox.checked = false;
    passBox.dispatchEvent(new Event("change"));
    const passes = [...document.querySelectorAll('article.spec[data-outcome="pass"]')];
    passCount = passes.length;
    hiddenPass = passes.filter(a => a.offsetParent === null).length;
    if (cells.length > 0) {
      location.hash = cells[0];
      window.dispatchEvent(new HashChangeEvent("hashchange"));
      const first = byId(cells[0]).querySelector("article.spec");
      targetShown = first !== null && first.offsetParent !== null;
    }
    passBox.checked = true;
    passBox.dispatchEvent(new Event("change"));
    history.replaceState(null, "", location.pathname);
    window.scrollTo(0, 0);
  }
  return {title: document.title, matrices: document.querySelectorAll("table.matrix").length, cells, emptyCells,
    links: inPage.length, missing, artifacts, external, specCount: specs.length, hiddenPass, passCount, targetShown, overview};
})()`

// checkPage loads a page in a new tab of the browser and lists everything
// wrong with it; the tab stays open for a screenshot.
func checkPage(bctx context.Context, file string) (pageFacts, []string, context.Context, error) {
	var facts pageFacts
	tab, _ := chromedp.NewContext(bctx)
	errs := &browser.Errors{}
	if err := chromedp.Listen(tab, errs.Listen); err != nil {
		return facts, nil, nil, err
	}
	u := (&url.URL{Scheme: "file", Path: file}).String()
	if _, err := chromedp.Call(tab, log.Enable, cdp.Empty{}); err != nil {
		return facts, nil, nil, err
	}
	if err := chromedp.Do(tab, chromedp.Navigate(u)); err != nil {
		return facts, nil, nil, err
	}
	facts, err := chromedp.Run(tab, chromedp.Evaluate[pageFacts](probe))
	if err != nil {
		return facts, nil, nil, err
	}
	var problems []string
	problems = append(problems, errs.List()...)
	if facts.Matrices == 0 || len(facts.Cells) == 0 {
		problems = append(problems, fmt.Sprintf("empty matrix: %d tables, %d linked cells", facts.Matrices, len(facts.Cells)))
	}
	for _, id := range facts.EmptyCells {
		problems = append(problems, "matrix cell links to #"+id+", which holds no spec")
	}
	for _, id := range facts.Missing {
		problems = append(problems, "broken in-page link #"+id)
	}
	for _, e := range facts.External {
		problems = append(problems, "external resource "+e)
	}
	for _, a := range facts.Artifacts {
		au, err := url.Parse(a)
		if err != nil || au.Scheme != "file" {
			problems = append(problems, "artifact link is not a local file: "+a)
			continue
		}
		if _, err := os.Stat(au.Path); err != nil {
			problems = append(problems, "artifact link to a missing file: "+au.Path)
		}
	}
	return facts, problems, tab, nil
}

func TestReportInChromium(t *testing.T) {
	bin := browser.Chromium(t)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	root := t.TempDir()
	r := synthetic()
	runDir := filepath.Join(root, "run")
	r.SetBase(runDir)
	writeArtifacts(t, r, runDir)
	out := filepath.Join(root, "out")
	if _, err := All(r, out); err != nil {
		t.Fatal(err)
	}

	bctx, stop := browser.Launch(ctx, bin)
	defer stop()

	facts, problems, tab, err := checkPage(bctx, filepath.Join(out, HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	if facts.SpecCount != len(r.Specs) {
		t.Errorf("%d spec articles, want %d", facts.SpecCount, len(r.Specs))
	}
	if facts.Matrices != 5 || len(facts.Cells) != 10 {
		t.Errorf("%d matrices with %d linked cells, want 5 and 10", facts.Matrices, len(facts.Cells))
	}
	// The overview links every cell of the per-model tables, and nothing
	// else (broken links are among the problems above).
	if !slices.Equal(slices.Sorted(slices.Values(facts.Overview)), slices.Sorted(slices.Values(facts.Cells))) {
		t.Errorf("the overview links %v, the per-model cells %v", facts.Overview, facts.Cells)
	}
	if len(facts.Artifacts) == 0 {
		t.Error("no artifact links")
	}
	if facts.PassCount == 0 || facts.HiddenPass != facts.PassCount {
		t.Errorf("outcome filter hid %d of %d passing specs", facts.HiddenPass, facts.PassCount)
	}
	if !facts.TargetShown {
		t.Error("following a cell link did not show its specs")
	}
	png, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if len(png) < 8 || string(png[1:4]) != "PNG" {
		t.Fatal("the screenshot is not a PNG")
	}
	shot := filepath.Join(t.TempDir(), "report.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	if *screenshotDir != "" {
		shot = filepath.Join(*screenshotDir, "report.png")
		if err := os.WriteFile(shot, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshot (%d bytes): %s", len(png), shot)

	// The checker itself must catch a broken page: a script error, a
	// console error, a dangling link, a missing artifact, an external
	// resource and an empty matrix.
	broken := filepath.Join(root, "broken.html")
	if err := os.WriteFile(broken, []byte(`<!DOCTYPE html><html><head><title>broken</title></head><body>
<table class="matrix"><tr><td class="cell"><a href="#nowhere">1</a></td></tr></table>
<a class="artifact" href="./missing.pcap">pcap</a>
<img src="nonexistent.png" alt="">
<script>console.error("deliberate"); undefinedFunction();</script>
</body></html>`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, problems, _, err = checkPage(bctx, broken)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(problems, "\n")
	for _, want := range []string{"console.error: deliberate", "undefinedFunction", "broken in-page link #nowhere",
		"missing.pcap", "external resource nonexistent.png", "holds no spec"} {
		if !strings.Contains(all, want) {
			t.Errorf("checker missed %q on the broken page; it reported:\n%s", want, all)
		}
	}
	t.Logf("browser test took %s", time.Since(start).Round(time.Millisecond))
}
