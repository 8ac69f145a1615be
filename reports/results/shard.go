package results

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Shard says which part of a sharded run (conformance run --shard K/N) a
// results file holds, and what MergeShards needs to tell whether shards
// belong together.
type Shard struct {
	// Index is K, counted from 1; Total is N.
	Index int `json:"index"`
	Total int `json:"total"`
	// SpecSet identifies the specs that were partitioned ("sha256:<hex>"
	// of every spec's text and whether the run selected it): shards of
	// different peers, profiles, filters or suite versions differ here.
	SpecSet string `json:"spec_set"`
	// Settings are what changes outcomes but not which specs run (the
	// baselines applied, services, root of trust, verifier), as
	// "name=value": shards that differ here do not add up to one run.
	Settings []string `json:"settings,omitempty"`
	// Specs are the IDs of the specs this shard covered: those of its
	// results, so a merge can say where each spec came from.
	Specs []string `json:"specs"`
}

func (s *Shard) clone() *Shard {
	if s == nil {
		return nil
	}
	c := *s
	c.Settings, c.Specs = slices.Clone(s.Settings), slices.Clone(s.Specs)
	return &c
}

// ShardsMerged is how many shards r was merged from.
func (r *Results) ShardsMerged() int {
	n := 0
	for _, run := range r.MergedFrom {
		if run.Shard != nil {
			n++
		}
	}
	return n
}

// Name is "K/N".
func (s *Shard) Name() string { return strconv.Itoa(s.Index) + "/" + strconv.Itoa(s.Total) }

var specSetRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func (s *Shard) validate() error {
	var errs []error
	if s.Total < 1 || s.Index < 1 || s.Index > s.Total {
		errs = append(errs, fmt.Errorf("shard %d/%d: want 1 ≤ index ≤ total", s.Index, s.Total))
	}
	if !specSetRE.MatchString(s.SpecSet) {
		errs = append(errs, fmt.Errorf("shard spec_set %q is not sha256:<64 hex>", s.SpecSet))
	}
	if slices.Contains(s.Settings, "") {
		errs = append(errs, errors.New("shard lists an empty setting"))
	}
	if dup := firstDuplicate(s.Settings); dup != "" {
		errs = append(errs, fmt.Errorf("shard setting %q listed twice", dup))
	}
	if slices.Contains(s.Specs, "") {
		errs = append(errs, errors.New("shard lists an empty spec id"))
	}
	if dup := firstDuplicate(s.Specs); dup != "" {
		errs = append(errs, fmt.Errorf("shard lists spec %q twice", dup))
	}
	return errors.Join(errs...)
}

// shard checks a shard file's shard against its specs: it covered
// exactly the specs it holds.
func (v *validator) shard(r *Results) {
	if r.Shard == nil {
		return
	}
	if err := r.Shard.validate(); err != nil {
		v.bad("%v", err)
	}
	if len(r.MergedFrom) > 0 {
		v.bad("a shard is one run, but merged_from lists %d", len(r.MergedFrom))
	}
	ids := map[string]bool{}
	for _, s := range r.Specs {
		ids[s.ID] = true
	}
	covered := map[string]bool{}
	for _, id := range r.Shard.Specs {
		covered[id] = true
	}
	if !maps.Equal(ids, covered) {
		v.bad("shard %s lists %d spec ids, its results hold %d other specs", r.Shard.Name(), len(covered), len(ids))
	}
}

// describeShard names an input of MergeShards in errors: its shard, run
// and folder.
func describeShard(r *Results) string {
	s := "shard " + r.Shard.Name() + " (run " + r.RunID
	if r.base != "" {
		s += ", in " + r.base
	}
	return s + ")"
}

// MergeShards merges the results of every shard of one sharded run into
// the results the run would have had unsharded: every shard K of N must
// be there once, all of the same N, spec set and settings, and no spec
// may be in two shards. What Merge checks (suite version, profiles,
// peers) holds too. The merged file has no shard; each run of its
// merged_from names the shard it was.
func MergeShards(rs ...*Results) (*Results, error) {
	if len(rs) == 0 {
		return nil, errors.New("results: merge shards: no inputs")
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("results: merge shards: "+format, args...))
	}
	for _, r := range rs {
		if r.Shard == nil {
			return nil, fmt.Errorf("results: merge shards: run %s is not a shard (run without --shard); merge only the shards of one run", r.RunID)
		}
	}
	first := rs[0]
	n := first.Shard.Total
	byIndex := map[int]*Results{}
	for _, r := range rs {
		s := r.Shard
		switch {
		case s.Total != n:
			bad("%s and %s split the run differently (%d and %d shards)", describeShard(first), describeShard(r), n, s.Total)
			continue
		case s.SpecSet != first.Shard.SpecSet:
			bad("%s and %s partitioned different spec sets (other peers, profiles, filters or suite version)", describeShard(first), describeShard(r))
		case !slices.Equal(s.Settings, first.Shard.Settings):
			bad("%s and %s ran with different settings: %s", describeShard(first), describeShard(r), settingsDiff(first.Shard.Settings, s.Settings))
		}
		if prev, dup := byIndex[s.Index]; dup {
			bad("shard %s given twice: %s and %s", s.Name(), describeShard(prev), describeShard(r))
			continue
		}
		byIndex[s.Index] = r
	}
	var missing []string
	for k := 1; k <= n; k++ {
		if byIndex[k] == nil {
			missing = append(missing, strconv.Itoa(k))
		}
	}
	if len(missing) > 0 {
		bad("shard %s of %d missing (have %d of %d shards)", strings.Join(missing, ", "), n, len(byIndex), n)
	}
	// A shard given twice overlaps itself in every spec: said above.
	var distinct []*Results
	for k := 1; k <= n; k++ {
		if r := byIndex[k]; r != nil {
			distinct = append(distinct, r)
		}
	}
	errs = append(errs, overlaps(distinct)...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// Merge keeps each shard in its run of merged_from.
	return Merge(rs...)
}

// maxOverlaps bounds how many overlapping specs MergeShards names: two
// shards of different partitions overlap in hundreds.
const maxOverlaps = 10

// overlaps are the specs that more than one shard holds: a partition
// gives each spec to one shard, so any is an error, worse when the
// outcomes differ.
func overlaps(rs []*Results) []error {
	type seen struct {
		r *Results
		s Spec
	}
	var errs []error
	at := map[string]seen{}
	for _, r := range rs {
		for _, s := range r.Specs {
			prev, dup := at[s.ID]
			if !dup {
				at[s.ID] = seen{r, s}
				continue
			}
			if len(errs) == maxOverlaps {
				errs = append(errs, errors.New("results: merge shards: … and more specs in two shards"))
			}
			if len(errs) > maxOverlaps {
				continue
			}
			if prev.s.Outcome != s.Outcome {
				errs = append(errs, fmt.Errorf("results: merge shards: spec %s is in %s and %s with different outcomes (%s and %s)",
					s.ID, describeShard(prev.r), describeShard(r), prev.s.Outcome, s.Outcome))
			} else {
				errs = append(errs, fmt.Errorf("results: merge shards: spec %s is in both %s and %s", s.ID, describeShard(prev.r), describeShard(r)))
			}
		}
	}
	return errs
}

// settingsDiff names the settings two shards do not share.
func settingsDiff(a, b []string) string {
	var d []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			d = append(d, "-"+s)
		}
	}
	for _, s := range b {
		if !slices.Contains(a, s) {
			d = append(d, "+"+s)
		}
	}
	return strings.Join(d, " ")
}
