package requirements

import (
	"slices"
	"strings"
)

// Coverage compares the catalog with the requirement IDs the suite's specs
// claim to cover (either bare IDs or labels of the form Label(id)).
//
// uncoveredMust lists testable MUST/MUST NOT/REQUIRED requirements no spec
// covers; uncoveredShouldMay lists the other testable ones. Requirements
// marked not testable are never reported as uncovered: no spec can check
// them on the wire. unknown lists covered IDs that are not in the catalog
// (a typo or a stale label), sorted and without duplicates.
func Coverage(c *Catalog, covered []string) (uncoveredMust []Requirement, uncoveredShouldMay []Requirement, unknown []string) {
	seen := make(map[string]bool, len(covered))
	for _, id := range covered {
		id = strings.TrimPrefix(strings.TrimSpace(id), Label(""))
		if id == "" {
			continue
		}
		if _, ok := c.ByID(id); !ok {
			if !seen[id] {
				unknown = append(unknown, id)
			}
		}
		seen[id] = true
	}
	slices.Sort(unknown)
	for _, r := range c.Requirements {
		if seen[r.ID] || !r.Testable {
			continue
		}
		if r.Level.Mandatory() {
			uncoveredMust = append(uncoveredMust, r)
		} else {
			uncoveredShouldMay = append(uncoveredShouldMay, r)
		}
	}
	return uncoveredMust, uncoveredShouldMay, unknown
}
