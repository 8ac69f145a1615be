package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/attested-tls/conformance/reports/results"
)

// maxShards bounds N: more shards than that is a typo, not a CI matrix.
const maxShards = 256

// shardFlag is --shard K/N; zero when not given.
type shardFlag struct{ k, n int }

func (s *shardFlag) String() string {
	if s.n == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.k, s.n)
}

func (s *shardFlag) Set(v string) error {
	ks, ns, ok := strings.Cut(v, "/")
	k, kerr := strconv.Atoi(ks)
	n, nerr := strconv.Atoi(ns)
	switch {
	case !ok || kerr != nil || nerr != nil:
		return fmt.Errorf("want K/N, two whole numbers, e.g. 2/3")
	case n < 1 || n > maxShards:
		return fmt.Errorf("N is %d, want 1 to %d", n, maxShards)
	case k < 1 || k > n:
		return fmt.Errorf("K is %d, want 1 to %d (shards count from 1)", k, n)
	}
	s.k, s.n = k, n
	return nil
}

// plannedSpec is a spec of the tree as known before it runs: its full
// text (Ginkgo's, which results keep as the spec's description) and
// whether the run's label filter and focus select it.
type plannedSpec struct {
	text     string
	selected bool
}

// previewedSpecs lists the specs of a preview (ginkgo.PreviewSpecs) of
// the tree: its It nodes, selected unless the filters skipped them.
func previewedSpecs(r types.Report) []plannedSpec {
	var out []plannedSpec
	for _, sr := range r.SpecReports {
		if sr.LeafNodeType != types.NodeTypeIt {
			continue
		}
		out = append(out, plannedSpec{text: sr.FullText(), selected: !sr.State.Is(types.SpecStateSkipped | types.SpecStatePending)})
	}
	return out
}

// shardPlan is a partition of the tree's specs into N shards.
//
// The key of a spec is its full text: the only identity a spec has before
// it runs (its result's ID is made from what it records), the same on
// every machine and in every run of a suite version, and unique in the
// tree (a text given twice is one unit, in one shard). The selected
// specs, sorted by key, are dealt round-robin; then the unselected ones,
// which still appear in results (as skipped), dealt on from where the
// selected stopped. So the specs that run differ by at most one between
// shards, nothing depends on Ginkgo's seed or the machine, and neighbours
// in the sorted order (one profile, model, peer and kind: specs of like
// cost) are spread over all shards rather than left in one.
type shardPlan struct {
	k, n     int
	of       map[string]int // key → shard, 1-based
	selected []int          // selected specs per shard, [0] unused
	// specSet is the digest of what was partitioned: every key and
	// whether it was selected.
	specSet string
}

func planShards(specs []plannedSpec, k, n int) *shardPlan {
	p := &shardPlan{k: k, n: n, of: map[string]int{}, selected: make([]int, n+1)}
	var sel, unsel []string
	seen := map[string]bool{}
	for _, s := range specs {
		if seen[s.text] {
			continue
		}
		seen[s.text] = true
		if s.selected {
			sel = append(sel, s.text)
		} else {
			unsel = append(unsel, s.text)
		}
	}
	slices.Sort(sel)
	slices.Sort(unsel)
	h := sha256.New()
	i := 0
	for _, group := range []struct {
		keys     []string
		selected bool
	}{{sel, true}, {unsel, false}} {
		for _, key := range group.keys {
			shard := i%n + 1
			p.of[key] = shard
			if group.selected {
				p.selected[shard]++
			}
			i++
			// Length-prefixed, so no two sets digest alike.
			fmt.Fprintf(h, "%t %d %s\n", group.selected, len(key), key)
		}
	}
	p.specSet = "sha256:" + hex.EncodeToString(h.Sum(nil))
	return p
}

// has reports whether the spec with this full text is this shard's. A
// text the plan does not know (none should exist) is in every shard, so
// it is not lost; a merge then names it as in two shards.
func (p *shardPlan) has(text string) bool {
	s, ok := p.of[text]
	return !ok || s == p.k
}

// total is the number of selected specs in all shards.
func (p *shardPlan) total() int {
	n := 0
	for _, c := range p.selected {
		n += c
	}
	return n
}

// apply keeps in res the specs of this shard (results of the other
// shards' specs are skips) and records the shard. strays are the IDs of
// specs whose text the plan did not know.
func (p *shardPlan) apply(res *results.Results, settings []string) (strays []string) {
	res.Specs = slices.DeleteFunc(res.Specs, func(s results.Spec) bool {
		if _, known := p.of[s.Description]; !known {
			strays = append(strays, s.ID)
		}
		return !p.has(s.Description)
	})
	sh := &results.Shard{Index: p.k, Total: p.n, SpecSet: p.specSet, Settings: settings}
	for _, s := range res.Specs {
		sh.Specs = append(sh.Specs, s.ID)
	}
	res.Shard = sh
	res.Sort()
	return strays
}

// shardSettings are the run's settings that change outcomes without
// changing which specs run: shards that differ in them do not add up to
// one run, so each shard records them and a merge compares them.
func (p *runPlan) shardSettings() []string {
	base := p.base
	if p.runWide != nil {
		base = "file" // its path may differ between machines; its digest is below
	}
	s := []string{"baseline=" + base, "services=" + p.services, "root-of-trust=" + p.root, "verifier=" + p.verifier}
	if p.base != "none" {
		for _, peer := range p.peers {
			s = append(s, "expected:"+peer.Name()+"="+digestJSON(peer.Expected))
		}
	}
	if p.runWide != nil {
		s = append(s, "expected:run-wide="+digestJSON(p.runWide))
	}
	slices.Sort(s)
	return s
}

// digestJSON is "sha256:<hex>" of v's JSON encoding (deterministic for
// the structs it is given).
func digestJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Never for a parsed baseline; a digest of the error still
		// tells two shards apart only if their errors differ.
		b = []byte(err.Error())
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
