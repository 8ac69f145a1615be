package specs

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/attested-tls/conformance/reports/results"
	"github.com/attested-tls/conformance/suite/attack"
)

// TestAttackExpectations: every cell the specs run has exactly one
// documented verdict, with a reason, and a check exactly when prevented.
func TestAttackExpectations(t *testing.T) {
	cells := 0
	for _, s := range attack.Scenarios {
		if attack.ScenarioText[s] == "" {
			t.Errorf("%s: no description", s)
		}
		for _, c := range attack.Capabilities(s) {
			if attack.CapabilityText[c] == "" {
				t.Errorf("%s: no description", c)
			}
			for _, v := range attackVariants {
				cells++
				e, ok := attack.Documented(attack.Cell{Scenario: s, Capability: c, Variant: v.key})
				switch {
				case !ok:
					t.Errorf("%s/%s/%s: no documented verdict", s, c, v.key)
				case strings.TrimSpace(e.Why) == "":
					t.Errorf("%s/%s/%s: no reasoning", s, c, v.key)
				case (e.Verdict == attack.Prevented) != (e.Check != ""):
					t.Errorf("%s/%s/%s: verdict %s with check %q", s, c, v.key, e.Verdict, e.Check)
				}
			}
		}
	}
	if cells != len(attack.Cells()) || cells != 44 {
		t.Errorf("%d cells run, %d documented, want 44", cells, len(attack.Cells()))
	}
	// poc's nonce-only binding is documented relayable.
	if e, _ := attack.Documented(attack.Cell{Scenario: attack.Splice, Capability: attack.Oracle, Variant: "poc"}); e.Verdict != attack.Succeeds {
		t.Error("poc splice/oracle is not documented as succeeding")
	}
}

func TestResultsCarryAttacks(t *testing.T) {
	entry := func(name string, v any) types.ReportEntry {
		return types.ReportEntry{Name: name, Value: types.WrapEntryValue(v)}
	}
	m := attackVariants[2].bg
	a := results.Attack{Scenario: "relay", Capability: "oracle", Verdict: results.AttackSucceeds}
	sr := types.SpecReport{
		LeafNodeType: types.NodeTypeIt, LeafNodeText: "a long sentence with the reasoning",
		LeafNodeLabels: []string{"profile:ta-07", "role:server", "attack:relay"}, State: types.SpecStatePassed,
		ReportEntries: types.ReportEntries{entry(handshakeEntry, Summary{Profile: m.Profile, Model: results.Model{Server: resultSide(m.Server)}}), entry(attackEntry, a)},
	}
	plain := sr
	plain.ReportEntries = nil
	plain.LeafNodeText = "no attack"
	now := time.Now()
	r := Results(types.Report{StartTime: now, EndTime: now, SpecReports: types.SpecReports{sr, plain}}, "run")
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	var got *results.Spec
	for i := range r.Specs {
		if r.Specs[i].Attack != nil {
			got = &r.Specs[i]
		}
	}
	if got == nil || *got.Attack != a {
		t.Fatalf("no attack carried: %+v", r.Specs)
	}
	if want := "ta-07/server-attests/bg+x509/attack/relay/oracle/go→go"; got.ID != want {
		t.Errorf("ID %q, want %q", got.ID, want)
	}
	// Read back from a JSON report (conformance run's ginkgo.json), the
	// entry is its JSON form.
	b, err := json.Marshal(types.Report{StartTime: now, EndTime: now, SpecReports: types.SpecReports{sr}})
	if err != nil {
		t.Fatal(err)
	}
	var back types.Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if r := Results(back, "run"); len(r.Specs) != 1 || r.Specs[0].Attack == nil || *r.Specs[0].Attack != a {
		t.Errorf("attack lost through JSON: %+v", r.Specs)
	}
}
