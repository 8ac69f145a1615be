// Package profilenames keeps profile-specific knowledge in the profiles'
// own packages: outside them, no code (tests included) compares a value
// with a profile's name, switches on one, or keys a map by one. Code that
// needs to know what a profile does asks its descriptor
// (profile.Describe); naming a profile to select it stays allowed.
package profilenames

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/attested-tls/conformance/impl/attest/profile"
)

// root is the module's root, from this package's folder.
const root = "../.."

// own is where a profile's name may be tested: the profile packages.
const own = "impl/attest/profile/"

// profilePackages are the import paths whose Name constant is a profile
// name.
func profilePackages() []string {
	var out []string
	for _, d := range profile.All() {
		out = append(out, "github.com/attested-tls/conformance/"+own+strings.ReplaceAll(d.Name, "-", ""))
	}
	return out
}

// finding is one place that tests a profile's name.
type finding struct {
	pos  token.Position
	what string
}

func (f finding) String() string { return fmt.Sprintf("%s: %s", f.pos, f.what) }

// check reports where file tests a profile name: names are the profiles'
// names, pkgs the import paths of their packages.
func check(fset *token.FileSet, file *ast.File, names, pkgs []string) []finding {
	// Local names of the profile packages this file imports.
	local := map[string]bool{}
	for _, imp := range file.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if !slices.Contains(pkgs, path) {
			continue
		}
		n := filepath.Base(path)
		if imp.Name != nil {
			n = imp.Name.Name
		}
		local[n] = true
	}
	isName := func(e ast.Expr) (string, bool) {
		switch x := ast.Unparen(e).(type) {
		case *ast.BasicLit:
			if s, err := strconv.Unquote(x.Value); err == nil && x.Kind == token.STRING && slices.Contains(names, s) {
				return strconv.Quote(s), true
			}
		case *ast.SelectorExpr:
			if id, ok := x.X.(*ast.Ident); ok && local[id.Name] && x.Sel.Name == "Name" {
				return id.Name + ".Name", true
			}
		}
		return "", false
	}
	var out []finding
	add := func(n ast.Node, format string, args ...any) {
		out = append(out, finding{fset.Position(n.Pos()), fmt.Sprintf(format, args...)})
	}
	ast.Inspect(file, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.BinaryExpr:
			if x.Op != token.EQL && x.Op != token.NEQ {
				break
			}
			for _, e := range []ast.Expr{x.X, x.Y} {
				if s, ok := isName(e); ok {
					add(x, "compares with the profile name %s", s)
				}
			}
		case *ast.CaseClause:
			for _, e := range x.List {
				if s, ok := isName(e); ok {
					add(e, "switches on the profile name %s", s)
				}
			}
		case *ast.CompositeLit:
			if _, ok := x.Type.(*ast.MapType); !ok {
				break
			}
			for _, el := range x.Elts {
				if kv, ok := el.(*ast.KeyValueExpr); ok {
					if s, ok := isName(kv.Key); ok {
						add(kv, "keys a map by the profile name %s", s)
					}
				}
			}
		}
		return true
	})
	return out
}

func names() []string {
	var out []string
	for _, d := range profile.All() {
		out = append(out, d.Name)
	}
	return out
}

// TestNoProfileNameTests walks every Go file of the module outside the
// profile packages.
func TestNoProfileNameTests(t *testing.T) {
	ns, pkgs := names(), profilePackages()
	if len(ns) < 3 {
		t.Fatalf("profile.All lists %d profiles", len(ns))
	}
	var found []finding
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && rel != "." || d.Name() == "testdata" || strings.HasPrefix(rel+"/", own) && rel+"/" != own {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		for _, x := range check(fset, f, ns, pkgs) {
			x.pos.Filename = rel
			found = append(found, x)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("walked %d Go files; the module has more", files)
	}
	for _, f := range found {
		t.Errorf("%v: ask the profile's descriptor (party.Descriptor) instead", f)
	}
}

// TestCheckFindsEachForm shows each form the check refuses, and what it
// allows.
func TestCheckFindsEachForm(t *testing.T) {
	src := `package x

import (
	p7 "github.com/attested-tls/conformance/impl/attest/profile/ta07"
	"github.com/attested-tls/conformance/impl/attest/profile/ea07"
)

var m = map[string]int{"poc": 1}
var sel = Model{Profile: "ta-07"}

func f(name string) {
	if name == "ea-07" {
	}
	if p7.Name != name {
	}
	switch name {
	case ea07.Name, "other":
	}
	_ = map[string][]string{"ta-07": nil}[name]
	if name == "tls" {
	}
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := check(fset, f, []string{"ta-07", "ea-07", "poc"}, profilePackages())
	var lines []string
	for _, x := range got {
		lines = append(lines, fmt.Sprintf("%d: %s", x.pos.Line, x.what))
	}
	want := []string{
		`8: keys a map by the profile name "poc"`,
		`12: compares with the profile name "ea-07"`,
		`14: compares with the profile name p7.Name`,
		`17: switches on the profile name ea07.Name`,
		`19: keys a map by the profile name "ta-07"`,
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("found\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}
