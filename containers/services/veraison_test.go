package services

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStartStop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute) // may build cold
	defer cancel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := StartVeraison(ctx, VeraisonConfig{EARKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()

	for _, u := range []string{s.VerificationURL, s.ProvisioningURL, s.ManagementURL} {
		if !strings.HasPrefix(u, "http://127.0.0.1:") {
			t.Errorf("endpoint %s is not on loopback", u)
		}
	}
	for _, w := range []string{
		s.VerificationURL + "/.well-known/veraison/verification",
		s.ProvisioningURL + "/.well-known/veraison/provisioning",
		s.ManagementURL + "/.well-known/veraison/management",
	} {
		st, err := ServiceState(ctx, w)
		if err != nil || st != "READY" {
			t.Errorf("%s: state %q, %v", w, st, err)
		}
	}
	// The discovery document must carry the key Start generated.
	doc := getJSON(t, ctx, s.VerificationURL+"/.well-known/veraison/verification")
	jwkDoc, _ := doc["ear-verification-key"].(map[string]any)
	ek, _ := key.ECDH()
	wantX := ek.PublicKey().Bytes()[1:33]
	if gotX, _ := jwkDoc["x"].(string); gotX != base64.RawURLEncoding.EncodeToString(wantX) {
		t.Errorf("discovered key x %q, want %q", gotX, base64.RawURLEncoding.EncodeToString(wantX))
	}
	schemes := getJSON(t, ctx, s.ManagementURL+"/.well-known/veraison/management")["attestation-schemes"]
	if b, _ := json.Marshal(schemes); !strings.Contains(string(b), "PARSEC_TPM") {
		t.Errorf("management schemes %s lack PARSEC_TPM", b)
	}
	// VTS listens on loopback only.
	if host, _, _ := net.SplitHostPort(s.VTSAddr); host != "127.0.0.1" {
		t.Errorf("VTS on %s", s.VTSAddr)
	}
	for _, n := range []string{VTS, Provisioning, Verification, Management} {
		if !s.Running(n) {
			t.Errorf("%s not running", n)
		}
	}
	cpu, err := s.CPU()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{VTS, Provisioning, Verification, Management} {
		if _, ok := cpu[n]; !ok {
			t.Errorf("CPU() has no %s: %v", n, cpu)
		}
	}

	dir := s.StateDir
	start := time.Now()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Stop took %s", time.Since(start))
	for _, n := range []string{VTS, Provisioning, Verification, Management} {
		if s.Running(n) {
			t.Errorf("%s still running after Stop", n)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir %s survives Stop: %v", dir, err)
	}
	if _, err := ServiceState(ctx, s.VerificationURL+"/.well-known/veraison/verification"); err == nil {
		t.Error("verification still answers after Stop")
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// fakeBin makes a bin directory of shell scripts standing in for the
// services; each records its pid in pidDir, then runs body.
func fakeBin(t *testing.T, pidDir, body string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range binaryNames {
		script := "#!/bin/sh\n"
		if n == "kvstore-init" {
			script += "exit 0\n"
		} else {
			// Written then renamed: a service killed mid-write leaves no
			// half-written pid file.
			tmp := pidDir + "/." + n
			script += "echo $$ > \"" + tmp + "\" && mv \"" + tmp + "\" \"" + pidDir + "/" + n + "\"\n" + body + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, n), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// assertCleanedUp checks every fake service was killed and Start left no
// state directory behind.
func assertCleanedUp(t *testing.T, pidDir, tmp string) {
	t.Helper()
	pids, _ := os.ReadDir(pidDir)
	if len(pids) == 0 {
		t.Fatal("no fake service started")
	}
	for _, e := range pids {
		if strings.HasPrefix(e.Name(), ".") {
			continue // killed before it recorded its pid
		}
		b, _ := os.ReadFile(filepath.Join(pidDir, e.Name()))
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatalf("%s: pid %q", e.Name(), b)
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still exists after a failed Start: %v", e.Name(), pid, err)
		}
	}
	left, _ := filepath.Glob(filepath.Join(tmp, "veraison-*"))
	if len(left) > 0 {
		t.Errorf("failed Start left %v", left)
	}
}

func TestStartFailsWhenAServiceExits(t *testing.T) {
	tmp, pidDir := t.TempDir(), t.TempDir()
	t.Setenv("TMPDIR", tmp)
	bin := fakeBin(t, pidDir, "echo 'fatal: simulated failure' >&2; exit 3")
	_, err := StartVeraison(context.Background(), VeraisonConfig{BinDir: bin, ReadyTimeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "simulated failure") {
		t.Fatalf("Start: %v, want the failing service's log", err)
	}
	assertCleanedUp(t, pidDir, tmp)
}

func TestStartTimesOutAndKills(t *testing.T) {
	tmp, pidDir := t.TempDir(), t.TempDir()
	t.Setenv("TMPDIR", tmp)
	bin := fakeBin(t, pidDir, "exec sleep 600")
	start := time.Now()
	_, err := StartVeraison(context.Background(), VeraisonConfig{BinDir: bin, ReadyTimeout: 500 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "not READY before the deadline") {
		t.Fatalf("Start: %v", err)
	}
	// 0.5 s of waiting plus a SIGTERM each (sleep dies at once).
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("failed Start took %s", d)
	}
	assertCleanedUp(t, pidDir, tmp)
}

func TestStartRejectsNonP256Key(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bin := fakeBin(t, t.TempDir(), "exit 0")
	if _, err := StartVeraison(context.Background(), VeraisonConfig{BinDir: bin, EARKey: k}); err == nil {
		t.Fatal("Start accepted a P-384 EAR key")
	}
}

func TestConfigYAMLQuotesPaths(t *testing.T) {
	y := ConfigYAML(Layout{VTS: "127.0.0.1:1", Provisioning: "127.0.0.1:2", Verification: "127.0.0.1:3",
		Management: "127.0.0.1:4", Key: `/tmp/a b/"k".jwk`, PoStore: "/tmp/p.sql"})
	if !strings.Contains(y, `key: "/tmp/a b/\"k\".jwk"`) {
		t.Errorf("key path not quoted:\n%s", y)
	}
	for _, want := range []string{"listen-addr: \"127.0.0.1:1\"", "backend: builtin", "protocol: http", `level: "info"`} {
		if !strings.Contains(y, want) {
			t.Errorf("config lacks %q:\n%s", want, y)
		}
	}
}

func getJSON(t *testing.T, ctx context.Context, url string) map[string]any {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Accept", DiscoveryMediaType)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// processCPU agrees with getrusage(2) on this process, to its 10 ms
// resolution, after it has burnt some CPU.
func TestProcessCPU(t *testing.T) {
	var ru syscall.Rusage
	deadline := time.Now().Add(200 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	got, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	want := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if got < 150*time.Millisecond || got > want+20*time.Millisecond || got < want-50*time.Millisecond {
		t.Errorf("processCPU = %v, getrusage = %v", got, want)
	}
	if _, err := processCPU(-1); err == nil {
		t.Error("processCPU(-1) succeeded")
	}
}
