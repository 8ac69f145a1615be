package specs

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/reports/results"
	"github.com/attested-tls/conformance/suite/harness"
)

// SuiteVersion is the version of the spec tree, reported in results.
const SuiteVersion = "0.1.0"

// handshakeEntry names the report entry each handshake leaves on its
// spec, so results can carry alerts and verdicts without re-running.
const handshakeEntry = "handshake"

// attackEntry names the report entry an attack spec leaves: its observed
// verdict, a results.Attack.
const attackEntry = "attack"

// Summary is what one handshake of a spec saw, in report form.
type Summary struct {
	Model    results.Model     `json:"model"`
	Profile  string            `json:"profile"`
	Alerts   []results.Alert   `json:"alerts,omitempty"`
	Verdicts []results.Verdict `json:"verdicts,omitempty"`
}

func resultSide(s party.Side) results.Side {
	if !s.Attests {
		return results.Side{}
	}
	return results.Side{Attests: true, Topology: s.Topology.String(), Credential: s.Credential.String()}
}

func summarize(m party.Model, r *harness.Result) Summary {
	s := Summary{Profile: m.Profile, Model: results.Model{Server: resultSide(m.Server), Client: resultSide(m.Client)}}
	for _, e := range []struct {
		err    error
		client bool
	}{{r.ClientErr, true}, {r.ClientReadErr, true}, {r.ServerErr, false}, {r.ServerReadErr, false}} {
		ae, ok := tls13.AsAlert(e.err)
		if !ok || !ae.Sent {
			continue // each alert is reported once, by its sender
		}
		by := results.ServerSide
		if e.client {
			by = results.ClientSide
		}
		a := results.Alert{Code: uint8(ae.Code), Name: ae.Code.String(), SentBy: by}
		if !slices.Contains(s.Alerts, a) { // the handshake and the read may report one alert twice
			s.Alerts = append(s.Alerts, a)
		}
	}
	for _, v := range []struct {
		st       tls13.ConnectionState
		attester results.Endpoint
	}{{r.Client, results.ServerSide}, {r.Server, results.ClientSide}} {
		o, ok := party.PeerOutcome(v.st)
		if !ok {
			continue
		}
		vd := results.Verdict{Attester: v.attester, Status: results.Accepted, Reason: string(o.Reason)}
		if o.Reason != "" {
			vd.Status = results.Rejected
		}
		if o.Result != nil {
			vd.TrustTier = strings.ToLower(o.Result.Status.String())
		}
		s.Verdicts = append(s.Verdicts, vd)
	}
	return s
}

// Results turns a Ginkgo report of this tree (run in-process, our client
// against our server) into the results file the reports render.
func Results(r types.Report, runID string) *results.Results {
	host, _ := os.Hostname()
	out := &results.Results{
		SchemaVersion: results.SchemaVersion, SuiteVersion: SuiteVersion, RunID: runID,
		Started: r.StartTime.UTC(), Finished: r.EndTime.UTC(),
		Host:     results.Host{Name: host, OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), Go: runtime.Version()},
		Profiles: resultProfiles(),
		Peers:    []results.Peer{{Name: results.InProcessPeer, Kind: results.InProcess, Version: SuiteVersion}},
	}
	seen := map[string]int{}
	for _, sr := range r.SpecReports {
		if sr.LeafNodeType != types.NodeTypeIt {
			continue
		}
		spec := results.Spec{
			Description: strings.Join(append(sr.ContainerHierarchyTexts, sr.LeafNodeText), " "),
			Pair:        results.Pair{Client: results.InProcessPeer, Server: results.InProcessPeer},
			Duration:    results.Duration(sr.RunTime.Round(time.Microsecond)),
		}
		var roles []string
		for _, l := range sr.Labels() {
			k, v, _ := strings.Cut(l, ":")
			switch k {
			case "profile":
				spec.Profile = v
			case "req":
				spec.Requirements = append(spec.Requirements, v)
			case "role":
				roles = append(roles, v)
			}
		}
		spec.Role = roleOf(roles)
		for _, e := range sr.ReportEntries {
			if e.Name == attackEntry {
				a, ok := e.Value.GetRawValue().(results.Attack)
				if ok || json.Unmarshal([]byte(e.Value.AsJSON), &a) == nil {
					spec.Attack = &a
				}
				continue
			}
			if e.Name != handshakeEntry {
				continue
			}
			// In process the entry holds the Summary itself; read back
			// from a JSON report, its JSON form.
			s, ok := e.Value.GetRawValue().(Summary)
			if !ok && json.Unmarshal([]byte(e.Value.AsJSON), &s) != nil {
				continue
			}
			spec.Model = s.Model
			spec.Alerts = append(spec.Alerts, s.Alerts...)
			spec.Verdicts = append(spec.Verdicts, s.Verdicts...)
		}
		spec.Outcome, spec.Message = outcomeOf(sr)
		spec.ID = specID(spec, sr, seen)
		sort.Strings(spec.Requirements)
		out.Specs = append(out.Specs, spec)
	}
	out.Sort()
	return out
}

// resultProfiles are the profiles as their descriptors state them.
func resultProfiles() []results.Profile {
	var out []results.Profile
	for _, d := range profile.All() {
		out = append(out, results.Profile{Name: d.Name, Draft: d.Draft, Revision: d.Revision})
	}
	return out
}

func roleOf(roles []string) results.Role {
	for _, r := range roles {
		switch r {
		case "mutual":
			return results.RoleBoth
		case "client":
			return results.RoleClient
		}
	}
	return results.RoleServer
}

// notSelected is the message of a spec the run did not select (a label or
// focus filter left it out) or that is pending.
const notSelected = "not selected"

// outcomeOf is a spec's outcome and message. A spec that skipped itself
// (Skip) keeps its reason, which Ginkgo reports as the failure message;
// one the run did not select has none.
func outcomeOf(sr types.SpecReport) (results.Outcome, string) {
	switch {
	case sr.State.Is(types.SpecStatePassed):
		return results.Pass, ""
	case sr.State.Is(types.SpecStateSkipped):
		if msg := strings.TrimSpace(sr.Failure.Message); msg != "" {
			return results.Skipped, msg
		}
		return results.Skipped, notSelected
	case sr.State.Is(types.SpecStatePending):
		return results.Skipped, notSelected
	}
	return results.Fail, sr.Failure.Message
}

// specID is stable across runs: a matrix entry is its model's ID, an
// attack spec its model and attack, any other spec its profile and
// sentence, all with the pair.
func specID(s results.Spec, sr types.SpecReport, seen map[string]int) string {
	text := strings.ToLower(strings.Join(strings.Fields(sr.LeafNodeText), "-"))
	if !strings.HasPrefix(text, s.Profile+"/") {
		text = s.Profile + "/" + text
	}
	if a := s.Attack; a != nil {
		// An attack spec's sentence is its reasoning; its ID is its cell.
		text = fmt.Sprintf("%s/%s/attack/%s/%s", s.Profile, s.Model.Key(), a.Scenario, a.Capability)
	}
	id := text + "/go→go"
	seen[id]++
	if n := seen[id]; n > 1 {
		id += "#" + string(rune('0'+n))
	}
	return id
}
