package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/reports/baseline"
	"github.com/attested-tls/conformance/reports/results"
	"github.com/attested-tls/conformance/suite/interop"
	"github.com/attested-tls/conformance/suite/specs"
)

// conformanceBin is the command built once for the tests that run it:
// RunSpecs runs once per process, so each run is its own process.
var conformanceBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "conformance-cmd-")
	if err != nil {
		panic(err)
	}
	conformanceBin = filepath.Join(dir, "conformance")
	if out, err := exec.Command("go", "build", "-o", conformanceBin, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("building the command: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// mdUnescape undoes summary.md's backslash escapes of punctuation.
func mdUnescape(s string) string {
	return regexp.MustCompile(`\\([[:punct:]])`).ReplaceAllString(s, "$1")
}

type runOut struct {
	code           int
	stdout, stderr string
}

func conformance(t *testing.T, args ...string) runOut {
	t.Helper()
	cmd := exec.Command(conformanceBin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return runOut{code, o.String(), e.String()}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// copyPeer copies peers/<name> to a temporary folder, so a test can
// change its baseline.
func copyPeer(t *testing.T, name, expected string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m := readFile(t, filepath.Join("..", "..", "peers", name, "manifest.json"))
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(m), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "expected.json"), []byte(expected), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A few specs of the deliberately broken peer (the reference peer told by
// its manifest to bind its evidence to the wrong challenge), run as
// processes: ta-07 background check with X.509, every role.
var brokenArgs = []string{"run", "--in-process=false", "--driver", "processes",
	"--label-filter", "profile:ta-07 && model:bg && credential:x509 && kind:positive"}

// The broken peer fails where it attests; the failures it is known for
// are the specs its manifest's misbehaviour breaks.
var brokenFailing = []string{
	"ta-07/client-attests/bg+x509/broken→go",
	"ta-07/mutual/server=bg+x509,client=bg+x509/broken→go",
	"ta-07/mutual/server=bg+x509,client=bg+x509/go→broken",
	"ta-07/server-attests/bg+x509/go→broken",
}

func TestRunBrokenPeerWithoutBaselineFails(t *testing.T) {
	peer := copyPeer(t, "broken", `{"failures": []}`)
	out := t.TempDir()
	r := conformance(t, append(brokenArgs, "--peer", peer, "--out", out)...)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "peers: using local processes") {
		t.Errorf("no driver line:\n%s", r.stdout)
	}
	res, err := results.Load(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	summary := mdUnescape(readFile(t, filepath.Join(out, "summary.md")))
	report := html.UnescapeString(readFile(t, filepath.Join(out, "report.html")))
	var failed []string
	for _, s := range res.Specs {
		if s.Outcome != results.Fail {
			continue
		}
		failed = append(failed, s.ID)
		if len(s.Requirements) == 0 || len(s.Alerts) == 0 || len(s.Verdicts) == 0 || s.Artifacts.Pcap == "" || s.Artifacts.KeyLog == "" {
			t.Errorf("%s: requirements, alerts, verdicts or artifacts missing: %+v", s.ID, s)
		}
		line := "fail " + s.ID + " [" + strings.Join(s.Requirements, " ") + "]"
		if !strings.Contains(r.stderr, line) {
			t.Errorf("stderr does not name %q:\n%s", line, r.stderr)
		}
		for name, doc := range map[string]string{"summary.md": summary, "report.html": report} {
			if !strings.Contains(doc, s.ID) || !strings.Contains(doc, s.Requirements[0]) {
				t.Errorf("%s does not name %s and its requirement %s", name, s.ID, s.Requirements[0])
			}
		}
		if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(s.Artifacts.Pcap))); err != nil {
			t.Errorf("%s: %v", s.ID, err)
		}
	}
	slices.Sort(failed)
	if !slices.Equal(failed, brokenFailing) {
		t.Errorf("failed specs %q, want %q", failed, brokenFailing)
	}
	if !strings.Contains(summary, "**FAIL**: 4 unexpected results") {
		t.Errorf("summary.md verdict:\n%s", summary)
	}
	if len(res.Specs) != 6 {
		t.Errorf("%d specs ran, want 6 (ta-07 bg+x509: server, client, mutual × 2 roles)", len(res.Specs))
	}
}

func TestRunBrokenPeerWithBaselinePasses(t *testing.T) {
	out := t.TempDir()
	r := conformance(t, append(brokenArgs, "--peer", "broken", "--out", out)...)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	exp, err := baseline.Load(filepath.Join("..", "..", "peers", "broken", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	reason := exp.Failures[0].Reason
	res, err := results.Load(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var xfail []string
	for _, s := range res.Specs {
		switch s.Outcome {
		case results.ExpectedFail:
			xfail = append(xfail, s.ID)
			if s.Expected == nil || s.Expected.Reason != reason {
				t.Errorf("%s: expectation %+v", s.ID, s.Expected)
			}
		case results.Pass:
		default:
			t.Errorf("%s: %s: %s", s.ID, s.Outcome, s.Message)
		}
	}
	slices.Sort(xfail)
	if !slices.Equal(xfail, brokenFailing) {
		t.Errorf("expected-fail specs %q, want %q", xfail, brokenFailing)
	}
	summary := mdUnescape(readFile(t, filepath.Join(out, "summary.md")))
	report := html.UnescapeString(readFile(t, filepath.Join(out, "report.html")))
	for name, doc := range map[string]string{"summary.md": summary, "report.html": report} {
		if !strings.Contains(doc, "expected-fail") || !strings.Contains(doc, reason) || !strings.Contains(doc, brokenFailing[0]) {
			t.Errorf("%s does not show %s as expected-fail with its reason %q", name, brokenFailing[0], reason)
		}
	}
	if !strings.Contains(summary, "**PASS**") || !strings.Contains(r.stdout, "PASS: no unexpected results") {
		t.Errorf("no PASS verdict:\n%s\n%s", summary, r.stdout)
	}
	// The same results render again, anywhere, with the same verdict.
	again := t.TempDir()
	if rr := conformance(t, "report", "--results", filepath.Join(out, "results.json"), "--out", again); rr.code != 0 {
		t.Fatalf("report: exit %d: %s", rr.code, rr.stderr)
	}
	if s := mdUnescape(readFile(t, filepath.Join(again, "summary.md"))); !strings.Contains(s, reason) {
		t.Errorf("re-rendered summary.md lacks the reason:\n%s", s)
	}
}

func TestRunUpdateBaseline(t *testing.T) {
	// A stale entry (the relying-party role passes) goes, a still-failing
	// one keeps its reason, and new failures get a placeholder reason.
	peer := copyPeer(t, "broken", `{"failures": [
		{"case": "ta-07/client-attests/bg+x509@server", "reason": "stale: it passes"},
		{"case": "ta-07/server-attests/bg+x509@server", "reason": "kept reason"}]}`)
	out := t.TempDir()
	r := conformance(t, append(brokenArgs, "--peer", peer, "--out", out, "--update-baseline")...)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	exp, err := baseline.Load(filepath.Join(peer, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range exp.Failures {
		got[f.Case] = f.Reason
	}
	if len(got) != 4 || got["ta-07/server-attests/bg+x509@server"] != "kept reason" || got["ta-07/client-attests/bg+x509@server"] != "" {
		t.Errorf("rewritten baseline: %+v", exp.Failures)
	}
	if !strings.HasPrefix(got["ta-07/client-attests/bg+x509@client"], baseline.Placeholder) {
		t.Errorf("new failure's reason %q", got["ta-07/client-attests/bg+x509@client"])
	}
	if !strings.Contains(r.stdout, "3 new entries have a placeholder reason") || !strings.Contains(r.stdout, "edit "+filepath.Join(peer, "expected.json")) {
		t.Errorf("stdout does not tell to edit the reasons:\n%s", r.stdout)
	}
}

func TestPeersAndHelp(t *testing.T) {
	r := conformance(t, "peers")
	if r.code != 0 || !strings.Contains(r.stdout, "reference") || !strings.Contains(r.stdout, "broken") ||
		!strings.Contains(r.stdout, "ATLS_MISBEHAVE=wrong-challenge") {
		t.Errorf("peers: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, sub := range []string{"run", "peers", "report", "profiles", "vectors", "peer"} {
		if r := conformance(t, sub, "--help"); r.code != 0 || !strings.Contains(r.stderr+r.stdout, "usage: conformance "+sub) {
			t.Errorf("%s --help: exit %d\n%s", sub, r.code, r.stderr)
		}
	}
	if r := conformance(t, "run", "--peer", "no-such-peer"); r.code != 2 || !strings.Contains(r.stderr, "no-such-peer") {
		t.Errorf("unknown peer: exit %d\n%s", r.code, r.stderr)
	}
	if r := conformance(t, "report"); r.code != 2 {
		t.Errorf("report without --results: exit %d", r.code)
	}
}

// The pair matrix is the spec tree's: the same models, in the same order,
// so a pair spec and its in-process twin check the same requirements.
func TestPairModelsAreTheSpecTree(t *testing.T) {
	var want, got []string
	for _, c := range specs.Cases() {
		want = append(want, c.Model.ID())
	}
	for _, m := range interop.Models() {
		got = append(got, m.ID())
	}
	if !slices.Equal(got, want) {
		t.Errorf("interop.Models() =\n%q\nspecs.Cases() =\n%q", got, want)
	}
	m := peerManifest(t, "reference")
	if n := len(interop.Matrix(m, false)); n != 2*len(want) {
		t.Errorf("the reference peer's matrix has %d cases, want every model in both roles (%d)", n, 2*len(want))
	}
}

// The results file of a pair run carries what the issue asks per spec.
func TestRunResultsJSONFields(t *testing.T) {
	out := t.TempDir()
	r := conformance(t, "run", "--in-process=false", "--driver", "processes", "--peer", "reference", "--out", out,
		"--label-filter", "profile:poc && kind:positive && !role:none")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var doc struct {
		Peers []map[string]any `json:"peers"`
		Specs []map[string]any `json:"specs"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(out, "results.json"))), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Specs) != 3 {
		t.Fatalf("%d specs, want poc's model in both roles and its relying party trusting a verifier by its key", len(doc.Specs))
	}
	for _, s := range doc.Specs {
		keys := []string{"pair", "profile", "model", "role", "outcome", "duration_ms", "verdicts", "artifacts"}
		if id, _ := s["id"].(string); !strings.Contains(id, "/trusts-verifier-key/") {
			// The model's own cases carry the IDs their wire checks inspect.
			keys = append(keys, "requirements")
		}
		for _, k := range keys {
			if _, ok := s[k]; !ok {
				t.Errorf("spec %v lacks %s", s["id"], k)
			}
		}
	}
}

// A peer that attests only from a swtpm gets one on its case's network;
// one that appraises the reference's background-check evidence only
// through Veraison gets one, given the reference's endorsement (a
// passport it checks with the trusted verifier's key alone).
func TestMatrixServicesFromManifest(t *testing.T) {
	m := peerManifest(t, "mbedtls")
	cases := interop.Matrix(m, false)
	if len(cases) == 0 {
		t.Fatal("no cases for the mbedTLS manifest")
	}
	for _, c := range cases {
		attests := c.Model.Server.Attests && c.PeerRole == contract.Server || c.Model.Client.Attests && c.PeerRole == contract.Client
		ref := c.Model.Server
		if c.PeerRole == contract.Server {
			ref = c.Model.Client
		}
		appraises := ref.Attests && ref.Topology == party.BackgroundCheck
		if attests && c.Services == nil {
			t.Errorf("%s: the attesting peer gets no swtpm", c.ID())
		}
		if appraises && (c.Services == nil || c.ProvisionReference == nil) {
			t.Errorf("%s: the appraising peer gets no Veraison", c.ID())
		}
		if c.Unrunnable != "" {
			t.Errorf("%s: unrunnable: %s", c.ID(), c.Unrunnable)
		}
	}
}

// With real services (make conformance), the reference peer, which could
// use a software TPM and the in-process verifier, gets a Veraison in every
// case (all 50 have an attester, background check or passport), and the
// suite provisions each attesting side's endorsement into it.
func TestMatrixRealServices(t *testing.T) {
	m := peerManifest(t, "reference")
	for _, c := range interop.Matrix(m, false) {
		if c.Services != nil || c.Endorse != nil || c.ProvisionReference != nil {
			t.Errorf("%s: services without --services real", c.ID())
		}
	}
	cases := interop.Matrix(m, true)
	// The reference claims every attested model of its profiles, in both
	// roles.
	wantCases, wantPassports := 0, 0
	for _, md := range interop.Models() {
		if slices.Contains(m.Profiles, md.Profile) && (md.Server.Attests || md.Client.Attests) {
			wantCases += 2
			if md.Server.Attests && md.Server.Topology == party.Passport || md.Client.Attests && md.Client.Topology == party.Passport {
				wantPassports += 2
			}
		}
	}
	if len(cases) != wantCases || wantCases < 50 {
		t.Errorf("%d cases, want %d (at least ta-07's, ea-07's and poc's 50)", len(cases), wantCases)
	}
	passports := 0
	for _, c := range cases {
		peer, ref := c.Model.Server, c.Model.Client
		if c.PeerRole == contract.Client {
			peer, ref = ref, peer
		}
		if c.Services == nil {
			t.Errorf("%s: no services", c.ID())
		}
		if peer.Attests != (c.Endorse != nil) {
			t.Errorf("%s: peer attests %v, its endorsement provisioned %v", c.ID(), peer.Attests, c.Endorse != nil)
		}
		if ref.Attests != (c.ProvisionReference != nil) {
			t.Errorf("%s: reference attests %v, its endorsement provisioned %v", c.ID(), ref.Attests, c.ProvisionReference != nil)
		}
		if peer.Topology == party.Passport || ref.Topology == party.Passport {
			passports++
		}
	}
	if passports != wantPassports {
		t.Errorf("%d passport cases with real services, want %d", passports, wantPassports)
	}
}

// A peer's report covers the whole matrix: the cases its manifest does not
// claim are run too (to exit 127, unsupported), with no services.
func TestUnclaimedCases(t *testing.T) {
	for _, tc := range []struct {
		peer      string
		unclaimed bool
	}{{"reference", false}, {"mbedtls", true}} {
		m := peerManifest(t, tc.peer)
		claimed, unclaimed := interop.Matrix(m, true), interop.Unclaimed(m)
		if got, want := len(claimed)+len(unclaimed), 2*len(interop.Models()); got != want {
			t.Errorf("%s: %d claimed + %d unclaimed cases, want %d in all", tc.peer, len(claimed), len(unclaimed), want)
		}
		if (len(unclaimed) > 0) != tc.unclaimed {
			t.Errorf("%s: %d unclaimed cases", tc.peer, len(unclaimed))
		}
		ids := map[string]bool{}
		for _, c := range claimed {
			ids[c.ID()] = true
		}
		for _, c := range unclaimed {
			if !c.Unclaimed || c.Services != nil || ids[c.ID()] {
				t.Errorf("%s: %s: unclaimed %v, services %v, also claimed %v", tc.peer, c.ID(), c.Unclaimed, c.Services != nil, ids[c.ID()])
			}
		}
	}
}

// peerManifest reads the manifest of one of this module's peers.
func peerManifest(t *testing.T, name string) *contract.Manifest {
	t.Helper()
	p, err := interop.LoadPeer(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return p.Manifest
}

// The broken fixtures under peers/: each is the reference peer told by
// its manifest to commit one fault the suite must catch on the wire. Each
// run (background check, X.509, the server attesting, every profile that
// has it, processes) fails, and names the spec it must fail and every
// failing spec with its requirement IDs.
func TestRunBrokenFixturesFail(t *testing.T) {
	for _, tc := range []struct {
		peer     string
		mustFail []string
		why      string
	}{
		{"broken-unsupported", []string{"ta-07/server-attests/bg+x509/go→broken-unsupported"}, "answered 127"},
		{"broken-accept-any", []string{"ea-07/server-attests/bg+x509/rejects-wrong-challenge/broken-accept-any→go",
			"ta-07/server-attests/bg+x509/rejects-psa-iot-wrong-challenge/broken-accept-any→go"}, "sent no alert"},
		{"broken-no-alert", []string{"ta-07/server-attests/bg+x509/rejects-malformed-payload/broken-no-alert→go"}, "sent no alert"},
		{"broken-leaks", []string{"ta-07/server-attests/bg+x509/rejects-malformed-payload/broken-leaks→go"}, "after its fatal alert"},
		{"broken-liar", []string{"ta-07/server-attests/bg+x509/go→broken-liar"}, "contradicts the wire"},
	} {
		t.Run(tc.peer, func(t *testing.T) {
			out := t.TempDir()
			r := conformance(t, "run", "--in-process=false", "--driver", "processes", "--peer", tc.peer, "--out", out,
				"--label-filter", "model:bg && credential:x509 && role:server && (kind:positive || kind:negative)")
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			res, err := results.Load(filepath.Join(out, "results.json"))
			if err != nil {
				t.Fatal(err)
			}
			summary := mdUnescape(readFile(t, filepath.Join(out, "summary.md")))
			withReqs, named, failed := 0, 0, 0
			for _, s := range res.Specs {
				if s.Outcome != results.Fail {
					continue
				}
				failed++
				line := "fail " + s.ID
				if len(s.Requirements) > 0 {
					line += " [" + strings.Join(s.Requirements, " ") + "]"
					withReqs++
				}
				// stderr names the first failures; summary.md all.
				if strings.Contains(r.stderr, line) {
					named++
				}
				if !strings.Contains(summary, s.ID) {
					t.Errorf("summary.md does not name %s", s.ID)
				}
				if slices.Contains(tc.mustFail, s.ID) && !strings.Contains(s.Message, tc.why) {
					t.Errorf("%s fails with %q, want a message saying %q", s.ID, s.Message, tc.why)
				}
			}
			if want := min(failed, 20); named != want {
				t.Errorf("stderr names %d of %d failing specs with their requirement IDs, want %d:\n%s", named, failed, want, r.stderr)
			}
			if failed > 20 && !strings.Contains(r.stderr, fmt.Sprintf("and %d more", failed-20)) {
				t.Errorf("stderr does not say how many more failed:\n%s", r.stderr)
			}
			for _, id := range tc.mustFail {
				i := slices.IndexFunc(res.Specs, func(s results.Spec) bool { return s.ID == id })
				if i < 0 || res.Specs[i].Outcome != results.Fail {
					t.Errorf("%s did not fail", id)
				}
			}
			if withReqs == 0 {
				t.Errorf("no failing spec names a requirement ID")
			}
		})
	}
}

// The battery a manifest gets: unique case IDs; every variant says what
// the peer does; every negative names a real alert; the kinds are there
// for both in-tree peers; the mbedTLS peer's unclaimed cases complete the
// matrix.
func TestBattery(t *testing.T) {
	models := len(interop.Models())
	for _, name := range []string{"reference", "mbedtls"} {
		m := peerManifest(t, name)
		cases := interop.Battery(m, true)
		seen := map[string]bool{}
		kinds := map[string]int{}
		matrix := 0 // the claimed and unclaimed cases of the models
		for _, c := range cases {
			id := c.ID()
			if seen[id] {
				t.Errorf("%s: case %s twice", name, id)
			}
			seen[id] = true
			if c.Unclaimed || c.Variant == "" && c.It == "" {
				matrix++
			} else if c.It == "" {
				t.Errorf("%s: %s says nothing of what the peer does", name, id)
			}
			if c.Negative != nil && c.Negative.Alert == 0 {
				t.Errorf("%s: %s expects close_notify as its alert", name, id)
			}
			kinds[c.KindName()]++
		}
		if matrix != 2*models {
			t.Errorf("%s: %d claimed and unclaimed cases of the models, want the %d-case matrix", name, matrix, 2*models)
		}
		for _, k := range []string{"positive", "negative", "fail-open", "attack", "vector", "peer-vs-peer", "contract"} {
			if kinds[k] == 0 {
				t.Errorf("%s: no %s cases", name, k)
			}
		}
		t.Logf("%s: %v", name, kinds)
	}
}
