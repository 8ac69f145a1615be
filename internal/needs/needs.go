// Package needs is how a test asks for a tool or service it cannot run
// without. Outside CI a missing one skips the test, with the reason; under
// CI=true it fails it, naming what is missing and how to get it: CI must
// run every test, and a skip there would hide a missing install step.
package needs

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// CIEnv is the variable CI sets to "true".
const CIEnv = "CI"

// Deps is how the Debian packages the tests use are installed.
const Deps = "make deps"

// CI reports whether the tests run under CI (CI=true).
func CI() bool { return os.Getenv(CIEnv) == "true" }

// Tool returns the path of the program name on PATH. Without it the test
// is skipped, or under CI=true fails, saying `make deps` installs it.
func Tool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, "install it with `"+Deps+"`", err)
	}
	return path
}

// Missing ends a test that cannot run without what (a tool or service,
// e.g. "swtpm", "a Docker engine"), unavailable because of err: a skip,
// or under CI=true a failure. how tells how to get it, e.g. "install it
// with `make deps`". A nil err means nothing is missing: it returns.
func Missing(t testing.TB, what, how string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	msg, fail := Explain(what, how, err)
	if fail {
		t.Fatalf("%s", msg)
	}
	t.Skip(msg)
}

// Explain is Missing for a test framework of its own (a Ginkgo spec):
// the message, and whether the spec must fail (CI=true) rather than skip.
func Explain(what, how string, err error) (msg string, fail bool) {
	msg = fmt.Sprintf("%s is not available (%v): %s", what, err, how)
	if CI() {
		return fmt.Sprintf("%s=true runs every test, but %s", CIEnv, msg), true
	}
	return msg, false
}

// DockerEngine is Missing for a Docker engine that did not answer (err).
func DockerEngine(t testing.TB, err error) {
	t.Helper()
	Missing(t, "a Docker engine", "start one (dockerd) or point DOCKER_HOST at one", err)
}

// VeraisonBinaries is Missing for the Veraison services, which could not
// be found or built (err).
func VeraisonBinaries(t testing.TB, err error) {
	t.Helper()
	Missing(t, "the Veraison binaries", "build them with `make veraison`", err)
}
