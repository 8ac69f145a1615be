package render

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/attested-tls/conformance/reports/requirements"
	"github.com/attested-tls/conformance/reports/results"
)

//go:embed templates/report.html.tmpl
var reportTemplate string

var reportHTML = template.Must(template.New("report").Parse(reportTemplate))

// Short labels for the counts in matrix cells.
var shortOutcome = map[results.Outcome]string{
	results.Pass: "pass", results.Fail: "fail", results.Unsupported: "unsup",
	results.ExpectedFail: "xfail", results.UnexpectedPass: "xpass", results.Skipped: "skip",
}

type htmlCount struct {
	Outcome results.Outcome
	Short   string
	N       int
}

type htmlPage struct {
	Title, Verdict, VerdictClass                    string
	SuiteVersion, RunID, Started, Finished, Elapsed string
	Host                                            string
	// Shard is "K of N" for one shard's results.
	Shard           string
	MergedFrom      []htmlRun
	Totals          []htmlCount
	Total           int
	Profiles        []results.Profile
	Peers           []results.Peer
	Overview        htmlOverview
	Matrices        []htmlMatrix
	Attacks         []htmlAttackMatrix
	Formats         []htmlFormat
	Coverage        []htmlCoverage
	Unknown         []string
	Interpretations []requirements.Interpretation
	Groups          []htmlGroup
}

// htmlFormat is an evidence format that names no key, its specs' counts
// and what its binding means.
type htmlFormat struct {
	Name, Binding string
	Counts        []htmlCount
}

type htmlRun struct{ RunID, Started, Finished, Host, Shard string }

type htmlMatrix struct {
	Profile, Model string
	Servers        []string
	Rows           []htmlRow
}

type htmlRow struct {
	Client string
	Cells  []htmlCell
}

// htmlOverview is every client × server pair in one table, in the manner
// of the QUIC Interop Runner: each cell lists the pair's models, per
// profile, each coloured by its worst outcome and linking to its specs.
type htmlOverview struct {
	Servers []string
	Rows    []htmlOverviewRow
}

type htmlOverviewRow struct {
	Client string
	Cells  []htmlOverviewCell
}

type htmlOverviewCell struct {
	Empty    bool
	Class    string
	Profiles []htmlOverviewProfile
}

type htmlOverviewProfile struct {
	Profile string
	Models  []htmlOverviewModel
}

type htmlOverviewModel struct {
	Anchor, Label, Class, Title string
}

type htmlCell struct {
	Empty                bool
	Anchor, Class, Title string
	Counts               []htmlCount
}

// htmlAttackMatrix is one pair's attack verdict matrix; Reasons repeats
// every cell with its spec's description, for readers without hover.
type htmlAttackMatrix struct {
	Pair    string
	Columns []string
	Rows    []htmlAttackRow
	Reasons []htmlAttackReason
}

type htmlAttackRow struct {
	Scenario, Capability string
	Cells                []htmlAttackCell
}

type htmlAttackCell struct {
	Empty bool
	// Class is a-succeeds or a-prevented; Unexpected marks a spec whose
	// verdict differs from the documented one (the spec did not pass).
	Class, Text, Anchor, Title string
	Unexpected                 bool
}

type htmlAttackReason struct{ Cell, Verdict, Anchor, Description string }

type htmlGroup struct {
	Anchor, Title string
	Specs         []htmlSpec
}

type htmlSpec struct {
	Anchor, ID, Description, Pair, Role, Duration, Message string
	// Attack is "scenario · capability: verdict" for an attack spec.
	Attack           string
	Outcome          results.Outcome
	Expected         *results.Expectation
	Reqs             []htmlReq
	Alerts, Verdicts []string
	Artifacts        []htmlLink
}

type htmlReq struct{ ID, Href, Title string }

type htmlLink struct {
	Label string
	// Href is a relative URL; template.URL because it is built here from
	// escaped path segments and always starts with "./" or "../".
	Href template.URL
}

type htmlCoverage struct {
	Profile, Draft, Revision string
	Peers                    []string
	Summary                  []string
	Rows                     []htmlCovRow
	Uncovered                string
}

type htmlCovRow struct {
	ID, Anchor, Level, Role, Section, Quote string
	Testable                                bool
	Cells                                   []htmlCovCell
}

type htmlCovCell struct{ Text, Class, Href, Title string }

func hostText(h results.Host) string {
	t := h.Name
	if h.OS != "" || h.Arch != "" {
		t += fmt.Sprintf(" (%s/%s", h.OS, h.Arch)
		if h.CPUs > 0 {
			t += fmt.Sprintf(", %d CPUs", h.CPUs)
		}
		if h.Go != "" {
			t += ", " + h.Go
		}
		t += ")"
	}
	return t
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

func counts(n map[results.Outcome]int) []htmlCount {
	var out []htmlCount
	for _, o := range results.Outcomes {
		if n[o] > 0 {
			out = append(out, htmlCount{Outcome: o, Short: shortOutcome[o], N: n[o]})
		}
	}
	return out
}

// HTML writes report.html: a self-contained page (inline CSS and script,
// no external resources) with the interop matrices, the requirement
// coverage per peer against cat, and every spec's details. Artifact
// links are r's artifact paths, so r's paths must be relative to the
// directory the page is written to (see results.Results.Rebase).
func HTML(w io.Writer, r *results.Results, cat *requirements.Catalog) error {
	v := newView(r)
	all := results.Counts(r.Specs)
	p := htmlPage{
		Title:        "Attested TLS conformance — " + r.SuiteVersion,
		SuiteVersion: r.SuiteVersion, RunID: r.RunID,
		Started: stamp(r.Started), Finished: stamp(r.Finished),
		Elapsed: r.Finished.Sub(r.Started).Round(time.Millisecond).String(),
		Host:    hostText(r.Host), Total: len(r.Specs),
		Profiles: r.Profiles, Peers: r.Peers,
	}
	for _, o := range results.Outcomes {
		p.Totals = append(p.Totals, htmlCount{Outcome: o, Short: shortOutcome[o], N: all[o]})
	}
	if bad := len(v.unexpected()); bad > 0 {
		p.Verdict, p.VerdictClass = fmt.Sprintf("FAIL: %s", plural(bad, "unexpected result", "unexpected results")), "verdict-fail"
	} else {
		p.Verdict, p.VerdictClass = "PASS: no unexpected results", "verdict-pass"
	}
	if r.Shard != nil {
		p.Shard = fmt.Sprintf("%d of %d", r.Shard.Index, r.Shard.Total)
	}
	for _, m := range r.MergedFrom {
		run := htmlRun{m.RunID, stamp(m.Started), stamp(m.Finished), hostText(m.Host), ""}
		if m.Shard != nil {
			run.Shard = m.Shard.Name()
		}
		p.MergedFrom = append(p.MergedFrom, run)
	}
	p.Overview = htmlOverviewOf(v)
	for _, m := range v.matrices {
		hm := htmlMatrix{Profile: m.Profile, Model: m.Model, Servers: m.Servers}
		for _, c := range m.Clients {
			row := htmlRow{Client: c}
			for _, s := range m.Servers {
				g := m.cell(c, s)
				if g == nil {
					row.Cells = append(row.Cells, htmlCell{Empty: true})
					continue
				}
				var parts []string
				for _, n := range counts(g.Counts) {
					parts = append(parts, fmt.Sprintf("%d %s", n.N, n.Outcome))
				}
				row.Cells = append(row.Cells, htmlCell{Anchor: groupAnchor(g), Class: string(g.worst()),
					Title:  fmt.Sprintf("%s → %s: %s", c, s, strings.Join(parts, ", ")),
					Counts: counts(g.Counts)})
			}
			hm.Rows = append(hm.Rows, row)
		}
		p.Matrices = append(p.Matrices, hm)
	}
	p.Attacks = htmlAttacks(v)
	for _, r := range v.formatRows() {
		p.Formats = append(p.Formats, htmlFormat{Name: r.Name, Binding: r.Binding, Counts: counts(r.Counts)})
	}
	rowIDs := map[string]bool{}
	p.Coverage, p.Unknown = coverageTables(v, cat, rowIDs)
	for _, in := range cat.Interpretations {
		if slices.ContainsFunc(r.Profiles, func(pr results.Profile) bool { return pr.Name == in.Profile }) {
			p.Interpretations = append(p.Interpretations, in)
		}
	}
	for _, g := range v.groups {
		hg := htmlGroup{Anchor: groupAnchor(g), Title: fmt.Sprintf("%s · %s · %s → %s", g.Profile, g.Model, g.Client, g.Server)}
		for _, s := range g.Specs {
			hg.Specs = append(hg.Specs, htmlSpecOf(s, cat, rowIDs))
		}
		p.Groups = append(p.Groups, hg)
	}
	if err := reportHTML.Execute(w, p); err != nil {
		return fmt.Errorf("render: html: %w", err)
	}
	return nil
}

// htmlOverviewOf builds the overview from the view's groups (sorted by
// profile, model, client, server).
func htmlOverviewOf(v *view) htmlOverview {
	o := htmlOverview{Servers: v.servers}
	for _, c := range v.clients {
		row := htmlOverviewRow{Client: c}
		for _, srv := range v.servers {
			cell := htmlOverviewCell{Empty: true}
			worst := &group{Counts: map[results.Outcome]int{}}
			for _, g := range v.groups {
				if g.Client != c || g.Server != srv {
					continue
				}
				cell.Empty = false
				if n := len(cell.Profiles); n == 0 || cell.Profiles[n-1].Profile != g.Profile {
					cell.Profiles = append(cell.Profiles, htmlOverviewProfile{Profile: g.Profile})
				}
				var parts []string
				for _, n := range counts(g.Counts) {
					parts = append(parts, fmt.Sprintf("%d %s", n.N, n.Outcome))
					worst.Counts[n.Outcome] += n.N
				}
				pr := &cell.Profiles[len(cell.Profiles)-1]
				pr.Models = append(pr.Models, htmlOverviewModel{Anchor: groupAnchor(g), Label: shortModel(g.Model),
					Class: string(g.worst()), Title: fmt.Sprintf("%s · %s: %s", g.Profile, g.Model, strings.Join(parts, ", "))})
			}
			if !cell.Empty {
				cell.Class = string(worst.worst())
			}
			row.Cells = append(row.Cells, cell)
		}
		o.Rows = append(o.Rows, row)
	}
	return o
}

// shortModel abbreviates a model key for the overview: S, C or M for who
// attests, bg or pp, x509 or ao ("M bg+ao/pp+ao").
var shortModel = strings.NewReplacer("mutual/server=", "M ", ",client=", "/", "server-attests/", "S ", "client-attests/", "C ",
	"passport", "pp", "attestation-only", "ao", "no-attestation", "none").Replace

func htmlAttacks(v *view) []htmlAttackMatrix {
	var out []htmlAttackMatrix
	for _, m := range v.attackMatrices() {
		hm := htmlAttackMatrix{Pair: m.Title(), Columns: m.Columns}
		for _, r := range m.Rows {
			hr := htmlAttackRow{Scenario: r.Scenario, Capability: r.Capability}
			for i, s := range r.Cells {
				if s == nil {
					hr.Cells = append(hr.Cells, htmlAttackCell{Empty: true})
					continue
				}
				c := htmlAttackCell{Class: "a-" + string(s.Attack.Verdict), Text: attackVerdict(s.Attack), Anchor: specAnchor(s),
					Title: s.Description, Unexpected: s.Outcome.Observed() != results.Pass && s.Outcome != results.Skipped}
				hr.Cells = append(hr.Cells, c)
				hm.Reasons = append(hm.Reasons, htmlAttackReason{Cell: r.Scenario + " · " + r.Capability + " · " + m.Columns[i],
					Verdict: c.Text, Anchor: c.Anchor, Description: s.Description})
			}
			hm.Rows = append(hm.Rows, hr)
		}
		out = append(out, hm)
	}
	return out
}

func htmlSpecOf(s *results.Spec, cat *requirements.Catalog, rowIDs map[string]bool) htmlSpec {
	h := htmlSpec{Anchor: specAnchor(s), ID: s.ID, Description: s.Description, Outcome: s.Outcome,
		Pair: s.Pair.Client + " → " + s.Pair.Server, Role: string(s.Role),
		Duration: time.Duration(s.Duration).Round(time.Microsecond).String(),
		Message:  strings.TrimSpace(s.Message), Expected: s.Expected}
	for _, id := range s.Requirements {
		req := htmlReq{ID: id}
		if rq, ok := cat.ByID(id); ok && rowIDs[id] {
			req.Href = reqAnchor(id)
			req.Title = fmt.Sprintf("%s §%s: %s", rq.Level, rq.Section, rq.Quote)
		}
		h.Reqs = append(h.Reqs, req)
	}
	if a := s.Attack; a != nil {
		h.Attack = a.Scenario + " · " + a.Capability + ": " + attackVerdict(a)
	}
	for _, a := range s.Alerts {
		h.Alerts = append(h.Alerts, fmt.Sprintf("%s (%d) sent by %s", a.Name, a.Code, a.SentBy))
	}
	for _, vd := range s.Verdicts {
		h.Verdicts = append(h.Verdicts, verdictText(vd))
	}
	for _, l := range s.Artifacts.Logs {
		h.Artifacts = append(h.Artifacts, htmlLink{Label: "log " + path.Base(l), Href: relURL(l)})
	}
	if s.Artifacts.KeyLog != "" {
		h.Artifacts = append(h.Artifacts, htmlLink{Label: "key log", Href: relURL(s.Artifacts.KeyLog)})
	}
	if s.Artifacts.Pcap != "" {
		h.Artifacts = append(h.Artifacts, htmlLink{Label: "pcap", Href: relURL(s.Artifacts.Pcap)})
	}
	return h
}

// relURL turns a validated relative artifact path into a relative URL:
// each segment percent-escaped, and a "./" prefix so no segment can be
// read as a URL scheme.
func relURL(p string) template.URL {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	u := strings.Join(segs, "/")
	if !strings.HasPrefix(u, "../") {
		u = "./" + u
	}
	return template.URL(u)
}

// coverageTables builds one table per profile of the run that the catalog
// knows: its testable and untestable mandatory requirements, plus any
// other requirement a spec cites. rowIDs receives the IDs given a row.
func coverageTables(v *view, cat *requirements.Catalog, rowIDs map[string]bool) ([]htmlCoverage, []string) {
	cov := v.coverage(cat)
	covered := v.coveredIDs()
	_, _, unknown := requirements.Coverage(cat, covered)
	peers := v.peers()
	var out []htmlCoverage
	for _, name := range profileNames(v) {
		rs := cat.Filter(name)
		if len(rs) == 0 {
			continue
		}
		prof, _ := v.r.Profile(name)
		t := htmlCoverage{Profile: name, Draft: prof.Draft, Revision: prof.Revision, Peers: peers}
		metN := make([]int, len(peers))
		notMetN := make([]int, len(peers))
		testable := 0
		uncovered := 0
		for _, rq := range rs {
			byPeer := cov[rq.ID]
			if !rq.Level.Mandatory() && byPeer == nil {
				continue
			}
			if rq.Level.Mandatory() && rq.Testable {
				testable++
				if byPeer == nil {
					uncovered++
				}
			}
			row := htmlCovRow{ID: rq.ID, Anchor: reqAnchor(rq.ID), Level: string(rq.Level), Role: string(rq.Role),
				Section: rq.Section, Quote: rq.Quote, Testable: rq.Testable}
			rowIDs[rq.ID] = true
			for i, peer := range peers {
				c := byPeer[peer]
				if c == nil {
					c = &coverageCell{}
				}
				cell := htmlCovCell{Text: c.Status.String(), Class: strings.ReplaceAll(c.Status.String(), " ", "-")}
				if len(c.Specs) > 0 {
					cell.Text = fmt.Sprintf("%s (%d)", c.Status, len(c.Specs))
					cell.Href = specAnchor(c.Specs[0])
					var ids []string
					for _, s := range c.Specs {
						ids = append(ids, s.ID)
					}
					cell.Title = strings.Join(ids, "\n")
				}
				if rq.Level.Mandatory() && rq.Testable {
					switch c.Status {
					case met:
						metN[i]++
					case notMet:
						notMetN[i]++
					}
				}
				row.Cells = append(row.Cells, cell)
			}
			t.Rows = append(t.Rows, row)
		}
		for i := range peers {
			s := fmt.Sprintf("%d / %d", metN[i], testable)
			if notMetN[i] > 0 {
				s += fmt.Sprintf(", %d not met", notMetN[i])
			}
			t.Summary = append(t.Summary, s)
		}
		if uncovered > 0 {
			t.Uncovered = fmt.Sprintf("%s of %s have no spec in this run.",
				plural(uncovered, "testable mandatory requirement", "testable mandatory requirements"), name)
		}
		out = append(out, t)
	}
	return out, unknown
}
