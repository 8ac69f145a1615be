package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/inputs"
	"github.com/attested-tls/conformance/peers/reference"
	"github.com/attested-tls/conformance/reports/results"
	"github.com/attested-tls/conformance/suite/serve"
)

func TestServeUsage(t *testing.T) {
	if r := conformance(t, "serve", "--help"); r.code != 0 || !strings.Contains(r.stderr, "<visitor>--") {
		t.Fatalf("serve --help: exit %d\n%s", r.code, r.stderr)
	}
	r := conformance(t, "serve", "--cases")
	if r.code != 0 || !strings.Contains(r.stdout, "ta-07.server-attests.bg-x509.cases.attested.test") {
		t.Fatalf("serve --cases: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, bad := range [][]string{{"--services", "remote"}, {"--domain", "under_score"}, {"--max-conns", "0"}, {"extra"}} {
		if r := conformance(t, append([]string{"serve", "--out", t.TempDir()}, bad...)...); r.code != 2 || r.stderr == "" {
			t.Errorf("serve %v: exit %d, want 2 with a message\n%s", bad, r.code, r.stderr)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServeProcess runs `conformance serve` on out and waits for its
// HTTP side to answer.
func startServeProcess(t *testing.T, out string) (cmd *exec.Cmd, listen, httpAddr string) {
	t.Helper()
	listen, httpAddr = freeAddr(t), freeAddr(t)
	cmd = exec.Command(conformanceBin, "serve", "--listen", listen, "--http", httpAddr, "--out", out, "--conn-timeout", "10s")
	log, err := os.OpenFile(filepath.Join(t.TempDir(), "serve.log"), os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); log.Close() })
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := (&http.Client{Timeout: time.Second}).Get("http://" + httpAddr + "/cases.json"); err == nil {
			resp.Body.Close()
			return cmd, listen, httpAddr
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("serve did not answer on %s:\n%s", httpAddr, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func fetchResults(t *testing.T, httpAddr string) *results.Results {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + httpAddr + "/results.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	p := filepath.Join(t.TempDir(), "results.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := results.Load(p)
	if err != nil {
		t.Fatalf("/results.json does not load: %v\n%s", err, b)
	}
	return r
}

// TestServeSurvivesAKill: a verdict journaled before serve is killed
// (SIGKILL: no shutdown) is in the results of the serve restarted on the
// same folder, with the same trust anchors; SIGTERM then writes
// results.json, which `conformance report` renders.
func TestServeSurvivesAKill(t *testing.T) {
	out := t.TempDir()
	cmd, listen, httpAddr := startServeProcess(t, out)
	in, err := inputs.Load(filepath.Join(out, "inputs"))
	if err != nil {
		t.Fatal(err)
	}
	tb, err := serve.NewTable(serve.DefaultDomain)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := tb.Find("ta-07/server-attests/passport+x509", contract.Client)
	if !ok {
		t.Fatal("no case")
	}
	dirs := map[contract.Role]string{contract.Server: t.TempDir(), contract.Client: t.TempDir()}
	_, ccfg, err := in.Configs(inputs.Pair{TestCase: "ta-07/server-attests/passport+x509", Model: e.InteractionModel(), Dirs: dirs, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ccfg.Connect, ccfg.ServerName = listen, "killtest"+serve.VisitorSep+e.Name
	if o, code := reference.Run(context.Background(), ccfg, reference.Options{}); code != contract.ExitOK {
		t.Fatalf("the visitor's connection: exit %d %s", code, o.Error)
	}
	var before *results.Results
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if before = fetchResults(t, httpAddr); len(before.Specs) == 1 || time.Now().After(deadline) {
			break
		}
	}
	if len(before.Specs) != 1 || before.Specs[0].Outcome != results.Pass {
		t.Fatalf("before the kill: %+v", before.Specs)
	}
	cmd.Process.Kill()
	cmd.Wait()

	cmd, _, httpAddr = startServeProcess(t, out)
	after := fetchResults(t, httpAddr)
	if len(after.Specs) != 1 || after.Specs[0].ID != before.Specs[0].ID || after.Specs[0].Outcome != results.Pass {
		t.Fatalf("after the restart: %+v, want %s passed", after.Specs, before.Specs[0].ID)
	}
	if again, err := inputs.Load(filepath.Join(out, "inputs")); err != nil || !again.CA.Cert.Equal(in.CA.Cert) {
		t.Fatalf("the restarted serve has another CA (%v)", err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}
	rep := t.TempDir()
	r := conformance(t, "report", "--results", filepath.Join(out, serve.ResultsFile), "--out", rep)
	if r.code != 0 {
		t.Fatalf("conformance report: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if html := readFile(t, filepath.Join(rep, "report.html")); !strings.Contains(html, "killtest") {
		t.Fatal("report.html does not show the visitor")
	}
}
