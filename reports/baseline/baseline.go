// Package baseline holds a peer's expected results: the specs known to
// fail or be unsupported, each with a reason. Applying a baseline turns
// known failures into expected-fail and stale entries into
// unexpected-pass, so a run gates only on what nobody expected.
package baseline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/attested-tls/conformance/reports/results"
)

// SchemaVersion is the baseline file format.
const SchemaVersion = 1

// maxFileSize bounds what Load reads.
const maxFileSize = 16 << 20

// Baseline is one peer's expected-results file.
type Baseline struct {
	SchemaVersion int `json:"schema_version"`
	// Peer is the peer the entries are about; "" for a baseline covering
	// every spec of a run.
	Peer     string  `json:"peer"`
	Expected []Entry `json:"expected"`
}

// Entry is one spec the peer is expected not to pass.
type Entry struct {
	Spec string `json:"spec"`
	// Outcome is results.Fail or results.Unsupported.
	Outcome results.Outcome `json:"outcome"`
	// Reason says why, for people: a bug reference, a missing feature.
	Reason string `json:"reason"`
}

// Validate checks versions, outcomes, reasons and that no spec is listed
// twice.
func (b *Baseline) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("baseline: "+format, args...))
	}
	if b.SchemaVersion != SchemaVersion {
		bad("schema_version %d, want %d", b.SchemaVersion, SchemaVersion)
	}
	seen := map[string]bool{}
	for i, e := range b.Expected {
		where := strconv.Quote(e.Spec)
		if strings.TrimSpace(e.Spec) == "" {
			where = "entry " + strconv.Itoa(i)
			bad("%s: empty spec id", where)
		} else if seen[e.Spec] {
			bad("%s: listed twice", where)
		}
		seen[e.Spec] = true
		if e.Outcome != results.Fail && e.Outcome != results.Unsupported {
			bad("%s: outcome %q, want fail or unsupported", where, e.Outcome)
		}
		if strings.TrimSpace(e.Reason) == "" {
			bad("%s: a reason is required", where)
		}
	}
	return errors.Join(errs...)
}

// Parse decodes a baseline, rejecting unknown fields and trailing data.
func Parse(data []byte) (*Baseline, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var b Baseline
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("baseline: decode: %w", err)
	}
	if dec.More() {
		return nil, errors.New("baseline: decode: trailing data")
	}
	if err := b.Validate(); err != nil {
		return nil, err
	}
	return &b, nil
}

// Load reads a baseline file.
func Load(name string) (*Baseline, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("baseline: %s is larger than %d bytes", name, maxFileSize)
	}
	b, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

// Marshal encodes b with entries sorted by spec ID, so rewritten
// baselines diff cleanly.
func (b *Baseline) Marshal() ([]byte, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	c := *b
	c.Expected = slices.Clone(b.Expected)
	if c.Expected == nil {
		c.Expected = []Entry{}
	}
	slices.SortFunc(c.Expected, func(x, y Entry) int { return strings.Compare(x.Spec, y.Spec) })
	out, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("baseline: encode: %w", err)
	}
	return append(out, '\n'), nil
}

// Write writes b atomically (temporary file and rename).
func (b *Baseline) Write(name string) error {
	data, err := b.Marshal()
	if err != nil {
		return err
	}
	return results.WriteFileAtomic(name, data)
}

func (b *Baseline) entry(spec string) (Entry, bool) {
	i := slices.IndexFunc(b.Expected, func(e Entry) bool { return e.Spec == spec })
	if i < 0 {
		return Entry{}, false
	}
	return b.Expected[i], true
}

// involves reports whether the baseline's peer takes part in s.
func (b *Baseline) involves(s results.Spec) bool {
	return b.Peer == "" || s.Pair.Client == b.Peer || s.Pair.Server == b.Peer
}

// Apply records b's entries on the matching specs of r and adjusts their
// outcomes from what was observed (Outcome.Observed, so applying twice
// changes nothing):
//
//	entry fail:        observed fail → expected-fail; pass → unexpected-pass
//	entry unsupported: observed pass → unexpected-pass; unsupported stays
//	                   unsupported; fail stays fail (the peer tried and broke)
//
// Skipped specs keep their outcome. Apply each peer's baseline in turn; a
// spec listed in two baselines takes the entry applied last. unmatched
// lists entries whose spec was not in this run (filtered out or renamed);
// an entry naming a spec the baseline's peer takes no part in is an error
// and is not applied.
func Apply(r *results.Results, b *Baseline) (unmatched []string, err error) {
	var errs []error
	for _, e := range b.Expected {
		i := slices.IndexFunc(r.Specs, func(s results.Spec) bool { return s.ID == e.Spec })
		if i < 0 {
			unmatched = append(unmatched, e.Spec)
			continue
		}
		s := &r.Specs[i]
		if !b.involves(*s) {
			errs = append(errs, fmt.Errorf("baseline %s: spec %s is between %s and %s", b.Peer, s.ID, s.Pair.Client, s.Pair.Server))
			continue
		}
		s.Expected = &results.Expectation{Outcome: e.Outcome, Reason: e.Reason}
		switch observed := s.Outcome.Observed(); {
		case observed == results.Pass:
			s.Outcome = results.UnexpectedPass
		case observed == results.Fail && e.Outcome == results.Fail:
			s.Outcome = results.ExpectedFail
		default:
			s.Outcome = observed
		}
	}
	slices.Sort(unmatched)
	return unmatched, errors.Join(errs...)
}

// maxListed bounds how many specs Gate's error names.
const maxListed = 20

// Gate returns nil iff no spec of r failed unexpectedly or passed
// unexpectedly; otherwise an error naming them and their requirements.
func Gate(r *results.Results) error {
	var bad []string
	for _, s := range r.Specs {
		if !s.Outcome.Gates() {
			continue
		}
		line := string(s.Outcome) + " " + s.ID
		if len(s.Requirements) > 0 {
			line += " [" + strings.Join(s.Requirements, " ") + "]"
		}
		bad = append(bad, line)
	}
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	n := len(bad)
	if n > maxListed {
		bad = append(bad[:maxListed], fmt.Sprintf("… and %d more", n-maxListed))
	}
	return fmt.Errorf("%d unexpected result(s):\n  %s", n, strings.Join(bad, "\n  "))
}

// Update rewrites peer's baseline from run r (for --update-baseline): every
// spec peer takes part in ("" = every spec) whose observed outcome is fail
// or unsupported gets an entry; specs that passed lose theirs; entries of
// previous (may be nil) for specs not in r are kept, since a filtered run
// says nothing about them. A reason is carried over from previous or from
// the spec's applied expectation when the outcome is unchanged; otherwise
// it says it was recorded from this run, for a person to rewrite.
func Update(r *results.Results, peer string, previous *Baseline) *Baseline {
	out := &Baseline{SchemaVersion: SchemaVersion, Peer: peer}
	if previous == nil {
		previous = &Baseline{}
	}
	ran := map[string]bool{}
	for _, s := range r.Specs {
		ran[s.ID] = true
		if !out.involves(s) {
			continue
		}
		observed := s.Outcome.Observed()
		if observed != results.Fail && observed != results.Unsupported {
			continue
		}
		e := Entry{Spec: s.ID, Outcome: observed}
		if p, ok := previous.entry(s.ID); ok && p.Outcome == observed {
			e.Reason = p.Reason
		} else if s.Expected != nil && s.Expected.Outcome == observed {
			e.Reason = s.Expected.Reason
		} else {
			msg := strings.TrimSpace(s.Message)
			if msg == "" {
				msg = "no message"
			}
			e.Reason = fmt.Sprintf("recorded from run %s: %s", r.RunID, msg)
		}
		out.Expected = append(out.Expected, e)
	}
	for _, p := range previous.Expected {
		if !ran[p.Spec] {
			out.Expected = append(out.Expected, p)
		}
	}
	slices.SortFunc(out.Expected, func(x, y Entry) int { return strings.Compare(x.Spec, y.Spec) })
	return out
}
