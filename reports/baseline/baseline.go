// Package baseline applies a peer's expected results to a run: the specs
// known to fail or be unsupported, each with a reason. Applying a
// baseline turns known failures into expected-fail and stale entries into
// unexpected-pass, so a run gates only on what nobody expected.
//
// The baseline is the peer's expected.json (peers/<name>/expected.json,
// contract.Expected): one format for the peer contract and the reports.
// Its patterns match a spec by case ID, case ID@role or spec ID (IDs).
package baseline

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/reports/results"
)

// Placeholder begins the reason Update gives a new failure: a person
// must replace it with the real reason.
const Placeholder = "FIXME: say why this fails"

// maxFileSize bounds what Load reads.
const maxFileSize = 16 << 20

// Load reads an expected-results file.
func Load(name string) (*contract.Expected, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("baseline: %s is larger than %d bytes", name, maxFileSize)
	}
	e, err := contract.ParseExpected(data)
	if err != nil {
		return nil, fmt.Errorf("baseline: %s: %w", name, err)
	}
	return e, nil
}

// Write writes e atomically (temporary file and rename).
func Write(name string, e *contract.Expected) error {
	data, err := e.Marshal()
	if err != nil {
		return err
	}
	return results.WriteFileAtomic(name, data)
}

// CaseID is the spec's ID without its pair suffix ("/client→server"):
// the model or test case it ran.
func CaseID(s results.Spec) string {
	return strings.TrimSuffix(s.ID, "/"+s.Pair.Client+"→"+s.Pair.Server)
}

// involves reports whether peer takes part in s ("" takes part in all).
func involves(s results.Spec, peer string) bool {
	return peer == "" || s.Pair.Client == peer || s.Pair.Server == peer
}

// IDs are the names a baseline pattern may match s by, for peer: the case
// ID, the case ID with the role peer played ("…@client", "…@server"), and
// the spec ID.
func IDs(s results.Spec, peer string) []string {
	c := CaseID(s)
	ids := []string{c}
	if peer != "" && s.Pair.Client != s.Pair.Server {
		role := "client"
		if s.Pair.Server == peer {
			role = "server"
		}
		ids = append(ids, c+"@"+role)
	}
	return append(ids, s.ID)
}

func outcomeOf(f contract.ExpectedFailure) results.Outcome {
	if f.Expects() == contract.ExpectUnsupported {
		return results.Unsupported
	}
	return results.Fail
}

// Apply records e's entries on the specs of r that peer takes part in
// ("" = every spec: a run-wide baseline) and adjusts their outcomes from
// what was observed (Outcome.Observed, so applying twice changes
// nothing):
//
//	entry fail:        observed fail → expected-fail; pass → unexpected-pass
//	entry unsupported: observed pass → unexpected-pass; unsupported stays
//	                   unsupported; fail stays fail (the peer tried and broke)
//
// Skipped specs keep their outcome. The first matching entry wins.
// unmatched lists the patterns that matched no spec of this run (filtered
// out, or renamed: worth a look).
func Apply(r *results.Results, peer string, e *contract.Expected) (unmatched []string) {
	used := make([]bool, len(e.Failures))
	for i := range r.Specs {
		s := &r.Specs[i]
		if !involves(*s, peer) {
			continue
		}
		j := e.Match(IDs(*s, peer)...)
		if j < 0 {
			continue
		}
		used[j] = true
		f := e.Failures[j]
		s.Expected = &results.Expectation{Outcome: outcomeOf(f), Reason: f.Reason}
		switch observed := s.Outcome.Observed(); {
		case observed == results.Pass:
			s.Outcome = results.UnexpectedPass
		case observed == results.Fail && s.Expected.Outcome == results.Fail:
			s.Outcome = results.ExpectedFail
		default:
			s.Outcome = observed
		}
	}
	for j, f := range e.Failures {
		if !used[j] {
			unmatched = append(unmatched, f.Case)
		}
	}
	return unmatched
}

// Reset undoes Apply on every spec: observed outcomes, no expectations.
func Reset(r *results.Results) {
	for i := range r.Specs {
		r.Specs[i].Outcome, r.Specs[i].Expected = r.Specs[i].Outcome.Observed(), nil
	}
}

// maxListed bounds how many specs Gate's error names.
const maxListed = 20

// Gate returns nil iff no spec of r failed unexpectedly or passed
// unexpectedly; otherwise an error naming them and their requirements.
func Gate(r *results.Results) error {
	bad := Unexpected(r)
	if len(bad) == 0 {
		return nil
	}
	n := len(bad)
	if n > maxListed {
		bad = append(bad[:maxListed], fmt.Sprintf("… and %d more", n-maxListed))
	}
	return fmt.Errorf("%d unexpected result(s):\n  %s", n, strings.Join(bad, "\n  "))
}

// Unexpected lists, sorted, one line per spec that gates the run: its
// outcome, ID and requirement IDs.
func Unexpected(r *results.Results) []string {
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
	slices.Sort(bad)
	return bad
}

// Update rewrites peer's baseline from run r (conformance run
// --update-baseline). Of previous (may be nil):
//   - an entry that matched no spec of r is kept: a filtered run says
//     nothing about it;
//   - an entry whose every matched spec still has its expected outcome
//     is kept as written (pattern and reason);
//   - an entry that matched specs of which some no longer have its
//     outcome is narrowed: exact entries, with its reason, for the specs
//     that still do;
//
// and every other spec peer takes part in whose observed outcome is fail
// or unsupported gets a new exact entry (case ID@role) whose reason
// begins with Placeholder. added lists those entries' cases: a person
// must write their reasons.
func Update(r *results.Results, peer string, previous *contract.Expected) (out *contract.Expected, added []string) {
	if previous == nil {
		previous = &contract.Expected{}
	}
	type hit struct {
		spec    results.Spec
		matches bool // the observed outcome is the entry's
	}
	hits := make([][]hit, len(previous.Failures))
	var fresh []results.Spec
	for _, s := range r.Specs {
		if !involves(s, peer) || s.Outcome == results.Skipped {
			continue
		}
		observed := s.Outcome.Observed()
		j := previous.Match(IDs(s, peer)...)
		if j >= 0 {
			hits[j] = append(hits[j], hit{s, observed == outcomeOf(previous.Failures[j])})
			if observed == outcomeOf(previous.Failures[j]) {
				continue
			}
		}
		if observed == results.Fail || observed == results.Unsupported {
			fresh = append(fresh, s)
		}
	}
	out = &contract.Expected{Failures: []contract.ExpectedFailure{}}
	for j, f := range previous.Failures {
		all := !slices.ContainsFunc(hits[j], func(h hit) bool { return !h.matches })
		if all {
			out.Failures = append(out.Failures, f)
			continue
		}
		for _, h := range hits[j] {
			if h.matches {
				out.Failures = append(out.Failures, contract.ExpectedFailure{Case: exactID(h.spec, peer), Reason: f.Reason, Outcome: f.Outcome})
			}
		}
	}
	for _, s := range fresh {
		f := contract.ExpectedFailure{Case: exactID(s, peer), Reason: placeholder(r.RunID, s)}
		if s.Outcome.Observed() == results.Unsupported {
			f.Outcome = contract.ExpectUnsupported
		}
		out.Failures = append(out.Failures, f)
		added = append(added, f.Case)
	}
	return out, added
}

// exactID names one spec of peer: its case ID and peer's role, or the
// spec ID when peer is "" or on both sides.
func exactID(s results.Spec, peer string) string {
	ids := IDs(s, peer)
	if len(ids) == 3 {
		return escape(ids[1])
	}
	return escape(s.ID)
}

// escape quotes path.Match's metacharacters so an ID matches itself.
func escape(id string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`).Replace(id)
}

func placeholder(runID string, s results.Spec) string {
	msg := strings.Join(strings.Fields(s.Message), " ")
	if msg == "" {
		msg = "no message"
	}
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return fmt.Sprintf("%s (recorded from run %s: %s)", Placeholder, runID, msg)
}

// ErrPlaceholders is returned by CheckReasons for a baseline with
// placeholder reasons left in it.
var ErrPlaceholders = errors.New("baseline: reasons still to be written")

// CheckReasons reports entries whose reason is still Update's placeholder.
func CheckReasons(e *contract.Expected) error {
	var left []string
	for _, f := range e.Failures {
		if strings.HasPrefix(f.Reason, Placeholder) {
			left = append(left, f.Case)
		}
	}
	if len(left) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrPlaceholders, strings.Join(left, ", "))
}
