package results

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// MaxFileSize bounds what Load reads: a results file is data about a run,
// not the run's artifacts.
const MaxFileSize = 256 << 20

// Parse decodes a results file, rejecting unknown fields, trailing data
// and content that fails Validate. Artifact paths stay relative; the
// result has no base directory.
func Parse(data []byte) (*Results, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Results
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("results: decode: %w", err)
	}
	if dec.More() {
		return nil, errors.New("results: decode: trailing data after the results object")
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// Load reads and validates a results file; artifact paths are then
// relative to its directory (Base).
func Load(name string) (*Results, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, MaxFileSize+1)); err != nil {
		return nil, fmt.Errorf("results: read %s: %w", name, err)
	}
	if buf.Len() > MaxFileSize {
		return nil, fmt.Errorf("results: %s is larger than %d bytes", name, MaxFileSize)
	}
	r, err := Parse(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	r.base = filepath.Dir(name)
	return r, nil
}

// Marshal encodes r as written by Write (indented, trailing newline),
// with artifact paths as they are in r.
func (r *Results) Marshal() ([]byte, error) {
	c := r.Clone()
	c.normalize()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("results: encode: %w", err)
	}
	return append(b, '\n'), nil
}

// normalize writes empty lists as [] rather than null, as the schema wants.
func (r *Results) normalize() {
	if r.Profiles == nil {
		r.Profiles = []Profile{}
	}
	if r.Peers == nil {
		r.Peers = []Peer{}
	}
	if r.Specs == nil {
		r.Specs = []Spec{}
	}
}

// Write validates r and writes it to name atomically: a temporary file
// in the same directory, synced, then renamed over name, so a failure
// leaves any previous file intact. Artifact paths are rebased from r's
// base directory (if any) to name's directory; r itself is not changed.
func (r *Results) Write(name string) error {
	c := r.Clone()
	dir := filepath.Dir(name)
	if err := c.rebase(dir); err != nil {
		return err
	}
	data, err := c.Marshal()
	if err != nil {
		return err
	}
	return WriteFileAtomic(name, data)
}

// WriteFileAtomic writes data to name through a temporary file and a
// rename in the same directory.
func WriteFileAtomic(name string, data []byte) (err error) {
	dir := filepath.Dir(name)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("results: write %s: %w", tmp.Name(), err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("results: sync %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("results: close %s: %w", tmp.Name(), err)
	}
	if err = os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	return nil
}

// Rebase rewrites artifact paths to be relative to dir instead of the
// current base directory, and makes dir the base: for rendering or writing
// a run somewhere other than where its artifacts were recorded. A run with
// no base keeps its paths (they are taken as relative to dir already).
func (r *Results) Rebase(dir string) error { return r.rebase(dir) }

func (r *Results) rebase(dir string) error {
	if r.base == "" {
		r.base = dir
		return nil
	}
	from, err := filepath.Abs(r.base)
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	to, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	r.base = dir
	if from == to {
		return nil
	}
	var errs []error
	for i := range r.Specs {
		r.Specs[i].Artifacts.mapPaths(func(p string) string {
			rel, err := filepath.Rel(to, filepath.Join(from, filepath.FromSlash(p)))
			if err != nil {
				errs = append(errs, fmt.Errorf("results: rebase %s: %w", p, err))
				return p
			}
			return path.Clean(filepath.ToSlash(rel))
		})
	}
	return errors.Join(errs...)
}

// ArtifactPath returns an artifact's path joined with the base directory.
func (r *Results) ArtifactPath(p string) string {
	return filepath.Join(r.base, filepath.FromSlash(p))
}

// Merge combines several results files of the same suite version into
// one: profiles and peers are united (a name must mean the same thing in
// every input), specs are concatenated (an ID may appear in one input
// only), started/finished span all inputs, and MergedFrom lists the
// runs. Artifact paths are rebased onto the first input's directory.
// The inputs are not changed.
func Merge(rs ...*Results) (*Results, error) {
	if len(rs) == 0 {
		return nil, errors.New("results: merge: no inputs")
	}
	// A lone shard becomes a merged file too: one run of merged_from.
	if len(rs) == 1 && rs[0].Shard == nil {
		out := rs[0].Clone()
		out.Sort()
		return out, out.Validate()
	}
	out := rs[0].Clone()
	out.MergedFrom, out.Shard = nil, nil
	out.Profiles, out.Peers, out.Specs = nil, nil, nil
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("results: merge: "+format, args...))
	}
	profiles := map[string]Profile{}
	peers := map[string]Peer{}
	specFrom := map[string]string{}
	var runIDs []string
	for _, r := range rs {
		if r.SuiteVersion != out.SuiteVersion {
			bad("run %s is suite %s, run %s is suite %s", r.RunID, r.SuiteVersion, rs[0].RunID, out.SuiteVersion)
		}
		runs := r.MergedFrom
		if len(runs) == 0 {
			runs = []Run{{RunID: r.RunID, Started: r.Started, Finished: r.Finished, Host: r.Host, Shard: r.Shard.clone()}}
		}
		for _, run := range runs {
			if slices.Contains(runIDs, run.RunID) {
				bad("run %s given twice", run.RunID)
			}
			runIDs = append(runIDs, run.RunID)
			out.MergedFrom = append(out.MergedFrom, run)
		}
		if r.Started.Before(out.Started) {
			out.Started = r.Started
		}
		if r.Finished.After(out.Finished) {
			out.Finished = r.Finished
		}
		for _, p := range r.Profiles {
			if q, ok := profiles[p.Name]; ok && q != p {
				bad("profile %s is %s-%s in one run and %s-%s in another", p.Name, q.Draft, q.Revision, p.Draft, p.Revision)
			}
			profiles[p.Name] = p
		}
		for _, p := range r.Peers {
			if q, ok := peers[p.Name]; ok && (q.Kind != p.Kind || q.Version != p.Version || q.ImageDigest != p.ImageDigest) {
				bad("peer %s differs between runs (%s %s %s vs %s %s %s)", p.Name, q.Kind, q.Version, q.ImageDigest, p.Kind, p.Version, p.ImageDigest)
			}
			if q, ok := peers[p.Name]; ok {
				p.Capabilities = union(q.Capabilities, p.Capabilities)
			}
			peers[p.Name] = p
		}
		c := r.Clone()
		if rs[0].base != "" {
			if err := c.rebase(rs[0].base); err != nil {
				errs = append(errs, err)
			}
		}
		for _, s := range c.Specs {
			if from, dup := specFrom[s.ID]; dup {
				bad("spec %s is in runs %s and %s", s.ID, from, r.RunID)
				continue
			}
			specFrom[s.ID] = r.RunID
			out.Specs = append(out.Specs, s)
		}
	}
	slices.Sort(runIDs)
	out.RunID = strings.Join(runIDs, "+")
	// Each run keeps its own host in MergedFrom; the top level names one
	// only when they agree.
	if slices.ContainsFunc(out.MergedFrom, func(r Run) bool { return r.Host != out.MergedFrom[0].Host }) {
		out.Host = Host{Name: "several (see merged_from)"}
	}
	for _, p := range profiles {
		out.Profiles = append(out.Profiles, p)
	}
	for _, p := range peers {
		out.Peers = append(out.Peers, p)
	}
	out.base = rs[0].base
	out.Sort()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return out, nil
}

// union is a in its order (a manifest's), then what only b has: runs
// that list the same capabilities merge to that very list.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
