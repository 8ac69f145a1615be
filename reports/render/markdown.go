package render

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/attested-tls/conformance/reports/results"
)

// Markdown symbols for outcomes (GitHub renders these in PR comments).
var mdSymbol = map[results.Outcome]string{
	results.Pass: "✅", results.Fail: "❌", results.Unsupported: "➖",
	results.ExpectedFail: "⚠️", results.UnexpectedPass: "❗", results.Skipped: "⏭️",
}

// maxMessage bounds a failure message in the summary; the full text is in
// report.html.
const maxMessage = 200

// mdText escapes text for a Markdown table cell: no line breaks, no pipe,
// no inline markup or HTML.
func mdText(s string) string {
	var b strings.Builder
	for _, c := range strings.Join(strings.Fields(s), " ") {
		switch c {
		case '\\', '`', '*', '_', '[', ']', '|', '#', '~', '!':
			b.WriteByte('\\')
			b.WriteRune(c)
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

func mdCounts(n map[results.Outcome]int) string {
	var parts []string
	for _, o := range results.Outcomes {
		if n[o] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", mdSymbol[o], n[o]))
		}
	}
	return strings.Join(parts, " ")
}

// Markdown writes summary.md for a pull request: the verdict and totals,
// the specs that gate the run with their requirements, the expected
// failures with their reasons, and one compact matrix per profile (rows
// client → server, columns models).
func Markdown(w io.Writer, r *results.Results) error {
	v := newView(r)
	var b strings.Builder
	all := results.Counts(r.Specs)
	bad := v.unexpected()
	fmt.Fprintf(&b, "# Attested TLS conformance\n\n")
	fmt.Fprintf(&b, "Suite %s · run %s · %s · %s · %s\n\n", mdText(r.SuiteVersion), mdText(r.RunID),
		stamp(r.Started), r.Finished.Sub(r.Started).Round(time.Second), mdText(hostText(r.Host)))
	if r.Shard != nil {
		fmt.Fprintf(&b, "Shard %d of %d: only this shard's specs; `conformance report --results …` merges the shards.\n\n", r.Shard.Index, r.Shard.Total)
	} else if n := r.ShardsMerged(); n > 0 {
		fmt.Fprintf(&b, "Merged from %s.\n\n", plural(n, "shard", "shards"))
	}
	if len(bad) > 0 {
		fmt.Fprintf(&b, "**FAIL**: %s.\n\n", plural(len(bad), "unexpected result", "unexpected results"))
	} else {
		fmt.Fprintf(&b, "**PASS**: no unexpected results.\n\n")
	}
	b.WriteString("|")
	for _, o := range results.Outcomes {
		fmt.Fprintf(&b, " %s %s |", mdSymbol[o], o)
	}
	b.WriteString(" total |\n|")
	b.WriteString(strings.Repeat("---:|", len(results.Outcomes)+1))
	b.WriteString("\n|")
	for _, o := range results.Outcomes {
		fmt.Fprintf(&b, " %d |", all[o])
	}
	fmt.Fprintf(&b, " %d |\n\n", len(r.Specs))

	if len(bad) > 0 {
		b.WriteString("## Unexpected results\n\n| outcome | spec | requirements | message |\n|---|---|---|---|\n")
		for _, s := range bad {
			msg := s.Message
			if s.Outcome == results.UnexpectedPass {
				msg = "passed, but the baseline expects " + string(s.Expected.Outcome) + ": " + s.Expected.Reason
			}
			fmt.Fprintf(&b, "| %s %s | %s | %s | %s |\n", mdSymbol[s.Outcome], s.Outcome, mdText(s.ID),
				mdText(strings.Join(s.Requirements, " ")), mdText(truncate(msg, maxMessage)))
		}
		b.WriteString("\n")
	}
	if xf := v.withOutcome(results.ExpectedFail); len(xf) > 0 {
		fmt.Fprintf(&b, "<details><summary>%s</summary>\n\n| spec | requirements | reason |\n|---|---|---|\n",
			plural(len(xf), "expected failure", "expected failures"))
		for _, s := range xf {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", mdText(s.ID), mdText(strings.Join(s.Requirements, " ")),
				mdText(truncate(s.Expected.Reason, maxMessage)))
		}
		b.WriteString("\n</details>\n\n")
	}

	b.WriteString("## Matrix\n\n")
	legend := make([]string, 0, len(results.Outcomes))
	for _, o := range results.Outcomes {
		legend = append(legend, mdSymbol[o]+" "+string(o))
	}
	b.WriteString(strings.Join(legend, " · ") + "\n\n")
	for _, prof := range profileNames(v) {
		var models []string
		var pairs [][2]string
		for _, g := range v.groups {
			if g.Profile != prof {
				continue
			}
			models = addSorted(models, g.Model)
			if p := [2]string{g.Client, g.Server}; !slices.Contains(pairs, p) {
				pairs = append(pairs, p)
			}
		}
		if len(models) == 0 {
			continue
		}
		// v.groups is sorted by model first; order pairs by client, server.
		slices.SortFunc(pairs, func(a, b [2]string) int {
			return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1]))
		})
		fmt.Fprintf(&b, "### %s\n\n| client → server |", mdText(prof))
		for _, m := range models {
			fmt.Fprintf(&b, " %s |", mdText(m))
		}
		b.WriteString("\n|---|" + strings.Repeat("---|", len(models)) + "\n")
		for _, p := range pairs {
			fmt.Fprintf(&b, "| %s → %s |", mdText(p[0]), mdText(p[1]))
			for _, m := range models {
				cell := "—"
				for _, g := range v.groups {
					if g.Profile == prof && g.Model == m && g.Client == p[0] && g.Server == p[1] {
						cell = mdCounts(g.Counts)
					}
				}
				fmt.Fprintf(&b, " %s |", cell)
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	if len(v.groups) == 0 {
		b.WriteString("No specs in this run.\n\n")
	}
	mdAttacks(&b, v)
	mdFormats(&b, v)
	b.WriteString("Full details, requirement coverage and artifacts: report.html.\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// mdAttacks writes the attack verdict matrices: a row per scenario ×
// capability, a column per profile variant.
func mdAttacks(b *strings.Builder, v *view) {
	ms := v.attackMatrices()
	if len(ms) == 0 {
		return
	}
	b.WriteString("## Attack verdicts\n\n")
	b.WriteString("Observed verdict of each attack against the relying party, and the check that stopped it; " +
		"❌ marks a verdict that differs from the one documented for the profile. Reasoning per cell: report.html.\n\n")
	for _, m := range ms {
		fmt.Fprintf(b, "### %s\n\n| scenario | capability |", mdText(m.Title()))
		for _, c := range m.Columns {
			fmt.Fprintf(b, " %s |", mdText(c))
		}
		b.WriteString("\n|---|---|" + strings.Repeat("---|", len(m.Columns)) + "\n")
		for _, r := range m.Rows {
			fmt.Fprintf(b, "| %s | %s |", mdText(r.Scenario), mdText(r.Capability))
			for _, s := range r.Cells {
				cell := "—"
				if s != nil {
					cell = mdText(attackVerdict(s.Attack))
					if s.Attack.Verdict == results.AttackSucceeds {
						cell = "**" + cell + "**"
					}
					if s.Outcome.Observed() != results.Pass && s.Outcome != results.Skipped {
						cell = mdSymbol[results.Fail] + " " + cell
					}
				}
				fmt.Fprintf(b, " %s |", cell)
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
}
