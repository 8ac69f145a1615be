// Package results holds the results file of a conformance run: the
// versioned schema as Go types, its JSON Schema (schema.json), and Load,
// Write and Merge. Everything the reports show is rendered from this file
// alone, so a results file from any CI run can be rendered anywhere.
package results

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SchemaVersion is the results format written and read by this package.
// Bump it for any change an older reader would misread.
const SchemaVersion = 1

//go:embed schema.json
var schemaJSON []byte

// JSONSchema returns the JSON Schema (draft 2020-12) of the results file.
func JSONSchema() []byte { return slices.Clone(schemaJSON) }

// Results is one results file: a run (or several merged runs) of the suite.
type Results struct {
	SchemaVersion int       `json:"schema_version"`
	SuiteVersion  string    `json:"suite_version"`
	RunID         string    `json:"run_id"`
	Started       time.Time `json:"started"`
	Finished      time.Time `json:"finished"`
	Host          Host      `json:"host"`
	// MergedFrom lists the runs a merged file was built from.
	MergedFrom []Run     `json:"merged_from,omitempty"`
	Profiles   []Profile `json:"profiles"`
	Peers      []Peer    `json:"peers"`
	Specs      []Spec    `json:"specs"`

	// base is the directory artifact paths are relative to: the results
	// file's directory once loaded or written, "" for a run in memory.
	base string
}

// Host describes the machine that ran the suite.
type Host struct {
	Name string `json:"name"`
	OS   string `json:"os"`
	Arch string `json:"arch"`
	CPUs int    `json:"cpus"`
	// Go is the Go version the suite was built with.
	Go string `json:"go"`
}

// Run identifies one of the runs a merged file came from.
type Run struct {
	RunID    string    `json:"run_id"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Host     Host      `json:"host"`
}

// Profile is an attested-TLS profile and the text it implements.
type Profile struct {
	Name     string `json:"name"`     // e.g. "ta-07"
	Draft    string `json:"draft"`    // e.g. "draft-fossati-tls-attestation"
	Revision string `json:"revision"` // e.g. "07"
}

// PeerKind says how the suite reaches a peer.
type PeerKind string

const (
	InProcess PeerKind = "in-process"
	Process   PeerKind = "process"
	Container PeerKind = "container"
)

// Peer is one implementation under test.
type Peer struct {
	Name    string   `json:"name"`
	Kind    PeerKind `json:"kind"`
	Version string   `json:"version"`
	// ImageDigest pins a container peer's image ("sha256:<hex>").
	ImageDigest  string   `json:"image_digest,omitempty"`
	Capabilities []string `json:"capabilities,omitempty"`
}

// Outcome is a spec's result after the peer's baseline is applied.
type Outcome string

const (
	Pass        Outcome = "pass"
	Fail        Outcome = "fail"
	Unsupported Outcome = "unsupported"
	// ExpectedFail: failed, and the baseline says it fails (with a reason).
	ExpectedFail Outcome = "expected-fail"
	// UnexpectedPass: passed, but the baseline says it fails or is
	// unsupported; the baseline is stale and must be updated.
	UnexpectedPass Outcome = "unexpected-pass"
	Skipped        Outcome = "skipped"
)

// Outcomes lists every outcome in display order.
var Outcomes = []Outcome{Pass, Fail, Unsupported, ExpectedFail, UnexpectedPass, Skipped}

// Valid reports whether o is a known outcome.
func (o Outcome) Valid() bool { return slices.Contains(Outcomes, o) }

// Observed is the outcome before any baseline was applied.
func (o Outcome) Observed() Outcome {
	switch o {
	case ExpectedFail:
		return Fail
	case UnexpectedPass:
		return Pass
	}
	return o
}

// Gates reports whether o makes a run fail: only results nobody expected.
func (o Outcome) Gates() bool { return o == Fail || o == UnexpectedPass }

// Endpoint is one side of a connection.
type Endpoint string

const (
	ClientSide Endpoint = "client"
	ServerSide Endpoint = "server"
)

func (e Endpoint) valid() bool { return e == ClientSide || e == ServerSide }

// Role is the side whose behaviour a spec checks.
type Role string

const (
	RoleClient Role = "client"
	RoleServer Role = "server"
	RoleBoth   Role = "both"
)

func (r Role) valid() bool { return r == RoleClient || r == RoleServer || r == RoleBoth }

// Checks reports whether the spec checks the behaviour of side e.
func (r Role) Checks(e Endpoint) bool { return r == RoleBoth || string(r) == string(e) }

// InProcessPeer is the in-process reference's name in pairs and peers:
// the "go" of go→go and of every pair spec's other side.
const InProcessPeer = "go"

// Pair names the two peers of a spec.
type Pair struct {
	Client string `json:"client"`
	Server string `json:"server"`
}

// Topology values of a side.
const (
	Passport   = "passport"
	Background = "bg"
)

// Credential values of a side.
const (
	X509            = "x509"
	AttestationOnly = "attestation-only"
)

// Side says whether and how one endpoint attests in a model.
type Side struct {
	Attests    bool   `json:"attests"`
	Topology   string `json:"topology,omitempty"`   // Passport or Background
	Credential string `json:"credential,omitempty"` // X509 or AttestationOnly
}

func (s Side) String() string { return s.Topology + "+" + s.Credential }

// Model is the interaction model a spec ran in.
type Model struct {
	Server Side `json:"server"`
	Client Side `json:"client"`
}

// Key is the model's stable name without the profile, matching the suite's
// model IDs: "server-attests/bg+x509", "mutual/server=…,client=…",
// "client-attests/…", "no-attestation".
func (m Model) Key() string {
	switch {
	case m.Server.Attests && m.Client.Attests:
		return "mutual/server=" + m.Server.String() + ",client=" + m.Client.String()
	case m.Server.Attests:
		return "server-attests/" + m.Server.String()
	case m.Client.Attests:
		return "client-attests/" + m.Client.String()
	}
	return "no-attestation"
}

// Expectation is the baseline entry applied to a spec.
type Expectation struct {
	// Outcome is Fail or Unsupported.
	Outcome Outcome `json:"outcome"`
	Reason  string  `json:"reason"`
}

// Alert is a TLS alert seen on the wire.
type Alert struct {
	Code   uint8    `json:"code"`
	Name   string   `json:"name"`
	SentBy Endpoint `json:"sent_by"`
}

// VerdictStatus is what the relying party decided about an attestation.
type VerdictStatus string

const (
	Accepted VerdictStatus = "accepted"
	Rejected VerdictStatus = "rejected"
)

// Trust tiers of an attestation result (EAR status).
const (
	TierNone            = "none"
	TierAffirming       = "affirming"
	TierWarning         = "warning"
	TierContraindicated = "contraindicated"
)

// Verdict is the appraisal of one side's attestation.
type Verdict struct {
	// Attester is the side whose attestation was appraised.
	Attester Endpoint      `json:"attester"`
	Status   VerdictStatus `json:"status"`
	// TrustTier is the attestation result's status, "" when no result was
	// issued (evidence rejected before appraisal).
	TrustTier string `json:"trust_tier,omitempty"`
	// Reason is the rejection reason (e.g. "result.nonce-mismatch").
	Reason string `json:"reason,omitempty"`
}

// Artifacts are files a spec left behind, as slash-separated paths
// relative to the results file's directory.
type Artifacts struct {
	Logs   []string `json:"logs,omitempty"`
	KeyLog string   `json:"keylog,omitempty"`
	Pcap   string   `json:"pcap,omitempty"`
}

// Paths lists every artifact path (logs, key log, pcap).
func (a Artifacts) Paths() []string {
	out := slices.Clone(a.Logs)
	if a.KeyLog != "" {
		out = append(out, a.KeyLog)
	}
	if a.Pcap != "" {
		out = append(out, a.Pcap)
	}
	return out
}

func (a *Artifacts) mapPaths(f func(string) string) {
	for i, p := range a.Logs {
		a.Logs[i] = f(p)
	}
	if a.KeyLog != "" {
		a.KeyLog = f(a.KeyLog)
	}
	if a.Pcap != "" {
		a.Pcap = f(a.Pcap)
	}
}

// Spec is the result of one spec (one table entry) of the suite.
type Spec struct {
	// ID is stable across runs, e.g. "ta-07/server-attests/bg+x509/go→go".
	ID          string `json:"id"`
	Description string `json:"description"`
	Pair        Pair   `json:"pair"`
	Profile     string `json:"profile"`
	Model       Model  `json:"model"`
	Role        Role   `json:"role"`
	// Requirements are catalog IDs (reports/requirements) the spec checks.
	Requirements []string `json:"requirements,omitempty"`
	Outcome      Outcome  `json:"outcome"`
	// Message explains a failure, an unsupported or a skipped spec.
	Message string `json:"message,omitempty"`
	// Expected is the baseline entry applied, nil if none.
	Expected  *Expectation `json:"expected,omitempty"`
	Duration  Duration     `json:"duration_ms"`
	Alerts    []Alert      `json:"alerts,omitempty"`
	Verdicts  []Verdict    `json:"verdicts,omitempty"`
	Artifacts Artifacts    `json:"artifacts,omitzero"`
	// Attack is set by attack specs (suite/specs attacks.go): what the
	// attacker achieved against the relying party. Optional, so files
	// written before attack specs existed still read.
	Attack *Attack `json:"attack,omitempty"`
}

// AttackVerdict says whether an attack got past the relying party.
type AttackVerdict string

const (
	// AttackSucceeds: the relying party completed the handshake with the
	// attacker, who holds the session keys.
	AttackSucceeds AttackVerdict = "succeeds"
	// AttackPrevented: the relying party aborted and no application data
	// flowed.
	AttackPrevented AttackVerdict = "prevented"
)

// The parts a pair spec's peer plays in an attack.
const (
	PartVictim   = "victim"
	PartAttester = "attester"
)

// Attack is the observed verdict of one attack spec: scenario ×
// attacker capability against the spec's profile and model.
type Attack struct {
	Scenario   string        `json:"scenario"`   // e.g. "relay", "replay-ear-stale"
	Capability string        `json:"capability"` // e.g. "oracle", "tee-bound"
	Verdict    AttackVerdict `json:"verdict"`
	// Check names the relying-party check that stopped the attack (e.g.
	// "binder", "certificate-verify"); empty when it succeeded.
	Check string `json:"check,omitempty"`
	// Part is the part a pair spec's peer played: "victim" (the relying
	// party attacked) or "attester" (the genuine attester whose
	// attestation the attacker relayed or replayed to an in-process
	// victim); empty for specs between in-process endpoints.
	Part string `json:"part,omitempty"`
}

func (a *Attack) validate() error {
	switch {
	case !nameRE.MatchString(a.Scenario) || !nameRE.MatchString(a.Capability):
		return fmt.Errorf("attack scenario %q and capability %q must be names", a.Scenario, a.Capability)
	case a.Verdict == AttackPrevented && a.Check == "":
		return errors.New("a prevented attack names the check that stopped it")
	case a.Verdict == AttackSucceeds && a.Check != "":
		return fmt.Errorf("a successful attack names a check (%q)", a.Check)
	case a.Verdict != AttackPrevented && a.Verdict != AttackSucceeds:
		return fmt.Errorf("attack verdict %q, want succeeds or prevented", a.Verdict)
	case a.Part != "" && a.Part != PartVictim && a.Part != PartAttester:
		return fmt.Errorf("attack part %q, want %s or %s", a.Part, PartVictim, PartAttester)
	}
	return nil
}

// Duration is a time.Duration written as (fractional) milliseconds.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(d)/float64(time.Millisecond), 'f', -1, 64), nil
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f < 0 || f > float64(1<<62)/float64(time.Millisecond) {
		return fmt.Errorf("results: duration_ms %s: not a non-negative number of milliseconds", b)
	}
	*d = Duration(math.Round(f * float64(time.Millisecond)))
	return nil
}

// Base is the directory artifact paths are relative to ("" for a run not
// yet written).
func (r *Results) Base() string { return r.base }

// SetBase declares the directory artifact paths are relative to, for a
// run whose artifacts were written before the results file.
func (r *Results) SetBase(dir string) { r.base = dir }

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
	}
}

// profiles checks the profiles and returns their names, for the specs.
func (v *validator) profiles(ps []Profile) map[string]bool {
	profiles := map[string]bool{}
	for _, p := range ps {
		switch {
		case !nameRE.MatchString(p.Name):
			v.bad("profile %q: bad name", p.Name)
		case profiles[p.Name]:
			v.bad("profile %q: listed twice", p.Name)
		}
		profiles[p.Name] = true
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
		switch {
		case !nameRE.MatchString(p.Name):
			v.bad("peer %q: bad name", p.Name)
		case peers[p.Name]:
			v.bad("peer %q: listed twice", p.Name)
		}
		peers[p.Name] = true
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

// Sort orders profiles and peers by name and specs by ID, so files and
// reports are deterministic whatever order the specs ran in.
func (r *Results) Sort() {
	slices.SortFunc(r.Profiles, func(a, b Profile) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(r.Peers, func(a, b Peer) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(r.Specs, func(a, b Spec) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(r.MergedFrom, func(a, b Run) int { return strings.Compare(a.RunID, b.RunID) })
}

// Counts tallies outcomes.
func Counts(specs []Spec) map[Outcome]int {
	n := make(map[Outcome]int, len(Outcomes))
	for _, s := range specs {
		n[s.Outcome]++
	}
	return n
}

// Profile returns the named profile.
func (r *Results) Profile(name string) (Profile, bool) {
	i := slices.IndexFunc(r.Profiles, func(p Profile) bool { return p.Name == name })
	if i < 0 {
		return Profile{}, false
	}
	return r.Profiles[i], true
}

// Clone returns a deep copy.
func (r *Results) Clone() *Results {
	c := *r
	c.MergedFrom = slices.Clone(r.MergedFrom)
	c.Profiles = slices.Clone(r.Profiles)
	c.Peers = slices.Clone(r.Peers)
	for i := range c.Peers {
		c.Peers[i].Capabilities = slices.Clone(c.Peers[i].Capabilities)
	}
	c.Specs = slices.Clone(r.Specs)
	for i := range c.Specs {
		s := &c.Specs[i]
		s.Requirements = slices.Clone(s.Requirements)
		if s.Expected != nil {
			e := *s.Expected
			s.Expected = &e
		}
		s.Alerts = slices.Clone(s.Alerts)
		s.Verdicts = slices.Clone(s.Verdicts)
		s.Artifacts.Logs = slices.Clone(s.Artifacts.Logs)
		if s.Attack != nil {
			a := *s.Attack
			s.Attack = &a
		}
	}
	return &c
}
