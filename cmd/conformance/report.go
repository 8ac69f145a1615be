package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/attested-tls/conformance/reports/baseline"
	"github.com/attested-tls/conformance/reports/render"
	"github.com/attested-tls/conformance/reports/results"
)

func init() {
	register(command{"report", "render junit.xml, report.html and summary.md from results files, merging shards", reportCmd})
}

const reportSynopsis = `report --results FILE [--results FILE]... [--out DIR]

Renders the reports of a run (junit.xml, report.html, summary.md) from its
results.json alone, e.g. one downloaded from a CI run. Artifact links are
rewritten relative to DIR.

Given several results files, it merges them into DIR/results.json first
(--out is then required, and must not be an input's folder): the N shards
of one 'conformance run --shard K/N' make the results of the whole run,
and refuse to merge when a shard is missing or given twice, when they were
split differently, partitioned different spec sets or ran with different
settings, or when a spec is in two of them; results of separate runs
without --shard merge when no spec is in two of them.

The exit status is 1 when the results hold unexpected outcomes (as
'conformance run' would have exited), 2 for bad usage, an unreadable file
or results that do not merge.`

func reportCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("report", reportSynopsis, stderr)
	var ins multiFlag
	fs.Var(&ins, "results", "a results file (results.json) to render; repeat it to merge shards or runs")
	out := fs.String("out", "", "output folder (default: the results file's folder; required to merge)")
	if err := fs.Parse(args); err != nil {
		if err == flagHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || len(ins) == 0 {
		fmt.Fprintln(stderr, "conformance report: --results FILE is required, and nothing else")
		fs.Usage()
		return 2
	}
	r, code := loadReportInputs(ins, *out, stderr)
	if r == nil {
		return code
	}
	if *out == "" {
		*out = filepath.Dir(ins[0])
	}
	if len(ins) > 1 {
		// The merged results are data: written before anything renders.
		name := filepath.Join(*out, "results.json")
		if err := os.MkdirAll(*out, 0o755); err != nil {
			fmt.Fprintf(stderr, "conformance report: %v\n", err)
			return 2
		}
		if err := r.Write(name); err != nil {
			fmt.Fprintf(stderr, "conformance report: %v\n", err)
			return 2
		}
		fmt.Fprintf(stdout, "conformance: merged %d results files into %s: %s\n", len(ins), name, mergeSummary(r))
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

// loadReportInputs loads the results files and, when there are several,
// merges them: as shards when they are, as separate runs otherwise. A nil
// result means stop with the exit status code.
func loadReportInputs(ins []string, out string, stderr io.Writer) (*results.Results, int) {
	if len(ins) > 1 {
		if out == "" {
			fmt.Fprintln(stderr, "conformance report: merging several --results needs --out DIR for the merged results.json")
			return nil, 2
		}
		// Writing the merged results.json into an input's folder would
		// replace that input.
		absOut, err := filepath.Abs(out)
		if err != nil {
			fmt.Fprintf(stderr, "conformance report: --out: %v\n", err)
			return nil, 2
		}
		for _, in := range ins {
			if dir, err := filepath.Abs(filepath.Dir(in)); err == nil && dir == absOut {
				fmt.Fprintf(stderr, "conformance report: --out %s holds the input %s, which the merged results.json would replace; choose another folder\n", out, in)
				return nil, 2
			}
		}
	}
	var rs []*results.Results
	for _, in := range ins {
		r, err := results.Load(in)
		if err != nil {
			fmt.Fprintf(stderr, "conformance report: %v\n", err)
			return nil, 2
		}
		rs = append(rs, r)
	}
	if len(rs) == 1 {
		return rs[0], 0
	}
	merge := results.Merge
	if slices.ContainsFunc(rs, func(r *results.Results) bool { return r.Shard != nil }) {
		merge = results.MergeShards
	}
	m, err := merge(rs...)
	if err != nil {
		fmt.Fprintf(stderr, "conformance report: the results do not merge:\n%v\n", err)
		return nil, 2
	}
	return m, 0
}

// mergeSummary says what a merge made: how many specs from how many
// shards or runs.
func mergeSummary(r *results.Results) string {
	if shards := r.ShardsMerged(); shards > 0 {
		return fmt.Sprintf("%d specs from %d shards", len(r.Specs), shards)
	}
	return fmt.Sprintf("%d specs from %d runs", len(r.Specs), len(r.MergedFrom))
}
