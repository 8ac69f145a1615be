package render

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/attested-tls/conformance/reports/results"
)

// JUnit XML: one <testsuite> per profile, one <testcase> per spec, with
// the requirement IDs as <property name="requirement"> of the testcase.
//
// Mapping of outcomes (chosen so CI turns red exactly when the baseline
// gate fails, and nothing that did not pass is counted as passed):
//
//	pass             passed testcase
//	fail             <failure type="fail"> with the spec's message
//	unexpected-pass  <failure type="unexpected-pass">: the baseline is stale
//	expected-fail    <skipped message="expected-fail: <reason>">, the
//	                 observed failure in the testcase's system-out
//	unsupported      <skipped message="unsupported: …">
//	skipped          <skipped message="skipped: …">
//
// expected-fail is reported as skipped rather than passed-with-a-property
// because JUnit viewers show skip messages (the reason) but rarely show
// testcase properties, and a pass count should only count passes. Every
// testcase also carries <property name="outcome"> with the exact outcome.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Hostname   string          `xml:"hostname,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name       string          `xml:"name,attr"`
	Classname  string          `xml:"classname,attr"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Failure    *junitMessage   `xml:"failure,omitempty"`
	Skipped    *junitMessage   `xml:"skipped,omitempty"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// JUnit writes the run as JUnit XML.
func JUnit(w io.Writer, r *results.Results) error {
	v := newView(r)
	out := junitSuites{Name: "attested-tls conformance " + r.SuiteVersion}
	var total time.Duration
	for _, p := range profileNames(v) {
		prof, _ := r.Profile(p)
		s := junitSuite{Name: p, Timestamp: r.Started.UTC().Format("2006-01-02T15:04:05"), Hostname: r.Host.Name,
			Properties: []junitProperty{
				{"draft", prof.Draft}, {"revision", prof.Revision},
				{"suite_version", r.SuiteVersion}, {"run_id", r.RunID},
			}}
		if r.Shard != nil {
			s.Properties = append(s.Properties, junitProperty{"shard", r.Shard.Name()})
		}
		var d time.Duration
		for _, spec := range v.specs {
			if spec.Profile != p {
				continue
			}
			c := junitCase{Name: spec.ID, Classname: spec.Profile + "." + spec.Model.Key(),
				Time: seconds(time.Duration(spec.Duration))}
			c.Properties = append(c.Properties, junitProperty{"outcome", string(spec.Outcome)},
				junitProperty{"pair", spec.Pair.Client + "→" + spec.Pair.Server},
				junitProperty{"role", string(spec.Role)})
			for _, id := range spec.Requirements {
				c.Properties = append(c.Properties, junitProperty{"requirement", id})
			}
			if spec.Expected != nil {
				c.Properties = append(c.Properties, junitProperty{"expected", string(spec.Expected.Outcome)},
					junitProperty{"expected.reason", spec.Expected.Reason})
			}
			switch spec.Outcome {
			case results.Fail:
				c.Failure = &junitMessage{Message: firstLine(spec.Message), Type: "fail", Text: details(spec)}
				s.Failures++
			case results.UnexpectedPass:
				c.Failure = &junitMessage{Type: "unexpected-pass",
					Message: "passed, but the baseline expects " + string(spec.Expected.Outcome) + ": " + spec.Expected.Reason,
					Text:    "update the peer's baseline (conformance run --update-baseline)"}
				s.Failures++
			case results.ExpectedFail:
				c.Skipped = &junitMessage{Message: "expected-fail: " + spec.Expected.Reason}
				c.SystemOut = details(spec)
				s.Skipped++
			case results.Unsupported, results.Skipped:
				c.Skipped = &junitMessage{Message: string(spec.Outcome) + ": " + firstLine(spec.Message)}
				s.Skipped++
			}
			if c.SystemOut == "" {
				c.SystemOut = artifactLines(spec)
			} else if a := artifactLines(spec); a != "" {
				c.SystemOut += "\n" + a
			}
			s.Tests++
			d += time.Duration(spec.Duration)
			s.Cases = append(s.Cases, c)
		}
		s.Time = seconds(d)
		total += d
		out.Tests += s.Tests
		out.Failures += s.Failures
		out.Skipped += s.Skipped
		out.Suites = append(out.Suites, s)
	}
	out.Time = seconds(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("render: junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// profileNames lists the profiles of the run's specs and declared
// profiles, sorted.
func profileNames(v *view) []string {
	var out []string
	for _, p := range v.r.Profiles {
		out = addSorted(out, p.Name)
	}
	for _, s := range v.specs {
		out = addSorted(out, s.Profile)
	}
	return out
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// details is the human text of a failure: message, alerts, verdicts.
func details(s *results.Spec) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(s.Message))
	for _, a := range s.Alerts {
		fmt.Fprintf(&b, "\nalert %s (%d) sent by %s", a.Name, a.Code, a.SentBy)
	}
	for _, vd := range s.Verdicts {
		b.WriteString("\n" + verdictText(vd))
	}
	if len(s.Requirements) > 0 {
		b.WriteString("\nrequirements: " + strings.Join(s.Requirements, " "))
	}
	return strings.TrimSpace(b.String())
}

func verdictText(v results.Verdict) string {
	t := fmt.Sprintf("%s attestation %s", v.Attester, v.Status)
	if v.TrustTier != "" {
		t += ", trust tier " + v.TrustTier
	}
	if v.Reason != "" {
		t += ", reason " + v.Reason
	}
	return t
}

func artifactLines(s *results.Spec) string {
	var lines []string
	for _, p := range s.Artifacts.Logs {
		lines = append(lines, "log: "+p)
	}
	if s.Artifacts.KeyLog != "" {
		lines = append(lines, "keylog: "+s.Artifacts.KeyLog)
	}
	if s.Artifacts.Pcap != "" {
		lines = append(lines, "pcap: "+s.Artifacts.Pcap)
	}
	return strings.Join(lines, "\n")
}
