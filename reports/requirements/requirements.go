// Package requirements holds the machine-readable catalog of normative
// statements of the attested-TLS drafts (and of the PoC wire) that the suite
// tests against, so every spec can cite the requirement it checks.
package requirements

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

//go:embed catalog.json
var catalogJSON []byte

// SchemaVersion is the catalog format this package reads.
const SchemaVersion = 1

// MaxQuoteLen bounds a quote in characters: quotes identify a statement,
// they do not reproduce the draft.
const MaxQuoteLen = 300

// Level is the BCP 14 keyword of a statement.
type Level string

const (
	Must        Level = "MUST"
	MustNot     Level = "MUST NOT"
	Should      Level = "SHOULD"
	ShouldNot   Level = "SHOULD NOT"
	May         Level = "MAY"
	Required    Level = "REQUIRED"
	Recommended Level = "RECOMMENDED"
)

// Mandatory reports whether the level is an absolute requirement
// (MUST, MUST NOT, REQUIRED).
func (l Level) Mandatory() bool {
	return l == Must || l == MustNot || l == Required
}

func (l Level) known() bool {
	switch l {
	case Must, MustNot, Should, ShouldNot, May, Required, Recommended:
		return true
	}
	return false
}

// Role is the party a statement constrains.
type Role string

const (
	Client       Role = "client"
	Server       Role = "server"
	Attester     Role = "attester"
	RelyingParty Role = "relying-party"
	Verifier     Role = "verifier"
	Any          Role = "any"
)

func (r Role) known() bool {
	switch r {
	case Client, Server, Attester, RelyingParty, Verifier, Any:
		return true
	}
	return false
}

// Document names the text a profile's entries were read from.
type Document struct {
	Profile  string `json:"profile"`
	Draft    string `json:"draft"`
	Revision string `json:"revision"`
	// Kind is "draft" for a specification, "implementation" for behaviour
	// read out of code (the PoC profile).
	Kind   string `json:"kind"`
	Source string `json:"source"`
	Commit string `json:"commit,omitempty"`
	Date   string `json:"date,omitempty"`
	Note   string `json:"note,omitempty"`
}

// Requirement is one normative statement.
type Requirement struct {
	ID      string `json:"id"`
	Profile string `json:"profile"`
	Section string `json:"section"`
	Level   Level  `json:"level"`
	Role    Role   `json:"role"`
	// Quote is an exact excerpt of the source, whitespace collapsed.
	Quote string `json:"quote"`
	// Testable is false when the statement cannot be observed on the wire.
	Testable bool   `json:"testable"`
	Note     string `json:"note,omitempty"`
	// Implicit marks a statement the draft makes without a BCP 14 keyword
	// (e.g. "the server terminates the session with a fatal alert"); its
	// Level is the strength the suite asserts.
	Implicit bool `json:"implicit,omitempty"`
}

// Interpretation is a place where a profile's text contradicts itself or
// is silent: the passages in question, the ways to read them, and the
// reading the reference implements (Default).
type Interpretation struct {
	// ID is <prefix>-I-<n>, e.g. TA07-I-2.
	ID      string    `json:"id"`
	Profile string    `json:"profile"`
	Topic   string    `json:"topic"`
	Text    []Passage `json:"text"`
	// Readings has at least two entries with distinct names.
	Readings []Reading `json:"readings"`
	Default  string    `json:"default"`
	// Selectable says how a run picks another reading; empty when only
	// the default is implemented.
	Selectable string `json:"selectable,omitempty"`
	Note       string `json:"note,omitempty"`
}

// Passage is an exact excerpt of a section, as Requirement.Quote.
type Passage struct {
	Section string `json:"section"`
	Quote   string `json:"quote"`
}

// Reading is one way to read an Interpretation's passages.
type Reading struct {
	Name string `json:"name"`
	Says string `json:"says"`
}

// Catalog is the decoded catalog.json.
type Catalog struct {
	Schema          int              `json:"schema"`
	Documents       []Document       `json:"documents"`
	Requirements    []Requirement    `json:"requirements"`
	Interpretations []Interpretation `json:"interpretations,omitempty"`

	byID map[string]int
}

// Load decodes and validates the embedded catalog.
func Load() (*Catalog, error) {
	return Parse(catalogJSON)
}

// Parse decodes a catalog, rejecting unknown fields and trailing data, and
// validates it.
func Parse(data []byte) (*Catalog, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Catalog
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("requirements: decode: %w", err)
	}
	if dec.More() {
		return nil, errors.New("requirements: decode: trailing data after catalog")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

var (
	// Draft sections (8.1.2, A.1) or short lower-case tags for
	// implementation-derived profiles (ee, cert). No characters that
	// Ginkgo forbids in labels.
	sectionRE = regexp.MustCompile(`^(([0-9]+|[A-Z])(\.[0-9]+)*|[a-z][a-z0-9]*)$`)
	profileRE = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
)

// Prefix gives the ID prefix of a profile: "ta-07" -> "TA07", "poc" -> "POC".
func Prefix(profile string) string {
	return strings.ToUpper(strings.ReplaceAll(profile, "-", ""))
}

// Label gives the Ginkgo label that marks a spec as covering id.
func Label(id string) string {
	return "req:" + id
}

// Validate checks the catalog's internal consistency and (re)builds the ID
// index used by ByID.
func (c *Catalog) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("requirements: "+format, args...))
	}
	if c.Schema != SchemaVersion {
		bad("schema %d, want %d", c.Schema, SchemaVersion)
	}
	if len(c.Documents) == 0 {
		bad("no documents")
	}
	profiles := make(map[string]bool, len(c.Documents))
	prefixes := make(map[string]string, len(c.Documents))
	for i, d := range c.Documents {
		switch {
		case !profileRE.MatchString(d.Profile):
			bad("document %d: bad profile %q", i, d.Profile)
		case profiles[d.Profile]:
			bad("document %d: duplicate profile %q", i, d.Profile)
		case prefixes[Prefix(d.Profile)] != "":
			bad("document %d: profile %q has the same ID prefix as %q", i, d.Profile, prefixes[Prefix(d.Profile)])
		}
		profiles[d.Profile] = true
		prefixes[Prefix(d.Profile)] = d.Profile
		if d.Draft == "" || d.Revision == "" || d.Source == "" {
			bad("document %q: draft, revision and source are required", d.Profile)
		}
		if d.Kind != "draft" && d.Kind != "implementation" {
			bad("document %q: kind %q, want draft or implementation", d.Profile, d.Kind)
		}
	}
	c.byID = make(map[string]int, len(c.Requirements))
	for i, r := range c.Requirements {
		where := r.ID
		if where == "" {
			where = "#" + strconv.Itoa(i)
		}
		if _, dup := c.byID[r.ID]; dup {
			bad("%s: duplicate id", where)
		} else {
			c.byID[r.ID] = i
		}
		if !profiles[r.Profile] {
			bad("%s: unknown profile %q", where, r.Profile)
		}
		if !sectionRE.MatchString(r.Section) {
			bad("%s: bad section %q", where, r.Section)
		}
		if !idMatches(r) {
			bad("%s: id must be %s-%s-<n>", where, Prefix(r.Profile), r.Section)
		}
		if !r.Level.known() {
			bad("%s: unknown level %q", where, r.Level)
		}
		if !r.Role.known() {
			bad("%s: unknown role %q", where, r.Role)
		}
		if strings.TrimSpace(r.Quote) == "" {
			bad("%s: empty quote", where)
		}
		if n := utf8.RuneCountInString(r.Quote); n > MaxQuoteLen {
			bad("%s: quote has %d characters, max %d", where, n, MaxQuoteLen)
		}
	}
	ids := map[string]bool{}
	for i, in := range c.Interpretations {
		where := in.ID
		if where == "" {
			where = "interpretation #" + strconv.Itoa(i)
		}
		n, ok := strings.CutPrefix(in.ID, Prefix(in.Profile)+"-I-")
		if _, err := strconv.Atoi(n); !ok || err != nil || n[0] == '0' {
			bad("%s: id must be %s-I-<n>", where, Prefix(in.Profile))
		}
		if ids[in.ID] {
			bad("%s: duplicate id", where)
		}
		ids[in.ID] = true
		if !profiles[in.Profile] {
			bad("%s: unknown profile %q", where, in.Profile)
		}
		if strings.TrimSpace(in.Topic) == "" || len(in.Text) == 0 {
			bad("%s: a topic and at least one passage are required", where)
		}
		for _, p := range in.Text {
			if !sectionRE.MatchString(p.Section) || strings.TrimSpace(p.Quote) == "" || utf8.RuneCountInString(p.Quote) > MaxQuoteLen {
				bad("%s: passage §%s: a section and a quote of at most %d characters are required", where, p.Section, MaxQuoteLen)
			}
		}
		names := map[string]bool{}
		for _, r := range in.Readings {
			if r.Name == "" || names[r.Name] || strings.TrimSpace(r.Says) == "" {
				bad("%s: reading %q: a unique name and what it says are required", where, r.Name)
			}
			names[r.Name] = true
		}
		if len(in.Readings) < 2 {
			bad("%s: %d readings, want at least two", where, len(in.Readings))
		}
		if !names[in.Default] {
			bad("%s: default %q is not one of its readings", where, in.Default)
		}
	}
	return errors.Join(errs...)
}

// DefaultReading is the reading the reference implements.
func (in Interpretation) DefaultReading() Reading {
	for _, r := range in.Readings {
		if r.Name == in.Default {
			return r
		}
	}
	return Reading{}
}

// idMatches checks ID == Prefix(profile) "-" section "-" n with n a positive
// decimal without leading zeros.
func idMatches(r Requirement) bool {
	head := Prefix(r.Profile) + "-" + r.Section + "-"
	n, ok := strings.CutPrefix(r.ID, head)
	if !ok || n == "" || n[0] == '0' || len(n) > 6 {
		return false
	}
	for _, ch := range n {
		if ch < '0' || ch > '9' {
			return false
		}
	}
	return true
}

// ByID looks a requirement up by its ID.
func (c *Catalog) ByID(id string) (Requirement, bool) {
	if c.byID == nil {
		c.index()
	}
	i, ok := c.byID[id]
	if !ok {
		return Requirement{}, false
	}
	return c.Requirements[i], true
}

func (c *Catalog) index() {
	c.byID = make(map[string]int, len(c.Requirements))
	for i, r := range c.Requirements {
		if _, dup := c.byID[r.ID]; !dup {
			c.byID[r.ID] = i
		}
	}
}

// Filter returns the requirements of profile ("" = every profile) whose
// level is one of levels (none given = every level), in catalog order.
func (c *Catalog) Filter(profile string, levels ...Level) []Requirement {
	var out []Requirement
	for _, r := range c.Requirements {
		if profile != "" && r.Profile != profile {
			continue
		}
		if len(levels) > 0 && !slices.Contains(levels, r.Level) {
			continue
		}
		out = append(out, r)
	}
	return out
}
