package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

// Manifest is peers/<name>/manifest.json: who the peer is, how to start
// it, and what it implements.
type Manifest struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Contract int    `json:"contract"`
	// Image is the container image; Command the argv of a process peer,
	// where "{conformance}" stands for the suite's own binary. A peer
	// has one or both.
	Image   string   `json:"image,omitempty"`
	Command []string `json:"command,omitempty"`

	Profiles    []string `json:"profiles"`
	Roles       []Role   `json:"roles"`
	Topologies  []string `json:"topologies"`  // bg, passport
	Credentials []string `json:"credentials"` // x509, attestation-only
	TPMs        []string `json:"tpms"`        // software, simulator, swtpm, device, psa-iot
	// Evidence are the formats its relying party appraises (ATLS_EVIDENCE
	// names): parsec-tpm, psa-iot; empty is parsec-tpm alone. What it
	// produces follows its tpms (psa-iot produces PSA tokens).
	Evidence      []string `json:"evidence,omitempty"`
	Verifiers     []string `json:"verifiers"` // local, veraison
	Misbehaviours []string `json:"misbehaviours"`
	// Env are NAME=value variables outside the contract given to the peer
	// in every case, after the contract's own (so they win): a peer
	// folder can wrap an image or command with settings of its own, as
	// peers/broken does to make the reference peer misbehave.
	Env []string `json:"env,omitempty"`
}

// ParseManifest reads and checks a manifest.
func ParseManifest(b []byte) (*Manifest, error) {
	var m Manifest
	if err := decodeStrict(b, &m); err != nil {
		return nil, fmt.Errorf("contract: manifest: %w", err)
	}
	switch {
	case m.Name == "":
		return nil, errors.New("contract: manifest: name is required")
	case m.Contract != Version:
		return nil, fmt.Errorf("contract: manifest %s speaks contract %d, want %d", m.Name, m.Contract, Version)
	case m.Image == "" && len(m.Command) == 0:
		return nil, fmt.Errorf("contract: manifest %s has neither image nor command", m.Name)
	}
	for _, r := range m.Roles {
		if r != Client && r != Server {
			return nil, fmt.Errorf("contract: manifest %s: role %q", m.Name, r)
		}
	}
	for _, kv := range m.Env {
		if name, _, ok := strings.Cut(kv, "="); !ok || name == "" || strings.ContainsAny(kv, "\x00\n") {
			return nil, fmt.Errorf("contract: manifest %s: env entry %q is not NAME=value", m.Name, kv)
		}
	}
	return &m, nil
}

// Supports says why the peer cannot run a configuration (nil if it can),
// judged by its manifest alone: the suite expects 127 for the rest.
func (m *Manifest) Supports(c Config) error {
	check := func(what, v string, list []string) error {
		if v != "" && !slices.Contains(list, v) {
			return Unsupportedf("%s %q not in manifest %s", what, v, m.Name)
		}
		return nil
	}
	tpm, _, _ := strings.Cut(c.TPM, ":")
	verifier, _, _ := strings.Cut(c.Verifier, ":")
	errs := []error{
		check("profile", c.Profile, m.Profiles),
		check("role", string(c.Role), roles(m.Roles)),
		check("tpm", tpm, m.TPMs),
		check("verifier", verifier, m.Verifiers),
		check("misbehaviour", c.Misbehave, m.Misbehaviours),
	}
	if c.Evidence != "" {
		takes := m.Evidence
		if len(takes) == 0 {
			takes = []string{DefaultEvidence}
		}
		for _, f := range strings.Split(c.Evidence, ",") {
			errs = append(errs, check("evidence", f, takes))
		}
	}
	for _, r := range []Role{Client, Server} {
		if a := c.Attests(r); a != AttestsNone {
			errs = append(errs, check("topology", string(a), m.Topologies),
				check("credential", string(c.CredentialOf(r)), m.Credentials))
		}
	}
	return errors.Join(errs...)
}

func roles(rs []Role) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

// Expected is peers/<name>/expected.json, the peer's baseline: the cases
// it is known not to pass, each with a reason. A run applies it
// (reports/baseline): a matching spec that fails is an expected failure,
// one that passes is reported as unexpectedly passing, and only
// unexpected results fail the run. It is the one baseline format: a
// run-wide baseline (conformance run --baseline FILE) is the same file.
type Expected struct {
	Failures []ExpectedFailure `json:"failures"`
}

// Bounds on an expected-failure pattern.
const (
	maxPattern = 256
	maxStars   = 8
)

// ExpectedFailure names cases by a path.Match pattern ('*' stops at '/')
// over the IDs of a spec: its case ID (the model ID, e.g.
// "ta-07/mutual/server=bg+x509,client=bg+x509"), the case ID with the
// role the peer played ("…@server"), or the spec ID of the results file
// ("…/go→reference").
type ExpectedFailure struct {
	Case   string `json:"case"`
	Reason string `json:"reason"`
	// Outcome is what is expected: "fail" (the default, written as "")
	// or "unsupported" (the peer exits 127 for it).
	Outcome string `json:"outcome,omitempty"`
}

// Expected outcomes of an entry.
const (
	ExpectFail        = "fail"
	ExpectUnsupported = "unsupported"
)

// Expects is the entry's outcome with the default filled in.
func (f ExpectedFailure) Expects() string {
	if f.Outcome == "" {
		return ExpectFail
	}
	return f.Outcome
}

// ParseExpected reads and checks an expected-results file.
func ParseExpected(b []byte) (*Expected, error) {
	var e Expected
	if err := decodeStrict(b, &e); err != nil {
		return nil, fmt.Errorf("contract: expected results: %w", err)
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return &e, nil
}

// Validate checks patterns, reasons and outcomes.
func (e *Expected) Validate() error {
	for i, f := range e.Failures {
		// path.Match backtracks on each '*': bound the patterns so a hostile
		// baseline cannot stall a run.
		if len(f.Case) > maxPattern || strings.Count(f.Case, "*") > maxStars {
			return fmt.Errorf("contract: expected failure %d: pattern longer than %d bytes or with more than %d '*'", i, maxPattern, maxStars)
		}
		if _, err := path.Match(f.Case, ""); err != nil || f.Case == "" {
			return fmt.Errorf("contract: expected failure %d: bad case pattern %q", i, f.Case)
		}
		if strings.TrimSpace(f.Reason) == "" {
			return fmt.Errorf("contract: expected failure %q: a reason is required", f.Case)
		}
		if f.Outcome != "" && f.Outcome != ExpectFail && f.Outcome != ExpectUnsupported {
			return fmt.Errorf("contract: expected failure %q: outcome %q, want fail or unsupported", f.Case, f.Outcome)
		}
	}
	return nil
}

// Lookup returns the reason a case is expected to fail, if it is.
func (e *Expected) Lookup(caseID string) (string, bool) {
	if i := e.Match(caseID); i >= 0 {
		return e.Failures[i].Reason, true
	}
	return "", false
}

// Match returns the index of the first entry whose pattern matches one of
// ids, or -1.
func (e *Expected) Match(ids ...string) int {
	for i, f := range e.Failures {
		for _, id := range ids {
			if ok, _ := path.Match(f.Case, id); ok {
				return i
			}
		}
	}
	return -1
}

// Marshal renders the file, one entry a line, entries in their order.
func (e *Expected) Marshal() ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("{\n  \"failures\": [")
	for i, f := range e.Failures {
		var line bytes.Buffer
		enc := json.NewEncoder(&line)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(f); err != nil {
			return nil, err
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n    ")
		b.Write(bytes.TrimSuffix(line.Bytes(), []byte("\n")))
	}
	if len(e.Failures) > 0 {
		b.WriteString("\n  ")
	}
	b.WriteString("]\n}\n")
	return b.Bytes(), nil
}

func decodeStrict(b []byte, v any) error {
	if len(b) > MaxFileSize {
		return errors.New("file too large")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}
