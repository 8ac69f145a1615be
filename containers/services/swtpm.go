package services

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/attested-tls/conformance/impl/attest/evidence/tpm"
)

// SwtpmBinary is the swtpm executable StartSwtpm runs (Debian: package
// swtpm).
var SwtpmBinary = "swtpm"

// Swtpm is a swtpm process started by StartSwtpm, with its own state.
type Swtpm struct {
	// Addr is the TPM command socket (Config.Addr), CtrlAddr swtpm's
	// control channel.
	Addr, CtrlAddr string
	// Dir is the state directory; Close removes it.
	Dir string

	process
}

// StartSwtpm starts `swtpm socket --tpm2` on free loopback ports with a
// fresh state directory under dir (os.TempDir() if empty), already past
// TPM2_Startup (--flags not-need-init,startup-clear), and waits until it
// answers a command or ctx ends. Close kills it and removes the state.
func StartSwtpm(ctx context.Context, dir string) (*Swtpm, error) {
	return StartSwtpmAt(ctx, dir, "127.0.0.1")
}

// StartSwtpmAt is StartSwtpm with the TPM command socket on a free port
// of the address host (a container network's gateway, where the
// network's containers reach it); the control channel stays on loopback.
func StartSwtpmAt(ctx context.Context, dir, host string) (*Swtpm, error) {
	return retryStart(ctx, dir, host, false)
}

// startSwtpmAdjacent is StartSwtpm on loopback with the control channel
// on the port after the command socket's, where tss2's swtpm TCTI (which
// Parsec uses) looks for it.
func startSwtpmAdjacent(ctx context.Context, dir string) (*Swtpm, error) {
	return retryStart(ctx, dir, "127.0.0.1", true)
}

// retryStart is startSwtpm, tried again when it fails: ports are picked
// by binding and releasing them, another process may take one in
// between, so a swtpm that exits at once is retried.
func retryStart(ctx context.Context, dir, host string, adjacent bool) (*Swtpm, error) {
	var last error
	for range 3 {
		s, err := startSwtpm(ctx, dir, host, adjacent)
		if err == nil {
			return s, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

func startSwtpm(ctx context.Context, dir, host string, adjacent bool) (*Swtpm, error) {
	state, err := os.MkdirTemp(dir, "swtpm-")
	if err != nil {
		return nil, fmt.Errorf("swtpm: %w", err)
	}
	var ports []int
	if adjacent {
		ports, err = freeAdjacentPorts(host)
	} else {
		ports, err = freePorts(host, "127.0.0.1")
	}
	if err != nil {
		os.RemoveAll(state)
		return nil, fmt.Errorf("swtpm: %w", err)
	}
	s := &Swtpm{
		Addr:     net.JoinHostPort(host, strconv.Itoa(ports[0])),
		CtrlAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1])),
		Dir:      state,
	}
	logf := filepath.Join(state, "log")
	cmd := exec.Command(SwtpmBinary, "socket", "--tpm2",
		"--tpmstate", "dir="+state,
		"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=%s", ports[0], host),
		"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", ports[1]),
		"--flags", "not-need-init,startup-clear",
		"--log", "file="+logf+",level=1")
	out, err := os.Create(filepath.Join(state, "output"))
	if err != nil {
		os.RemoveAll(state)
		return nil, fmt.Errorf("swtpm: %w", err)
	}
	defer out.Close()
	if err := s.start(cmd, out); err != nil {
		os.RemoveAll(state)
		return nil, fmt.Errorf("swtpm: %w", err)
	}
	if err := s.waitReady(ctx); err != nil {
		detail, _ := os.ReadFile(filepath.Join(state, "output"))
		logged, _ := os.ReadFile(logf)
		s.Close()
		return nil, fmt.Errorf("swtpm: %w (output %q, log %q)", err, detail, logged)
	}
	return s, nil
}

// waitReady polls until swtpm answers TPM2_GetRandom on its command
// socket.
func (s *Swtpm) waitReady(ctx context.Context) error {
	return s.process.waitReady(ctx, time.Millisecond, 100*time.Millisecond, s.probe)
}

func (s *Swtpm) probe(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return tpm.Probe(pctx, s.Addr)
}

// Kill stops swtpm at once (SIGKILL) and waits for it; the state stays.
func (s *Swtpm) Kill() error {
	s.kill()
	return nil
}

// CPU is the processor time (user and system) the swtpm has used so
// far: read before and after a load, it is what the TPM's commands cost
// the machine.
func (s *Swtpm) CPU() (time.Duration, error) { return processCPU(s.cmd.Process.Pid) }

// Pause stops swtpm (SIGSTOP) without closing its sockets: a TPM that no
// longer answers. Resume continues it.
func (s *Swtpm) Pause() error { return s.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues a paused swtpm (SIGCONT).
func (s *Swtpm) Resume() error { return s.cmd.Process.Signal(syscall.SIGCONT) }

// Running reports whether the swtpm process is still alive.
func (s *Swtpm) Running() bool { return s.running() }

// Close kills swtpm and removes its state directory.
func (s *Swtpm) Close() error {
	s.Kill()
	return os.RemoveAll(s.Dir)
}

// freePorts returns a TCP port on each host that was free a moment ago
// (distinct, since all are held until it returns): they are released
// before the caller's process binds them, so a start retries if one was
// taken in between.
func freePorts(hosts ...string) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for _, h := range hosts {
		l, err := net.Listen("tcp", net.JoinHostPort(h, "0"))
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// freeAdjacentPorts returns two consecutive TCP ports on host that were
// free a moment ago.
func freeAdjacentPorts(host string) ([]int, error) {
	for range 20 {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p+1)))
		l.Close()
		if err == nil {
			l2.Close()
			return []int{p, p + 1}, nil
		}
	}
	return nil, errors.New("no two consecutive free ports")
}

var errNoSwtpm = errors.New("swtpm not installed")

// HaveSwtpm reports whether SwtpmBinary can be run, for tests that skip
// without it.
func HaveSwtpm() error {
	if _, err := exec.LookPath(SwtpmBinary); err != nil {
		return fmt.Errorf("%w: %v", errNoSwtpm, err)
	}
	return nil
}
