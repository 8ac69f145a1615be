// Package layering checks the module's imports against the layer table of
// ARCHITECTURE.md: every package belongs to a layer of the table, and
// imports (test files excluded) only its own layer and those its row
// allows.
package layering

import (
	"bufio"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/attested-tls/conformance/"

// layers reads the table under "## Layers": layer → the layers it may
// import.
func layers(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("../../ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## Layers"
			continue
		}
		if !in || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 3 {
			t.Fatalf("ARCHITECTURE.md: a layer row without three cells: %s", line)
		}
		var allowed []string
		for _, a := range strings.Split(cells[2], ",") {
			if a = strings.Trim(strings.TrimSpace(a), "`"); a != "" && a != "—" {
				allowed = append(allowed, a)
			}
		}
		out[strings.Trim(strings.TrimSpace(cells[0]), "`")] = allowed
	}
	if len(out) == 0 {
		t.Fatal("ARCHITECTURE.md has no layer table under ## Layers")
	}
	return out
}

// layerOf is the longest layer of table that pkg (module-relative) is in.
func layerOf(table map[string][]string, pkg string) string {
	best := ""
	for l := range table {
		if (pkg == l || strings.HasPrefix(pkg, l+"/")) && len(l) > len(best) {
			best = l
		}
	}
	return best
}

// violations checks a `go list -f '{{.ImportPath}}{{range .Imports}}
// {{.}}{{end}}'` listing against table.
func violations(table map[string][]string, listing string) []string {
	var errs []string
	for l, allowed := range table {
		for _, a := range allowed {
			if _, ok := table[a]; !ok {
				errs = append(errs, "ARCHITECTURE.md: "+l+" may import "+a+", which is not a layer of the table")
			}
		}
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(listing), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		pkg := strings.TrimPrefix(f[0], module)
		l := layerOf(table, pkg)
		if l == "" {
			errs = append(errs, pkg+" is in no layer of ARCHITECTURE.md's table")
			continue
		}
		seen[l] = true
		for _, dep := range f[1:] {
			if !strings.HasPrefix(dep, module) {
				continue
			}
			d := layerOf(table, strings.TrimPrefix(dep, module))
			if d != l && !slices.Contains(table[l], d) {
				errs = append(errs, pkg+" ("+l+") imports "+strings.TrimPrefix(dep, module)+" ("+d+"), which ARCHITECTURE.md does not allow")
			}
		}
	}
	for l := range table {
		if !seen[l] {
			errs = append(errs, "ARCHITECTURE.md lists layer "+l+", which holds no package")
		}
	}
	return errs
}

func TestLayers(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, e := range violations(layers(t), string(out)) {
		t.Error(e)
	}
}

// The check can fail: an upward import, a package outside every layer, a
// layer with no package and an allowance naming no layer are each caught.
func TestLayersCatchViolations(t *testing.T) {
	table := map[string][]string{"impl/tls13": nil, "impl/attest": {"impl/tls13"}, "cmd": {"nowhere"}}
	listing := module + "impl/tls13 " + module + "impl/attest/party\n" +
		module + "impl/attest/party " + module + "impl/tls13 fmt\n" +
		module + "stray/pkg\n"
	got := strings.Join(violations(table, listing), "\n")
	for _, want := range []string{"impl/tls13 (impl/tls13) imports impl/attest/party", "stray/pkg is in no layer",
		"lists layer cmd, which holds no package", "cmd may import nowhere"} {
		if !strings.Contains(got, want) {
			t.Errorf("missed %q; got:\n%s", want, got)
		}
	}
	if strings.Contains(got, "impl/attest/party (impl/attest) imports") {
		t.Errorf("an allowed import was reported:\n%s", got)
	}
}
