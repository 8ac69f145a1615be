// Command fuzzcampaign runs the project's Go fuzz targets as a campaign
// spread over many runs: each run fuzzes the targets that have had the
// least time so far, and appends what each did (seconds, executions,
// outcome) to a ledger kept in the repository, so fuzz-minutes add up
// across machines and sessions and the README's figures come from data.
//
//	go run ./internal/fuzzcampaign -per 60s -for 2h   fuzz, least-fuzzed first
//	go run ./internal/fuzzcampaign -report             totals per target
//
// A crasher stays where `go test -fuzz` writes it (the package's
// testdata/fuzz/<target>/), which makes it a regression input once
// committed; the campaign records the crash, carries on, and exits 1.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Target is one fuzz function of one package.
type Target struct{ Pkg, Name string }

func (t Target) String() string { return t.Pkg + "." + t.Name }

// Entry is one ledger line: one fuzzing run of one target.
type Entry struct {
	When    time.Time
	Commit  string
	Target  Target
	Seconds float64
	Execs   int64
	Outcome string // pass, crash, error, void or deadline
}

const ledgerHeader = "# when\tcommit\tpackage\ttarget\tseconds\texecs\toutcome"

func main() {
	fs := flag.NewFlagSet("fuzzcampaign", flag.ContinueOnError)
	per := fs.Duration("per", 60*time.Second, "fuzzing time per target per turn")
	total := fs.Duration("for", 0, "start no new target after this long (0: one turn over all targets)")
	goal := fs.Duration("goal", 10*time.Minute, "total time per target the campaign aims for; targets at the goal are skipped (0: no goal)")
	ledger := fs.String("ledger", "internal/fuzzcampaign/ledger.tsv", "ledger file (appended to)")
	parallel := fs.Int("parallel", 1, "fuzzing workers per target (go test -parallel)")
	report := fs.Bool("report", false, "print the totals per target from the ledger and exit")
	match := fs.String("run", "", "only targets whose package.name matches this regular expression")
	skip := fs.String("skip", "", "leave out targets whose package.name matches this regular expression")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: fuzzcampaign [flags] [packages] (default ./...)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2)
	}
	pkgs := fs.Args()
	if len(pkgs) == 0 {
		pkgs = []string{"./..."}
	}
	entries, err := readLedger(*ledger)
	if err != nil {
		fatal(err)
	}
	ctx := context.Background()
	targets, err := listTargets(ctx, pkgs)
	if err != nil {
		fatal(err)
	}
	if *match != "" {
		re, err := regexp.Compile(*match)
		if err != nil {
			fatal(err)
		}
		targets = filter(targets, func(t Target) bool { return re.MatchString(t.String()) })
	}
	if *skip != "" {
		re, err := regexp.Compile(*skip)
		if err != nil {
			fatal(err)
		}
		targets = filter(targets, func(t Target) bool { return !re.MatchString(t.String()) })
	}
	if *report {
		printReport(os.Stdout, targets, entries, *goal)
		return
	}
	os.Exit(campaign(ctx, targets, entries, *ledger, *per, *total, *goal, *parallel))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "fuzzcampaign:", err)
	os.Exit(2)
}

func filter(ts []Target, keep func(Target) bool) []Target {
	var out []Target
	for _, t := range ts {
		if keep(t) {
			out = append(out, t)
		}
	}
	return out
}

// campaign fuzzes targets in turns, least-fuzzed first, until each has
// reached the goal or the time is up.
func campaign(ctx context.Context, targets []Target, entries []Entry, ledger string, per, total, goal time.Duration, parallel int) int {
	commit := gitCommit(ctx)
	start := time.Now()
	crashed := 0
	ran := 0
	for turn := 0; ; turn++ {
		done := totals(entries)
		queue := filter(targets, func(t Target) bool { return goal == 0 || done[t].Seconds < goal.Seconds() })
		if len(queue) == 0 {
			fmt.Printf("fuzzcampaign: every target has reached %v\n", goal)
			break
		}
		sort.SliceStable(queue, func(i, j int) bool { return done[queue[i]].Seconds < done[queue[j]].Seconds })
		for i, t := range queue {
			if total > 0 && time.Since(start) >= total || total == 0 && turn > 0 {
				goto out
			}
			fmt.Printf("fuzzcampaign: [%d/%d, %s elapsed] %s (%.1f min so far)\n",
				i+1, len(queue), time.Since(start).Round(time.Second), t, done[t].Seconds/60)
			e := fuzz(ctx, t, per, parallel)
			e.Commit = commit
			entries = append(entries, e)
			ran++
			if err := appendLedger(ledger, e); err != nil {
				fatal(err)
			}
			fmt.Printf("fuzzcampaign:   %s: %.0f s, %d execs\n", e.Outcome, e.Seconds, e.Execs)
			if !e.foundNothing() {
				crashed++
			}
		}
	}
out:
	fmt.Printf("fuzzcampaign: %d runs in %s, %d failed\n", ran, time.Since(start).Round(time.Second), crashed)
	if crashed > 0 {
		return 1
	}
	return 0
}

// elapsedLine is go test's fuzzing progress line ("elapsed: 1m3s, execs:
// 123 ..."); the last one holds the run's time and executions.
var elapsedLine = regexp.MustCompile(`fuzz: elapsed: ([0-9hms]+), execs: (\d+) `)

// fuzz runs one target for d; the deadline covers building the test
// binary and a stuck worker.
func fuzz(ctx context.Context, t Target, d time.Duration, parallel int) Entry {
	ctx, cancel := context.WithTimeout(ctx, d+10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-fuzz", "^"+t.Name+"$",
		"-fuzztime", d.String(), "-parallel", strconv.Itoa(parallel), t.Pkg)
	out, err := cmd.CombinedOutput()
	e := Entry{When: time.Now().UTC().Truncate(time.Second), Target: t}
	e.Seconds, e.Execs, e.Outcome = judge(out, err != nil, d)
	if err != nil {
		os.Stdout.Write(tail(out, 30))
	}
	return e
}

// judge reads a run's output: the time and executions of its last
// progress line, and its outcome. A run that failed is a crash when go
// test wrote a failing input, and Deadline when all it reported, after
// fuzzing its whole time, is the coordinator's own deadline (see
// Deadline); any other failure is an error.
func judge(out []byte, failed bool, d time.Duration) (seconds float64, execs int64, outcome string) {
	for _, m := range elapsedLine.FindAllSubmatch(out, -1) {
		if d, err := time.ParseDuration(string(m[1])); err == nil {
			seconds = d.Seconds()
		}
		execs, _ = strconv.ParseInt(string(m[2]), 10, 64)
	}
	switch {
	case !failed:
		return seconds, execs, "pass"
	case bytes.Contains(out, []byte("Failing input written to")):
		return seconds, execs, "crash"
	case seconds >= d.Seconds() && coordinatorDeadline.Match(out):
		return seconds, execs, Deadline
	}
	return seconds, execs, "error"
}

// coordinatorDeadline is the whole failure report of golang/go#75804: the
// target's FAIL line followed by nothing but the -fuzztime context's error.
var coordinatorDeadline = regexp.MustCompile(`(?m)^--- FAIL: Fuzz\w+ \([0-9.]+s\)\n    context deadline exceeded\n(FAIL|exit status 1)\n`)

func tail(b []byte, n int) []byte {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return []byte(strings.Join(lines, "\n") + "\n")
}

// listTargets asks go test for each package's fuzz functions.
func listTargets(ctx context.Context, pkgs []string) ([]Target, error) {
	out, err := exec.CommandContext(ctx, "go", append([]string{"list", "-f", "{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}"}, pkgs...)...).Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w", err)
	}
	var ts []Target
	for _, pkg := range strings.Fields(string(out)) {
		list, err := exec.CommandContext(ctx, "go", "test", "-list", "^Fuzz", pkg).Output()
		if err != nil {
			return nil, fmt.Errorf("listing the fuzz targets of %s: %w", pkg, err)
		}
		for _, name := range strings.Fields(string(list)) {
			if strings.HasPrefix(name, "Fuzz") {
				ts = append(ts, Target{pkg, name})
			}
		}
	}
	return ts, nil
}

func gitCommit(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func readLedger(name string) ([]Entry, error) {
	f, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var es []Entry
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		e, err := parseEntry(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		es = append(es, e)
	}
	return es, sc.Err()
}

func parseEntry(line string) (Entry, error) {
	f := strings.Split(line, "\t")
	if len(f) != 7 {
		return Entry{}, fmt.Errorf("%d fields, want 7", len(f))
	}
	when, err := time.Parse(time.RFC3339, f[0])
	if err != nil {
		return Entry{}, err
	}
	secs, err := strconv.ParseFloat(f[4], 64)
	if err != nil {
		return Entry{}, err
	}
	execs, err := strconv.ParseInt(f[5], 10, 64)
	if err != nil {
		return Entry{}, err
	}
	switch f[6] {
	case "pass", "crash", "error", Void, Deadline:
	default:
		return Entry{}, fmt.Errorf("outcome %q", f[6])
	}
	return Entry{When: when, Commit: f[1], Target: Target{f[2], f[3]}, Seconds: secs, Execs: execs, Outcome: f[6]}, nil
}

func (e Entry) line() string {
	return strings.Join([]string{e.When.Format(time.RFC3339), e.Commit, e.Target.Pkg, e.Target.Name,
		strconv.FormatFloat(e.Seconds, 'f', 0, 64), strconv.FormatInt(e.Execs, 10), e.Outcome}, "\t")
}

func appendLedger(name string, e Entry) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	_, statErr := os.Stat(name)
	f, err := os.OpenFile(name, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if errors.Is(statErr, os.ErrNotExist) {
		fmt.Fprintln(f, ledgerHeader)
	}
	fmt.Fprintln(f, e.line())
	return f.Close()
}

// Total is what the ledger holds for one target.
type Total struct {
	Seconds          float64
	Execs            int64
	Runs, Crashes    int
	LastCrashCleared bool // a passing run came after the last crash
}

// Void is the outcome a maintainer gives, by hand, to a ledger line whose
// run did not fuzz as recorded (its workers were stopped from outside, so
// `go test -fuzz` took them for hung): it counts neither its time nor a
// crash. The commit that voids a line says why.
const Void = "void"

// Deadline is the outcome of a run that fuzzed its whole time, wrote no
// failing input, and failed only with "context deadline exceeded" at the
// -fuzztime boundary: a race in Go's fuzzing coordinator between the
// deadline and a worker's shutdown (golang/go#75804; fixed in Go 1.27, not
// in 1.26). Its time counts; it is not a crash.
const Deadline = "deadline"

// foundNothing is whether the run fuzzed and failed on nothing of ours.
func (e Entry) foundNothing() bool { return e.Outcome == "pass" || e.Outcome == Deadline }

func totals(es []Entry) map[Target]Total {
	m := map[Target]Total{}
	for _, e := range es {
		if e.Outcome == Void {
			continue
		}
		t := m[e.Target]
		t.Seconds += e.Seconds
		t.Execs += e.Execs
		t.Runs++
		if e.foundNothing() {
			t.LastCrashCleared = true
		} else {
			t.Crashes++
			t.LastCrashCleared = false
		}
		m[e.Target] = t
	}
	return m
}

// printReport writes a Markdown table of the totals, for the README.
func printReport(w io.Writer, targets []Target, es []Entry, goal time.Duration) {
	m := totals(es)
	var sum float64
	var execs int64
	reached, open := 0, 0
	fmt.Fprintln(w, "| target | minutes | executions | runs | crashes (fixed) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	for _, t := range targets {
		tt := m[t]
		sum += tt.Seconds
		execs += tt.Execs
		if tt.Seconds >= goal.Seconds() {
			reached++
		}
		fixed := ""
		if tt.Crashes > 0 {
			fixed = " (fixed)"
			if !tt.LastCrashCleared {
				fixed = " (OPEN)"
				open++
			}
		}
		fmt.Fprintf(w, "| %s | %.1f | %d | %d | %d%s |\n", strings.TrimPrefix(t.String(), "github.com/attested-tls/conformance/"),
			tt.Seconds/60, tt.Execs, tt.Runs, tt.Crashes, fixed)
	}
	fmt.Fprintf(w, "\n%d targets, %.0f fuzz-minutes, %d executions; %d at or past the %v goal; %d with an unfixed crash.\n",
		len(targets), sum/60, execs, reached, goal, open)
}
