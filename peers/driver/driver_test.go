package driver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attested-tls/conformance/internal/needs"
	"github.com/attested-tls/conformance/peers/contract"
)

func TestListensOn(t *testing.T) {
	table := []byte(`  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1151 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:D431 0100007F:1151 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
`)
	if got := listensOn(table, 4433); len(got) != 1 || got[0] != "1" {
		t.Fatalf("listening socket on 4433: inodes %v, want [1]", got)
	}
	if got := listensOn(table, 54321); len(got) != 0 {
		t.Fatal("an established socket taken for a listener")
	}
	if got := listensOn([]byte("garbage\n1 2 3\n: : 0A"), 0); len(got) != 0 {
		t.Fatal("garbage parsed")
	}
	// Our own process: a real listener shows up, a closed one goes away.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ok, known := listening(os.Getpid(), port)
	if !known {
		t.Skip("no /proc/<pid>/net/tcp here")
	}
	if !ok {
		t.Fatal("own listener not seen")
	}
	// It is ours; another process's listener on the port is not.
	if owned, _ := listeningOwned(os.Getpid(), port); !owned {
		t.Fatal("own listener not seen as ours")
	}
	sh := exec.Command("sleep", "10")
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer sh.Process.Kill()
	if owned, _ := listeningOwned(sh.Process.Pid, port); owned {
		t.Fatal("our listener taken for another process's")
	}
	ln.Close()
	if ok, _ := listening(os.Getpid(), port); ok {
		t.Fatal("closed listener still seen")
	}
}

func TestMounts(t *testing.T) {
	s := Spec{In: "/run/in", PeerOut: "/run/case/client", Config: contract.Config{
		Out: "/run/case/server", CACert: "/run/in/ca.pem", KeyLog: "/run/case/server/keylog.txt",
		Endorsements: "/run/case/client/endorsements.json"}}
	binds, mapPath, err := mounts(s)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(binds, " ") != "/run/case/server:/atls/out:rw /run/in:/atls/in:ro /run/case/client:/atls/peer:ro" {
		t.Fatalf("binds %v", binds)
	}
	c := s.Config.MapPaths(mapPath)
	if c.CACert != "/atls/in/ca.pem" || c.KeyLog != "/atls/out/keylog.txt" || c.Endorsements != "/atls/peer/endorsements.json" || c.Out != "/atls/out" {
		t.Fatalf("%+v", c)
	}
	s.Config.VerifierKey = "/etc/key.pem"
	if _, _, err := mounts(s); err == nil {
		t.Fatal("a path outside the mounted folders accepted")
	}
	s.Config.VerifierKey = "/run/inside/key.pem" // a sibling with a common prefix is outside too
	if _, _, err := mounts(s); err == nil {
		t.Fatal("/run/inside taken for /run/in")
	}
}

func TestCapped(t *testing.T) {
	var c capped
	chunk := make([]byte, 1<<20)
	for range 10 {
		if n, err := c.Write(chunk); n != len(chunk) || err != nil {
			t.Fatal(n, err)
		}
	}
	if len(c.Bytes()) != maxLog {
		t.Fatalf("kept %d bytes", len(c.Bytes()))
	}
}

// shSpec is a process peer that runs a shell script: faults without the
// conformance binary.
func shSpec(t *testing.T, role contract.Role, script string, deadline time.Duration) Spec {
	return Spec{Peer: Peer{Name: "sh", Command: []string{"/bin/sh", "-c", script}}, Deadline: deadline,
		Config: contract.Config{TestCase: "ta-07/x", Role: role, Profile: "ta-07", Out: t.TempDir(), Timeout: time.Second}}
}

func TestProcessFaults(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		needs.Missing(t, "/bin/sh", "install it with `apt-get install dash`", err)
	}
	d := NewProcesses("")
	defer d.Close(context.Background())
	ctx := context.Background()
	c, _ := d.NewCase(ctx, "faults")
	defer c.Close(ctx)

	ok := `echo '{"contract":1,"role":"client","handshake":"ok","app_data":"ok"}'`
	for _, tc := range []struct {
		name, script string
		role         contract.Role
		startErr     bool
		exit         int
		killed       bool
		outcome      bool
		deadline     time.Duration // 2 s unless set
	}{
		{name: "ok", script: ok, role: contract.Client, exit: 0, outcome: true},
		{name: "hang", script: "echo hanging >&2; exec sleep 60", role: contract.Client, exit: 137, killed: true},
		{name: "crash", script: "echo dying >&2; kill -ABRT $$", role: contract.Client, exit: 134},
		{name: "garbage", script: "echo '}{ garbage'", role: contract.Client, exit: 0},
		{name: "never opens its port", script: "echo waiting >&2; exec sleep 60", role: contract.Server, startErr: true, exit: 137},
		{name: "exits before its port", script: "echo bye >&2; exit 1", role: contract.Server, startErr: true, exit: 1},
		{name: "server", script: `exec python3 -c 'import socket,os,sys
s=socket.socket(); s.bind(("127.0.0.1", int(os.environ["ATLS_LISTEN"].split(":")[1]))); s.listen(1); s.accept()
print("{\"contract\":1,\"role\":\"server\",\"handshake\":\"failed\",\"app_data\":\"none\"}")'`, role: contract.Server, exit: 0, outcome: true,
			deadline: 15 * time.Second}, // python3 starts slowly on a loaded machine

	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "server" {
				if _, err := exec.LookPath("python3"); err != nil {
					needs.Missing(t, "python3", "install it with `apt-get install python3`", err)
				}
			}
			deadline := cmp.Or(tc.deadline, 2*time.Second)
			s := shSpec(t, tc.role, tc.script, deadline)
			start := time.Now()
			r, err := c.Start(ctx, s)
			if (err != nil) != tc.startErr {
				t.Fatalf("start: %v", err)
			}
			if tc.name == "server" {
				conn, err := net.Dial("tcp", r.Addr())
				if err != nil {
					t.Fatal(err)
				}
				conn.Close()
			}
			res := r.Wait(ctx)
			if time.Since(start) > deadline+6*time.Second { // slack for a loaded machine
				t.Fatalf("took %v", time.Since(start))
			}
			if res.Exit != tc.exit || res.Killed != tc.killed || (res.Outcome != nil) != tc.outcome {
				t.Fatalf("%s", res.Describe())
			}
			if b, err := os.ReadFile(filepath.Join(s.Config.Out, StderrFile)); err != nil || string(b) != string(res.Stderr) {
				t.Fatalf("stderr file: %v %q", err, b)
			}
			if !strings.Contains(res.Describe(), "exit ") {
				t.Fatal(res.Describe())
			}
		})
	}
	if n := d.Live(); n != 0 {
		t.Fatalf("%d processes left", n)
	}
}

// Select with no engine: processes, unless containers are required.
func TestSelectWithoutDocker(t *testing.T) {
	noEngine := func(context.Context) (*ContainerDriver, error) {
		return nil, errors.New("get provider: rootless Docker not found")
	}
	var lines []string
	logf := func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }
	d, err := selectDriver(context.Background(), Choice{}, "/bin/true", logf, noEngine)
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind() != KindProcesses || len(lines) != 1 || !strings.Contains(lines[0], "no Docker engine answers (get provider") {
		t.Fatalf("%s %q", d.Kind(), lines)
	}
	if _, err := selectDriver(context.Background(), Choice{RequireContainers: true}, "/bin/true", logf, noEngine); err == nil || !strings.Contains(err.Error(), "CI=true") {
		t.Fatalf("containers required without Docker: %v", err)
	}
	if d, err := selectDriver(context.Background(), Choice{Kind: KindProcesses, RequireContainers: true}, "/bin/true", logf, noEngine); err != nil || d.Kind() != KindProcesses {
		t.Fatalf("forced processes: %v", err)
	}
	if _, err := selectDriver(context.Background(), Choice{Kind: KindContainers}, "/bin/true", logf, noEngine); err == nil {
		t.Fatal("forced containers without an engine")
	}
	if _, err := selectDriver(context.Background(), Choice{Kind: "vms"}, "/bin/true", logf, noEngine); err == nil {
		t.Fatal("unknown driver accepted")
	}
}

// killStrays kills every descendant of a resident container's first
// process (where orphans end up) and leaves that one running.
func TestKillStrays(t *testing.T) {
	sh := exec.Command("sh", "-c", "sleep 100 & sleep 100 & wait")
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer sh.Process.Kill()
	children := func() string {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", sh.Process.Pid, sh.Process.Pid))
		return strings.TrimSpace(string(b))
	}
	for start := time.Now(); len(strings.Fields(children())) < 2; time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("children of the stand-in first process: %q", children())
		}
	}
	(&resident{init: sh.Process.Pid}).killStrays()
	done := make(chan error, 1)
	go func() { done <- sh.Wait() }()
	select {
	case err := <-done: // its children died, so its wait returned
		if err != nil {
			t.Fatalf("the first process itself ended with %v, want a normal exit", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the children still run: %q", children())
	}
}

// The environment's choice: CONFORMANCE_DRIVER forces, CI=true requires.
func TestChoiceFromEnv(t *testing.T) {
	t.Setenv(EnvDriver, KindProcesses)
	t.Setenv("CI", "true")
	if c := ChoiceFromEnv(); c != (Choice{Kind: KindProcesses, RequireContainers: true}) {
		t.Fatalf("%+v", c)
	}
	t.Setenv(EnvDriver, "")
	t.Setenv("CI", "")
	if c := ChoiceFromEnv(); c != (Choice{}) {
		t.Fatalf("%+v", c)
	}
}
