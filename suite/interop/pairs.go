package interop

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/driver"
	"github.com/attested-tls/conformance/peers/inputs"
	"github.com/attested-tls/conformance/peers/reference"
	"github.com/attested-tls/conformance/reports/requirements"
	"github.com/attested-tls/conformance/reports/results"
)

// PairEntry names the report entry each pair spec leaves: a *Record.
const PairEntry = "pair"

// Record is what one pair spec did, in report form. Paths are absolute;
// PairResults makes them relative to the results file.
type Record struct {
	Peer     string
	PeerRole contract.Role
	Model    party.Model
	// Variant names a negative case of the model ("" for the positive one).
	Variant string
	Reqs    []string
	// Driver is the driver kind; "" if the spec never got as far.
	Driver      string
	Unsupported bool
	Alerts      []results.Alert
	Verdicts    []results.Verdict
	Logs        []string
	KeyLog      string
	Pcap        string
	// Attack is an attack spec's verdict, as the suite saw it.
	Attack *results.Attack
	// Self: the peer played both sides.
	Self bool
}

// Pair is the spec's pair: the in-process reference on the other side, or
// the peer itself.
func (r *Record) Pair() results.Pair {
	if r.Self {
		return results.Pair{Client: r.Peer, Server: r.Peer}
	}
	if r.PeerRole == contract.Server {
		return results.Pair{Client: results.InProcessPeer, Server: r.Peer}
	}
	return results.Pair{Client: r.Peer, Server: results.InProcessPeer}
}

// SpecID is the spec's ID in results: the model ID and the pair, like the
// in-process specs' "…/go→go".
func (r *Record) SpecID() string {
	p := r.Pair()
	id := r.Model.ID()
	if r.Variant != "" {
		id += "/" + r.Variant
	}
	return id + "/" + p.Client + "→" + p.Server
}

// PairOptions say which pair specs DeclarePairs declares.
type PairOptions struct {
	Peers []*PeerDir
	// Env returns the environment of a peer, set up on first use (build
	// its image once, whichever spec runs first).
	Env func(ctx context.Context, p *PeerDir) (*Env, error)
	// Reqs gives the requirement IDs a model's positive case checks (the
	// spec tree's); nil gives none.
	Reqs func(party.Model) []string
	// Cases lists a peer's cases; nil is Matrix of its manifest.
	Cases func(p *PeerDir) []Case
	// After, if set, checks more of a case that completed.
	After func(c Case, r *Result)
	// Parallel runs up to this many of a peer's cases at once (default
	// 1): when a spec starts, the next selected cases start in the
	// background and their specs later judge what they did. Selected
	// says which specs the run selects (label filter and focus, by the
	// spec's full text and labels); nil selects all.
	Parallel int
	Selected func(text string, labels []string) bool
	// Timeout bounds one spec (default 2 minutes).
	Timeout time.Duration
	// RealServices gives the peer a swtpm and each case a Veraison on its
	// network whenever the peer's manifest lists them, even if it could
	// use a software TPM and the in-process verifier; both sides use
	// that Veraison to appraise and for passports (see Matrix).
	RealServices bool
}

// PairLabels are a case's labels: what the in-process specs use
// (profile, model, role = who attests, credential, req:<ID>) plus the
// peer, the pair and the role the peer plays.
func PairLabels(peer string, c Case, reqs []string) Labels {
	m := c.Model
	var att []party.Side
	for _, s := range []party.Side{m.Server, m.Client} {
		if s.Attests {
			att = append(att, s)
		}
	}
	who := "client"
	switch {
	case !m.Server.Attests && !m.Client.Attests:
		who = "none"
	case m.Server.Attests && m.Client.Attests:
		who = "mutual"
	case m.Server.Attests:
		who = "server"
	}
	ls := Labels{"peers", "peer:" + peer, "peer-role:" + string(c.PeerRole), "profile:" + m.Profile, "role:" + who}
	if len(att) > 0 {
		topo := att[0].Topology.String()
		if len(att) == 2 && att[0].Topology != att[1].Topology {
			topo = "mixed"
		}
		ls = append(ls, "model:"+topo, "credential:"+att[0].Credential.String())
	}
	rec := Record{Peer: peer, PeerRole: c.PeerRole}
	p := rec.Pair()
	ls = append(ls, "pair:"+p.Client+"-"+p.Server)
	for _, id := range reqs {
		ls = append(ls, requirements.Label(id))
	}
	return ls
}

// DeclarePairs declares, for each peer, its battery: one spec per case,
// the peer (a container or a process, whichever driver the Env has)
// against the in-process reference. For each case its manifest claims:
// the positive case, judged on the wire (and by After), and the negative
// cases in which the reference misbehaves and the peer must abort
// (Negatives); for each case it does not claim, a spec that it answers
// 127. Call it while the spec tree is built (before RunSpecs).
func DeclarePairs(o PairOptions) {
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Minute
	}
	for _, p := range o.Peers {
		cases := o.Cases
		if cases == nil {
			cases = func(p *PeerDir) []Case { return Battery(p.Manifest, o.RealServices) }
		}
		container := fmt.Sprintf("Peer %s against the in-process reference", p.Name())
		pre := &prefetch{parallel: max(o.Parallel, 1), env: func(ctx context.Context) (*Env, error) { return o.Env(ctx, p) }}
		Describe(container, Label("peers"), func() {
			for _, c := range cases(p) {
				var reqs []string
				switch {
				case c.Variant != "":
					reqs = c.Reqs
				case o.Reqs != nil && !c.Unclaimed:
					reqs = o.Reqs(c.Model)
				}
				text := fmt.Sprintf("as %s in %s completes the attested handshake, application data flows, and the wire carries the profile's attestation",
					c.PeerRole, c.ID())
				switch {
				case c.Unclaimed:
					text = fmt.Sprintf("as %s in %s, a case its manifest does not claim, exits 127 (unsupported)", c.PeerRole, c.ID())
				case c.Negative != nil:
					text = fmt.Sprintf("as %s in %s %s: it aborts with %s, sends nothing after it, and no application data crosses while the reference keeps sending",
						c.PeerRole, c.ID(), c.It, alertName(c.Negative.Alert))
				case c.Variant != "" || c.It != "":
					text = fmt.Sprintf("as %s in %s %s", c.PeerRole, c.ID(), c.It)
				}
				labels := append(PairLabels(p.Name(), c, reqs), "kind:"+c.KindName())
				selected := c.Unrunnable == "" && (o.Selected == nil || o.Selected(container+" "+text, append(Labels{"peers"}, labels...)))
				job := pre.add(c, selected)
				It(text, labels, SpecTimeout(o.Timeout), func(ctx SpecContext) {
					rec := &Record{Peer: p.Name(), PeerRole: c.PeerRole, Model: c.Model, Variant: c.Variant, Reqs: reqs, Self: c.Self != nil}
					AddReportEntry(PairEntry, rec, ReportEntryVisibilityNever)
					if c.attack != nil {
						// Whatever failed, the verdict the suite saw is kept.
						defer func() { rec.Attack = c.attack.Observed() }()
					}
					if c.Unrunnable != "" {
						Fail("the suite cannot run this case yet: " + c.Unrunnable)
					}
					e, r, err := pre.await(ctx, job)
					if e != nil {
						rec.Driver = e.Driver.Kind()
					}
					Expect(err).NotTo(HaveOccurred(), "setting up %s of peer %s", c.ID(), p.Name())
					rec.Fill(r)
					if c.Exit != nil {
						expectExit(c, r)
						return
					}
					if r.Peer != nil && r.Peer.Exit == contract.ExitUnsupported {
						reason := "no outcome"
						if r.Peer.Outcome != nil {
							reason = r.Peer.Outcome.Error
						}
						if !c.Unclaimed {
							// Claimed means tested: only the baseline can
							// excuse a claimed case the peer refuses.
							// The IDs baseline.Apply matches: case, case@role, spec.
							i := p.Expected.Match(c.name(), c.ID(), rec.SpecID())
							if i < 0 {
								Fail(fmt.Sprintf("the peer answered 127 (unsupported: %s) for a case its manifest claims: implement it, claim less in manifest.json, or list it in expected.json with a reason", reason))
							}
							reason = p.Expected.Failures[i].Reason
						}
						rec.Unsupported = true
						Skip("unsupported: the peer exits 127 (" + reason + ")")
					}
					if c.Unclaimed {
						Fail("the peer ran a case its manifest does not claim (want exit 127): claim it in manifest.json, or make the peer refuse it\n" + r.Describe())
					}
					switch {
					case c.Judge != nil:
						c.Judge(c, r)
					case c.Negative != nil:
						ExpectAborts(c, r)
					default:
						ExpectCompletes(c, r)
						if o.After != nil && c.Variant == "" {
							o.After(c, r)
						}
					}
					if c.Check != nil {
						c.Check(c, r)
					}
				})
			}
		})
	}
}

// KindName is the case's kind (its kind:<name> label): Kind, or positive,
// negative or unclaimed.
func (c Case) KindName() string {
	switch {
	case c.Kind != "":
		return c.Kind
	case c.Unclaimed:
		return "unclaimed"
	case c.Negative != nil:
		return "negative"
	}
	return "positive"
}

// Battery is every spec's case for a manifest: each claimed case
// (Matrix) followed by its negatives, then the unclaimed cases.
func Battery(m *contract.Manifest, real bool) []Case {
	var out []Case
	for _, c := range Matrix(m, real) {
		out = append(out, c)
		for _, g := range generators {
			out = append(out, g(m, c)...)
		}
	}
	return append(out, Unclaimed(m)...)
}

// prefetch runs a peer's cases ahead of their specs, up to parallel at
// once, in declaration order (Ginkgo keeps a container's order).
type prefetch struct {
	parallel int
	env      func(context.Context) (*Env, error)

	mu      sync.Mutex
	jobs    []*job
	running int
}

type job struct {
	c        Case
	selected bool
	started  bool
	done     chan struct{}
	e        *Env
	r        *Result
	err      error
}

func (p *prefetch) add(c Case, selected bool) *job {
	j := &job{c: c, selected: selected, done: make(chan struct{})}
	p.jobs = append(p.jobs, j)
	return j
}

// await starts j (and, room permitting, the selected jobs after it) and
// returns what j did.
func (p *prefetch) await(ctx context.Context, j *job) (*Env, *Result, error) {
	p.mu.Lock()
	p.start(j)
	for _, k := range p.jobs[slices.Index(p.jobs, j)+1:] {
		if p.running >= p.parallel {
			break
		}
		if k.selected && !k.started {
			p.start(k)
		}
	}
	p.mu.Unlock()
	select {
	case <-j.done:
		return j.e, j.r, j.err
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

// start runs j in the background; p.mu is held. A prefetched case runs
// under its own bound: no spec's context covers it yet.
func (p *prefetch) start(j *job) {
	if j.started {
		return
	}
	j.started = true
	p.running++
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		j.e, j.err = p.env(ctx)
		if j.err == nil {
			j.r, j.err = j.e.Run(ctx, j.c)
		}
		p.mu.Lock()
		p.running--
		p.mu.Unlock()
		close(j.done)
	}()
}

// Fill records what both sides saw and where their files are.
func (rec *Record) Fill(r *Result) {
	if rec.Self {
		// What crossed is judged from the relay's capture; the record
		// keeps it, the client's key log and both sides' files.
		rec.KeyLog = existing(filepath.Join(r.Dirs[contract.Client], inputs.KeyLogFile))
		rec.Pcap = existing(r.Pcap)
		for _, role := range []contract.Role{contract.Server, contract.Client} {
			for _, f := range []string{driver.StdoutFile, driver.StderrFile, reference.LogFile, inputs.KeyLogFile} {
				if p := existing(filepath.Join(r.Dirs[role], f)); p != "" {
					rec.Logs = append(rec.Logs, p)
				}
			}
		}
		return
	}
	refRole := rec.PeerRole.Other()
	// Alerts as the reference's engine saw them on the wire.
	for _, a := range []struct {
		code tls13.AlertCode
		by   contract.Role
	}{{r.Wire.AlertReceived, rec.PeerRole}, {r.Wire.AlertSent, refRole}} {
		if a.code != 0 {
			rec.addAlert(results.Alert{Code: uint8(a.code), Name: a.code.String(), SentBy: results.Endpoint(a.by)})
		}
	}
	// The reference's own appraisal of the peer; the peer's appraisal of
	// the reference as the wire shows it: it went on, or it aborted.
	if v := r.Reference.Verdict; v != nil {
		vd := results.Verdict{Attester: results.Endpoint(rec.PeerRole), Status: results.Rejected, TrustTier: v.Status, Reason: v.Reason}
		if v.Reason == "" && (v.Status == results.TierAffirming || v.Status == results.TierWarning) {
			vd.Status = results.Accepted
		}
		rec.Verdicts = append(rec.Verdicts, vd)
	}
	if rec.Model.Server.Attests && refRole == contract.Server || rec.Model.Client.Attests && refRole == contract.Client {
		vd := results.Verdict{Attester: results.Endpoint(refRole), Status: results.Accepted}
		if !r.Wire.Completed || r.Wire.AlertReceived != 0 {
			vd.Status, vd.Reason = results.Rejected, "aborted: "+alertName(r.Wire.AlertReceived)
		}
		rec.Verdicts = append(rec.Verdicts, vd)
	}
	peerDir, refDir := r.Dirs[rec.PeerRole], r.Dirs[refRole]
	rec.KeyLog = existing(filepath.Join(refDir, inputs.KeyLogFile))
	rec.Pcap = existing(filepath.Join(refDir, reference.PcapFile))
	for _, f := range []string{
		filepath.Join(peerDir, driver.StdoutFile), filepath.Join(peerDir, driver.StderrFile),
		filepath.Join(peerDir, reference.LogFile), filepath.Join(refDir, "reference.txt"), filepath.Join(refDir, reference.LogFile),
		filepath.Join(peerDir, inputs.KeyLogFile), filepath.Join(peerDir, reference.PcapFile),
	} {
		if existing(f) != "" {
			rec.Logs = append(rec.Logs, f)
		}
	}
}

func (rec *Record) addAlert(a results.Alert) {
	if !slices.ContainsFunc(rec.Alerts, func(b results.Alert) bool { return b.Code == a.Code && b.SentBy == a.SentBy }) {
		rec.Alerts = append(rec.Alerts, a)
	}
}

func existing(path string) string {
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
		return path
	}
	return ""
}

// PairResults splits a report of a run: the pair specs' results (the
// specs DeclarePairs declared that the run selected), with artifact paths
// relative to base (the results file's folder), and the other specs'
// reports.
func PairResults(rep types.Report, base string) (specs []results.Spec, rest types.SpecReports) {
	for _, sr := range rep.SpecReports {
		rec := recordOf(sr)
		if sr.LeafNodeType != types.NodeTypeIt || rec == nil {
			if rec == nil && !slices.ContainsFunc(sr.Labels(), func(l string) bool { return strings.HasPrefix(l, "pair:") }) {
				rest = append(rest, sr)
			}
			continue
		}
		s := rec.Spec(strings.Join(append(sr.ContainerHierarchyTexts, sr.LeafNodeText), " "), sr.RunTime, base)
		switch {
		case sr.State.Is(types.SpecStatePassed):
			s.Outcome = results.Pass
		case rec.Unsupported:
			s.Outcome, s.Message = results.Unsupported, sr.Failure.Message
		case sr.State.Is(types.SpecStateSkipped) && sr.Failure.Message != "":
			s.Outcome, s.Message = results.Skipped, sr.Failure.Message
		case sr.State.Is(types.SpecStateSkipped | types.SpecStatePending):
			s.Outcome, s.Message = results.Skipped, "not selected"
		default:
			s.Outcome, s.Message = results.Fail, sr.Failure.Message
		}
		specs = append(specs, s)
	}
	return specs, rest
}

// Spec is the record as a spec of results, without its outcome, with
// artifact paths relative to base (the results file's folder).
func (rec *Record) Spec(description string, took time.Duration, base string) results.Spec {
	s := results.Spec{
		ID: rec.SpecID(), Description: description,
		Pair: rec.Pair(), Profile: rec.Model.Profile, Model: resultModel(rec.Model), Role: results.Role(rec.PeerRole),
		Requirements: slices.Compact(slices.Sorted(slices.Values(rec.Reqs))), Duration: results.Duration(took.Round(time.Microsecond)),
		Alerts: rec.Alerts, Verdicts: rec.Verdicts, Attack: rec.Attack,
	}
	rel := func(p string) string {
		if p == "" {
			return ""
		}
		r, err := filepath.Rel(base, p)
		if err != nil {
			return ""
		}
		return filepath.ToSlash(r)
	}
	for _, l := range rec.Logs {
		if r := rel(l); r != "" {
			s.Artifacts.Logs = append(s.Artifacts.Logs, r)
		}
	}
	s.Artifacts.KeyLog, s.Artifacts.Pcap = rel(rec.KeyLog), rel(rec.Pcap)
	return s
}

func recordOf(sr types.SpecReport) *Record {
	for _, e := range sr.ReportEntries {
		if e.Name != PairEntry {
			continue
		}
		if r, ok := e.Value.GetRawValue().(*Record); ok {
			return r
		}
	}
	return nil
}

func resultModel(m party.Model) results.Model {
	side := func(s party.Side) results.Side {
		if !s.Attests {
			return results.Side{}
		}
		return results.Side{Attests: true, Topology: s.Topology.String(), Credential: s.Credential.String()}
	}
	return results.Model{Server: side(m.Server), Client: side(m.Client)}
}

// PeerResult describes e's peer for results: its kind, version, image
// digest and the capabilities its manifest claims.
func PeerResult(e *Env) results.Peer {
	m := e.Manifest
	p := results.Peer{Name: m.Name, Kind: results.Process, Version: m.Version}
	if e.Driver.Kind() == driver.KindContainers {
		p.Kind, p.ImageDigest = results.Container, e.ImageID
	}
	p.Capabilities = Capabilities(m)
	return p
}

// Capabilities are a manifest's lists as "kind:value" strings.
func Capabilities(m *contract.Manifest) []string {
	var out []string
	add := func(kind string, vs []string) {
		for _, v := range vs {
			if c := kind + ":" + v; !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	roles := make([]string, len(m.Roles))
	for i, r := range m.Roles {
		roles[i] = string(r)
	}
	add("profile", m.Profiles)
	add("role", roles)
	add("topology", m.Topologies)
	add("credential", m.Credentials)
	add("tpm", m.TPMs)
	add("verifier", m.Verifiers)
	add("misbehaviour", m.Misbehaviours)
	return out
}
