package requirements

import (
	"reflect"
	"testing"
)

func synthetic(t *testing.T) *Catalog {
	t.Helper()
	c := &Catalog{
		Schema:    1,
		Documents: []Document{{Profile: "ea-07", Draft: "d", Revision: "07", Kind: "draft", Source: "s"}},
		Requirements: []Requirement{
			{ID: "EA07-4.1-1", Profile: "ea-07", Section: "4.1", Level: Must, Role: Attester, Quote: "a", Testable: true},
			{ID: "EA07-4.1-2", Profile: "ea-07", Section: "4.1", Level: MustNot, Role: Attester, Quote: "b", Testable: true},
			{ID: "EA07-5.1.2-1", Profile: "ea-07", Section: "5.1.2", Level: Must, Role: Verifier, Quote: "c", Testable: false},
			{ID: "EA07-5.2-1", Profile: "ea-07", Section: "5.2", Level: May, Role: RelyingParty, Quote: "d", Testable: true},
			{ID: "EA07-5.3-1", Profile: "ea-07", Section: "5.3", Level: ShouldNot, Role: Attester, Quote: "e", Testable: true},
			{ID: "EA07-5.3-2", Profile: "ea-07", Section: "5.3", Level: Should, Role: Attester, Quote: "f", Testable: false},
			{ID: "EA07-6-1", Profile: "ea-07", Section: "6", Level: Required, Role: Client, Quote: "g", Testable: true},
			{ID: "EA07-3.1-1", Profile: "ea-07", Section: "3.1", Level: Recommended, Role: Any, Quote: "h", Testable: true},
		},
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func ids(rs []Requirement) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestCoverage(t *testing.T) {
	c := synthetic(t)
	for _, tc := range []struct {
		name                    string
		covered                 []string
		must, shouldMay, unknwn []string
	}{
		{
			name:      "nothing covered: every testable entry reported, untestable ones never",
			must:      []string{"EA07-4.1-1", "EA07-4.1-2", "EA07-6-1"},
			shouldMay: []string{"EA07-5.2-1", "EA07-5.3-1", "EA07-3.1-1"},
		},
		{
			name:      "labels and bare ids both count, duplicates and blanks ignored",
			covered:   []string{"req:EA07-4.1-1", "EA07-4.1-2", "req:EA07-4.1-1", "", "  req:EA07-5.2-1 "},
			must:      []string{"EA07-6-1"},
			shouldMay: []string{"EA07-5.3-1", "EA07-3.1-1"},
		},
		{
			name:      "unknown ids sorted and deduplicated",
			covered:   []string{"req:TA07-8.1.2-9", "EA07-9-1", "req:TA07-8.1.2-9", "EA07-4.1-1"},
			must:      []string{"EA07-4.1-2", "EA07-6-1"},
			shouldMay: []string{"EA07-5.2-1", "EA07-5.3-1", "EA07-3.1-1"},
			unknwn:    []string{"EA07-9-1", "TA07-8.1.2-9"},
		},
		{
			name:    "everything covered, including an untestable entry",
			covered: []string{"EA07-4.1-1", "EA07-4.1-2", "EA07-5.1.2-1", "EA07-5.2-1", "EA07-5.3-1", "EA07-5.3-2", "EA07-6-1", "EA07-3.1-1"},
		},
		{
			name:      "label prefix is not stripped twice",
			covered:   []string{"req:req:EA07-6-1"},
			must:      []string{"EA07-4.1-1", "EA07-4.1-2", "EA07-6-1"},
			shouldMay: []string{"EA07-5.2-1", "EA07-5.3-1", "EA07-3.1-1"},
			unknwn:    []string{"req:EA07-6-1"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			must, sm, unk := Coverage(c, tc.covered)
			if got := ids(must); !reflect.DeepEqual(got, tc.must) {
				t.Errorf("uncoveredMust = %v, want %v", got, tc.must)
			}
			if got := ids(sm); !reflect.DeepEqual(got, tc.shouldMay) {
				t.Errorf("uncoveredShouldMay = %v, want %v", got, tc.shouldMay)
			}
			if !reflect.DeepEqual(unk, tc.unknwn) {
				t.Errorf("unknown = %v, want %v", unk, tc.unknwn)
			}
		})
	}
}

func TestCoverageCommittedCatalog(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	must, sm, unk := Coverage(c, nil)
	var testableMust, testableOther int
	for _, r := range c.Requirements {
		switch {
		case !r.Testable:
		case r.Level.Mandatory():
			testableMust++
		default:
			testableOther++
		}
	}
	if len(must) != testableMust || len(sm) != testableOther || unk != nil {
		t.Fatalf("Coverage(nil) = %d/%d/%v, want %d/%d/nil", len(must), len(sm), unk, testableMust, testableOther)
	}
	var all []string
	for _, r := range c.Requirements {
		all = append(all, Label(r.ID))
	}
	must, sm, unk = Coverage(c, all)
	if must != nil || sm != nil || unk != nil {
		t.Fatalf("Coverage(all) = %v/%v/%v, want empty", must, sm, unk)
	}
}
