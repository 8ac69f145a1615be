package render

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/attested-tls/conformance/reports/results"
)

// The attack verdict matrix: for each client→server pair and each part
// the pair's peer played (the victim, or the genuine attester), one row
// per scenario × attacker capability and one column per profile variant
// (the profile and the credential its attester presents), each cell the
// observed verdict and the check that decided it. The reasoning lives in
// each attack spec's description.

// attackMatrix is the verdict matrix of one pair and part.
type attackMatrix struct {
	Client, Server string
	// Part is the part the pair's peer under test played
	// (results.PartVictim, results.PartAttester; "" between in-process
	// endpoints).
	Part    string
	Columns []string
	Rows    []attackRow
}

// Title names the matrix: the pair and, for a peer, its part.
func (m *attackMatrix) Title() string {
	t := m.Client + " → " + m.Server
	peer := m.Server
	if m.Server == results.InProcessPeer {
		peer = m.Client
	}
	switch m.Part {
	case results.PartVictim:
		t += ", " + peer + " as the victim relying party"
	case results.PartAttester:
		t += ", " + peer + " as the genuine attester (its attestation relayed or replayed to an in-process victim)"
	}
	return t
}

// attackRow is one scenario × capability; Cells line up with Columns (nil
// where no spec ran).
type attackRow struct {
	Scenario, Capability string
	Cells                []*results.Spec
}

// attackColumn is the variant a spec attacked: "ta-07 x509",
// "ta-07 attestation-only", "poc attestation-only", …
func attackColumn(s *results.Spec) string {
	side := s.Model.Server
	if !side.Attests {
		side = s.Model.Client
	}
	if side.Credential == "" {
		return s.Profile
	}
	return s.Profile + " " + side.Credential
}

// attackMatrices groups the attack specs by pair, sorted by client, server,
// scenario, capability and column.
func (v *view) attackMatrices() []*attackMatrix {
	byPair := map[[3]string]*attackMatrix{}
	cells := map[[3]string]map[[3]string]*results.Spec{}
	var out []*attackMatrix
	for _, s := range v.specs {
		if s.Attack == nil {
			continue
		}
		k := [3]string{s.Pair.Client, s.Pair.Server, s.Attack.Part}
		m := byPair[k]
		if m == nil {
			m = &attackMatrix{Client: k[0], Server: k[1], Part: k[2]}
			byPair[k] = m
			cells[k] = map[[3]string]*results.Spec{}
			out = append(out, m)
		}
		col := attackColumn(s)
		m.Columns = addSorted(m.Columns, col)
		cells[k][[3]string{s.Attack.Scenario, s.Attack.Capability, col}] = s
		row := attackRow{Scenario: s.Attack.Scenario, Capability: s.Attack.Capability}
		if !slices.ContainsFunc(m.Rows, func(r attackRow) bool { return r.Scenario == row.Scenario && r.Capability == row.Capability }) {
			m.Rows = append(m.Rows, row)
		}
	}
	slices.SortFunc(out, func(a, b *attackMatrix) int {
		return cmp.Or(strings.Compare(a.Client, b.Client), strings.Compare(a.Server, b.Server), strings.Compare(a.Part, b.Part))
	})
	for _, m := range out {
		slices.SortFunc(m.Rows, func(a, b attackRow) int {
			return cmp.Or(strings.Compare(a.Scenario, b.Scenario), strings.Compare(a.Capability, b.Capability))
		})
		for i := range m.Rows {
			r := &m.Rows[i]
			for _, col := range m.Columns {
				r.Cells = append(r.Cells, cells[[3]string{m.Client, m.Server, m.Part}][[3]string{r.Scenario, r.Capability, col}])
			}
		}
	}
	return out
}

// attackVerdict is a cell's text: "succeeds" or "prevented: <check>".
func attackVerdict(a *results.Attack) string {
	if a.Verdict == results.AttackSucceeds {
		return string(a.Verdict)
	}
	return fmt.Sprintf("%s: %s", a.Verdict, a.Check)
}
