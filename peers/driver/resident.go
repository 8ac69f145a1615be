package driver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"

	"github.com/attested-tls/conformance/peers/contract"
)

// Resident peer containers. Creating, starting and removing a container
// costs this engine (fuse-overlayfs, 2 cores) about 0.6 s of CPU; starting
// a process in a running container (docker exec) a tenth of that. So when
// a Spec names the run's folder (Root), the container driver keeps one
// container per peer image on each case network, its first process the
// suite's static binary idling (`conformance idle`, mounted read-only),
// and runs each case's peer in it: the image's entrypoint and command, as
// the suite's uid:gid, with the contract's variables and ATLS_OUT as its
// working directory. The run's inputs are at /atls/in (read-only) and its
// folder at /atls/run, where every case's ATLS_OUT and the other peer's
// folder are. A case network serves one case at a time, and a case's Close
// kills whatever its peers left running, so no two cases share a
// container at once.

// Where a resident container sees the run's folder and the idle binary.
const (
	MountRun = "/atls/run"
	idlePath = "/.atls-idle"
)

// resident is a kept container on a case network.
type resident struct {
	id, ip string
	cmd    []string // the image's entrypoint and command
	init   int      // its first process's host PID
}

// killStrays kills whatever a case's peers left running in r's container
// (a child its killed peer had started, say): an orphan is reparented to
// the container's first process, so it is that one's descendant.
func (r *resident) killStrays() {
	if r.init <= 0 {
		return
	}
	for _, pid := range descendants(r.init) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// suiteUser is the uid:gid of whoever runs the suite: a container peer
// runs as it, so the files it writes are theirs.
func suiteUser() string { return fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()) }

// residentKey says which resident serves s: its image and folders.
func residentKey(s Spec) string { return s.Peer.Image + "\x00" + s.In + "\x00" + s.Root }

// residentMounts maps the run's inputs and folder (and nothing else).
func residentMounts(s Spec) (binds []string, mapPath func(string) string, err error) {
	ms := []mount{{s.Root, MountRun, "rw"}}
	if s.In != "" {
		ms = append(ms, mount{s.In, MountIn, "ro"})
	}
	return bindMounts(ms, s.Config, "the run's folder or inputs")
}

// residentFor returns the case network's resident for s, starting it if
// there is none (or the one there stopped).
func (c *containerCase) residentFor(ctx context.Context, s Spec, binds []string) (*resident, error) {
	key := residentKey(s)
	c.mu.Lock()
	r := c.residents[key]
	c.mu.Unlock()
	if r != nil {
		if ins, err := c.d.cli.ContainerInspect(ctx, r.id, client.ContainerInspectOptions{}); err == nil && ins.Container.State != nil && ins.Container.State.Running {
			return r, nil
		}
		c.d.cli.ContainerRemove(context.WithoutCancel(ctx), r.id, client.ContainerRemoveOptions{Force: true})
	}
	img, err := c.d.cli.ImageInspect(ctx, s.Peer.Image)
	if err != nil {
		return nil, fmt.Errorf("driver: peer %s's image: %w", s.Peer.Name, err)
	}
	var cmd []string
	if cfg := img.Config; cfg != nil {
		cmd = append(append(cmd, cfg.Entrypoint...), cfg.Cmd...)
	}
	if len(cmd) == 0 {
		return nil, fmt.Errorf("driver: peer %s's image %s has no entrypoint or command", s.Peer.Name, s.Peer.Image)
	}
	ctr, err := testcontainers.Run(ctx, s.Peer.Image,
		testcontainers.WithEntrypoint(idlePath, "idle"),
		testcontainers.WithLabels(c.d.labels("")),
		network.WithNetwork([]string{string(contract.Server), string(contract.Client)}, c.nw),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.Binds = append(hc.Binds, append(binds, c.d.idleBinary+":"+idlePath+":ro")...)
		}),
		testcontainers.WithConfigModifier(func(cc *container.Config) { cc.User = suiteUser() }))
	if err != nil {
		if ctr != nil {
			c.d.cli.ContainerRemove(context.WithoutCancel(ctx), ctr.GetContainerID(), client.ContainerRemoveOptions{Force: true})
		}
		return nil, fmt.Errorf("driver: starting a container of %s: %w", s.Peer.Name, err)
	}
	r = &resident{id: ctr.GetContainerID(), cmd: cmd}
	ins, err := c.d.cli.ContainerInspect(ctx, r.id, client.ContainerInspectOptions{})
	if err == nil && ins.Container.State != nil {
		r.init = ins.Container.State.Pid
	}
	if err == nil && ins.Container.NetworkSettings != nil {
		if ep := ins.Container.NetworkSettings.Networks[c.nw.Name]; ep != nil && ep.IPAddress.IsValid() {
			r.ip = ep.IPAddress.String()
		}
	}
	if r.ip == "" {
		c.d.cli.ContainerRemove(context.WithoutCancel(ctx), r.id, client.ContainerRemoveOptions{Force: true})
		return nil, fmt.Errorf("driver: the container of %s has no address on the case network: %v", s.Peer.Name, err)
	}
	c.mu.Lock()
	c.residents[key] = r
	c.mu.Unlock()
	return r, nil
}

// execPeer is a peer process in a resident container.
type execPeer struct {
	spec    Spec
	cli     *client.Client
	r       *resident
	execID  string
	pid     int
	started time.Time
	att     client.ExecAttachResult
	streams chan struct{}
	out     capped
	errOut  capped
	once    sync.Once
	result  *Result
	failed  *Result
}

// startResident starts s's peer in the case network's resident container.
func (c *containerCase) startResident(ctx context.Context, s Spec) (Running, error) {
	binds, mapPath, err := residentMounts(s)
	if err != nil {
		return nil, err
	}
	r, err := c.residentFor(ctx, s, binds)
	if err != nil {
		return nil, err
	}
	cfg := s.Config
	if cfg.Role == contract.Server {
		cfg.Listen = fmt.Sprintf("0.0.0.0:%d", PeerPort)
	}
	cfg = cfg.MapPaths(mapPath)
	ex, err := c.d.cli.ExecCreate(ctx, r.id, client.ExecCreateOptions{
		User:         suiteUser(),
		AttachStdout: true, AttachStderr: true,
		Env:        append(cfg.Env(), s.Env...),
		WorkingDir: cfg.Out,
		Cmd:        r.cmd,
	})
	if err != nil {
		return nil, fmt.Errorf("driver: starting %s (%s): %w", s.Peer.Name, cfg.Role, err)
	}
	p := &execPeer{spec: s, cli: c.d.cli.Client, r: r, execID: ex.ID, started: time.Now(), streams: make(chan struct{})}
	if p.att, err = c.d.cli.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{}); err != nil {
		return nil, fmt.Errorf("driver: starting %s (%s): %w", s.Peer.Name, cfg.Role, err)
	}
	go func() {
		defer close(p.streams)
		stdcopy.StdCopy(&p.out, &p.errOut, p.att.Reader)
	}()
	c.mu.Lock()
	c.execs = append(c.execs, p)
	c.mu.Unlock()
	// The process's host PID, for its socket table and to kill it.
	for p.pid == 0 {
		st, err := c.d.cli.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{})
		if err != nil {
			return p.fail(ctx, err)
		}
		if p.pid = st.PID; p.pid == 0 {
			if !st.Running && time.Since(p.started) > time.Second {
				break // it ran and exited before we saw it
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if s.waitsForPort() {
		if err := p.waitPort(ctx, min(StartTimeout, s.deadline())); err != nil {
			return p.fail(ctx, err)
		}
	}
	return p, nil
}

// fail ends a peer that did not start as it should: its result (logs
// included) is what Wait returns.
func (p *execPeer) fail(ctx context.Context, err error) (Running, error) {
	p.kill()
	r := p.collect(ctx, &Result{Peer: p.spec.Peer.Name, Role: p.spec.Config.Role, Exit: -1, Err: err})
	r.finish(p.spec.Config.Out)
	p.failed = r
	return p, fmt.Errorf("driver: starting %s (%s): %w", p.spec.Peer.Name, p.spec.Config.Role, err)
}

// waitPort waits until the peer listens on PeerPort, failing at once if
// it exits.
func (p *execPeer) waitPort(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		st, err := p.cli.ExecInspect(ctx, p.execID, client.ExecInspectOptions{})
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("port %d not open within %v", PeerPort, limit)
			}
			return err
		}
		if !st.Running {
			return fmt.Errorf("exited with code %d before opening port %d", st.ExitCode, PeerPort)
		}
		ok, known := listening(p.pid, PeerPort)
		if !known {
			ok = dialable(ctx, p.Addr())
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("port %d not open within %v", PeerPort, limit)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (p *execPeer) Addr() string     { return fmt.Sprintf("%s:%d", p.r.ip, PeerPort) }
func (p *execPeer) PeerAddr() string { return p.Addr() }

func (p *execPeer) kill() {
	if p.pid > 0 {
		syscall.Kill(p.pid, syscall.SIGKILL)
	}
}

func (p *execPeer) Wait(ctx context.Context) *Result {
	p.once.Do(func() {
		if p.failed != nil {
			p.result = p.failed
			return
		}
		r := &Result{Peer: p.spec.Peer.Name, Role: p.spec.Config.Role, Exit: -1}
		deadline := p.started.Add(p.spec.deadline())
		for {
			st, err := p.cli.ExecInspect(context.WithoutCancel(ctx), p.execID, client.ExecInspectOptions{})
			if err != nil {
				r.Err = err
				p.kill()
				break
			}
			if !st.Running {
				break
			}
			if time.Now().After(deadline) && !r.Killed {
				r.Killed = true
				r.Err = fmt.Errorf("killed at its deadline of %v", p.spec.deadline())
				p.kill()
				continue
			}
			select {
			case <-ctx.Done():
				r.Err = ctx.Err()
				p.kill()
			case <-p.streams:
				// Its output ended: it exits; inspect again at once.
			case <-time.After(20 * time.Millisecond):
			}
		}
		r.Took = time.Since(p.started)
		p.result = p.collect(ctx, r)
		p.result.finish(p.spec.Config.Out)
	})
	return p.result
}

// collect reads the exit code and the output of an ended peer.
func (p *execPeer) collect(ctx context.Context, r *Result) *Result {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if code, err := p.ended(ctx); err != nil {
		r.Err = errors.Join(r.Err, err)
	} else {
		r.Exit = code
	}
	select {
	case <-p.streams:
	case <-ctx.Done():
	}
	p.att.Close()
	r.Stdout, r.Stderr = p.out.Bytes(), p.errOut.Bytes()
	return r
}

// stop kills the peer if it still runs and waits until it has ended.
func (p *execPeer) stop(ctx context.Context) error {
	p.kill()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err := p.ended(ctx)
	p.att.Close()
	return err
}

// ended waits (polling, until ctx ends) for the peer's process to have
// ended and returns its exit code.
func (p *execPeer) ended(ctx context.Context) (int, error) {
	for {
		st, err := p.cli.ExecInspect(ctx, p.execID, client.ExecInspectOptions{})
		if err != nil {
			return -1, err
		}
		if !st.Running {
			return st.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("driver: peer %s still running in its container after it was killed", p.spec.Peer.Name)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
