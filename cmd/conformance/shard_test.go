package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/attested-tls/conformance/reports/results"
)

// The plan deals every spec to exactly one shard, the selected ones
// evenly (sizes differ by at most one), whatever order the tree lists them
// in; its digest changes with the specs and with what the run selects.
func TestPlanShards(t *testing.T) {
	for n := 1; n <= 7; n++ {
		for sel := 0; sel <= 20; sel += 3 {
			var specs []plannedSpec
			for i := range sel + 5 {
				specs = append(specs, plannedSpec{text: fmt.Sprintf("spec %02d", i), selected: i < sel})
			}
			var plans []*shardPlan
			for k := 1; k <= n; k++ {
				shuffled := slices.Clone(specs)
				rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				plans = append(plans, planShards(shuffled, k, n))
			}
			for _, s := range specs {
				owners := 0
				for _, p := range plans {
					if p.has(s.text) {
						owners++
					}
				}
				if owners != 1 {
					t.Errorf("n=%d: %q is in %d shards", n, s.text, owners)
				}
			}
			for _, p := range plans[1:] {
				if !reflect.DeepEqual(p.of, plans[0].of) || p.specSet != plans[0].specSet {
					t.Errorf("n=%d: shards %d and 1 planned from the same specs in another order disagree", n, p.k)
				}
			}
			sizes := plans[0].selected[1:]
			if slices.Max(sizes)-slices.Min(sizes) > 1 || plans[0].total() != sel {
				t.Errorf("n=%d, %d selected: shard sizes %v", n, sel, sizes)
			}
		}
	}
	base := []plannedSpec{{"a", true}, {"b", true}, {"c", false}}
	digest := planShards(base, 1, 2).specSet
	for name, specs := range map[string][]plannedSpec{
		"another spec":     {{"a", true}, {"b", true}, {"d", false}},
		"another selected": {{"a", true}, {"b", false}, {"c", false}},
		"one spec more":    {{"a", true}, {"b", true}, {"c", false}, {"d", false}},
	} {
		if planShards(specs, 1, 2).specSet == digest {
			t.Errorf("%s: same spec set digest", name)
		}
	}
	// A text the plan does not know is run by every shard, not lost.
	if p := planShards(base, 2, 2); !p.has("unknown") {
		t.Error("an unknown spec is in no shard")
	}
}

// --shard takes K/N with 1 ≤ K ≤ N and says what is wrong otherwise.
func TestShardFlag(t *testing.T) {
	for v, want := range map[string]string{
		"3":      "want K/N",
		"a/3":    "want K/N",
		"1/2/3":  "want K/N",
		"0/3":    "K is 0, want 1 to 3",
		"4/3":    "K is 4, want 1 to 3",
		"-1/3":   "K is -1",
		"1/0":    "N is 0",
		"1/1000": "N is 1000, want 1 to 256",
	} {
		var stderr bytes.Buffer
		if f, code := parseRunFlags([]string{"--shard", v}, &stderr); f != nil || code != 2 || !strings.Contains(stderr.String(), want) {
			t.Errorf("--shard %s: exit %d, stderr %q, want 2 and %q", v, code, firstLine(stderr.String()), want)
		}
	}
	var stderr bytes.Buffer
	f, code := parseRunFlags([]string{"--shard", "2/3"}, &stderr)
	if f == nil || f.shard != (shardFlag{2, 3}) {
		t.Errorf("--shard 2/3: exit %d, %+v", code, f)
	}
	if r := conformance(t, "run", "--shard", "1/2", "--update-baseline", "--peer", "broken", "--out", t.TempDir()); r.code != 2 || !strings.Contains(r.stderr, "not from one --shard") {
		t.Errorf("--shard with --update-baseline: exit %d\n%s", r.code, r.stderr)
	}
	if r := conformance(t, "run", "--help"); !strings.Contains(r.stderr, "--shard K/N") || !strings.Contains(r.stderr, "round-robin") {
		t.Errorf("run --help does not document --shard:\n%s", r.stderr)
	}
}

// What the results of a run on this machine differ in from run to run,
// besides timing (duration_ms; started, finished and run_id, which is a
// time) and file paths: failure messages quote the peer's log, with
// clock times, the peer's elapsed time, loopback ports and the nonces
// the evidence was bound to, and name files under the run's --out.
// Masked, the rest of a message must agree.
var runSpecific = []*regexp.Regexp{
	regexp.MustCompile(`\d\d:\d\d:\d\d\.\d+`), // log clock times
	regexp.MustCompile(`after \d+ms`),         // the peer's exit time
	regexp.MustCompile(`127\.0\.0\.1:\d+`),    // loopback ports
	regexp.MustCompile(`\b[0-9a-f]{32,}\b`),   // nonces, binders, digests
}

func maskMessage(m, out string) string {
	m = strings.ReplaceAll(m, out+string(filepath.Separator), "OUT/")
	for _, re := range runSpecific {
		m = re.ReplaceAllString(m, "…")
	}
	return m
}

// A run in three shards, merged, is the run: the same specs with the same
// outcomes, alerts, verdicts, requirement IDs and expected-fail judgements
// against the baseline, and the same peers and profiles. The selection:
// the in-process specs of poc (run) and of the other profiles (not
// selected: they are in results as skipped), and the broken peer's ta-07
// background-check X.509 cases as processes, four of which fail as its
// expected.json says. Ignored, and only these: duration_ms, run_id,
// started and finished (timing); artifact paths, which must be the
// shard's folder and the whole run's path below it; merged_from (only the
// merge has it, checked on its own); and in messages what runSpecific
// lists.
func TestShardsMergeToTheWholeRun(t *testing.T) {
	root := t.TempDir()
	args := []string{"run", "--driver", "processes", "--peer", "broken",
		"--label-filter", "(profile:poc && !peers) || (peer:broken && profile:ta-07 && model:bg && credential:x509 && kind:positive)"}
	runTo := func(dir string, more ...string) *results.Results {
		t.Helper()
		r := conformance(t, append(append(slices.Clone(args), "--out", filepath.Join(root, dir)), more...)...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", dir, r.code, r.stdout, r.stderr)
		}
		res, err := results.Load(filepath.Join(root, dir, "results.json"))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	whole := runTo("whole")
	var shards []*results.Results
	var inputs []string
	for k := 1; k <= 3; k++ {
		shards = append(shards, runTo(fmt.Sprintf("shard-%d", k), "--shard", fmt.Sprintf("%d/3", k)))
		inputs = append(inputs, "--results", filepath.Join(root, fmt.Sprintf("shard-%d", k), "results.json"))
	}

	// Each shard: which of how many, one spec set, and the specs it ran,
	// as many as any other shard give or take one.
	ran := func(r *results.Results) int { return len(r.Specs) - results.Counts(r.Specs)[results.Skipped] }
	shardOf := map[string]int{}
	var sizes []int
	for i, s := range shards {
		sh := s.Shard
		if sh == nil || sh.Index != i+1 || sh.Total != 3 || sh.SpecSet != shards[0].Shard.SpecSet || !slices.Equal(sh.Settings, shards[0].Shard.Settings) {
			t.Fatalf("shard %d records %+v", i+1, sh)
		}
		for _, sp := range s.Specs {
			if prev, dup := shardOf[sp.ID]; dup {
				t.Errorf("%s is in shards %d and %d", sp.ID, prev, i+1)
			}
			shardOf[sp.ID] = i + 1
		}
		sizes = append(sizes, ran(s))
	}
	if slices.Max(sizes)-slices.Min(sizes) > 1 || sizes[0]+sizes[1]+sizes[2] != ran(whole) {
		t.Errorf("shards ran %v specs, the whole run %d", sizes, ran(whole))
	}

	r := conformance(t, append(append([]string{"report"}, inputs...), "--out", filepath.Join(root, "merged"))...)
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("%d specs from 3 shards", len(whole.Specs))) {
		t.Fatalf("report: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	merged, err := results.Load(filepath.Join(root, "merged", "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if merged.Shard != nil || len(merged.MergedFrom) != 3 {
		t.Fatalf("merged: shard %+v, %d runs merged", merged.Shard, len(merged.MergedFrom))
	}
	for i, run := range merged.MergedFrom {
		if run.Shard == nil || run.Shard.Index != i+1 || !slices.Equal(run.Shard.Specs, shards[i].Shard.Specs) {
			t.Errorf("merged_from[%d] is not shard %d/3 and its specs: %+v", i, i+1, run.Shard)
		}
	}
	if merged.SchemaVersion != whole.SchemaVersion || merged.SuiteVersion != whole.SuiteVersion || merged.Host != whole.Host ||
		!reflect.DeepEqual(merged.Profiles, whole.Profiles) || !reflect.DeepEqual(merged.Peers, whole.Peers) {
		t.Errorf("merged run differs:\n got %+v %+v %+v\nwant %+v %+v %+v", merged.Host, merged.Profiles, merged.Peers, whole.Host, whole.Profiles, whole.Peers)
	}
	if len(merged.Specs) != len(whole.Specs) {
		t.Fatalf("merged %d specs, the whole run %d", len(merged.Specs), len(whole.Specs))
	}
	withArtifacts := 0
	for i, w := range whole.Specs {
		m := merged.Specs[i]
		// Paths: the whole run's, under the folder of the shard that ran
		// the spec; and the files are there.
		prefix := fmt.Sprintf("../shard-%d/", shardOf[w.ID])
		for _, p := range m.Artifacts.Paths() {
			if _, err := os.Stat(merged.ArtifactPath(p)); err != nil {
				t.Errorf("%s: %v", m.ID, err)
			}
		}
		if len(w.Artifacts.Paths()) > 0 {
			withArtifacts++
		}
		m.Artifacts.Logs = slices.Clone(m.Artifacts.Logs)
		for j, p := range m.Artifacts.Logs {
			m.Artifacts.Logs[j] = strings.TrimPrefix(p, prefix)
		}
		m.Artifacts.KeyLog, m.Artifacts.Pcap = strings.TrimPrefix(m.Artifacts.KeyLog, prefix), strings.TrimPrefix(m.Artifacts.Pcap, prefix)
		m.Duration, w.Duration = 0, 0
		m.Message = maskMessage(m.Message, filepath.Join(root, fmt.Sprintf("shard-%d", shardOf[w.ID])))
		w.Message = maskMessage(w.Message, filepath.Join(root, "whole"))
		if !reflect.DeepEqual(m, w) {
			t.Errorf("%s differs from the whole run's:\n got %+v\nwant %+v", w.ID, m, w)
		}
	}
	// The comparison covered what it must: passes, skips, expected
	// failures with their reasons, and specs with files.
	n := results.Counts(whole.Specs)
	if n[results.Pass] == 0 || n[results.Skipped] == 0 || n[results.ExpectedFail] != 4 || withArtifacts == 0 {
		t.Errorf("the whole run has %v and %d specs with artifacts: not the mix this test compares", n, withArtifacts)
	}
	if s := readFile(t, filepath.Join(root, "merged", "summary.md")); !strings.Contains(s, "**PASS**") {
		t.Errorf("merged summary.md has no PASS verdict:\n%s", s)
	}
	t.Logf("%d specs (%d run, %d skipped): shards ran %v; the merge equals the whole run", len(whole.Specs), ran(whole), n[results.Skipped], sizes)

	t.Run("refused", func(t *testing.T) { reportRefusesBadShards(t, root, shards) })
}

// reportRefusesBadShards: shards that do not make up one run, given to
// conformance report, exit 2 with a message that says why.
func reportRefusesBadShards(t *testing.T, root string, shards []*results.Results) {
	file := func(k int) string { return filepath.Join(root, fmt.Sprintf("shard-%d", k), "results.json") }
	// altered writes shard k's results, changed by edit, to a folder of
	// its own.
	altered := func(name string, k int, edit func(doc map[string]any)) string {
		var doc map[string]any
		if err := json.Unmarshal([]byte(readFile(t, file(k))), &doc); err != nil {
			t.Fatal(err)
		}
		edit(doc)
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, "bad-"+name, "results.json")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	shard := func(doc map[string]any) map[string]any { return doc["shard"].(map[string]any) }
	// A spec of shard 1 that passed, failing in shard 2 as well.
	i := slices.IndexFunc(shards[0].Specs, func(s results.Spec) bool { return s.Outcome == results.Pass })
	moved := shards[0].Specs[i]
	twice := altered("twice", 2, func(doc map[string]any) {
		var spec map[string]any
		b, _ := json.Marshal(moved)
		json.Unmarshal(b, &spec)
		spec["outcome"], spec["message"] = "fail", "failed here"
		doc["specs"] = append(doc["specs"].([]any), spec)
		shard(doc)["specs"] = append(shard(doc)["specs"].([]any), moved.ID)
	})
	for name, tc := range map[string]struct {
		files []string
		want  string
	}{
		"missing":   {[]string{file(1), file(3)}, "shard 2 of 3 missing"},
		"duplicate": {[]string{file(1), file(2), file(2), file(3)}, "shard 2/3 given twice"},
		"other N": {[]string{file(1), file(2), altered("n", 3, func(doc map[string]any) { shard(doc)["total"] = 4 })},
			"split the run differently (3 and 4 shards)"},
		"other spec set": {[]string{file(1), file(2), altered("set", 3, func(doc map[string]any) {
			shard(doc)["spec_set"] = "sha256:" + strings.Repeat("0", 64)
		})}, "partitioned different spec sets"},
		"other settings": {[]string{file(1), file(2), altered("settings", 3, func(doc map[string]any) {
			shard(doc)["settings"] = []any{"services=real"}
		})}, "ran with different settings"},
		"spec in two shards": {[]string{file(1), twice, file(3)}, "with different outcomes (pass and fail)"},
		"other suite version": {[]string{file(1), file(2), altered("suite", 3, func(doc map[string]any) { doc["suite_version"] = "9.9.9" })},
			"is suite 9.9.9"},
	} {
		args := []string{"report", "--out", filepath.Join(root, "merged-"+strings.ReplaceAll(name, " ", "-"))}
		for _, f := range tc.files {
			args = append(args, "--results", f)
		}
		r := conformance(t, args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr:\n%s\nwant exit 2 and %q", name, r.code, r.stderr, tc.want)
		}
	}
	// The merged results.json must not replace an input.
	if r := conformance(t, "report", "--results", file(1), "--results", file(2), "--results", file(3), "--out", filepath.Dir(file(2))); r.code != 2 || !strings.Contains(r.stderr, "would replace") {
		t.Errorf("--out an input's folder: exit %d\n%s", r.code, r.stderr)
	}
	if r := conformance(t, "report", "--results", file(1), "--results", file(2)); r.code != 2 || !strings.Contains(r.stderr, "needs --out") {
		t.Errorf("merge without --out: exit %d\n%s", r.code, r.stderr)
	}
}
