package services

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// process is a child process a service runs (swtpm, Parsec): it dies
// with this process, even if that one crashes, and its exit is awaited
// in the background.
type process struct {
	cmd      *exec.Cmd
	exited   chan struct{}
	waitErr  error
	stopOnce sync.Once
}

// start runs cmd with its output going to out.
func (p *process) start(cmd *exec.Cmd, out io.Writer) error {
	p.cmd, p.exited = cmd, make(chan struct{})
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return nil
}

// kill stops the process at once (SIGKILL) and waits for it; a process
// that never started is left alone.
func (p *process) kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.stopOnce.Do(func() { p.cmd.Process.Kill() })
	<-p.exited
}

// running reports whether the process is still alive.
func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// waitReady calls probe, backing off from first to most between calls,
// until it succeeds, ctx ends or the process exits.
func (p *process) waitReady(ctx context.Context, first, most time.Duration, probe func(context.Context) error) error {
	for delay := first; ; delay = min(2*delay, most) {
		select {
		case <-p.exited:
			return fmt.Errorf("exited at start: %v", p.waitErr)
		default:
		}
		err := probe(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not answering: %w (last: %v)", ctx.Err(), err)
		case <-p.exited:
			return fmt.Errorf("exited at start: %v", p.waitErr)
		case <-time.After(delay):
		}
	}
}
