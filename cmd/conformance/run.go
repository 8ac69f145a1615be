package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	"github.com/onsi/gomega"
	"golang.org/x/term"

	"github.com/attested-tls/conformance/reports/render"
	"github.com/attested-tls/conformance/suite/specs" // the spec tree
)

// failRecorder is the GinkgoTestingT of a run outside `go test`.
type failRecorder struct{ failed bool }

func init() { register(command{"run", "run the conformance specs and write reports", runCmd}) }

func (f *failRecorder) Fail() { f.failed = true }

func runCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", "run [--out DIR] [--profile NAME]... [--label-filter EXPR] [--focus REGEXP] [-v]", stderr)
	out := fs.String("out", "out", "output folder for the reports (created if missing)")
	var profiles multiFlag
	fs.Var(&profiles, "profile", "run only this profile (repeatable): ta-07, ea-07, poc")
	labels := fs.String("label-filter", "", "Ginkgo label filter, e.g. 'role:server && model:bg'")
	focus := fs.String("focus", "", "run only specs whose text matches this regular expression")
	verbose := fs.Bool("v", false, "print every spec as it runs")
	timeout := fs.Duration("timeout", 20*time.Minute, "fail the run if it takes longer")
	if err := fs.Parse(args); err != nil {
		if err == flagHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "conformance run: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	dir, err := filepath.Abs(*out)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		fmt.Fprintf(stderr, "conformance run: output folder: %v\n", err)
		return 2
	}

	suiteCfg, reporterCfg := ginkgo.GinkgoConfiguration()
	suiteCfg.LabelFilter = combineLabels(*labels, profiles)
	if *focus != "" {
		suiteCfg.FocusStrings = []string{*focus}
	}
	suiteCfg.Timeout = *timeout
	reporterCfg.JSONReport = filepath.Join(dir, "ginkgo.json")
	reporterCfg.NoColor = !isTerminal(stdout)
	reporterCfg.Verbose = *verbose
	reporterCfg.Succinct = !*verbose

	fmt.Fprintf(stdout, "conformance: running specs (label filter %q), reports in %s\n", suiteCfg.LabelFilter, dir)
	gomega.RegisterFailHandler(ginkgo.Fail)
	runID := time.Now().UTC().Format("20060102T150405Z")
	var report types.Report
	ginkgo.ReportAfterSuite("results", func(r types.Report) { report = r })
	ginkgo.AfterSuite(func() { gomega.Expect(specs.CloseFixture()).To(gomega.Succeed()) })
	var t failRecorder
	ok := ginkgo.RunSpecs(&t, "attested-tls conformance", suiteCfg, reporterCfg)
	fmt.Fprintln(stdout)

	// Results as data first, so a rendering problem loses nothing.
	res := specs.Results(report, runID)
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
	fmt.Fprintf(stdout, "conformance: wrote %s\n", resultsPath)
	for _, p := range paths {
		fmt.Fprintf(stdout, "conformance: wrote %s\n", p)
	}
	if !ok || t.failed {
		return 1
	}
	return 0
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

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) && os.Getenv("CI") == ""
}
