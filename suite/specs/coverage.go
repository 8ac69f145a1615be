package specs

import (
	"fmt"
	"os"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/reports/requirements"
)

// RequirementLabels returns the requirement IDs the specs of a suite
// report claim to check (from their req:<ID> labels, containers'
// included), whether or not the specs ran this time: coverage is a property
// of the tree, not of a filtered run. Pending specs check nothing.
func RequirementLabels(rep Report) []string {
	var ids []string
	for _, sr := range rep.SpecReports {
		if sr.State == types.SpecStatePending {
			continue
		}
		for _, l := range sr.Labels() {
			if id, ok := strings.CutPrefix(l, requirements.Label("")); ok {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// The suite fails when a testable MUST, MUST NOT or REQUIRED of the catalog
// is checked by no spec, or a label names no catalogued requirement; the
// uncovered SHOULDs and MAYs are listed.
var _ = ReportAfterSuite("requirement coverage", func(rep Report) {
	cat, err := requirements.Load()
	Expect(err).NotTo(HaveOccurred())
	ids := RequirementLabels(rep)
	must, should, unknown := requirements.Coverage(cat, ids)
	// Printed, not just logged: the uncovered SHOULDs and MAYs are the
	// run's to-do list, wanted on a passing run too (go test -v, ginkgo).
	out := &strings.Builder{}
	fmt.Fprintf(out, "requirement coverage: %d requirements, %d cited by specs; uncovered: %d testable MUST/MUST NOT/REQUIRED, %d testable SHOULD/MAY\n",
		len(cat.Requirements), countCited(cat, ids), len(must), len(should))
	for _, r := range should {
		fmt.Fprintf(out, "  uncovered %s %s (%s): %s\n", r.Level, r.ID, r.Role, r.Quote)
	}
	fmt.Fprint(os.Stdout, out.String())
	AddReportEntry("requirement coverage", out.String())
	Expect(unknown).To(BeEmpty(), "req: labels naming no catalogued requirement")
	Expect(describeRequirements(must)).To(BeEmpty(), "testable mandatory requirements no spec checks")
})

func describeRequirements(rs []requirements.Requirement) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s %s (%s): %s", r.ID, r.Level, r.Role, r.Quote))
	}
	return out
}

// countCited is how many catalogued requirements the IDs name.
func countCited(cat *requirements.Catalog, ids []string) int {
	seen := map[string]bool{}
	for _, id := range ids {
		if _, ok := cat.ByID(id); ok {
			seen[id] = true
		}
	}
	return len(seen)
}
