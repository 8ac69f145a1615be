package main

import (
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/attested-tls/conformance/vectors"
)

func init() {
	register(command{"vectors", "generate or check the published test vectors (vectors/README.md)", vectorsCmd})
}

func vectorsCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "generate" && args[0] != "check") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			vectorsUsage(stdout)
			return 0
		}
		vectorsUsage(stderr)
		return 2
	}
	if args[0] == "generate" {
		return vectorsGenerate(args[1:], stdout, stderr)
	}
	return vectorsCheck(args[1:], stdout, stderr)
}

func vectorsUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: conformance vectors generate [--out DIR]\n       conformance vectors check [--dir DIR]")
	fmt.Fprintln(w, "\ngenerate writes the traces, parser, binder and RFC 9261 authenticator vectors (byte-identical on every run);")
	fmt.Fprintln(w, "check verifies a committed set: schemas, a fresh generation, trace replays, parser verdicts, binders,")
	fmt.Fprintln(w, "authenticators (recomputed, signatures verified against their certificates).")
}

func vectorsGenerate(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("vectors generate", "vectors generate [--out DIR]", stderr)
	out := fs.String("out", "vectors", "the vectors directory (holding schema/ and README.md)")
	if err := fs.Parse(args); err != nil {
		if err == flagHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "conformance vectors generate: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	start := time.Now()
	files, err := vectors.Generate()
	if err != nil {
		fmt.Fprintf(stderr, "conformance vectors generate: %v\n", err)
		return 1
	}
	if err := vectors.Write(*out, files); err != nil {
		fmt.Fprintf(stderr, "conformance vectors generate: %v\n", err)
		return 1
	}
	counts, size := map[string]int{}, 0
	for p, b := range files {
		counts[kindOf(p)]++
		size += len(b)
	}
	fmt.Fprintf(stdout, "wrote %d files (%s) to %s, %d bytes, in %v\n", len(files), describeCounts(counts), *out, size,
		time.Since(start).Round(time.Millisecond))
	return 0
}

func vectorsCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("vectors check", "vectors check [--dir DIR]", stderr)
	dir := fs.String("dir", "vectors", "the vectors directory to check")
	if err := fs.Parse(args); err != nil {
		if err == flagHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "conformance vectors check: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	r, err := vectors.Check(*dir)
	if err != nil {
		fmt.Fprintf(stderr, "conformance vectors check: %v\n", err)
		return 1
	}
	for _, p := range r.Problems {
		fmt.Fprintf(stdout, "FAIL %s\n", p)
	}
	fmt.Fprintf(stdout, "checked %s: %d trace replays, %d parser tests, %d binder tests, %d authenticator tests; %d problems, in %v\n",
		describeCounts(r.Files), r.Replays, r.ParserTests, r.BinderTests, r.AuthenticatorTests, len(r.Problems), r.Elapsed.Round(time.Millisecond))
	if len(r.Problems) > 0 {
		return 1
	}
	return 0
}

func kindOf(path string) string {
	for i := range path {
		if path[i] == '/' {
			return path[:i]
		}
	}
	return path
}

func describeCounts(m map[string]int) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for i, k := range keys {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%d %s", m[k], k)
	}
	return s
}
