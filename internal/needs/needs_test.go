package needs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that records how a test would have ended.
// Skip and Fatal stop the goroutine like the real ones (runtime.Goexit),
// so the helpers are run in a goroutine of their own.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}

func (r *recorder) Skip(args ...any) {
	r.skipped, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with a recorder in its own goroutine and returns the recorder.
func run(t *testing.T, f func(tb testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

func TestMissing(t *testing.T) {
	err := errors.New("exec: \"tshark\": executable file not found in $PATH")
	for _, ci := range []string{"", "false", "true"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv(CIEnv, ci)
			r := run(t, func(tb testing.TB) { Missing(tb, "tshark", "install it with `make deps`", err) })
			if r.failed != (ci == "true") || r.skipped == (ci == "true") {
				t.Fatalf("failed %v, skipped %v", r.failed, r.skipped)
			}
			for _, want := range []string{"tshark", "make deps", "executable file not found"} {
				if !strings.Contains(r.msg, want) {
					t.Errorf("message %q does not mention %q", r.msg, want)
				}
			}
		})
	}
}

func TestTool(t *testing.T) {
	dir := t.TempDir()
	tool := filepath.Join(dir, "atls-needs-tool")
	if err := os.WriteFile(tool, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)

	t.Setenv(CIEnv, "true")
	var path string
	r := run(t, func(tb testing.TB) { path = Tool(tb, "atls-needs-tool") })
	if r.failed || r.skipped || path != tool {
		t.Fatalf("present tool: path %q, failed %v, skipped %v (%s)", path, r.failed, r.skipped, r.msg)
	}

	r = run(t, func(tb testing.TB) { Tool(tb, "atls-needs-absent") })
	if !r.failed || !strings.Contains(r.msg, "atls-needs-absent") || !strings.Contains(r.msg, Deps) {
		t.Fatalf("absent tool under CI=true: failed %v, message %q", r.failed, r.msg)
	}

	t.Setenv(CIEnv, "")
	r = run(t, func(tb testing.TB) { Tool(tb, "atls-needs-absent") })
	if !r.skipped || r.failed || !strings.Contains(r.msg, "atls-needs-absent") {
		t.Fatalf("absent tool outside CI: skipped %v, failed %v, message %q", r.skipped, r.failed, r.msg)
	}
}

func TestMissingNothing(t *testing.T) {
	t.Setenv(CIEnv, "true")
	for name, f := range map[string]func(testing.TB){
		"Missing":          func(tb testing.TB) { Missing(tb, "x", "y", nil) },
		"DockerEngine":     func(tb testing.TB) { DockerEngine(tb, nil) },
		"VeraisonBinaries": func(tb testing.TB) { VeraisonBinaries(tb, nil) },
	} {
		if r := run(t, f); r.failed || r.skipped {
			t.Errorf("%s with a nil error: failed %v, skipped %v", name, r.failed, r.skipped)
		}
	}
}

func TestServices(t *testing.T) {
	t.Setenv(CIEnv, "true")
	err := errors.New("refused")
	for name, tc := range map[string]struct {
		f    func(testing.TB)
		want []string
	}{
		"DockerEngine":     {func(tb testing.TB) { DockerEngine(tb, err) }, []string{"Docker engine", "DOCKER_HOST", "refused"}},
		"VeraisonBinaries": {func(tb testing.TB) { VeraisonBinaries(tb, err) }, []string{"Veraison", "make veraison", "refused"}},
	} {
		r := run(t, tc.f)
		if !r.failed {
			t.Errorf("%s: did not fail under CI=true", name)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.msg, w) {
				t.Errorf("%s: message %q does not mention %q", name, r.msg, w)
			}
		}
	}
}
