// Package vectors generates and checks the published test vectors for
// attested TLS (see README.md in this directory): handshake traces in the
// manner of RFC 8448 (vectors/traces), parser vectors in the shape of
// Wycheproof (vectors/parsers), binder vectors (vectors/binders) and RFC
// 9261 exported authenticator vectors (vectors/authenticators), each kind
// with a JSON Schema (vectors/schema). The folders beside them hold data
// only; the code that makes and checks each kind is under vectors/gen
// (handshake, parser, binder, authenticator, and the fixture they share).
//
// Generate produces every file from the reference implementation in
// deterministic mode, byte-identical on every run: canonical JSON (sorted
// keys, two-space indent, no HTML escaping, final newline) and a fixed
// file order. Check verifies a committed set against the implementation.
package vectors

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/attested-tls/conformance/internal/jsonschema"
	"github.com/attested-tls/conformance/vectors/gen/authenticator"
	"github.com/attested-tls/conformance/vectors/gen/binder"
	"github.com/attested-tls/conformance/vectors/gen/handshake"
	"github.com/attested-tls/conformance/vectors/gen/parser"
)

// Kinds of vector file, by top-level directory, and their schemas.
var kinds = []struct{ dir, schema string }{
	{"traces", "schema/trace.schema.json"},
	{"parsers", "schema/parser.schema.json"},
	{"binders", "schema/binder.schema.json"},
	{"authenticators", "schema/authenticator.schema.json"},
}

// The schemas are written by hand in schema/ and built in, so Generate
// writes a complete set anywhere and Check validates with the schemas the
// implementation was built with (and checks the directory's copies).
//
//go:embed schema/*.json
var schemaFS embed.FS

// generatedDirs are the directories Generate owns.
var generatedDirs = []string{"traces", "parsers", "binders", "authenticators", "schema"}

func compileSchemas() (map[string]*jsonschema.Schema, error) {
	out := map[string]*jsonschema.Schema{}
	for _, k := range kinds {
		b, err := schemaFS.ReadFile(k.schema)
		if err != nil {
			return nil, err
		}
		s, err := jsonschema.Compile(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k.schema, err)
		}
		out[k.dir] = s
	}
	return out, nil
}

// Canonical encodes v as the vector files spell JSON: object keys sorted,
// two-space indent, no HTML escaping, a final newline.
func Canonical(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(tree); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Generate produces every vector file, keyed by its slash-separated path
// under the vectors directory.
func Generate() (map[string][]byte, error) {
	out := map[string][]byte{}
	put := func(path string, v any) error {
		b, err := Canonical(v)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		out[path] = b
		return nil
	}
	for _, c := range handshake.Cases() {
		tr, err := handshake.Generate(c)
		if err != nil {
			return nil, err
		}
		if err := put(c.Path(), tr); err != nil {
			return nil, err
		}
	}
	pfs, err := parser.Generate()
	if err != nil {
		return nil, err
	}
	for path, f := range pfs {
		if err := put(path, f); err != nil {
			return nil, err
		}
	}
	ea, err := binder.EA07()
	if err != nil {
		return nil, err
	}
	if err := put(binder.TA07Path, binder.TA07()); err != nil {
		return nil, err
	}
	if err := put(binder.EA07Path, ea); err != nil {
		return nil, err
	}
	xp, err := binder.XP03()
	if err != nil {
		return nil, err
	}
	if err := put(binder.XP03Path, xp); err != nil {
		return nil, err
	}
	af, err := authenticator.Generate()
	if err != nil {
		return nil, err
	}
	if err := put(authenticator.Path, af); err != nil {
		return nil, err
	}
	schemas, err := fs.Glob(schemaFS, "schema/*.json")
	if err != nil {
		return nil, err
	}
	for _, p := range schemas {
		if out[p], err = schemaFS.ReadFile(p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Paths returns the keys of files, sorted.
func Paths(files map[string][]byte) []string {
	out := make([]string, 0, len(files))
	for p := range files {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Write puts files under dir and removes any other .json file in the
// generated directories (traces, parsers, binders, authenticators, schema), so dir holds
// exactly the set. README.md and the Go sources are not touched.
func Write(dir string, files map[string][]byte) error {
	existing, err := listGenerated(dir)
	if err != nil {
		return err
	}
	for _, p := range existing {
		if _, ok := files[p]; !ok {
			if err := os.Remove(filepath.Join(dir, filepath.FromSlash(p))); err != nil {
				return err
			}
		}
	}
	for _, p := range Paths(files) {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// listGenerated lists the .json files under dir's generated directories.
func listGenerated(dir string) ([]string, error) {
	var out []string
	for _, d := range generatedDirs {
		root := filepath.Join(dir, d)
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if !d.IsDir() && strings.HasSuffix(path, ".json") {
				rel, err := filepath.Rel(dir, path)
				if err != nil {
					return err
				}
				out = append(out, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(out)
	return out, nil
}

// Report is the outcome of Check.
type Report struct {
	// Files counts the checked files by kind (traces, parsers, binders,
	// authenticators, schema).
	Files map[string]int
	// Tests counts parser, binder and authenticator tests; Replays counts
	// one-side trace replays.
	ParserTests, BinderTests, AuthenticatorTests, Replays int
	// Problems are every disagreement found; empty means the set passed.
	Problems []string
	Elapsed  time.Duration
}

func (r *Report) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// Check verifies the vector set in dir: every file validates against its
// kind's schema; the set equals a fresh generation byte for byte; every
// trace replays through the engine, one side at a time, against the
// other side's records; every parser vector gets its verdict and alert
// from our parsers; every binder and every authenticator recomputes (an
// authenticator's signature is verified against its certificate). It returns an error only
// when the check itself could not run.
func Check(dir string) (*Report, error) {
	start := time.Now()
	r := &Report{Files: map[string]int{}}
	schemas, err := compileSchemas()
	if err != nil {
		return nil, err
	}
	committed, err := listGenerated(dir)
	if err != nil {
		return nil, err
	}
	fresh, err := Generate()
	if err != nil {
		return nil, fmt.Errorf("generating: %w", err)
	}
	seen := map[string]bool{}
	for _, p := range committed {
		seen[p] = true
		kind := strings.SplitN(p, "/", 2)[0]
		r.Files[kind]++
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			return nil, err
		}
		if s := schemas[kind]; s != nil {
			if err := s.Validate(b); err != nil {
				r.problem("%s: schema: %v", p, err)
			}
		}
		want, ok := fresh[p]
		switch {
		case !ok:
			r.problem("%s: not produced by the generator (stale file?)", p)
		case !bytes.Equal(b, want):
			r.problem("%s: differs from a fresh generation (run `conformance vectors generate`)", p)
		}
		r.checkFile(kind, p, b)
	}
	for _, p := range Paths(fresh) {
		if !seen[p] {
			r.problem("%s: missing (run `conformance vectors generate`)", p)
		}
	}
	r.Elapsed = time.Since(start)
	return r, nil
}

// checkFile runs one committed file against the implementation.
func (r *Report) checkFile(kind, path string, b []byte) {
	dec := func(v any) bool {
		d := json.NewDecoder(bytes.NewReader(b))
		d.DisallowUnknownFields()
		if err := d.Decode(v); err != nil {
			r.problem("%s: %v", path, err)
			return false
		}
		return true
	}
	switch kind {
	case "traces":
		var tr handshake.Trace
		if !dec(&tr) {
			return
		}
		if err := handshake.Consistent(&tr); err != nil {
			r.problem("%s: %v", path, err)
			return
		}
		for _, client := range []bool{true, false} {
			r.Replays++
			if err := handshake.Replay(&tr, client); err != nil {
				side := "server"
				if client {
					side = "client"
				}
				r.problem("%s: replaying the %s: %v", path, side, err)
			}
		}
	case "parsers":
		var f parser.File
		if !dec(&f) {
			return
		}
		r.ParserTests += f.NumberOfTests
		if err := parser.Check(f); err != nil {
			r.problem("%s: %v", path, err)
		}
	case "binders":
		var f binder.File
		if !dec(&f) {
			return
		}
		r.BinderTests += len(f.Tests)
		if err := binder.Check(f); err != nil {
			r.problem("%s: %v", path, err)
		}
	case "authenticators":
		var f authenticator.File
		if !dec(&f) {
			return
		}
		r.AuthenticatorTests += len(f.Tests)
		if err := authenticator.Check(f); err != nil {
			r.problem("%s: %v", path, err)
		}
	}
}
