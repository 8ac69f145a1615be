package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/formatter"
	"github.com/onsi/ginkgo/v2/types"
	"github.com/onsi/gomega"
	"golang.org/x/term"

	"github.com/attested-tls/conformance/containers/images"
	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/driver"
	"github.com/attested-tls/conformance/reports/baseline"
	"github.com/attested-tls/conformance/reports/render"
	"github.com/attested-tls/conformance/reports/results"
	"github.com/attested-tls/conformance/suite/harness"
	"github.com/attested-tls/conformance/suite/interop"
	"github.com/attested-tls/conformance/suite/serve"
	"github.com/attested-tls/conformance/suite/specs" // the spec tree
)

// suiteName is the spec tree's description in Ginkgo's reports.
const suiteName = "attested-tls conformance"

// failRecorder is the GinkgoTestingT of a run outside `go test`.
type failRecorder struct{ failed bool }

func init() {
	register(command{"run", "run the conformance specs against peers and write reports", runCmd})
}

func (f *failRecorder) Fail() { f.failed = true }

const runSynopsis = `run [--peer NAME|DIR]... [--in-process=false] [--driver auto|containers|processes]
                 [--baseline peers|none|FILE] [--update-baseline] [--out DIR]
                 [--profile NAME]... [--label-filter EXPR] [--focus REGEXP] [--shard K/N] [-v]

Runs the in-process specs (our client against our server) and, for each
--peer, its battery against the in-process reference, derived from its
manifest (peers/NAME/manifest.json): every profile, model and role it
claims (kind:positive), the reference misbehaving or presenting bad
credentials where the peer must abort (kind:negative), its verifier failing
where it appraises through Veraison (kind:fail-open), the published parser
vectors on the wire (kind:vector), attacks on the binding of attestation to
the connection with the peer as victim or as genuine attester (kind:attack,
each with its documented verdict), and the cases it does not claim, which
must exit 127 (kind:unclaimed). Verdicts come from what the reference saw
on the wire; the peer's outcome line is only cross-checked. Peers run as
containers when a Docker engine answers, as local processes otherwise.
Each peer's expected.json is its baseline: a listed failure is
expected-fail (with its reason in the reports), a listed spec that passes
is an unexpected pass. The exit status is 1 only for unexpected results
(named on stderr with their requirement IDs), 2 for bad usage.
A quick run: --label-filter 'kind:positive || kind:negative'.

--shard K/N runs the K-th of N parts of the specs the other flags select,
e.g. one job of a CI matrix each: the specs, sorted by their text (stable
across runs and machines, whatever Ginkgo's seed), are dealt round-robin,
so shards differ by at most one spec. Every shard needs the same peers,
profiles, filters and settings. Its results.json records the shard, the
spec set and the IDs of the specs it ran; 'conformance report --results
FILE --results FILE ...' merges all N into the results of the whole run.
--update-baseline needs the whole run and does not take --shard.

Writes results.json, junit.xml, report.html and summary.md to --out, and
each pair spec's logs, key logs and captures under --out/peers/NAME/cases.`

func runCmd(args []string, stdout, stderr io.Writer) int {
	f, code := parseRunFlags(args, stderr)
	if f == nil {
		return code
	}
	ctx := context.Background()
	// Spec texts name alerts, and a peer's battery registers the drafts'
	// names as it is generated: registered first, the texts (and so the
	// spec IDs and a shard's plan) do not depend on the order the tree is
	// built in or on whether a peer runs.
	codepoint.RegisterAlertNames(codepoint.Default())
	p, err := newRunPlan(ctx, f)
	if err != nil {
		return runUsageErr(stderr, err)
	}
	prog := newProgress(stdout, isTerminal(stdout))
	envs := newPeerEnvs(p.dir, p.choice, prog.logf)
	interop.DeclarePairs(interop.PairOptions{Peers: p.peers, Env: envs.get, Reqs: specReqs(), After: serve.WireChecks, Parallel: f.parallel,
		Selected: p.selected, RealServices: f.services == "real"})
	suiteCfg, reporterCfg, closeLog, err := p.ginkgoConfig(prog, stdout)
	if err != nil {
		return runUsageErr(stderr, err)
	}
	defer closeLog()
	if p.shard.n > 0 {
		// A dry run of the tree with the run's filters lists its specs
		// before any runs. It builds the tree once more: DeclarePairs
		// queues each pair case again, after the preview's, which no
		// spec awaits and the prefetcher, looking only ahead, never starts.
		p.plan = planShards(previewedSpecs(ginkgo.PreviewSpecs(suiteName, suiteCfg)), p.shard.k, p.shard.n)
	}
	report, runID := p.runSpecs(ctx, envs, prog, suiteCfg, reporterCfg, stdout)

	// Results as data first, so a rendering problem loses nothing.
	res := p.collectResults(report, runID, envs)
	var strays []string
	if p.plan != nil {
		strays = p.plan.apply(res, p.shardSettings())
	}
	if code := p.applyBaselines(res, stdout, stderr); code != 0 {
		return code
	}
	if code := writeReports(res, p.dir, stdout, stderr); code != 0 {
		return code
	}
	status := verdict(res, report, p.dir, stdout, stderr)
	if len(strays) > 0 {
		// Kept in this shard's results, so nothing is lost; every shard
		// ran them, and the merge would refuse them as in two shards.
		fmt.Fprintf(stderr, "conformance: FAIL: %d specs were not in the plan of --shard (their text changed after it was made), so every shard ran them:\n  %s\n",
			len(strays), strings.Join(strays, "\n  "))
		status = 1
	}
	return status
}

// runUsageErr reports bad usage of run: exit status 2.
func runUsageErr(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "conformance run: %v\n", err)
	return 2
}

// runFlags are run's flags, as parsed.
type runFlags struct {
	out                 string
	profiles, peerNames multiFlag
	inProcess           bool
	drv, base           string
	update              bool
	labels, focus       string
	verbose             bool
	timeout             time.Duration
	parallel            int
	services            string
	shard               shardFlag
}

// parseRunFlags parses run's arguments. A nil *runFlags means stop with
// the exit status code: 0 after --help, 2 for bad usage.
func parseRunFlags(args []string, stderr io.Writer) (*runFlags, int) {
	f := &runFlags{}
	fs := newFlags("run", runSynopsis, stderr)
	fs.StringVar(&f.out, "out", "out", "output folder for the reports (created if missing)")
	fs.Var(&f.profiles, "profile", "run only this profile (repeatable): ta-07, ea-07, poc, xp-03")
	fs.Var(&f.peerNames, "peer", "run this peer against the in-process reference (repeatable): a name under peers/ or a folder with manifest.json")
	fs.BoolVar(&f.inProcess, "in-process", true, "also run the in-process specs (go→go)")
	fs.StringVar(&f.drv, "driver", "auto", "how peers run: auto (containers when Docker answers), containers, processes")
	fs.StringVar(&f.base, "baseline", "peers", "peers: gate each peer on its expected.json; none: no baseline; FILE: also apply this expected.json to every spec")
	fs.BoolVar(&f.update, "update-baseline", false, "rewrite each peer's expected.json (or the --baseline FILE) from this run")
	fs.StringVar(&f.labels, "label-filter", "", "Ginkgo label filter, e.g. 'role:server && model:bg' or 'peer-role:client'")
	fs.StringVar(&f.focus, "focus", "", "run only specs whose text matches this regular expression")
	fs.BoolVar(&f.verbose, "v", false, "print every spec as it runs (Ginkgo's verbose output)")
	fs.DurationVar(&f.timeout, "timeout", 60*time.Minute, "fail the run if it takes longer")
	fs.IntVar(&f.parallel, "parallel", 1, "run up to N of a peer's cases at once")
	fs.Var(&f.shard, "shard", "run only shard K of N (1 ≤ K ≤ N) of the selected specs, e.g. 2/3; merge the shards' results with 'conformance report'")
	fs.StringVar(&f.services, "services", "needed", "what a peer gets on each case's network: 'needed' (a swtpm or Veraison only where its\nmanifest has no software TPM or in-process verifier) or 'real' (wherever it lists them: a swtpm for each attesting\nside, and one Veraison both sides appraise through and get passports from)")
	if err := fs.Parse(args); err != nil {
		if err == flagHelp {
			return nil, 0
		}
		return nil, 2
	}
	if fs.NArg() > 0 {
		return nil, runUsageErr(stderr, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	return f, 0
}

// runPlan is a run whose flags have checked out: the fixture is chosen,
// the output folder exists, the peers and a run-wide baseline are loaded
// and the label filter is parsed.
type runPlan struct {
	*runFlags
	choice   driver.Choice
	dir      string
	peers    []*interop.PeerDir
	runWide  *contract.Expected
	filter   string
	selected func(text string, labels []string) bool
	// root and verifier are the in-process fixture's (ATLS_ROOT_OF_TRUST,
	// ATLS_VERIFIER).
	root, verifier string
	// plan is the partition of --shard, made once the tree is declared;
	// nil when the run is whole.
	plan *shardPlan
}

// newRunPlan checks the flags and does the setup they call for, in the
// order the checks have always run, so that of several errors the same
// one is reported. Every error is bad usage.
func newRunPlan(ctx context.Context, f *runFlags) (*runPlan, error) {
	p := &runPlan{runFlags: f}
	var err error
	if p.root, p.verifier, err = harness.FixtureFromEnv(); err != nil {
		return nil, err
	}
	specs.UseFixture(p.root, p.verifier)
	if p.choice, err = driverChoice(f.drv); err != nil {
		return nil, err
	}
	if !f.inProcess && len(f.peerNames) == 0 {
		return nil, errors.New("--in-process=false and no --peer: nothing to run")
	}
	if p.dir, err = outputDir(f.out); err != nil {
		return nil, fmt.Errorf("output folder: %v", err)
	}
	if p.peers, err = loadPeers(ctx, f.peerNames); err != nil {
		return nil, err
	}
	if f.base != "peers" && f.base != "none" {
		if p.runWide, err = baseline.Load(f.base); err != nil {
			return nil, err
		}
	}
	if f.services != "needed" && f.services != "real" {
		return nil, fmt.Errorf("--services %q, want needed or real", f.services)
	}
	if f.parallel < 1 || f.parallel > 16 {
		return nil, fmt.Errorf("--parallel %d, want 1 to 16", f.parallel)
	}
	p.filter = combineLabels(f.labels, f.profiles)
	if !f.inProcess {
		p.filter = andLabels(p.filter, "peers")
	}
	if f.shard.n > 0 && f.update {
		return nil, errors.New("--update-baseline rewrites baselines from the whole run, not from one --shard")
	}
	sel, err := selector(p.filter, f.focus)
	if err != nil {
		return nil, err
	}
	// Pair cases are prefetched only if this shard will run them; before
	// the plan is made (while it is), the filters alone decide.
	p.selected = func(text string, labels []string) bool {
		return sel(text, labels) && (p.plan == nil || p.plan.has(text))
	}
	return p, nil
}

// driverChoice is the environment's driver choice, overridden by --driver
// unless it is auto.
func driverChoice(drv string) (driver.Choice, error) {
	choice := driver.ChoiceFromEnv()
	switch drv {
	case "auto":
	case driver.KindContainers, driver.KindProcesses:
		choice.Kind = drv
	default:
		return choice, fmt.Errorf("--driver %q, want auto, containers or processes", drv)
	}
	return choice, nil
}

// outputDir makes the output folder and returns its absolute path.
func outputDir(out string) (string, error) {
	dir, err := filepath.Abs(out)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	return dir, err
}

func loadPeers(ctx context.Context, names []string) ([]*interop.PeerDir, error) {
	var peers []*interop.PeerDir
	for _, name := range names {
		p, err := interop.LoadPeer(ctx, name)
		if err != nil {
			return nil, err
		}
		peers = append(peers, p)
	}
	return peers, nil
}

// ginkgoConfig configures Ginkgo for the run. The func it returns closes
// the log that takes Ginkgo's own output when not verbose; it must outlive
// the specs.
func (p *runPlan) ginkgoConfig(prog *progress, stdout io.Writer) (types.SuiteConfig, types.ReporterConfig, func(), error) {
	suiteCfg, reporterCfg := ginkgo.GinkgoConfiguration()
	suiteCfg.LabelFilter = p.filter
	if p.focus != "" {
		suiteCfg.FocusStrings = []string{p.focus}
	}
	suiteCfg.Timeout = p.timeout
	reporterCfg.JSONReport = filepath.Join(p.dir, "ginkgo.json")
	reporterCfg.NoColor = !isTerminal(stdout) || !p.verbose
	reporterCfg.Verbose = p.verbose
	reporterCfg.Succinct = !p.verbose
	closeLog := func() {}
	if !p.verbose {
		// Ginkgo's own output (dots, failure details) goes to a log; the
		// terminal shows the progress line and, at the end, what failed.
		log, err := os.Create(filepath.Join(p.dir, "ginkgo.log"))
		if err != nil {
			return suiteCfg, reporterCfg, nil, err
		}
		closeLog = func() { log.Close() }
		formatter.ColorableStdOut = log
		prog.enable()
	}
	return suiteCfg, reporterCfg, closeLog, nil
}

// runSpecs sets up the peers and runs the spec tree, returning Ginkgo's
// report and the run's ID.
func (p *runPlan) runSpecs(ctx context.Context, envs *peerEnvs, prog *progress, suiteCfg types.SuiteConfig, reporterCfg types.ReporterConfig, stdout io.Writer) (types.Report, string) {
	fmt.Fprintf(stdout, "conformance: running %s (label filter %q), output in %s\n", p.what(), suiteCfg.LabelFilter, p.dir)
	envs.setup(ctx, p.peers)
	gomega.RegisterFailHandler(ginkgo.Fail)
	runID := time.Now().UTC().Format("20060102T150405Z")
	inShard := func(types.SpecReport) bool { return true }
	if p.plan != nil {
		// Shards of a CI matrix start in the same second.
		runID += fmt.Sprintf("-shard-%dof%d", p.plan.k, p.plan.n)
		fmt.Fprintf(stdout, "conformance: shard %d/%d: %d of the %d selected specs\n", p.plan.k, p.plan.n, p.plan.selected[p.plan.k], p.plan.total())
		inShard = func(sr types.SpecReport) bool { return p.plan.has(sr.FullText()) }
		// The other shards' specs are skipped before anything of theirs
		// runs; the results leave them out.
		ginkgo.BeforeEach(func() {
			if sr := ginkgo.CurrentSpecReport(); !inShard(sr) {
				ginkgo.Skip(fmt.Sprintf("in another shard than %d/%d", p.plan.k, p.plan.n))
			}
		})
	}
	var report types.Report
	ginkgo.ReportBeforeSuite(func(r types.Report) {
		total := r.PreRunStats.SpecsThatWillRun
		if p.plan != nil {
			total = p.plan.selected[p.plan.k]
		}
		prog.start(total)
	})
	ginkgo.ReportBeforeEach(func(sr types.SpecReport) {
		if inShard(sr) {
			prog.begin(sr)
		}
	})
	ginkgo.ReportAfterEach(func(sr types.SpecReport) {
		if inShard(sr) {
			prog.end(sr)
		}
	})
	ginkgo.ReportAfterSuite("results", func(r types.Report) { report = r })
	ginkgo.AfterSuite(func() { gomega.Expect(specs.CloseFixture()).To(gomega.Succeed()) })
	var t failRecorder
	ginkgo.RunSpecs(&t, suiteName, suiteCfg, reporterCfg)
	prog.stop()
	envs.close(ctx)
	return report, runID
}

// what says what the run runs, for its first line.
func (p *runPlan) what() string {
	what := "in-process specs"
	if len(p.peers) > 0 {
		what = fmt.Sprintf("peers %s against the in-process reference", strings.Join(p.peerNames, ", "))
		if p.inProcess {
			what = "in-process specs and " + what
		}
	}
	return what
}

// collectResults turns Ginkgo's report into the run's results: the
// in-process specs (when they ran), the pair specs and the peers.
func (p *runPlan) collectResults(report types.Report, runID string, envs *peerEnvs) *results.Results {
	pairSpecs, rest := interop.PairResults(report, p.dir)
	if !p.inProcess {
		rest = nil
	}
	inproc := report
	inproc.SpecReports = rest
	res := specs.Results(inproc, runID)
	res.Started, res.Finished = report.StartTime.UTC(), report.EndTime.UTC()
	res.Specs = append(res.Specs, pairSpecs...)
	res.Peers = append(res.Peers, envs.results(p.peers)...)
	res.Sort()
	return res
}

// applyBaselines applies each peer's baseline and a run-wide one to res,
// and rewrites them from res with --update-baseline. A non-zero result is
// the exit status.
func (p *runPlan) applyBaselines(res *results.Results, stdout, stderr io.Writer) int {
	for _, peer := range p.peers {
		if p.base == "none" {
			break
		}
		if un := baseline.Apply(res, peer.Name(), peer.Expected); len(un) > 0 && p.labels == "" && p.focus == "" && len(p.profiles) == 0 && p.plan == nil {
			fmt.Fprintf(stdout, "conformance: %s: %d of its patterns matched no spec of this run (stale, or cases this peer's matrix does not have)\n", peer.ExpectedPath, len(un))
		}
	}
	if p.runWide != nil {
		baseline.Apply(res, "", p.runWide)
	}
	if p.update {
		return updateBaselines(res, p.peers, p.base, p.runWide, stdout, stderr)
	}
	return 0
}

// writeReports writes results.json and the rendered reports to dir and
// says what it wrote. A non-zero result is the exit status.
func writeReports(res *results.Results, dir string, stdout, stderr io.Writer) int {
	resultsPath := filepath.Join(dir, "results.json")
	if err := res.Write(resultsPath); err != nil {
		fmt.Fprintf(stderr, "conformance run: writing results: %v\n", err)
		return 1
	}
	paths, err := render.All(res, dir)
	if err != nil {
		fmt.Fprintf(stderr, "conformance run: rendering reports: %v\n", err)
		return 1
	}
	n := results.Counts(res.Specs)
	fmt.Fprintf(stdout, "conformance: %d specs: %d pass, %d fail, %d unsupported, %d expected-fail, %d unexpected-pass, %d skipped in %v\n",
		len(res.Specs), n[results.Pass], n[results.Fail], n[results.Unsupported], n[results.ExpectedFail], n[results.UnexpectedPass],
		n[results.Skipped], res.Finished.Sub(res.Started).Round(100*time.Millisecond))
	fmt.Fprintf(stdout, "conformance: wrote %s\n", resultsPath)
	for _, p := range paths {
		fmt.Fprintf(stdout, "conformance: wrote %s\n", p)
	}
	return 0
}

// verdict is the run's exit status: 1 for unexpected results or a failure
// of the suite itself, which it names on stderr.
func verdict(res *results.Results, report types.Report, dir string, stdout, stderr io.Writer) int {
	code := 0
	if err := baseline.Gate(res); err != nil {
		fmt.Fprintf(stderr, "conformance: FAIL: %v\n", err)
		code = 1
	}
	if msgs := suiteFailures(report); len(msgs) > 0 {
		fmt.Fprintf(stderr, "conformance: FAIL: the suite itself failed (outside any spec; see %s):\n  %s\n",
			filepath.Join(dir, "ginkgo.log"), strings.Join(msgs, "\n  "))
		code = 1
	}
	if code == 0 {
		fmt.Fprintln(stdout, "conformance: PASS: no unexpected results")
	}
	return code
}

// selector says which specs Ginkgo will select with this label filter and
// focus, so pair cases can start before their specs (--parallel).
func selector(filter, focus string) (func(text string, labels []string) bool, error) {
	lf, err := types.ParseLabelFilter(filter)
	if err != nil {
		return nil, fmt.Errorf("--label-filter: %w", err)
	}
	var re *regexp.Regexp
	if focus != "" {
		if re, err = regexp.Compile(focus); err != nil {
			return nil, fmt.Errorf("--focus: %w", err)
		}
	}
	return func(text string, labels []string) bool {
		return lf(labels) && (re == nil || re.MatchString(text))
	}, nil
}

// suiteFailures are failures outside the specs (suite setup and teardown,
// the requirement coverage check, a run timeout or interrupt): they fail
// the run whatever the baselines say.
func suiteFailures(r types.Report) []string {
	var out []string
	for _, sr := range r.SpecReports {
		if sr.LeafNodeType == types.NodeTypeIt || !sr.State.Is(types.SpecStateFailureStates) {
			continue
		}
		out = append(out, fmt.Sprintf("%s %s: %s", sr.LeafNodeType, sr.LeafNodeText, firstLine(sr.Failure.Message)))
	}
	for _, reason := range r.SpecialSuiteFailureReasons {
		out = append(out, reason)
	}
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// updateBaselines rewrites each peer's expected.json (and a run-wide
// FILE) from res and re-applies it, so the reports show the new baseline.
func updateBaselines(res *results.Results, peers []*interop.PeerDir, base string, runWide *contract.Expected, stdout, stderr io.Writer) int {
	type target struct {
		peer, path string
		prev       *contract.Expected
	}
	var ts []target
	for _, p := range peers {
		ts = append(ts, target{p.Name(), p.ExpectedPath, p.Expected})
	}
	if runWide != nil {
		ts = append(ts, target{"", base, runWide})
	}
	if len(ts) == 0 {
		fmt.Fprintln(stderr, "conformance run: --update-baseline needs a --peer or a --baseline FILE")
		return 2
	}
	next := make([]*contract.Expected, len(ts))
	for i, t := range ts {
		var added []string
		next[i], added = baseline.Update(res, t.peer, t.prev)
		if err := baseline.Write(t.path, next[i]); err != nil {
			fmt.Fprintf(stderr, "conformance run: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "conformance: rewrote %s: %d entries\n", t.path, len(next[i].Failures))
		if len(added) > 0 {
			fmt.Fprintf(stdout, "conformance: %d new entries have a placeholder reason (%q): edit %s and say why each fails:\n  %s\n",
				len(added), baseline.Placeholder, t.path, strings.Join(added, "\n  "))
		}
	}
	// The reports show the run against the new baselines.
	baseline.Reset(res)
	for i, t := range ts {
		baseline.Apply(res, t.peer, next[i])
	}
	return 0
}

// specReqs maps a model to the requirement IDs of its in-process case:
// a pair spec checks the same statements, with the in-process reference
// judging the peer's side.
func specReqs() func(party.Model) []string {
	byID := map[string][]string{}
	for _, c := range specs.Cases() {
		byID[c.Model.ID()] = c.Reqs
	}
	return func(m party.Model) []string { return byID[m.ID()] }
}

// peerEnvs sets up each peer on first use: one driver for the run (its
// choice logged once), one Env per peer under out/peers/<name>.
type peerEnvs struct {
	out    string
	choice driver.Choice
	logf   driver.Logf

	mu   sync.Mutex
	drv  driver.Driver
	envs map[string]*interop.Env
	errs map[string]error
}

func newPeerEnvs(out string, choice driver.Choice, logf driver.Logf) *peerEnvs {
	return &peerEnvs{out: out, choice: choice, logf: logf, envs: map[string]*interop.Env{}, errs: map[string]error{}}
}

// setup selects the driver and prepares every peer before the specs run
// (building an image can take minutes, which no spec's timeout should
// include). A peer that cannot be set up fails its specs with the error.
func (pe *peerEnvs) setup(ctx context.Context, peers []*interop.PeerDir) {
	if len(peers) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	pe.mu.Lock()
	defer pe.mu.Unlock()
	// Process peers run this very binary; only images need the static one.
	bin, err := os.Executable()
	if pe.choice.Kind != driver.KindProcesses || err != nil {
		bin, err = images.Binary(ctx, runtime.GOOS, runtime.GOARCH)
	}
	if err == nil {
		pe.drv, err = driver.Select(ctx, pe.choice, bin, pe.logf)
	}
	for _, p := range peers {
		if err != nil {
			pe.errs[p.Name()] = err
			continue
		}
		e, perr := interop.NewEnv(ctx, pe.drv, p, filepath.Join(pe.out, "peers", p.Name()), pe.logf)
		if perr == nil {
			// The peer must speak the contract its manifest names.
			if perr = e.Probe(ctx); perr != nil {
				e = nil
			}
		}
		if perr != nil {
			pe.logf("peers: %s: %v", p.Name(), perr)
			pe.errs[p.Name()] = perr
			continue
		}
		pe.envs[p.Name()] = e
	}
}

func (pe *peerEnvs) get(_ context.Context, p *interop.PeerDir) (*interop.Env, error) {
	pe.mu.Lock()
	defer pe.mu.Unlock()
	if e, ok := pe.envs[p.Name()]; ok {
		return e, nil
	}
	if err, ok := pe.errs[p.Name()]; ok {
		return nil, err
	}
	return nil, fmt.Errorf("peer %s was not set up", p.Name())
}

func (pe *peerEnvs) close(ctx context.Context) {
	pe.mu.Lock()
	defer pe.mu.Unlock()
	if pe.drv != nil {
		if err := pe.drv.Close(ctx); err != nil {
			pe.logf("peers: cleaning up: %v", err)
		}
	}
	images.RemoveBinaries()
}

// results describes the run's peers: the in-process one is in the spec
// tree's results already; a peer that never got set up is described from
// its manifest.
func (pe *peerEnvs) results(peers []*interop.PeerDir) []results.Peer {
	pe.mu.Lock()
	defer pe.mu.Unlock()
	var out []results.Peer
	for _, p := range peers {
		if e, ok := pe.envs[p.Name()]; ok {
			out = append(out, interop.PeerResult(e))
			continue
		}
		kind := results.Process
		if pe.drv != nil && pe.drv.Kind() == driver.KindContainers {
			kind = results.Container
		}
		out = append(out, results.Peer{Name: p.Name(), Kind: kind, Version: p.Manifest.Version, Capabilities: interop.Capabilities(p.Manifest)})
	}
	return out
}

// combineLabels ANDs the label filter with an OR of the chosen profiles.
func combineLabels(filter string, profiles []string) string {
	var parts []string
	if filter != "" {
		parts = append(parts, "("+filter+")")
	}
	if len(profiles) > 0 {
		var ps []string
		for _, p := range profiles {
			ps = append(ps, "profile:"+p)
		}
		parts = append(parts, "("+strings.Join(ps, " || ")+")")
	}
	return strings.Join(parts, " && ")
}

func andLabels(filter, more string) string {
	if filter == "" {
		return more
	}
	return filter + " && " + more
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) && os.Getenv("CI") == ""
}
