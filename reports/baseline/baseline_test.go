package baseline

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/reports/results"
)

// run makes a results file; spec IDs ending "go→go" are in-process, the
// others have mbedtls serving.
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

func expected(fs ...contract.ExpectedFailure) *contract.Expected {
	return &contract.Expected{Failures: fs}
}

func TestIDs(t *testing.T) {
	s := results.Spec{ID: "ta-07/server-attests/bg+x509/go→mbedtls", Pair: results.Pair{Client: "go", Server: "mbedtls"}}
	want := []string{"ta-07/server-attests/bg+x509", "ta-07/server-attests/bg+x509@server", s.ID}
	if got := IDs(s, "mbedtls"); !reflect.DeepEqual(got, want) {
		t.Errorf("IDs = %q", got)
	}
	if got := IDs(s, ""); !reflect.DeepEqual(got, []string{want[0], s.ID}) {
		t.Errorf("IDs for a run-wide baseline = %q", got)
	}
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
		"a/go→go":      results.Fail,        // mbedtls takes no part → fail
	})
	e := expected(
		contract.ExpectedFailure{Case: "a", Reason: "bug 1"},
		contract.ExpectedFailure{Case: "b@server", Reason: "bug 2"},
		contract.ExpectedFailure{Case: "[cde]", Reason: "no passport", Outcome: "unsupported"},
		contract.ExpectedFailure{Case: "g/go→mbedtls", Reason: "bug 3"},
		contract.ExpectedFailure{Case: "z", Reason: "not in this run"},
	)
	unmatched := Apply(r, "mbedtls", e)
	if !reflect.DeepEqual(unmatched, []string{"z"}) {
		t.Errorf("unmatched = %v", unmatched)
	}
	want := map[string]results.Outcome{
		"a/go→mbedtls": results.ExpectedFail, "b/go→mbedtls": results.UnexpectedPass,
		"c/go→mbedtls": results.UnexpectedPass, "d/go→mbedtls": results.Unsupported,
		"e/go→mbedtls": results.Fail, "f/go→mbedtls": results.Fail,
		"g/go→mbedtls": results.Skipped, "h/go→mbedtls": results.Pass, "a/go→go": results.Fail,
	}
	for id, o := range want {
		if got := outcome(r, id); got != o {
			t.Errorf("%s: %s, want %s", id, got, o)
		}
	}
	for _, s := range r.Specs {
		if s.ID == "a/go→mbedtls" && (s.Expected == nil || s.Expected.Reason != "bug 1") {
			t.Errorf("a: expectation %+v", s.Expected)
		}
		if s.ID == "a/go→go" && s.Expected != nil {
			t.Errorf("an mbedtls baseline applied to an in-process spec: %+v", s.Expected)
		}
	}
	if err := r.Validate(); err != nil {
		t.Errorf("applied results invalid: %v", err)
	}
	before := r.Clone()
	Apply(r, "mbedtls", e)
	if !reflect.DeepEqual(before, r) {
		t.Error("second Apply changed the results")
	}
	Reset(r)
	if o := outcome(r, "b/go→mbedtls"); o != results.Pass || r.Specs[0].Expected != nil {
		t.Errorf("after Reset: b is %s, a's expectation %+v", o, r.Specs[0].Expected)
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
		"a/go→mbedtls":  results.Fail,
		"b/go→mbedtls":  results.Pass,
		"c/go→mbedtls":  results.Fail,
		"d/go→mbedtls":  results.Unsupported,
		"m1/go→mbedtls": results.Fail, // m* still fails here…
		"m2/go→mbedtls": results.Pass, // …but passes here: narrowed
		"e/go→go":       results.Fail,
	})
	prev := expected(
		contract.ExpectedFailure{Case: "a", Reason: "bug 1"},
		contract.ExpectedFailure{Case: "b", Reason: "bug 2"},
		contract.ExpectedFailure{Case: "m*", Reason: "mutual not done"},
		contract.ExpectedFailure{Case: "y", Reason: "not run this time", Outcome: "unsupported"},
	)
	Apply(r, "mbedtls", prev)
	got, added := Update(r, "mbedtls", prev)
	want := []contract.ExpectedFailure{
		{Case: "a", Reason: "bug 1"},
		{Case: "m1@server", Reason: "mutual not done"},
		{Case: "y", Reason: "not run this time", Outcome: "unsupported"},
		{Case: "c@server", Reason: Placeholder + " (recorded from run run-7: saw fail)"},
		{Case: "d@server", Reason: Placeholder + " (recorded from run run-7: saw unsupported)", Outcome: "unsupported"},
	}
	if !reflect.DeepEqual(got.Failures, want) {
		t.Errorf("Update =\n%+v\nwant\n%+v", got.Failures, want)
	}
	if !reflect.DeepEqual(added, []string{"c@server", "d@server"}) {
		t.Errorf("added = %v", added)
	}
	if err := CheckReasons(got); err == nil || !strings.Contains(err.Error(), "c@server, d@server") {
		t.Errorf("CheckReasons = %v", err)
	}
	// The updated baseline makes the same run pass the gate.
	fresh := run(map[string]results.Outcome{
		"a/go→mbedtls": results.Fail, "b/go→mbedtls": results.Pass, "c/go→mbedtls": results.Fail,
		"d/go→mbedtls": results.Unsupported, "m1/go→mbedtls": results.Fail, "m2/go→mbedtls": results.Pass,
	})
	if err := Gate(fresh); err == nil {
		t.Fatal("raw run passes the gate")
	}
	Apply(fresh, "mbedtls", got)
	if err := Gate(fresh); err != nil {
		t.Errorf("after Update+Apply: %v", err)
	}
	// A run-wide baseline names specs by spec ID.
	all, _ := Update(r, "", nil)
	if len(all.Failures) != 5 || all.Failures[0].Case != "a/go→mbedtls" {
		t.Errorf("Update for every peer: %+v", all.Failures)
	}
}

func TestWriteLoad(t *testing.T) {
	name := filepath.Join(t.TempDir(), "expected.json")
	e := expected(contract.ExpectedFailure{Case: "z*", Reason: "no passport", Outcome: "unsupported"},
		contract.ExpectedFailure{Case: "a→b", Reason: `bug <1> & "2"`})
	if err := Write(name, e); err != nil {
		t.Fatal(err)
	}
	got, err := Load(name)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Errorf("Load = %+v", got)
	}
	data, _ := os.ReadFile(name)
	if !strings.Contains(string(data), `"reason":"bug <1> & \"2\""`) {
		t.Errorf("file:\n%s", data)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("missing file loaded")
	}
}
