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
