package results

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var testSpecSet = "sha256:" + strings.Repeat("5e", 32)

// unsharded is the sample with five specs more, all between in-process
// endpoints, so that three shards hold two or three each.
func unsharded() *Results {
	r := sample()
	for i := range 5 {
		r.Specs = append(r.Specs, Spec{
			ID: fmt.Sprintf("ta-07/spec-%d/go→go", i), Pair: Pair{Client: "go", Server: "go"}, Profile: "ta-07",
			Role: RoleBoth, Outcome: Pass, Duration: Duration(time.Millisecond),
		})
	}
	r.Sort()
	return r
}

// shardsOf splits r into n shards the way a sharded run writes them: the
// i-th spec in shard i mod n + 1, each shard its own run.
func shardsOf(r *Results, n int) []*Results {
	var out []*Results
	for k := 1; k <= n; k++ {
		s := r.Clone()
		s.RunID = fmt.Sprintf("%s-shard-%dof%d", r.RunID, k, n)
		s.Started = r.Started.Add(time.Duration(k) * time.Second)
		s.Specs = nil
		s.Shard = &Shard{Index: k, Total: n, SpecSet: testSpecSet, Settings: []string{"services=needed"}}
		for i, sp := range r.Specs {
			if i%n+1 == k {
				s.Specs = append(s.Specs, sp)
				s.Shard.Specs = append(s.Shard.Specs, sp.ID)
			}
		}
		out = append(out, s)
	}
	return out
}

// A shard's results file validates against the schema and parses; what
// either refuses, both refuse; what only Go can check (its spec list is
// its specs) Validate refuses.
func TestShardFileAgainstSchema(t *testing.T) {
	shard := shardsOf(unsharded(), 3)[1]
	base, err := shard.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	schema := compiledSchema(t)
	if err := schema.Validate(base); err != nil {
		t.Fatalf("shard file does not validate: %v\n%s", err, base)
	}
	back, err := Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	if back.Shard == nil || back.Shard.Name() != "2/3" || len(back.Shard.Specs) != len(back.Specs) || len(back.Specs) == 0 {
		t.Errorf("parsed shard %+v with %d specs", back.Shard, len(back.Specs))
	}
	for name, mutate := range map[string]func(s map[string]any){
		"index 0":  func(s map[string]any) { s["index"] = 0 },
		"total 0":  func(s map[string]any) { s["total"] = 0 },
		"spec set": func(s map[string]any) { s["spec_set"] = "md5:abc" },
		"spec listed twice": func(s map[string]any) {
			s["specs"] = append(s["specs"].([]any), s["specs"].([]any)[0])
		},
		"empty setting": func(s map[string]any) { s["settings"] = []any{""} },
		"no specs list": func(s map[string]any) { delete(s, "specs") },
		"unknown field": func(s map[string]any) { s["seed"] = 1 },
	} {
		var m map[string]any
		if err := json.Unmarshal(base, &m); err != nil {
			t.Fatal(err)
		}
		mutate(m["shard"].(map[string]any))
		doc, _ := json.Marshal(m)
		if err := schema.Validate(doc); err == nil {
			t.Errorf("%s: schema accepted it", name)
		}
		if _, err := Parse(doc); err == nil {
			t.Errorf("%s: Parse accepted it", name)
		}
	}
	for name, mutate := range map[string]func(r *Results){
		"index past total":    func(r *Results) { r.Shard.Index = 4 },
		"a spec not listed":   func(r *Results) { r.Shard.Specs = r.Shard.Specs[1:] },
		"a listed spec, none": func(r *Results) { r.Shard.Specs = append(r.Shard.Specs, "ta-07/elsewhere/go→go") },
		"merged from runs":    func(r *Results) { r.MergedFrom = []Run{{RunID: "x", Started: t0, Finished: t0}} },
	} {
		r := shard.Clone()
		mutate(r)
		if err := r.Validate(); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
	}
}

// The shards of a run merge, in any order, into its specs; each run of
// merged_from names its shard; the merged file has none of its own.
func TestMergeShards(t *testing.T) {
	want := unsharded()
	shards := shardsOf(want, 3)
	for i, s := range shards {
		s.SetBase(filepath.Join("/runs", fmt.Sprint(i+1)))
	}
	m, err := MergeShards(shards[2], shards[0], shards[1])
	if err != nil {
		t.Fatal(err)
	}
	if m.Shard != nil || len(m.MergedFrom) != 3 {
		t.Fatalf("merged shard %+v, merged_from %d", m.Shard, len(m.MergedFrom))
	}
	for i, run := range m.MergedFrom {
		if run.Shard == nil || run.Shard.Index != i+1 || !slices.Equal(run.Shard.Specs, shards[i].Shard.Specs) {
			t.Errorf("merged_from[%d] shard %+v, want shard %d/3 and its specs", i, run.Shard, i+1)
		}
	}
	// Artifact paths were rebased onto the first input's folder; rebased
	// back onto the folder of the shard that ran them (the second), specs are the
	// unsharded run's.
	for i, s := range m.Specs {
		if s.Artifacts.Pcap != "" {
			m.Specs[i].Artifacts.mapPaths(func(p string) string { return strings.TrimPrefix(p, "../2/") })
		}
	}
	if !reflect.DeepEqual(m.Specs, want.Specs) {
		t.Errorf("merged specs differ from the unsharded run's:\n got %+v\nwant %+v", m.Specs, want.Specs)
	}
	if _, err := m.Marshal(); err != nil {
		t.Errorf("merged file: %v", err)
	}
	// One shard of one is a run of its own.
	if one, err := MergeShards(shardsOf(want, 1)...); err != nil || one.Shard != nil || len(one.Specs) != len(want.Specs) {
		t.Errorf("1/1: %v, shard %+v, %d specs", err, one.Shard, len(one.Specs))
	}
}

// Shards that do not make up one run are refused, each with a message
// that says why.
func TestMergeShardsRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		inputs func(s []*Results) []*Results
		want   string
	}{
		"missing shard": {func(s []*Results) []*Results { return []*Results{s[0], s[2]} }, "shard 2 of 3 missing"},
		"duplicate shard": {func(s []*Results) []*Results {
			again := s[1].Clone()
			again.RunID = "again"
			return []*Results{s[0], s[1], again, s[2]}
		}, "shard 2/3 given twice"},
		"different N": {func(s []*Results) []*Results {
			return append(s, shardsOf(unsharded(), 4)[3])
		}, "split the run differently (3 and 4 shards)"},
		"different spec set": {func(s []*Results) []*Results {
			s[1].Shard.SpecSet = "sha256:" + strings.Repeat("00", 32)
			return s
		}, "partitioned different spec sets"},
		"different settings": {func(s []*Results) []*Results {
			s[2].Shard.Settings = []string{"services=real"}
			return s
		}, "different settings: -services=needed +services=real"},
		"spec in two shards, outcomes differ": {func(s []*Results) []*Results {
			sp := s[0].Specs[0]
			sp.Outcome, sp.Message = Fail, "broke"
			s[1].Specs = append(s[1].Specs, sp)
			s[1].Shard.Specs = append(s[1].Shard.Specs, sp.ID)
			s[1].Sort()
			return s
		}, "with different outcomes (pass and fail)"},
		"spec in two shards": {func(s []*Results) []*Results {
			s[1].Specs = append(s[1].Specs, s[0].Specs[0])
			s[1].Shard.Specs = append(s[1].Shard.Specs, s[0].Specs[0].ID)
			s[1].Sort()
			return s
		}, "is in both shard 1/3"},
		"not a shard": {func(s []*Results) []*Results {
			s[1].Shard = nil
			return s
		}, "is not a shard"},
		"peer version": {func(s []*Results) []*Results {
			s[1].Peers[1].Version = "3.6.7"
			return s
		}, "peer mbedtls differs"},
		"suite version": {func(s []*Results) []*Results {
			s[2].SuiteVersion = "v0.2.0"
			return s
		}, "is suite v0.2.0"},
	} {
		_, err := MergeShards(tc.inputs(shardsOf(unsharded(), 3))...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one saying %q", name, err, tc.want)
		}
	}
}
