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
	MergedFrom []Run `json:"merged_from,omitempty"`
	// Shard is set in the results of one shard of a sharded run.
	Shard    *Shard    `json:"shard,omitempty"`
	Profiles []Profile `json:"profiles"`
	Peers    []Peer    `json:"peers"`
	Specs    []Spec    `json:"specs"`

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
	// Shard is the shard this run was, when shards were merged.
	Shard *Shard `json:"shard,omitempty"`
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

// Sort orders profiles and peers by name and specs by ID, so files and
// reports are deterministic whatever order the specs ran in.
func (r *Results) Sort() {
	slices.SortFunc(r.Profiles, func(a, b Profile) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(r.Peers, func(a, b Peer) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(r.Specs, func(a, b Spec) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(r.MergedFrom, func(a, b Run) int { return strings.Compare(a.RunID, b.RunID) })
	if r.Shard != nil {
		slices.Sort(r.Shard.Specs)
		slices.Sort(r.Shard.Settings)
	}
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
	for i := range c.MergedFrom {
		c.MergedFrom[i].Shard = r.MergedFrom[i].Shard.clone()
	}
	c.Shard = r.Shard.clone()
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
