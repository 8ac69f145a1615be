package services

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// VeraisonBinEnv names a directory holding prebuilt binaries; when set, VeraisonBinaries
// returns it without building.
const VeraisonBinEnv = "ATTESTED_TLS_VERAISON_BIN"

// VeraisonBuildModule is the Go module (relative to the repository root) that
// builds the services.
const VeraisonBuildModule = "containers/veraison"

// binaryNames are the files Start needs in the bin directory.
var binaryNames = []string{"vts-service", "provisioning-service", "verification-service", "management-service", "kvstore-init"}

var binaries struct {
	sync.Mutex
	dir string
}

// VeraisonBinaries returns the directory holding the Veraison binaries: $VeraisonBinEnv if
// set, else what the build command in containers/veraison prints. That
// command takes seconds when the binaries for the module's go.sum are
// cached and builds them (minutes, cold) when not; build output goes to
// os.Stderr. The answer is remembered for the process.
func VeraisonBinaries(ctx context.Context) (string, error) {
	if d := os.Getenv(VeraisonBinEnv); d != "" {
		return d, checkBinaries(d)
	}
	binaries.Lock()
	defer binaries.Unlock()
	if binaries.dir != "" {
		return binaries.dir, nil
	}
	mod, err := buildModuleDir()
	if err != nil {
		return "", err
	}
	var out, errBuf bytes.Buffer
	cmd := exec.CommandContext(ctx, goTool(), "-C", mod, "run", "./cmd/build")
	cmd.Stdout = &out
	cmd.Stderr = io.MultiWriter(os.Stderr, &errBuf)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("services: building Veraison failed (%v); run `go -C %s run ./cmd/build` to see why:\n%s", err, mod, tail(errBuf.String(), 4000))
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	dir := strings.TrimSpace(lines[len(lines)-1])
	if err := checkBinaries(dir); err != nil {
		return "", err
	}
	binaries.dir = dir
	return dir, nil
}

func checkBinaries(dir string) error {
	for _, n := range binaryNames {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			return fmt.Errorf("services: %s missing in %s (build with `go -C %s run ./cmd/build`)", n, dir, VeraisonBuildModule)
		}
	}
	return nil
}

// buildModuleDir finds containers/veraison from the working directory (a
// test runs in its package directory inside the repository), falling back
// to this source file's location.
func buildModuleDir() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		starts = append(starts, filepath.Dir(file))
	}
	for _, d := range starts {
		for {
			m := filepath.Join(d, VeraisonBuildModule)
			if _, err := os.Stat(filepath.Join(m, "go.mod")); err == nil {
				return m, nil
			}
			p := filepath.Dir(d)
			if p == d {
				break
			}
			d = p
		}
	}
	return "", errors.New("services: cannot find " + VeraisonBuildModule + "/go.mod above the working directory; set " + VeraisonBinEnv)
}

// goTool is the go command on PATH, else the toolchain's own.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
