// Package layering checks the direction of the module's imports: the
// layers of README.md's layout import downwards only.
package layering

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/attested-tls/conformance/"

// forbidden maps a layer to the layers none of its packages may import,
// directly or through others (go list -deps, tests excluded).
var forbidden = map[string][]string{
	"impl/...":    {"suite/", "peers/", "reports/", "cmd/", "vectors/"},
	"peers/...":   {"suite/", "cmd/"},
	"reports/...": {"suite/", "cmd/"},
	"vectors/...": {"suite/", "cmd/"},
}

func TestLayers(t *testing.T) {
	for layer, banned := range forbidden {
		out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "../../"+layer).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", layer, err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			pkg := f[0]
			if !strings.HasPrefix(pkg, module+strings.TrimSuffix(layer, "...")) {
				continue
			}
			for _, dep := range f[1:] {
				for _, b := range banned {
					if strings.HasPrefix(dep, module+b) {
						t.Errorf("%s depends on %s (%s may not import %s)", strings.TrimPrefix(pkg, module), strings.TrimPrefix(dep, module), layer, b)
					}
				}
			}
		}
	}
}
