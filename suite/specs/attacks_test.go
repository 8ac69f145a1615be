package specs

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile"
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
	if cells != len(attack.Cells()) || cells != 55 {
		t.Errorf("%d cells run, %d documented, want 55", cells, len(attack.Cells()))
	}
	// poc's nonce-only binding is documented relayable.
	if e, _ := attack.Documented(attack.Cell{Scenario: attack.Splice, Capability: attack.Oracle, Variant: "poc"}); e.Verdict != attack.Succeeds {
		t.Error("poc splice/oracle is not documented as succeeding")
	}
}

// TestAttackVariants: the verdict matrix has one column per binding the
// profiles describe, keyed by its variant, on the models the attacks
// need: the server attacked unless the profile has no server-attests
// role, its passport model where the profile defines one and the
// background check again where it does not.
func TestAttackVariants(t *testing.T) {
	want := map[string]attackVariant{}
	for _, d := range profile.All() {
		client := !slices.Contains(d.Roles, party.ServerAttests)
		for _, c := range d.Credentials {
			alone := func(topo party.Topology) party.Model {
				m := party.Model{Profile: d.Name}
				if client {
					m.Client = attesterSide(topo, c)
				} else {
					m.Server = attesterSide(topo, c)
				}
				return m
			}
			v := attackVariant{key: d.Binds(c).Variant, bg: alone(party.BackgroundCheck), passport: alone(party.Passport)}
			if !d.Defines(v.passport) {
				v.passport = v.bg
			}
			if v.key == "" || !d.Defines(v.bg) {
				t.Errorf("%s %s: variant %q, background check %s defined: %v", d.Name, c, v.key, v.bg.ID(), d.Defines(v.bg))
			}
			if _, dup := want[v.key]; dup {
				t.Errorf("variant %q names two bindings", v.key)
			}
			want[v.key] = v
		}
	}
	for _, v := range attackVariants {
		w, ok := want[v.key]
		switch {
		case !ok:
			t.Errorf("column %q: no profile binding has that variant, or it is listed twice", v.key)
		case v.bg != w.bg || v.passport != w.passport:
			t.Errorf("column %q: models %s and %s, want %s and %s", v.key, v.bg.ID(), v.passport.ID(), w.bg.ID(), w.passport.ID())
		case v.name == "":
			t.Errorf("column %q has no name", v.key)
		}
		delete(want, v.key)
	}
	for k := range want {
		t.Errorf("no column for variant %q", k)
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
