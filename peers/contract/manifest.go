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

	Profiles      []string `json:"profiles"`
	Roles         []Role   `json:"roles"`
	Topologies    []string `json:"topologies"`  // bg, passport
	Credentials   []string `json:"credentials"` // x509, attestation-only
	TPMs          []string `json:"tpms"`        // software, simulator, swtpm, device
	Verifiers     []string `json:"verifiers"`   // local, veraison
	Misbehaviours []string `json:"misbehaviours"`
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

// Expected is peers/<name>/expected.json: the cases a peer is known not
// to pass, each with a reason. A case matching an entry that fails is an
// expected failure; one that passes is reported as unexpectedly passing.
type Expected struct {
	Failures []ExpectedFailure `json:"failures"`
}

// Bounds on an expected-failure pattern.
const (
	maxPattern = 256
	maxStars   = 8
)

// ExpectedFailure names cases by a path.Match pattern over case IDs.
type ExpectedFailure struct {
	Case   string `json:"case"`
	Reason string `json:"reason"`
}

// ParseExpected reads and checks an expected-results file.
func ParseExpected(b []byte) (*Expected, error) {
	var e Expected
	if err := decodeStrict(b, &e); err != nil {
		return nil, fmt.Errorf("contract: expected results: %w", err)
	}
	for i, f := range e.Failures {
		// path.Match backtracks on each '*': bound the patterns so a hostile
		// baseline cannot stall a run.
		if len(f.Case) > maxPattern || strings.Count(f.Case, "*") > maxStars {
			return nil, fmt.Errorf("contract: expected failure %d: pattern longer than %d bytes or with more than %d '*'", i, maxPattern, maxStars)
		}
		if _, err := path.Match(f.Case, ""); err != nil || f.Case == "" {
			return nil, fmt.Errorf("contract: expected failure %d: bad case pattern %q", i, f.Case)
		}
		if strings.TrimSpace(f.Reason) == "" {
			return nil, fmt.Errorf("contract: expected failure %q: a reason is required", f.Case)
		}
	}
	return &e, nil
}

// Lookup returns the reason a case is expected to fail, if it is.
func (e *Expected) Lookup(caseID string) (string, bool) {
	for _, f := range e.Failures {
		if ok, _ := path.Match(f.Case, caseID); ok {
			return f.Reason, true
		}
	}
	return "", false
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
