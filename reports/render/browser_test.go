package render

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attested-tls/conformance/reports/internal/devtools"
)

var screenshotDir = flag.String("screenshot-dir", "", "also copy the browser test's screenshot here (default: only the test's temp dir)")

// chromium finds Debian's chromium; the test fails without it, because
// "report.html renders" is part of the definition of done.
func chromium(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found on PATH: install it with `apt-get install -y chromium` (make deps)")
	}
	return p
}

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
    links: inPage.length, missing, artifacts, external, specCount: specs.length, hiddenPass, passCount, targetShown};
})()`

// checkPage loads a page and lists everything wrong with it.
func checkPage(ctx context.Context, b *devtools.Browser, file string) (pageFacts, []string, *devtools.Page, error) {
	var facts pageFacts
	page, err := b.NewPage(ctx, 1400, 1000)
	if err != nil {
		return facts, nil, nil, err
	}
	u := (&url.URL{Scheme: "file", Path: file}).String()
	if err := page.Navigate(ctx, u); err != nil {
		return facts, nil, nil, err
	}
	if err := page.Evaluate(ctx, probe, &facts); err != nil {
		return facts, nil, nil, err
	}
	var problems []string
	problems = append(problems, page.Errors()...)
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
	return facts, problems, page, nil
}

func TestReportInChromium(t *testing.T) {
	bin := chromium(t)
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

	b, err := devtools.Launch(ctx, bin, "--window-size=1400,1000")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	facts, problems, page, err := checkPage(ctx, b, filepath.Join(out, HTMLFile))
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
	if len(facts.Artifacts) == 0 {
		t.Error("no artifact links")
	}
	if facts.PassCount == 0 || facts.HiddenPass != facts.PassCount {
		t.Errorf("outcome filter hid %d of %d passing specs", facts.HiddenPass, facts.PassCount)
	}
	if !facts.TargetShown {
		t.Error("following a cell link did not show its specs")
	}
	png, err := page.Screenshot(ctx)
	if err != nil {
		t.Fatal(err)
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
	_, problems, _, err = checkPage(ctx, b, broken)
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
