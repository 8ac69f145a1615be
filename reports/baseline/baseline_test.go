package baseline

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/attested-tls/conformance/reports/results"
)

func run(outcomes map[string]results.Outcome) *results.Results {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	r := &results.Results{SchemaVersion: results.SchemaVersion, SuiteVersion: "v0.1.0", RunID: "run-7",
		Started: t0, Finished: t0.Add(time.Minute),
		Profiles: []results.Profile{{Name: "ta-07", Draft: "draft-fossati-tls-attestation", Revision: "07"}},
		Peers: []results.Peer{{Name: "go", Kind: results.InProcess, Version: "v0"},
			{Name: "mbedtls", Kind: results.Container, Version: "3.6.6"}}}
	for id, o := range outcomes {
		pair := results.Pair{Client: "go", Server: "mbedtls"}
		if strings.HasSuffix(id, "go→go") {
			pair.Server = "go"
		}
		r.Specs = append(r.Specs, results.Spec{ID: id, Pair: pair, Profile: "ta-07", Role: results.RoleServer,
			Requirements: []string{"TA07-8.1.2-1"}, Outcome: o, Message: "saw " + string(o)})
	}
	r.Sort()
	return r
}

func outcome(r *results.Results, id string) results.Outcome {
	for _, s := range r.Specs {
		if s.ID == id {
			return s.Outcome
		}
	}
	return ""
}

func TestApply(t *testing.T) {
	r := run(map[string]results.Outcome{
		"a/go→mbedtls": results.Fail,        // listed fail → expected-fail
		"b/go→mbedtls": results.Pass,        // listed fail → unexpected-pass
		"c/go→mbedtls": results.Pass,        // listed unsupported → unexpected-pass
		"d/go→mbedtls": results.Unsupported, // listed unsupported → unsupported
		"e/go→mbedtls": results.Fail,        // listed unsupported → fail
		"f/go→mbedtls": results.Fail,        // not listed → fail
		"g/go→mbedtls": results.Skipped,     // listed fail → skipped
		"h/go→mbedtls": results.Pass,        // not listed → pass
	})
	b := &Baseline{SchemaVersion: 1, Peer: "mbedtls", Expected: []Entry{
		{"a/go→mbedtls", results.Fail, "bug 1"},
		{"b/go→mbedtls", results.Fail, "bug 2"},
		{"c/go→mbedtls", results.Unsupported, "no passport"},
		{"d/go→mbedtls", results.Unsupported, "no passport"},
		{"e/go→mbedtls", results.Unsupported, "no passport"},
		{"g/go→mbedtls", results.Fail, "bug 3"},
		{"z/go→mbedtls", results.Fail, "not in this run"},
	}}
	unmatched, err := Apply(r, b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(unmatched, []string{"z/go→mbedtls"}) {
		t.Errorf("unmatched = %v", unmatched)
	}
	want := map[string]results.Outcome{
		"a/go→mbedtls": results.ExpectedFail, "b/go→mbedtls": results.UnexpectedPass,
		"c/go→mbedtls": results.UnexpectedPass, "d/go→mbedtls": results.Unsupported,
		"e/go→mbedtls": results.Fail, "f/go→mbedtls": results.Fail,
		"g/go→mbedtls": results.Skipped, "h/go→mbedtls": results.Pass,
	}
	for id, o := range want {
		if got := outcome(r, id); got != o {
			t.Errorf("%s: %s, want %s", id, got, o)
		}
	}
	if e := r.Specs[0].Expected; e == nil || e.Reason != "bug 1" {
		t.Errorf("a: expectation %+v", e)
	}
	if err := r.Validate(); err != nil {
		t.Errorf("applied results invalid: %v", err)
	}
	// Applying again is a no-op.
	before := r.Clone()
	if _, err := Apply(r, b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, r) {
		t.Error("second Apply changed the results")
	}
}

func TestApplyRejectsOtherPeersSpecs(t *testing.T) {
	r := run(map[string]results.Outcome{"a/go→go": results.Fail})
	b := &Baseline{SchemaVersion: 1, Peer: "mbedtls", Expected: []Entry{{"a/go→go", results.Fail, "x"}}}
	if _, err := Apply(r, b); err == nil {
		t.Fatal("an mbedtls baseline applied to a go→go spec")
	}
	if outcome(r, "a/go→go") != results.Fail {
		t.Error("misplaced entry was applied")
	}
}

func TestGate(t *testing.T) {
	ok := run(map[string]results.Outcome{"a": results.Pass, "b": results.ExpectedFail, "c": results.Unsupported, "d": results.Skipped})
	if err := Gate(ok); err != nil {
		t.Errorf("Gate = %v, want nil", err)
	}
	for _, o := range []results.Outcome{results.Fail, results.UnexpectedPass} {
		r := run(map[string]results.Outcome{"a": results.Pass, "bad/go→mbedtls": o})
		err := Gate(r)
		if err == nil || !strings.Contains(err.Error(), string(o)+" bad/go→mbedtls [TA07-8.1.2-1]") {
			t.Errorf("Gate with %s = %v", o, err)
		}
	}
	many := map[string]results.Outcome{}
	for i := range 30 {
		many[strings.Repeat("x", i+1)] = results.Fail
	}
	if err := Gate(run(many)); err == nil || !strings.Contains(err.Error(), "30 unexpected") || !strings.Contains(err.Error(), "and 10 more") {
		t.Errorf("Gate(30 fails) = %v", err)
	}
}

func TestUpdate(t *testing.T) {
	r := run(map[string]results.Outcome{
		"a/go→mbedtls": results.ExpectedFail,
		"b/go→mbedtls": results.UnexpectedPass,
		"c/go→mbedtls": results.Fail,
		"d/go→mbedtls": results.Unsupported,
		"e/go→go":      results.Fail,
	})
	prev := &Baseline{SchemaVersion: 1, Peer: "mbedtls", Expected: []Entry{
		{"a/go→mbedtls", results.Fail, "bug 1"},
		{"b/go→mbedtls", results.Fail, "bug 2"},
		{"y/go→mbedtls", results.Unsupported, "not run this time"},
	}}
	got := Update(r, "mbedtls", prev)
	want := []Entry{
		{"a/go→mbedtls", results.Fail, "bug 1"},
		{"c/go→mbedtls", results.Fail, "recorded from run run-7: saw fail"},
		{"d/go→mbedtls", results.Unsupported, "recorded from run run-7: saw unsupported"},
		{"y/go→mbedtls", results.Unsupported, "not run this time"},
	}
	if !reflect.DeepEqual(got.Expected, want) {
		t.Errorf("Update =\n%+v\nwant\n%+v", got.Expected, want)
	}
	if err := got.Validate(); err != nil {
		t.Error(err)
	}
	// The updated baseline makes the same run pass the gate.
	fresh := run(map[string]results.Outcome{
		"a/go→mbedtls": results.Fail, "b/go→mbedtls": results.Pass, "c/go→mbedtls": results.Fail, "d/go→mbedtls": results.Unsupported,
	})
	if err := Gate(fresh); err == nil {
		t.Fatal("raw run passes the gate")
	}
	if _, err := Apply(fresh, got); err != nil {
		t.Fatal(err)
	}
	if err := Gate(fresh); err != nil {
		t.Errorf("after Update+Apply: %v", err)
	}
	if all := Update(r, "", nil); len(all.Expected) != 4 {
		t.Errorf("Update for every peer: %d entries, want 4", len(all.Expected))
	}
}

func TestWriteLoad(t *testing.T) {
	name := filepath.Join(t.TempDir(), "mbedtls.json")
	b := &Baseline{SchemaVersion: 1, Peer: "mbedtls", Expected: []Entry{
		{"z", results.Unsupported, "no passport"}, {"a", results.Fail, "bug <1> & \"2\""}}}
	if err := b.Write(name); err != nil {
		t.Fatal(err)
	}
	got, err := Load(name)
	if err != nil {
		t.Fatal(err)
	}
	if got.Expected[0].Spec != "a" || got.Expected[1].Reason != "no passport" || got.Peer != "mbedtls" {
		t.Errorf("Load = %+v", got)
	}
	data, _ := os.ReadFile(name)
	if !strings.Contains(string(data), `"expected": [`) {
		t.Errorf("file:\n%s", data)
	}
}

func TestParseRejects(t *testing.T) {
	for _, doc := range []string{
		`{"schema_version":2,"peer":"x","expected":[]}`,
		`{"schema_version":1,"peer":"x","expected":[{"spec":"a","outcome":"pass","reason":"r"}]}`,
		`{"schema_version":1,"peer":"x","expected":[{"spec":"a","outcome":"fail","reason":" "}]}`,
		`{"schema_version":1,"peer":"x","expected":[{"spec":"","outcome":"fail","reason":"r"}]}`,
		`{"schema_version":1,"peer":"x","expected":[{"spec":"a","outcome":"fail","reason":"r"},{"spec":"a","outcome":"fail","reason":"r"}]}`,
		`{"schema_version":1,"peer":"x","expected":[],"extra":1}`,
		`{"schema_version":1,"peer":"x","expected":[]} []`,
	} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("Parse accepted %s", doc)
		}
	}
}

// FuzzParse: no panics; an accepted baseline re-encodes to one that parses
// to the same entries.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"schema_version":1,"peer":"mbedtls","expected":[{"spec":"a","outcome":"fail","reason":"r"}]}`))
	f.Add([]byte(`{"schema_version":1,"peer":"","expected":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Parse(data)
		if err != nil {
			return
		}
		out, err := b.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		b2, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse: %v\n%s", err, out)
		}
		if len(b2.Expected) != len(b.Expected) || b2.Peer != b.Peer {
			t.Fatalf("round trip changed the baseline")
		}
	})
}
