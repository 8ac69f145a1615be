package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/attested-tls/conformance/reports/baseline"
	"github.com/attested-tls/conformance/reports/render"
	"github.com/attested-tls/conformance/reports/results"
)

func init() {
	register(command{"report", "render junit.xml, report.html and summary.md from a results file", reportCmd})
}

const reportSynopsis = `report --results FILE [--out DIR]

Renders the reports of a run (junit.xml, report.html, summary.md) from its
results.json alone, e.g. one downloaded from a CI run. Artifact links are
rewritten relative to DIR. The exit status is 1 when the results hold
unexpected outcomes (as 'conformance run' would have exited), 2 for bad
usage or an unreadable file.`

func reportCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("report", reportSynopsis, stderr)
	in := fs.String("results", "", "the results file (results.json) to render")
	out := fs.String("out", "", "output folder (default: the results file's folder)")
	if err := fs.Parse(args); err != nil {
		if err == flagHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *in == "" {
		fmt.Fprintln(stderr, "conformance report: --results FILE is required, and nothing else")
		fs.Usage()
		return 2
	}
	if *out == "" {
		*out = filepath.Dir(*in)
	}
	r, err := results.Load(*in)
	if err != nil {
		fmt.Fprintf(stderr, "conformance report: %v\n", err)
		return 2
	}
	paths, err := render.All(r, *out)
	if err != nil {
		fmt.Fprintf(stderr, "conformance report: %v\n", err)
		return 2
	}
	for _, p := range paths {
		fmt.Fprintf(stdout, "conformance: wrote %s\n", p)
	}
	if err := baseline.Gate(r); err != nil {
		fmt.Fprintf(stderr, "conformance report: %v\n", err)
		return 1
	}
	return 0
}
