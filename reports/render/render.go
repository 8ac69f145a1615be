// Package render turns a results file into the run's reports: JUnit XML
// for CI, a self-contained report.html (interop matrices, requirement
// coverage per peer, spec details) and a summary.md for pull requests.
// It reads nothing but the results and the requirement catalog, so a
// results file from any CI run renders anywhere.
package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/attested-tls/conformance/reports/requirements"
	"github.com/attested-tls/conformance/reports/results"
)

// File names written by All.
const (
	JUnitFile    = "junit.xml"
	HTMLFile     = "report.html"
	MarkdownFile = "summary.md"
)

// All writes junit.xml, report.html and summary.md into outDir (created
// if missing), each atomically, and returns their paths. Artifact links
// are rebased from r's base directory onto outDir; r is not changed. The
// coverage table uses the suite's embedded requirement catalog.
func All(r *results.Results, outDir string) (paths []string, err error) {
	cat, err := requirements.Load()
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	return all(r, cat, outDir)
}

func all(r *results.Results, cat *requirements.Catalog, outDir string) ([]string, error) {
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	c := r.Clone()
	if err := c.Rebase(outDir); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	renderers := []struct {
		name string
		fn   func(io.Writer) error
	}{
		{JUnitFile, func(w io.Writer) error { return JUnit(w, c) }},
		{HTMLFile, func(w io.Writer) error { return HTML(w, c, cat) }},
		{MarkdownFile, func(w io.Writer) error { return Markdown(w, c) }},
	}
	var paths []string
	var errs []error
	for _, rd := range renderers {
		var buf bytes.Buffer
		if err := rd.fn(&buf); err != nil {
			errs = append(errs, err)
			continue
		}
		p := filepath.Join(outDir, rd.name)
		if err := results.WriteFileAtomic(p, buf.Bytes()); err != nil {
			errs = append(errs, err)
			continue
		}
		paths = append(paths, p)
	}
	return paths, errors.Join(errs...)
}
