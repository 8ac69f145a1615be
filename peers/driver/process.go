package driver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/attested-tls/conformance/peers/contract"
)

// ProcessDriver runs peers as local processes, each in its own process group
// so a peer's children die with it.
type ProcessDriver struct {
	binary string
	mu     sync.Mutex
	live   map[int]*exec.Cmd
	// veraison keeps the run's Veraison deployments between cases.
	veraison veraisonPool
}

// NewProcesses returns the process driver; binary replaces
// "{conformance}" in peer commands.
func NewProcesses(binary string) *ProcessDriver {
	return &ProcessDriver{binary: binary, live: map[int]*exec.Cmd{}}
}

func (p *ProcessDriver) Kind() string { return KindProcesses }

// Live is the number of peer processes started and not yet reaped.
func (p *ProcessDriver) Live() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.live)
}

// Close kills every peer process still running and stops the run's
// Veraison deployments.
func (p *ProcessDriver) Close(ctx context.Context) error {
	p.mu.Lock()
	for pid := range p.live {
		syscall.Kill(-pid, syscall.SIGKILL)
	}
	p.mu.Unlock()
	return p.veraison.close(ctx)
}

func (p *ProcessDriver) NewCase(ctx context.Context, name string) (Case, error) {
	return &processCase{d: p}, nil
}

type processCase struct {
	d     *ProcessDriver
	mu    sync.Mutex
	peers []*process
}

func (c *processCase) HostAddress() string { return "127.0.0.1" }

func (c *processCase) Close(ctx context.Context) error {
	c.mu.Lock()
	peers := c.peers
	c.mu.Unlock()
	for _, pr := range peers {
		pr.kill()
		<-pr.done
	}
	return nil
}

type process struct {
	spec    Spec
	addr    string
	cmd     *exec.Cmd
	started time.Time
	stdout  capped
	stderr  capped
	done    chan struct{} // closed when the process was reaped
	waitErr error
	// startErr: the server never opened its port (it was killed then).
	startErr error
	once     sync.Once
	result   *Result
}

func (c *processCase) Start(ctx context.Context, s Spec) (Running, error) {
	// A server's port is picked free a moment before the peer binds it;
	// another process may take it in between: then it starts again.
	for attempt := 1; ; attempt++ {
		pr, err := c.start(ctx, s)
		if pr == nil {
			return nil, err // no Running holding a nil *process
		}
		if err == nil || attempt == 3 || !pr.addrInUse() {
			return pr, err
		}
	}
}

// addrInUse: the peer exited saying its address was taken.
func (pr *process) addrInUse() bool {
	select {
	case <-pr.done:
	default:
		return false
	}
	return bytes.Contains(pr.stderr.Bytes(), []byte("address already in use")) ||
		bytes.Contains(pr.stdout.Bytes(), []byte("address already in use"))
}

func (c *processCase) start(ctx context.Context, s Spec) (*process, error) {
	if s.Config.Out == "" {
		return nil, errors.New("driver: the peer's Config.Out is required")
	}
	argv := make([]string, len(s.Peer.Command))
	for i, a := range s.Peer.Command {
		argv[i] = strings.ReplaceAll(a, "{conformance}", c.d.binary)
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("driver: peer %s has no command", s.Peer.Name)
	}
	cfg := s.Config
	pr := &process{spec: s, done: make(chan struct{})}
	if cfg.Role == contract.Server {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		cfg.Listen = fmt.Sprintf("127.0.0.1:%d", port)
		pr.addr = cfg.Listen
	}
	pr.cmd = exec.Command(argv[0], argv[1:]...)
	pr.cmd.Env = append(append(peerEnviron(), cfg.Env()...), s.Env...)
	pr.cmd.Dir = cfg.Out
	pr.cmd.Stdout, pr.cmd.Stderr = &pr.stdout, &pr.stderr
	pr.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr.started = time.Now()
	if err := pr.cmd.Start(); err != nil {
		close(pr.done)
		pr.waitErr = err
		return pr, fmt.Errorf("driver: starting %s: %w", s.Peer.Name, err)
	}
	pid := pr.cmd.Process.Pid
	c.d.mu.Lock()
	c.d.live[pid] = pr.cmd
	c.d.mu.Unlock()
	c.mu.Lock()
	c.peers = append(c.peers, pr)
	c.mu.Unlock()
	go func() {
		pr.waitErr = pr.cmd.Wait()
		c.d.mu.Lock()
		delete(c.d.live, pid)
		c.d.mu.Unlock()
		close(pr.done)
	}()
	if s.waitsForPort() {
		if err := pr.waitPort(ctx, min(StartTimeout, s.deadline())); err != nil {
			pr.startErr = err
			pr.kill()
			// A failed start leaves nothing running: reap before returning.
			select {
			case <-pr.done:
			case <-time.After(5 * time.Second):
			}
			return pr, err
		}
	}
	return pr, nil
}

// waitPort waits until the server listens on its port, exits, or limit
// passes. It reads the socket table (see listening.go); where /proc cannot
// tell, it dials, which a peer must then survive.
func (pr *process) waitPort(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	_, portStr, _ := net.SplitHostPort(pr.addr)
	port, _ := strconv.Atoi(portStr)
	for {
		select {
		case <-pr.done:
			return fmt.Errorf("driver: %s exited before opening port %s", pr.spec.Peer.Name, pr.addr)
		default:
		}
		ok, known := listeningOwned(pr.cmd.Process.Pid, port)
		if !known {
			ok = dialable(ctx, pr.addr)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("driver: %s did not open port %s within %v", pr.spec.Peer.Name, pr.addr, limit)
		case <-pr.done:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (pr *process) kill() {
	if pr.cmd != nil && pr.cmd.Process != nil {
		syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL)
	}
}

func (pr *process) Addr() string     { return pr.addr }
func (pr *process) PeerAddr() string { return pr.addr }

func (pr *process) Wait(ctx context.Context) *Result {
	pr.once.Do(func() {
		r := &Result{Peer: pr.spec.Peer.Name, Role: pr.spec.Config.Role, Exit: -1}
		left := time.Until(pr.started.Add(pr.spec.deadline()))
		if pr.startErr != nil {
			left = time.Hour // it was killed already: just reap it
		}
		select {
		case <-pr.done:
		case <-time.After(left):
			r.Killed = true
			pr.kill()
			<-pr.done
		case <-ctx.Done():
			pr.kill()
			<-pr.done
			r.Err = ctx.Err()
		}
		r.Took = time.Since(pr.started)
		r.Exit = exitCode(pr.cmd, pr.waitErr)
		if r.Killed {
			r.Err = fmt.Errorf("killed at its deadline of %v", pr.spec.deadline())
		}
		if pr.startErr != nil {
			r.Err = pr.startErr
		}
		r.Stdout, r.Stderr = pr.stdout.Bytes(), pr.stderr.Bytes()
		r.finish(pr.spec.Config.Out)
		pr.result = r
	})
	return pr.result
}

// exitCode is the process's exit code, 128+n when signal n ended it, -1
// if it never ran.
func exitCode(cmd *exec.Cmd, err error) int {
	if cmd == nil || cmd.ProcessState == nil {
		return -1
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return cmd.ProcessState.ExitCode()
}

// peerEnviron is the test process's environment without any contract
// variable, so a peer sees only its case's.
func peerEnviron() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ATLS_") || strings.HasPrefix(kv, contract.EnvKeyLog+"=") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
