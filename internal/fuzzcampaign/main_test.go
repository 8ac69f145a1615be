package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLedgerRoundTrip(t *testing.T) {
	name := filepath.Join(t.TempDir(), "ledger.tsv")
	a := Target{"example.com/p", "FuzzA"}
	when := time.Date(2026, 11, 26, 23, 0, 0, 0, time.UTC)
	for _, e := range []Entry{
		{When: when, Commit: "abc", Target: a, Seconds: 60, Execs: 1000, Outcome: "crash"},
		{When: when, Commit: "abd", Target: a, Seconds: 30, Execs: 500, Outcome: "pass"},
	} {
		if err := appendLedger(name, e); err != nil {
			t.Fatal(err)
		}
	}
	es, err := readLedger(name)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[1].Commit != "abd" || es[0].Outcome != "crash" || !es[0].When.Equal(when) {
		t.Fatalf("read back %+v", es)
	}
	tot := totals(es)[a]
	if tot.Seconds != 90 || tot.Execs != 1500 || tot.Runs != 2 || tot.Crashes != 1 || !tot.LastCrashCleared {
		t.Fatalf("totals %+v", tot)
	}
	var b strings.Builder
	printReport(&b, []Target{a}, es, time.Minute)
	if !strings.Contains(b.String(), "| example.com/p.FuzzA | 1.5 | 1500 | 2 | 1 (fixed) |") ||
		!strings.Contains(b.String(), "1 at or past the 1m0s goal; 0 with an unfixed crash") {
		t.Fatalf("report:\n%s", b.String())
	}
}

// A voided line counts neither its time nor a crash.
func TestVoidLines(t *testing.T) {
	a := Target{"example.com/p", "FuzzA"}
	es := []Entry{
		{Target: a, Seconds: 600, Execs: 1000, Outcome: "pass"},
		{Target: a, Seconds: 374, Execs: 500, Outcome: Void},
	}
	if tot := totals(es)[a]; tot.Seconds != 600 || tot.Execs != 1000 || tot.Runs != 1 || tot.Crashes != 0 {
		t.Fatalf("totals %+v", tot)
	}
}

func TestLedgerRejectsBadLines(t *testing.T) {
	for _, line := range []string{
		"2026-11-26T23:00:00Z\tc\tp\tF\t60\t10",          // six fields
		"yesterday\tc\tp\tF\t60\t10\tpass",               // time
		"2026-11-26T23:00:00Z\tc\tp\tF\tsixty\t10\tpass", // seconds
		"2026-11-26T23:00:00Z\tc\tp\tF\t60\t10\tmaybe",   // outcome
	} {
		name := filepath.Join(t.TempDir(), "l.tsv")
		os.WriteFile(name, []byte(ledgerHeader+"\n"+line+"\n"), 0o644)
		if _, err := readLedger(name); err == nil || !strings.Contains(err.Error(), ":2:") {
			t.Errorf("%q: err = %v, want one naming line 2", line, err)
		}
	}
}

func TestElapsedLine(t *testing.T) {
	out := "fuzz: elapsed: 0s, gathering baseline coverage: 0/12 completed\n" +
		"fuzz: elapsed: 3s, execs: 1234 (411/sec), new interesting: 1 (total: 13)\n" +
		"fuzz: elapsed: 1m3s, execs: 25000 (422/sec), new interesting: 1 (total: 13)\nPASS\n"
	m := elapsedLine.FindAllStringSubmatch(out, -1)
	if len(m) != 2 || m[1][1] != "1m3s" || m[1][2] != "25000" {
		t.Fatalf("matches %q", m)
	}
}

func TestJudge(t *testing.T) {
	const progress = "fuzz: elapsed: 9m57s, execs: 5921708 (9347/sec), new interesting: 123 (total: 130)\n" +
		"fuzz: elapsed: 10m0s, execs: 5971357 (16562/sec), new interesting: 123 (total: 130)\n"
	// The tail of a real run (peers/reference.FuzzParseTPM, Go 1.26.8).
	const raced = "--- FAIL: FuzzParseTPM (600.04s)\n    context deadline exceeded\nFAIL\nexit status 1\n" +
		"FAIL\tgithub.com/attested-tls/conformance/peers/reference\t600.075s\n"
	const crashed = "--- FAIL: FuzzParseTPM (12.01s)\n    --- FAIL: FuzzParseTPM (0.00s)\n        testing.go:1591: panic: boom\n\n" +
		"    Failing input written to testdata/fuzz/FuzzParseTPM/0123\n    To re-run:\n    go test -run=FuzzParseTPM/0123\nFAIL\n"
	const hung = "--- FAIL: FuzzParseTPM (600.04s)\n    fuzzing process hung or terminated unexpectedly: exit status 2\nFAIL\n"
	for _, c := range []struct {
		name, out string
		failed    bool
		d         time.Duration
		want      string
	}{
		{"pass", progress + "PASS\n", false, 10 * time.Minute, "pass"},
		{"coordinator race after the whole time", progress + raced, true, 10 * time.Minute, Deadline},
		{"deadline before the whole time", progress + raced, true, 11 * time.Minute, "error"},
		{"failing input", progress + crashed, true, 10 * time.Minute, "crash"},
		{"hung worker", progress + hung, true, 10 * time.Minute, "error"},
		{"deadline among other failures", progress + strings.Replace(raced, "exceeded\n", "exceeded\n    panic: boom\n", 1), true, 10 * time.Minute, "error"},
	} {
		secs, execs, got := judge([]byte(c.out), c.failed, c.d)
		if got != c.want || secs != 600 || execs != 5971357 {
			t.Errorf("%s: %s, %.0f s, %d execs; want %s, 600 s, 5971357", c.name, got, secs, execs, c.want)
		}
	}
}

func TestDeadlineCountsAsFuzzingNotCrash(t *testing.T) {
	a := Target{"p", "FuzzA"}
	m := totals([]Entry{
		{Target: a, Seconds: 300, Execs: 1000, Outcome: "pass"},
		{Target: a, Seconds: 600, Execs: 2000, Outcome: Deadline},
	})
	if got := m[a]; got.Seconds != 900 || got.Execs != 3000 || got.Crashes != 0 || !got.LastCrashCleared {
		t.Fatalf("totals %+v", got)
	}
}
