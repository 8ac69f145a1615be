// Command build builds the Veraison services (VTS, provisioning,
// verification, management, all schemes linked in with the builtin loader)
// plus kvstore-init, once per dependency set, into
//
//	$ATTESTED_TLS_VERAISON_CACHE/<key>/bin     (default <user cache dir>/attested-tls/veraison)
//
// where <key> hashes this module's go.sum with the build recipe. A second
// run with nothing changed only hashes go.sum and prints the directory.
// Concurrent runs serialise on a lock file, and the directory appears
// complete or not at all. The last line on stdout is the bin directory.
//
// Run from the repository root:
//
//	go -C containers/veraison run ./cmd/build
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const modulePath = "github.com/attested-tls/conformance/containers/veraison"

// Binaries are the commands built, named as the files in the bin directory.
var Binaries = map[string]string{
	"vts-service":          "github.com/veraison/services/vts/cmd/vts-service",
	"provisioning-service": "github.com/veraison/services/provisioning/cmd/provisioning-service",
	"verification-service": "github.com/veraison/services/verification/cmd/verification-service",
	"management-service":   "github.com/veraison/services/management/cmd/management-service",
	"kvstore-init":         modulePath + "/cmd/kvstore-init",
}

// ldflags selects the builtin scheme loader: every scheme linked into VTS
// and management, no go-plugin subprocesses.
const ldflags = "-X github.com/veraison/services/config.SchemeLoader=builtin"

// recipe changes the key whenever what is built or how changes; bump the
// version when kvstore-init's source changes.
const recipe = "v1 " + ldflags + " trimpath"

func main() {
	check := flag.Bool("check", false, "do not build: exit 1 if the binaries are not cached")
	force := flag.Bool("force", false, "rebuild even if the binaries are cached")
	flag.Parse()

	dir, err := moduleDir()
	if err != nil {
		fatal(err)
	}
	root, err := cacheRoot()
	if err != nil {
		fatal(err)
	}
	key, err := cacheKey(dir)
	if err != nil {
		fatal(err)
	}
	bin := filepath.Join(root, key, "bin")

	if complete(bin) && !*force {
		fmt.Println(bin)
		return
	}
	if *check {
		fmt.Fprintf(os.Stderr, "build: no Veraison binaries in %s; run: go -C %s run ./cmd/build\n", bin, dir)
		os.Exit(1)
	}
	if err := os.MkdirAll(filepath.Join(root, key), 0o755); err != nil {
		fatal(err)
	}
	unlock, err := lock(filepath.Join(root, key+".lock"))
	if err != nil {
		fatal(err)
	}
	defer unlock()
	// Another run may have finished while this one waited for the lock.
	if complete(bin) && !*force {
		fmt.Println(bin)
		return
	}
	if err := build(dir, root, bin); err != nil {
		unlock()
		fatal(err)
	}
	fmt.Println(bin)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "build:", err)
	os.Exit(1)
}

// moduleDir finds this module's root from the working directory, so the
// command works from the module root or any directory below it.
func moduleDir() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isModule(filepath.Join(d, "go.mod")) {
			return d, nil
		}
		if isModule(filepath.Join(d, "containers", "veraison", "go.mod")) {
			return filepath.Join(d, "containers", "veraison"), nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", errors.New("run inside containers/veraison or the repository (go -C containers/veraison run ./cmd/build)")
		}
		d = p
	}
}

func isModule(gomod string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if f := strings.Fields(s.Text()); len(f) == 2 && f[0] == "module" {
			return f[1] == modulePath
		}
	}
	return false
}

func cacheRoot() (string, error) {
	if d := os.Getenv("ATTESTED_TLS_VERAISON_CACHE"); d != "" {
		return filepath.Abs(d)
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory (set ATTESTED_TLS_VERAISON_CACHE): %w", err)
	}
	return filepath.Join(d, "attested-tls", "veraison"), nil
}

// cacheKey hashes go.sum (the whole dependency set, versions and contents)
// and the recipe.
func cacheKey(dir string) (string, error) {
	sum, err := os.ReadFile(filepath.Join(dir, "go.sum"))
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(sum)
	h.Write([]byte{0})
	h.Write([]byte(recipe))
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// complete reports whether every binary is in bin; the directory is only
// ever created by a rename of a finished build.
func complete(bin string) bool {
	for name := range Binaries {
		fi, err := os.Stat(filepath.Join(bin, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fmt.Fprintf(os.Stderr, "build: waiting for another build (%s)\n", path)
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, err
		}
	}
	done := false
	return func() {
		if !done {
			done = true
			syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			f.Close()
		}
	}, nil
}

// build compiles all binaries with one go build (shared packages compile
// once) into a temporary directory and renames it into place. The build
// cache is private to these builds: a shared one cleaned by another job
// mid-build breaks the build in confusing ways.
func build(dir, root, bin string) error {
	tmp, err := os.MkdirTemp(filepath.Dir(bin), "bin.tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	gocache := os.Getenv("ATTESTED_TLS_VERAISON_GOCACHE")
	if gocache == "" {
		gocache = filepath.Join(root, "gocache")
	}
	args := []string{"build", "-trimpath", "-ldflags", ldflags, "-o", tmp + string(filepath.Separator)}
	for _, pkg := range Binaries {
		args = append(args, pkg)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(),
		"CGO_ENABLED=1", // mattn/go-sqlite3
		"GOCACHE="+gocache,
		"GOFLAGS=-mod=readonly -buildvcs=false",
	)
	fmt.Fprintf(os.Stderr, "build: building Veraison services in %s (GOCACHE %s); cold: ~5 min download + ~4 min compile on 2 cores\n", dir, gocache)
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	if !complete(tmp) {
		return fmt.Errorf("go build left an incomplete %s", tmp)
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp made it 0700
		return err
	}
	if err := os.RemoveAll(bin); err != nil { // -force
		return err
	}
	if err := os.Rename(tmp, bin); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "build: done in %s\n", time.Since(start).Round(time.Second))
	return nil
}
