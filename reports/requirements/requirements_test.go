package requirements

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/onsi/ginkgo/v2/types"
)

func TestLoadCommittedCatalog(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatalf("committed catalog does not validate: %v", err)
	}
	if len(c.Interpretations) == 0 {
		t.Error("the committed catalog records no interpretation")
	}
	counts := map[string]map[Level]int{}
	implicit := map[string]int{}
	for _, r := range c.Requirements {
		if counts[r.Profile] == nil {
			counts[r.Profile] = map[Level]int{}
		}
		counts[r.Profile][r.Level]++
		if r.Implicit {
			implicit[r.Profile]++
		}
	}
	profiles := make([]string, 0, len(counts))
	for p := range counts {
		profiles = append(profiles, p)
	}
	sort.Strings(profiles)
	for _, p := range profiles {
		var parts []string
		for _, l := range []Level{Must, MustNot, Required, Should, ShouldNot, Recommended, May} {
			if n := counts[p][l]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s=%d", l, n))
			}
		}
		t.Logf("%-6s %s (implicit %d, total %d)", p, strings.Join(parts, " "), implicit[p], len(c.Filter(p)))
	}
	for _, d := range c.Documents {
		if len(c.Filter(d.Profile)) == 0 {
			t.Errorf("document %q has no requirements", d.Profile)
		}
	}
	for _, p := range []string{"ta-07", "ea-07", "poc"} {
		if counts[p] == nil {
			t.Errorf("profile %q missing", p)
		}
	}
}

func TestCommittedCatalogShape(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	kind := map[string]string{} // each profile's document kind
	for _, d := range c.Documents {
		kind[d.Profile] = d.Kind
	}
	for _, r := range c.Requirements {
		if _, err := types.ValidateAndCleanupLabel(Label(r.ID), types.CodeLocation{}); err != nil {
			t.Errorf("%s: not a valid Ginkgo label: %v", r.ID, err)
		}
		if r.Quote != strings.TrimSpace(r.Quote) || strings.Contains(r.Quote, "  ") || strings.ContainsAny(r.Quote, "\n\t") {
			t.Errorf("%s: quote is not whitespace-normalised", r.ID)
		}
		if r.Implicit && kind[r.Profile] == "implementation" {
			t.Errorf("%s: implicit is meaningless for an implementation profile", r.ID)
		}
	}
	// Spot checks against the draft texts (section, level, alert named in the quote).
	for _, want := range []struct {
		id    string
		level Level
		in    string
	}{
		{"EA07-4.1-3", Must, "illegal_parameter"},
		{"EA07-4.1-2", MustNot, "any other CertificateEntry"},
		{"EA07-5.1.2-2", Must, "attestation_failed"},
		{"EA07-7.4-2", Must, "attestation_required"},
		{"EA07-7.2-8", Must, "unsupported_attestation_schemes"},
		{"TA07-8.1.2-1", Must, "unsupported_evidence"},
		{"TA07-8.2.2-1", Must, "unsupported_verifiers"},
		{"TA07-8.1.2-4", Must, "certificate_request"},
	} {
		r, ok := c.ByID(want.id)
		if !ok {
			t.Errorf("%s missing", want.id)
			continue
		}
		if r.Level != want.level || !strings.Contains(r.Quote, want.in) {
			t.Errorf("%s = %s %q, want %s containing %q", want.id, r.Level, r.Quote, want.level, want.in)
		}
	}
}

// good is a minimal valid catalog the negative tests mutate.
func good() *Catalog {
	return &Catalog{
		Schema: 1,
		Documents: []Document{
			{Profile: "ta-07", Draft: "draft-x", Revision: "07", Kind: "draft", Source: "https://example.invalid/x"},
			{Profile: "poc", Draft: "poc", Revision: "abc", Kind: "implementation", Source: "https://example.invalid/poc"},
		},
		Requirements: []Requirement{
			{ID: "TA07-8.1.2-1", Profile: "ta-07", Section: "8.1.2", Level: Must, Role: Server, Quote: "The server MUST do it.", Testable: true},
			{ID: "TA07-A.1-1", Profile: "ta-07", Section: "A.1", Level: May, Role: Any, Quote: "It MAY.", Testable: false},
			{ID: "POC-ee-1", Profile: "poc", Section: "ee", Level: Must, Role: Client, Quote: "nonce", Testable: true},
		},
		Interpretations: []Interpretation{
			{ID: "TA07-I-1", Profile: "ta-07", Topic: "where it goes", Text: []Passage{{Section: "12.1", Quote: "in the ClientHello"}},
				Readings: []Reading{{Name: "here", Says: "here"}, {Name: "there", Says: "there"}}, Default: "here"},
		},
	}
}

func TestValidateAcceptsGood(t *testing.T) {
	if err := good().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Catalog)
		want   string
	}{
		{"schema", func(c *Catalog) { c.Schema = 2 }, "schema 2"},
		{"no documents", func(c *Catalog) { c.Documents = nil; c.Requirements = nil }, "no documents"},
		{"duplicate profile", func(c *Catalog) { c.Documents = append(c.Documents, c.Documents[0]) }, "duplicate profile"},
		{"prefix clash", func(c *Catalog) {
			c.Documents = append(c.Documents, Document{Profile: "ta07", Draft: "d", Revision: "r", Kind: "draft", Source: "s"})
		}, "same ID prefix"},
		{"bad document profile", func(c *Catalog) { c.Documents[0].Profile = "TA 07" }, "bad profile"},
		{"document kind", func(c *Catalog) { c.Documents[0].Kind = "rfc" }, "kind"},
		{"document source", func(c *Catalog) { c.Documents[0].Source = "" }, "source are required"},
		{"duplicate id", func(c *Catalog) { c.Requirements = append(c.Requirements, c.Requirements[0]) }, "duplicate id"},
		{"unknown profile", func(c *Catalog) { c.Requirements[0].Profile = "ea-09" }, "unknown profile"},
		{"unknown level", func(c *Catalog) { c.Requirements[0].Level = "SHALL" }, "unknown level"},
		{"lower-case level", func(c *Catalog) { c.Requirements[0].Level = "must" }, "unknown level"},
		{"unknown role", func(c *Catalog) { c.Requirements[0].Role = "peer" }, "unknown role"},
		{"empty quote", func(c *Catalog) { c.Requirements[0].Quote = " \n" }, "empty quote"},
		{"long quote", func(c *Catalog) { c.Requirements[0].Quote = strings.Repeat("é", MaxQuoteLen+1) }, "max 300"},
		{"id prefix", func(c *Catalog) { c.Requirements[0].ID = "EA07-8.1.2-1" }, "id must be TA07-8.1.2-<n>"},
		{"id section", func(c *Catalog) { c.Requirements[0].ID = "TA07-8.1.1-1" }, "id must be"},
		{"id ordinal zero", func(c *Catalog) { c.Requirements[0].ID = "TA07-8.1.2-0" }, "id must be"},
		{"id leading zero", func(c *Catalog) { c.Requirements[0].ID = "TA07-8.1.2-01" }, "id must be"},
		{"id no ordinal", func(c *Catalog) { c.Requirements[0].ID = "TA07-8.1.2-" }, "id must be"},
		{"id letters", func(c *Catalog) { c.Requirements[0].ID = "TA07-8.1.2-1a" }, "id must be"},
		{"bad section", func(c *Catalog) {
			c.Requirements[0].Section = "8.1/2"
			c.Requirements[0].ID = "TA07-8.1/2-1"
		}, "bad section"},
		{"empty section", func(c *Catalog) { c.Requirements[0].Section = "" }, "bad section"},
		{"interpretation id", func(c *Catalog) { c.Interpretations[0].ID = "TA07-1" }, "id must be TA07-I-<n>"},
		{"interpretation duplicate", func(c *Catalog) { c.Interpretations = append(c.Interpretations, c.Interpretations[0]) }, "duplicate id"},
		{"interpretation profile", func(c *Catalog) { c.Interpretations[0].Profile = "ea-09" }, "unknown profile"},
		{"interpretation passage", func(c *Catalog) { c.Interpretations[0].Text[0].Quote = "" }, "passage"},
		{"interpretation one reading", func(c *Catalog) { c.Interpretations[0].Readings = c.Interpretations[0].Readings[:1] }, "at least two"},
		{"interpretation same names", func(c *Catalog) { c.Interpretations[0].Readings[1].Name = "here" }, "unique name"},
		{"interpretation default", func(c *Catalog) { c.Interpretations[0].Default = "elsewhere" }, "not one of its readings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.mutate(c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate accepted a broken catalog")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestParseStrict(t *testing.T) {
	data, err := json.Marshal(good())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(data); err != nil {
		t.Fatalf("round trip of a good catalog: %v", err)
	}
	for name, in := range map[string]string{
		"unknown field": strings.Replace(string(data), `"schema":1`, `"schema":1,"extra":true`, 1),
		"trailing data": string(data) + `{}`,
		"truncated":     string(data[:len(data)/2]),
		"not an object": `[]`,
		"empty":         ``,
	} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("%s: Parse accepted it", name)
		}
	}
}

func TestByIDAndFilter(t *testing.T) {
	c := good()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	r, ok := c.ByID("POC-ee-1")
	if !ok || r.Section != "ee" {
		t.Fatalf("ByID(POC-ee-1) = %+v, %v", r, ok)
	}
	if _, ok := c.ByID("TA07-9-1"); ok {
		t.Fatal("ByID found an absent id")
	}
	// ByID works on a catalog that was never validated.
	fresh := good()
	if _, ok := fresh.ByID("TA07-A.1-1"); !ok {
		t.Fatal("ByID on an unvalidated catalog")
	}
	ids := func(rs []Requirement) string {
		var s []string
		for _, r := range rs {
			s = append(s, r.ID)
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		profile string
		levels  []Level
		want    string
	}{
		{"", nil, "TA07-8.1.2-1,TA07-A.1-1,POC-ee-1"},
		{"ta-07", nil, "TA07-8.1.2-1,TA07-A.1-1"},
		{"ta-07", []Level{Must}, "TA07-8.1.2-1"},
		{"", []Level{Must}, "TA07-8.1.2-1,POC-ee-1"},
		{"", []Level{May, Should}, "TA07-A.1-1"},
		{"ea-07", nil, ""},
		{"poc", []Level{MustNot}, ""},
	} {
		if got := ids(c.Filter(tc.profile, tc.levels...)); got != tc.want {
			t.Errorf("Filter(%q, %v) = %s, want %s", tc.profile, tc.levels, got, tc.want)
		}
	}
}

func TestLabelAndPrefix(t *testing.T) {
	if got := Label("EA07-5.1.2-2"); got != "req:EA07-5.1.2-2" {
		t.Errorf("Label = %q", got)
	}
	for _, tc := range []struct{ in, want string }{{"ta-07", "TA07"}, {"ea-08", "EA08"}, {"poc", "POC"}, {"xp-02", "XP02"}} {
		if got := Prefix(tc.in); got != tc.want {
			t.Errorf("Prefix(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if !Must.Mandatory() || !MustNot.Mandatory() || !Required.Mandatory() {
		t.Error("MUST/MUST NOT/REQUIRED must be mandatory")
	}
	if Should.Mandatory() || May.Mandatory() || Recommended.Mandatory() || ShouldNot.Mandatory() {
		t.Error("SHOULD/MAY/RECOMMENDED/SHOULD NOT must not be mandatory")
	}
}

// Every requirement ID a profile's descriptor names for a rule is in the
// catalog, under that profile.
func TestDescriptorRequirementsAreCatalogued(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range profile.All() {
		for rule, ids := range d.Reqs {
			for _, id := range ids {
				n++
				r, ok := c.ByID(id)
				if !ok || r.Profile != d.Name {
					t.Errorf("%s rule %s names %s, which the catalog has not under %s", d.Name, rule, id, d.Name)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no descriptor names a requirement")
	}
}
