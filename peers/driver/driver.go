// Package driver runs one peer for one test case, as a container
// (testcontainers-go, one private network per case) or as a local process
// (developer machines without Docker), and hands back what it did: its
// exit code, its outcome line, its logs (also written to its output
// folder) and whether it had to be killed at its deadline. Both drivers
// clean up after themselves, also when a case fails or the run is
// interrupted: the container driver labels everything with a run ID and
// sweeps by label at start and end.
package driver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/attested-tls/conformance/peers/contract"
)

// Kinds of driver.
const (
	KindContainers = "containers"
	KindProcesses  = "processes"
)

// EnvDriver forces a driver (KindContainers or KindProcesses) instead of
// the automatic choice; commands and tests read it (ChoiceFromEnv).
const EnvDriver = "CONFORMANCE_DRIVER"

// Choice says how Select picks a driver.
type Choice struct {
	// Kind forces a driver (KindContainers or KindProcesses); "" takes
	// containers when a Docker engine answers, processes otherwise.
	Kind string
	// RequireContainers refuses the fallback to processes: a spec that
	// must run in containers (in CI) cannot silently run as processes.
	RequireContainers bool
}

// ChoiceFromEnv is the choice the environment makes: EnvDriver forces a
// driver, CI=true requires containers. For commands and tests; libraries
// take a Choice.
func ChoiceFromEnv() Choice {
	return Choice{Kind: os.Getenv(EnvDriver), RequireContainers: os.Getenv("CI") == "true"}
}

// StartTimeout is how long a server has to open its port (the contract's
// 10 s), unless its deadline is sooner.
const StartTimeout = 10 * time.Second

// Files a peer's logs are written to, in its output folder.
const (
	StdoutFile = "stdout.txt"
	StderrFile = "stderr.txt"
)

// maxLog bounds what is kept in memory of a peer's stdout and stderr: a
// peer printing garbage forever does not exhaust the suite.
const maxLog = 4 << 20

// Peer is how to start one implementation.
type Peer struct {
	Name string
	// Image is the container image (already present on the engine).
	Image string
	// Command is a process peer's argv; "{conformance}" stands for the
	// suite's conformance binary.
	Command []string
}

// Spec is one peer's part in one case.
type Spec struct {
	Peer Peer
	// Config is the peer's configuration with host paths; the driver sets
	// a server's Listen. Config.Out must be set: logs go there.
	Config contract.Config
	// In is the folder of the run's input files (read-only at /atls/in).
	In string
	// PeerOut is the other peer's output folder (read-only at
	// /atls/peer), where its endorsement appears; "" if none.
	PeerOut string
	// Root, if set, is the run's folder, which holds Config.Out, PeerOut
	// and every other path of Config but In's: the container driver then
	// runs the peer in a container it keeps for later cases
	// (resident.go), with Root at /atls/run instead of the two folders.
	Root string
	// Env are extra NAME=value variables outside the contract (the
	// reference peer's ATLS_FAULT).
	Env []string
	// Deadline bounds the peer's whole life; zero means
	// Config.Timeout + 10 s. At the deadline it is killed.
	Deadline time.Duration
}

func (s Spec) deadline() time.Duration {
	if s.Deadline > 0 {
		return s.Deadline
	}
	return s.Config.Timeout + 10*time.Second
}

// waitsForPort: a server is waited on by its port, except a probe, which
// must not open one.
func (s Spec) waitsForPort() bool {
	return s.Config.Role == contract.Server && !contract.IsProbe(s.Config.TestCase)
}

// Result is what one peer did.
type Result struct {
	Peer string
	Role contract.Role
	// Exit is the exit code (128+n for a signal); -1 if it never ran.
	Exit int
	// Killed: the driver killed it at its deadline.
	Killed bool
	// Outcome is the parsed outcome line, nil if OutcomeErr.
	Outcome    *contract.Outcome
	OutcomeErr error
	Stdout     []byte
	Stderr     []byte
	// Dir is where StdoutFile and StderrFile were written.
	Dir string
	// Err is the driver's own failure to start or run the peer.
	Err error
	// Took is how long the peer ran: from its process's start (a
	// container's, as the engine recorded it, so a slow engine's create
	// and start do not eat into the peer's deadline) to its exit.
	Took time.Duration
}

// Describe summarises the result for a failing case: exit, outcome or why
// there is none, and the tail of stderr.
func (r *Result) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s peer %s: exit %d (%s) after %v", r.Role, r.Peer, r.Exit, contract.ExitName(r.Exit), r.Took.Round(time.Millisecond))
	if r.Killed {
		b.WriteString(", killed at its deadline")
	}
	if r.Err != nil {
		fmt.Fprintf(&b, "\n  error: %v", r.Err)
	}
	if r.Outcome != nil {
		fmt.Fprintf(&b, "\n  outcome: handshake=%s app_data=%s", r.Outcome.Handshake, r.Outcome.AppData)
		if r.Outcome.Error != "" {
			fmt.Fprintf(&b, " error=%q", r.Outcome.Error)
		}
	} else if r.OutcomeErr != nil {
		fmt.Fprintf(&b, "\n  no outcome: %v", r.OutcomeErr)
	}
	fmt.Fprintf(&b, "\n  logs: %s\n  stderr (tail):\n%s", r.Dir, indent(tail(r.Stderr, 30)))
	return b.String()
}

func tail(b []byte, lines int) string {
	s := strings.TrimRight(string(b), "\n")
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

func indent(s string) string {
	if s == "" {
		return "    (empty)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// finish records the logs in the peer's folder and parses the outcome.
func (r *Result) finish(dir string) {
	r.Dir = dir
	if dir != "" {
		os.WriteFile(filepath.Join(dir, StdoutFile), r.Stdout, 0o644)
		os.WriteFile(filepath.Join(dir, StderrFile), r.Stderr, 0o644)
	}
	if r.Exit < 0 {
		r.OutcomeErr = errors.New("the peer did not run")
		return
	}
	o, err := contract.ParseOutcome(r.Stdout)
	if err != nil {
		r.OutcomeErr = err
		return
	}
	r.Outcome = &o
}

// Driver starts peers.
type Driver interface {
	// Kind is KindContainers or KindProcesses.
	Kind() string
	// NewCase prepares one case (a private network, for containers).
	NewCase(ctx context.Context, name string) (Case, error)
	// Close removes everything the driver started that is still there.
	Close(ctx context.Context) error
}

// Case is one case's peers.
type Case interface {
	// HostAddress is the IP at which the case's peers reach the test
	// process (where an in-process server of the case listens).
	HostAddress() string
	// Start starts a peer. A server is returned once it accepts
	// connections. On error the Running, if not nil, has been stopped and
	// its Wait returns its logs.
	Start(ctx context.Context, s Spec) (Running, error)
	// Close stops and removes the case's peers and network.
	Close(ctx context.Context) error
}

// Running is a started peer.
type Running interface {
	// Addr is where the test process reaches a server peer; PeerAddr is
	// where another peer of the same case does.
	Addr() string
	PeerAddr() string
	// Wait waits for the peer to exit, killing it at its deadline, and
	// returns what it did. Calling it again returns the same result.
	Wait(ctx context.Context) *Result
}

// Probe runs the compliance probe: the peer started with a random case
// must exit 127 within 10 s.
func Probe(ctx context.Context, c Case, s Spec) (*Result, error) {
	s.Config.TestCase = contract.ProbeCase()
	s.Deadline = StartTimeout
	r, err := c.Start(ctx, s)
	if err != nil {
		if r != nil {
			return r.Wait(ctx), err
		}
		return nil, err
	}
	res := r.Wait(ctx)
	if res.Exit != contract.ExitUnsupported {
		return res, fmt.Errorf("driver: %s failed the compliance probe: exit %d, want %d", s.Peer.Name, res.Exit, contract.ExitUnsupported)
	}
	return res, nil
}

// Logf receives the drivers' log lines.
type Logf func(format string, args ...any)

// Select picks the driver c forces, else the container driver when a
// Docker engine answers and the process driver otherwise, and logs one
// line saying which and why. When c requires containers and no engine
// answers it fails. binary is the conformance binary for process peers.
func Select(ctx context.Context, c Choice, binary string, logf Logf) (Driver, error) {
	return selectDriver(ctx, c, binary, logf, func(ctx context.Context) (*ContainerDriver, error) {
		d, err := NewContainers(ctx, logf)
		if err == nil && d.arch == runtime.GOARCH {
			// binary is the suite's own build: it idles only on an
			// engine of the same architecture.
			d.idleBinary = binary
		}
		return d, err
	})
}

func selectDriver(ctx context.Context, c Choice, binary string, logf Logf, newContainers func(context.Context) (*ContainerDriver, error)) (Driver, error) {
	switch c.Kind {
	case KindContainers:
		d, err := newContainers(ctx)
		if err != nil {
			return nil, fmt.Errorf("driver: containers were asked for, but %w", err)
		}
		logf("peers: using containers (asked for): %s", d.Engine())
		return d, nil
	case KindProcesses:
		logf("peers: using local processes (asked for)")
		return NewProcesses(binary), nil
	case "":
	default:
		return nil, fmt.Errorf("driver: %q, want %s or %s", c.Kind, KindContainers, KindProcesses)
	}
	d, err := newContainers(ctx)
	if err == nil {
		logf("peers: using containers: %s", d.Engine())
		return d, nil
	}
	if c.RequireContainers {
		return nil, fmt.Errorf("driver: containers are required (CI=true), but no Docker engine answers: %w", err)
	}
	logf("peers: using local processes: no Docker engine answers (%v)", err)
	return NewProcesses(binary), nil
}

// capped keeps the first maxLog bytes written to it.
type capped struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := maxLog - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *capped) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf.Bytes())
}
