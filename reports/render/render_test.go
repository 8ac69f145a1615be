package render

import (
	"bytes"
	"encoding/xml"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/attested-tls/conformance/reports/requirements"
	"github.com/attested-tls/conformance/reports/results"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

type renderer func(t *testing.T, r *results.Results) []byte

func renderJUnit(t *testing.T, r *results.Results) []byte {
	var b bytes.Buffer
	if err := JUnit(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func renderHTML(t *testing.T, r *results.Results) []byte {
	var b bytes.Buffer
	if err := HTML(&b, r, testCatalog(t)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func renderMarkdown(t *testing.T, r *results.Results) []byte {
	var b bytes.Buffer
	if err := Markdown(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var renderers = map[string]renderer{JUnitFile: renderJUnit, HTMLFile: renderHTML, MarkdownFile: renderMarkdown}

func TestGolden(t *testing.T) {
	r := synthetic()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, render := range renderers {
		t.Run(name, func(t *testing.T) {
			got := render(t, r)
			golden := filepath.Join("testdata", "golden", name)
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s (go test -update after checking the change):\n%s", name, golden, firstDiff(got, want))
			}
		})
	}
}

func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return "line " + strconv.Itoa(i+1) + ":\n got: " + g[i] + "\nwant: " + w[i]
		}
	}
	return "lengths differ: " + strconv.Itoa(len(g)) + " vs " + strconv.Itoa(len(w)) + " lines"
}

// TestDeterministic: spec, peer and profile order in the results do not
// change any output.
func TestDeterministic(t *testing.T) {
	base := synthetic()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		r := synthetic()
		rng.Shuffle(len(r.Specs), func(i, j int) { r.Specs[i], r.Specs[j] = r.Specs[j], r.Specs[i] })
		rng.Shuffle(len(r.Peers), func(i, j int) { r.Peers[i], r.Peers[j] = r.Peers[j], r.Peers[i] })
		r.Sort() // profile and peer tables are shown in file order; Sort fixes that
		b := base.Clone()
		b.Sort()
		for name, render := range renderers {
			if !bytes.Equal(render(t, r), render(t, b)) {
				t.Fatalf("%s depends on spec order", name)
			}
		}
	}
}

func TestJUnit(t *testing.T) {
	r := synthetic()
	var doc junitSuites
	if err := xml.Unmarshal(renderJUnit(t, r), &doc); err != nil {
		t.Fatal(err)
	}
	n := results.Counts(r.Specs)
	if doc.Tests != len(r.Specs) || doc.Failures != n[results.Fail]+n[results.UnexpectedPass] ||
		doc.Skipped != n[results.ExpectedFail]+n[results.Unsupported]+n[results.Skipped] {
		t.Errorf("totals tests=%d failures=%d skipped=%d", doc.Tests, doc.Failures, doc.Skipped)
	}
	var names []string
	for _, s := range doc.Suites {
		names = append(names, s.Name)
	}
	if !slices.Equal(names, []string{"ea-07", "poc", "ta-07"}) {
		t.Errorf("testsuites %v, want one per profile", names)
	}
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			spec := find(r, c.Name)
			if spec == nil {
				t.Fatalf("testcase %q is no spec", c.Name)
			}
			var reqs []string
			var outcome string
			for _, p := range c.Properties {
				switch p.Name {
				case "requirement":
					reqs = append(reqs, p.Value)
				case "outcome":
					outcome = p.Value
				}
			}
			if !slices.Equal(reqs, spec.Requirements) || outcome != string(spec.Outcome) {
				t.Errorf("%s: properties requirement=%v outcome=%s", c.Name, reqs, outcome)
			}
			failed, skipped := c.Failure != nil, c.Skipped != nil
			if failed != spec.Outcome.Gates() {
				t.Errorf("%s (%s): failure element %v", c.Name, spec.Outcome, failed)
			}
			if wantSkip := !spec.Outcome.Gates() && spec.Outcome != results.Pass; skipped != wantSkip {
				t.Errorf("%s (%s): skipped element %v", c.Name, spec.Outcome, skipped)
			}
			if spec.Outcome == results.ExpectedFail && !strings.Contains(c.Skipped.Message, spec.Expected.Reason) {
				t.Errorf("%s: skipped message %q lacks the reason", c.Name, c.Skipped.Message)
			}
			if spec.Outcome == results.Fail && c.Failure.Message != firstLine(spec.Message) {
				t.Errorf("%s: failure message %q", c.Name, c.Failure.Message)
			}
		}
	}
}

func find(r *results.Results, id string) *results.Spec {
	for i := range r.Specs {
		if r.Specs[i].ID == id {
			return &r.Specs[i]
		}
	}
	return nil
}

var (
	idRE   = regexp.MustCompile(` id="([^"]+)"`)
	hrefRE = regexp.MustCompile(` href="([^"]*)"`)
)

func TestHTML(t *testing.T) {
	r := synthetic()
	page := string(renderHTML(t, r))
	// Self-contained: nothing fetched from elsewhere.
	for _, bad := range []string{"http://", "https://", " src=", "<link rel=\"stylesheet\"", "@import"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	// Escaped: the hostile message appears only as text.
	if strings.Contains(page, `<script>alert("x")`) || !strings.Contains(page, `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`) {
		t.Error("spec message not HTML-escaped")
	}
	if !strings.Contains(page, `The server MUST &lt;select&gt; one evidence type &amp; say so.`) {
		t.Error("requirement quote not escaped or missing")
	}
	ids := map[string]bool{}
	for _, m := range idRE.FindAllStringSubmatch(page, -1) {
		if ids[m[1]] {
			t.Errorf("duplicate id %q", m[1])
		}
		ids[m[1]] = true
	}
	links := 0
	for _, m := range hrefRE.FindAllStringSubmatch(page, -1) {
		if frag, ok := strings.CutPrefix(m[1], "#"); ok {
			links++
			if !ids[frag] {
				t.Errorf("link to missing #%s", frag)
			}
		}
	}
	// One matrix per profile × model, each spec an article, every spec linked from its cell.
	if n := strings.Count(page, `<table class="matrix"`); n != 5 {
		t.Errorf("%d matrices, want 5", n)
	}
	for _, s := range r.Specs {
		if !ids[specAnchor(&s)] {
			t.Errorf("no details for %s", s.ID)
		}
	}
	if links < len(r.Specs) {
		t.Errorf("only %d in-page links", links)
	}
	// The coverage table computes per peer and side.
	for _, want := range []string{
		// TA07-8.1.2-1 constrains the server: go as server passed (go→go), mbedtls as server failed.
		`<tr id="` + reqAnchor("TA07-8.1.2-1") + `">`,
		`TA07-9.9-9 (not in catalog)`,
		`Requirement IDs cited by specs but not in the catalog: TA07-9.9-9.`,
		`(not observable on the wire)`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The attack verdict matrix: one per pair, every attack spec a linked
	// cell, the differing verdict marked, descriptions escaped.
	if n := strings.Count(page, `<table class="attacks">`); n != 2 {
		t.Errorf("%d attack matrices, want 2", n)
	}
	if n := strings.Count(page, `<td class="v a-`); n != 5 {
		t.Errorf("%d attack cells, want 5", n)
	}
	for _, want := range []string{
		`<td class="v a-succeeds unexpected"><a href="#` + specAnchor(&r.Specs[len(r.Specs)-2]) + `"`,
		`<td class="v a-prevented"><a href="#` + specAnchor(&r.Specs[len(r.Specs)-4]) + `" title="splice: evidence from another handshake carries that handshake&#39;s &lt;binder&gt; &amp; is refused">prevented: binder</a></td>`,
		`<a href="#attacks">Attack verdicts</a>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Artifact links are relative and escaped.
	if !strings.Contains(page, `href="./logs/with%20space/client%231.log"`) {
		t.Error("artifact path with space and # not escaped")
	}
}

func TestAttackMatrices(t *testing.T) {
	ms := newView(synthetic()).attackMatrices()
	if len(ms) != 2 || ms[0].Client != "go" || ms[1].Client != "mbedtls" {
		t.Fatalf("%d matrices", len(ms))
	}
	m := ms[0]
	if !slices.Equal(m.Columns, []string{"ea-07 x509", "ta-07 x509"}) {
		t.Errorf("columns %v", m.Columns)
	}
	var rows []string
	for _, r := range m.Rows {
		rows = append(rows, r.Scenario+"/"+r.Capability)
		if len(r.Cells) != len(m.Columns) {
			t.Errorf("%s/%s: %d cells for %d columns", r.Scenario, r.Capability, len(r.Cells), len(m.Columns))
		}
	}
	if want := []string{"relay/oracle", "replay-ear-fresh/replay", "replay-ear-stale/replay", "splice/oracle"}; !slices.Equal(rows, want) {
		t.Errorf("rows %v, want %v", rows, want)
	}
	if c := m.Rows[0].Cells; c[0] != nil || c[1] == nil || c[1].Attack.Scenario != "relay" {
		t.Errorf("relay/oracle cells %v", c)
	}
	if got, want := ms[1].Title(), "mbedtls → go, mbedtls as the genuine attester"; !strings.HasPrefix(got, want) {
		t.Errorf("title %q, want %q…", got, want)
	}
	// The same pair with the peer in the other part is a matrix of its own.
	r0 := synthetic()
	victim := r0.Specs[len(r0.Specs)-1]
	victim.ID, victim.Attack = victim.ID+"/victim", &results.Attack{Scenario: "relay", Capability: "relay", Verdict: results.AttackPrevented,
		Check: "certificate-verify", Part: results.PartVictim}
	r0.Specs = append(r0.Specs, victim)
	if ms := newView(r0).attackMatrices(); len(ms) != 3 || ms[1].Part != results.PartAttester || ms[2].Part != results.PartVictim ||
		!strings.Contains(ms[2].Title(), "mbedtls as the victim") {
		t.Errorf("parts not split: %d matrices", len(ms))
	}
	// A run without attack specs has no matrix (and no section).
	r := synthetic()
	r.Specs = r.Specs[:len(r.Specs)-5]
	if ms := newView(r).attackMatrices(); len(ms) != 0 {
		t.Errorf("%d matrices without attack specs", len(ms))
	}
	if page := string(renderHTML(t, r)); strings.Contains(page, `id="attacks"`) || strings.Contains(string(renderMarkdown(t, r)), "Attack verdicts") {
		t.Error("an attack section without attack specs")
	}
}

func TestCoverage(t *testing.T) {
	r := synthetic()
	cov := newView(r).coverage(testCatalog(t))
	for _, c := range []struct {
		req, peer string
		want      reqStatus
	}{
		{"TA07-8.1.2-1", "go", met},         // server role: go→go pass
		{"TA07-8.1.2-1", "mbedtls", notMet}, // go→mbedtls fail; mbedtls→mbedtls unsupported does not hide it
		{"TA07-8.1.1-1", "go", met},         // client role: go→go pass
		{"TA07-8.1.1-1", "mbedtls", notMet}, // expected-fail is still not met
		{"TA07-8.1.2-2", "go", met},         // relying-party: the spec checks the client side
		{"TA07-8.1.2-2", "mbedtls", noSpec}, // ... so the mbedtls server is not credited
		{"TA07-8.2-3", "mbedtls", met},      // unexpected-pass is met
		{"EA07-4.1-1", "mbedtls", untested}, // only unsupported
		{"POC-ch-1", "mbedtls", notMet},
		{"POC-ch-1", "go", noSpec},
	} {
		got := noSpec
		if cell := cov[c.req][c.peer]; cell != nil {
			got = cell.Status
		}
		if got != c.want {
			t.Errorf("%s / %s: %s, want %s", c.req, c.peer, got, c.want)
		}
	}
}

func TestMarkdown(t *testing.T) {
	md := string(renderMarkdown(t, synthetic()))
	for _, want := range []string{
		"**FAIL**: 4 unexpected results.",
		"| ❌ fail | ta-07/server-attests/bg+x509/go→mbedtls | TA07-8.1.2-1 | client: handshake failed: remote error: decode\\_error server: evidence\\_proposal selected no type |",
		"| ❗ unexpected-pass | ta-07/client-attests/passport+attestation-only/mbedtls→go | TA07-8.2-3 TA07-9.9-9 | passed, but the baseline expects fail: passport results were not supported before 3.6.6 |",
		`&lt;script&gt;alert("x")&lt;/script&gt; \| \*not bold\* \[link\](x) &amp; more`,
		"mbedTLS PoC sends an empty evidence\\_proposal (upstream issue 12)",
		"| go → mbedtls | — | — | ✅ 1 ❌ 1 |",
		"## Attack verdicts",
		"### go → go\n\n| scenario | capability | ea-07 x509 | ta-07 x509 |",
		"| replay-ear-stale | replay | ❌ **succeeds** | — |",
		"| splice | oracle | — | prevented: binder |",
		"### mbedtls → go, mbedtls as the genuine attester (its attestation relayed or replayed to an in-process victim)\n\n| scenario | capability | poc attestation-only |\n|---|---|---|\n| splice | oracle | **succeeds** |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	// Every table row has as many cells as its header.
	var cols int
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			cols = 0
			continue
		}
		n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|")
		if cols == 0 {
			cols = n
		} else if n != cols {
			t.Errorf("row has %d pipes, header %d: %s", n, cols, line)
		}
	}
}

func TestAll(t *testing.T) {
	root := t.TempDir()
	r := synthetic()
	runDir := filepath.Join(root, "run")
	r.SetBase(runDir)
	writeArtifacts(t, r, runDir)
	out := filepath.Join(root, "reports")
	paths, err := all(r, testCatalog(t), out)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(out, JUnitFile), filepath.Join(out, HTMLFile), filepath.Join(out, MarkdownFile)}
	if !slices.Equal(paths, want) {
		t.Errorf("paths %v, want %v", paths, want)
	}
	page, err := os.ReadFile(filepath.Join(out, HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	// Artifacts recorded relative to run/ are linked from reports/.
	if !strings.Contains(string(page), `href="../run/logs/2/handshake.pcap"`) {
		t.Error("artifact links not rebased onto the output folder")
	}
	if r.Base() != runDir || r.Specs[1].Artifacts.Pcap != "logs/2/handshake.pcap" {
		t.Error("All changed its input")
	}
	// The real catalog loads and renders too.
	if _, err := All(r, filepath.Join(root, "real")); err != nil {
		t.Fatal(err)
	}
	bad := synthetic()
	bad.Specs[0].Pair.Client = "nobody"
	if _, err := All(bad, filepath.Join(root, "bad")); err == nil {
		t.Error("All rendered an invalid run")
	}
}

func TestAnchor(t *testing.T) {
	a := anchor("spec", "ta-07/server-attests/bg+x509/go→go")
	if !regexp.MustCompile(`^spec-ta-07-server-attests-bg-x509-go-go-[0-9a-f]{8}$`).MatchString(a) {
		t.Errorf("anchor = %q", a)
	}
	if anchor("spec", "a→b") == anchor("spec", "a/b") {
		t.Error("anchors of different names collide")
	}
}

// The interpretations of the run's profiles are listed with the reading
// the run used; a profile the run did not test brings none.
func TestInterpretations(t *testing.T) {
	cat, err := requirements.Load()
	if err != nil {
		t.Fatal(err)
	}
	r := synthetic()
	var b bytes.Buffer
	if err := HTML(&b, r, cat); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{`id="interpretations"`, `id="TA07-I-4"`, "<strong>used</strong> — abort:", "not used — omit:"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The run without the profile TA07-I-4 is about (ta-07).
	i := slices.IndexFunc(cat.Interpretations, func(in requirements.Interpretation) bool { return in.ID == "TA07-I-4" })
	if i < 0 {
		t.Fatal("the catalog has no TA07-I-4")
	}
	of := cat.Interpretations[i].Profile
	n := len(r.Profiles)
	r.Profiles = slices.DeleteFunc(r.Profiles, func(p results.Profile) bool { return p.Name == of })
	if len(r.Profiles) != n-1 {
		t.Fatalf("the synthetic run does not test %s, the profile of TA07-I-4", of)
	}
	b.Reset()
	if err := HTML(&b, r, cat); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), `id="TA07-I-4"`) {
		t.Errorf("a %s interpretation in a run without %s", of, of)
	}
}

// A shard's reports say it is one shard of how many; a merge of shards
// says how many it was made of and which shard each run was.
func TestShardsShown(t *testing.T) {
	r := synthetic()
	r.Shard = &results.Shard{Index: 2, Total: 3, SpecSet: "sha256:" + strings.Repeat("ab", 32)}
	for _, s := range r.Specs {
		r.Shard.Specs = append(r.Shard.Specs, s.ID)
	}
	for name, want := range map[string]string{
		HTMLFile:     "<td>Shard</td><td>2 of 3: only this shard's specs",
		MarkdownFile: "Shard 2 of 3: only this shard's specs",
		JUnitFile:    `<property name="shard" value="2/3">`,
	} {
		if got := string(renderers[name](t, r)); !strings.Contains(got, want) {
			t.Errorf("%s of shard 2/3 lacks %q", name, want)
		}
	}
	m, err := results.MergeShards(r)
	if err == nil {
		t.Fatal("one shard of three merged")
	}
	one := synthetic()
	one.Shard = &results.Shard{Index: 1, Total: 1, SpecSet: r.Shard.SpecSet, Specs: r.Shard.Specs}
	if m, err = results.MergeShards(one); err != nil {
		t.Fatal(err)
	}
	if got := string(renderMarkdown(t, m)); !strings.Contains(got, "Merged from 1 shard.") {
		t.Errorf("summary of merged shards does not say so")
	}
	if got := string(renderHTML(t, m)); !strings.Contains(got, "(shard 1/1)</td>") {
		t.Errorf("report.html does not name each merged run's shard")
	}
}
