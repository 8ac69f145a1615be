package results

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var (
	digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	nameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
)

// Validate checks what the JSON Schema checks plus the cross-references
// it cannot express: unique names and IDs, specs naming known peers and
// profiles, and outcomes agreeing with their baseline expectation.
func (r *Results) Validate() error {
	v := &validator{}
	v.run(r)
	v.shard(r)
	profiles := v.profiles(r.Profiles)
	peers := v.peers(r.Peers)
	ids := map[string]bool{}
	for _, s := range r.Specs {
		v.spec(s, ids, peers, profiles)
	}
	return errors.Join(v.errs...)
}

// validator collects Validate's problems in the order it finds them.
type validator struct{ errs []error }

func (v *validator) bad(format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("results: "+format, args...))
}

// run checks the run's own fields and the runs it was merged from.
func (v *validator) run(r *Results) {
	if r.SchemaVersion != SchemaVersion {
		v.bad("schema_version %d, want %d", r.SchemaVersion, SchemaVersion)
	}
	if r.SuiteVersion == "" {
		v.bad("suite_version is empty")
	}
	if r.RunID == "" {
		v.bad("run_id is empty")
	}
	if r.Started.IsZero() || r.Finished.IsZero() {
		v.bad("started and finished are required")
	} else if r.Finished.Before(r.Started) {
		v.bad("finished %s before started %s", r.Finished, r.Started)
	}
	for i, m := range r.MergedFrom {
		if m.RunID == "" || m.Started.IsZero() || m.Finished.IsZero() {
			v.bad("merged_from[%d]: run_id, started and finished are required", i)
		}
		if m.Shard != nil {
			if err := m.Shard.validate(); err != nil {
				v.bad("merged_from[%d]: %v", i, err)
			}
		}
	}
}

// name checks the name of a listed thing (a profile, a peer) and adds it
// to seen.
func (v *validator) name(what, name string, seen map[string]bool) {
	switch {
	case !nameRE.MatchString(name):
		v.bad("%s %q: bad name", what, name)
	case seen[name]:
		v.bad("%s %q: listed twice", what, name)
	}
	seen[name] = true
}

// profiles checks the profiles and returns their names, for the specs.
func (v *validator) profiles(ps []Profile) map[string]bool {
	profiles := map[string]bool{}
	for _, p := range ps {
		v.name("profile", p.Name, profiles)
		if p.Draft == "" || p.Revision == "" {
			v.bad("profile %q: draft and revision are required", p.Name)
		}
	}
	return profiles
}

// peers checks the peers and returns their names, for the specs.
func (v *validator) peers(ps []Peer) map[string]bool {
	peers := map[string]bool{}
	for _, p := range ps {
		v.name("peer", p.Name, peers)
		if p.Kind != InProcess && p.Kind != Process && p.Kind != Container {
			v.bad("peer %q: unknown kind %q", p.Name, p.Kind)
		}
		if p.Version == "" {
			v.bad("peer %q: version is required", p.Name)
		}
		if p.ImageDigest != "" && !digestRE.MatchString(p.ImageDigest) {
			v.bad("peer %q: image_digest %q is not sha256:<64 hex>", p.Name, p.ImageDigest)
		}
		if slices.Contains(p.Capabilities, "") {
			v.bad("peer %q: empty capability", p.Name)
		}
		if dup := firstDuplicate(p.Capabilities); dup != "" {
			v.bad("peer %q: capability %q listed twice", p.Name, dup)
		}
	}
	return peers
}

// spec checks one spec: what it is (its ID, unique among ids, which it
// joins; the peers and profile it names; its model, role and
// requirements), then its outcome and what it observed.
func (v *validator) spec(s Spec, ids, peers, profiles map[string]bool) {
	where := "spec " + strconv.Quote(s.ID)
	if strings.TrimSpace(s.ID) == "" {
		v.bad("spec with empty id")
	} else if ids[s.ID] {
		v.bad("%s: listed twice", where)
	}
	ids[s.ID] = true
	if !peers[s.Pair.Client] || !peers[s.Pair.Server] {
		v.bad("%s: pair %s→%s names a peer not in peers", where, s.Pair.Client, s.Pair.Server)
	}
	if !profiles[s.Profile] {
		v.bad("%s: profile %q not in profiles", where, s.Profile)
	}
	for side, m := range map[string]Side{"server": s.Model.Server, "client": s.Model.Client} {
		if err := m.validate(); err != nil {
			v.bad("%s: model %s: %v", where, side, err)
		}
	}
	if !s.Role.valid() {
		v.bad("%s: unknown role %q", where, s.Role)
	}
	for _, req := range s.Requirements {
		if strings.TrimSpace(req) == "" {
			v.bad("%s: empty requirement id", where)
		}
	}
	if dup := firstDuplicate(s.Requirements); dup != "" {
		v.bad("%s: requirement %q listed twice", where, dup)
	}
	v.specOutcome(where, s)
	v.specObserved(where, s)
}

// specOutcome checks a spec's outcome against its baseline expectation,
// and its duration.
func (v *validator) specOutcome(where string, s Spec) {
	if !s.Outcome.Valid() {
		v.bad("%s: unknown outcome %q", where, s.Outcome)
	}
	if s.Expected != nil {
		if s.Expected.Outcome != Fail && s.Expected.Outcome != Unsupported {
			v.bad("%s: expected outcome %q, want fail or unsupported", where, s.Expected.Outcome)
		}
		if strings.TrimSpace(s.Expected.Reason) == "" {
			v.bad("%s: expectation without a reason", where)
		}
	}
	if (s.Outcome == ExpectedFail || s.Outcome == UnexpectedPass) && s.Expected == nil {
		v.bad("%s: outcome %s without an expectation", where, s.Outcome)
	}
	if s.Duration < 0 {
		v.bad("%s: negative duration", where)
	}
}

// specObserved checks what a spec observed: alerts, verdicts, artifact
// paths and an attack's verdict.
func (v *validator) specObserved(where string, s Spec) {
	for _, a := range s.Alerts {
		if !a.SentBy.valid() || a.Name == "" {
			v.bad("%s: alert %d: name and sent_by (client or server) are required", where, a.Code)
		}
	}
	for _, vd := range s.Verdicts {
		if !vd.Attester.valid() {
			v.bad("%s: verdict attester %q, want client or server", where, vd.Attester)
		}
		if vd.Status != Accepted && vd.Status != Rejected {
			v.bad("%s: verdict status %q, want accepted or rejected", where, vd.Status)
		}
		switch vd.TrustTier {
		case "", TierNone, TierAffirming, TierWarning, TierContraindicated:
		default:
			v.bad("%s: unknown trust tier %q", where, vd.TrustTier)
		}
	}
	for _, p := range s.Artifacts.Paths() {
		if err := checkArtifactPath(p); err != nil {
			v.bad("%s: %v", where, err)
		}
	}
	if s.Attack != nil {
		if err := s.Attack.validate(); err != nil {
			v.bad("%s: %v", where, err)
		}
	}
}

func (s Side) validate() error {
	if s.Topology != "" && s.Topology != Passport && s.Topology != Background {
		return fmt.Errorf("unknown topology %q", s.Topology)
	}
	if s.Credential != "" && s.Credential != X509 && s.Credential != AttestationOnly {
		return fmt.Errorf("unknown credential %q", s.Credential)
	}
	if s.Attests && (s.Topology == "" || s.Credential == "") {
		return errors.New("an attesting side needs topology and credential")
	}
	return nil
}

// checkArtifactPath admits clean, relative, slash-separated paths; ".."
// is allowed because merged files may point into sibling run folders.
func checkArtifactPath(p string) error {
	switch {
	case p == "" || strings.ContainsAny(p, "\\\x00"):
		return fmt.Errorf("artifact path %q: empty or not slash-separated", p)
	case path.IsAbs(p):
		return fmt.Errorf("artifact path %q: absolute, want relative to the results file", p)
	case path.Clean(p) != p:
		return fmt.Errorf("artifact path %q: not clean (want %q)", p, path.Clean(p))
	}
	return nil
}

func firstDuplicate(xs []string) string {
	seen := make(map[string]bool, len(xs))
	for _, x := range xs {
		if seen[x] {
			return x
		}
		seen[x] = true
	}
	return ""
}
