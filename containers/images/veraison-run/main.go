// Command veraison-run is the Veraison image's entrypoint: it creates the
// policy store's table (kvstore-init), starts VTS and then the API
// services with one config file, prefixes each service's output lines
// with its name on its own stdout, and stops them all when it is told to
// (SIGTERM, SIGINT) or when any of them exits — a container whose
// verifier died should die too, so the readiness wait fails at once.
//
// It is built static (CGO_ENABLED=0) into the image by containers/images.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// services in start order: the API services ask VTS for their state.
var services = []string{"vts-service", "provisioning-service", "verification-service", "management-service"}

// grace is how long the services get to exit after SIGTERM.
const grace = 5 * time.Second

func main() {
	bin := flag.String("bin", "/veraison/bin", "folder of the Veraison binaries")
	config := flag.String("config", "/veraison/config.yaml", "the services' config file")
	poStore := flag.String("po-store", "", "sqlite file of the policy store to create before starting")
	flag.Parse()
	if err := run(*bin, *config, *poStore); err != nil {
		fmt.Fprintln(os.Stderr, "veraison-run:", err)
		os.Exit(1)
	}
}

type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func run(bin, config, poStore string) error {
	if _, err := os.Stat(config); err != nil {
		return fmt.Errorf("no config: %w", err)
	}
	if poStore != "" {
		out, err := exec.Command(filepath.Join(bin, "kvstore-init"), poStore).CombinedOutput()
		if err != nil {
			return fmt.Errorf("kvstore-init %s: %v: %s", poStore, err, out)
		}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	exited := make(chan *child, len(services))
	var out sync.Mutex // one line at a time on stdout
	var children []*child
	defer func() { stop(children) }()
	for _, name := range services {
		c := &child{name: name, done: make(chan struct{})}
		c.cmd = exec.Command(filepath.Join(bin, name), "--config", config)
		pr, pw := io.Pipe()
		c.cmd.Stdout, c.cmd.Stderr = pw, pw
		if err := c.cmd.Start(); err != nil {
			return fmt.Errorf("starting %s: %w", name, err)
		}
		go prefix(&out, name, pr)
		go func() {
			c.err = c.cmd.Wait()
			pw.Close()
			close(c.done)
			exited <- c
		}()
		children = append(children, c)
		fmt.Printf("veraison-run: started %s (pid %d)\n", name, c.cmd.Process.Pid)
	}
	select {
	case s := <-sigs:
		fmt.Printf("veraison-run: %v: stopping\n", s)
		return nil
	case c := <-exited:
		return fmt.Errorf("%s exited: %v", c.name, c.err)
	}
}

// prefix copies r to stdout line by line, each line tagged with name.
func prefix(mu *sync.Mutex, name string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		mu.Lock()
		fmt.Printf("[%s] %s\n", name, sc.Bytes())
		mu.Unlock()
	}
	io.Copy(io.Discard, r) // a line too long: keep the pipe drained
}

// stop sends SIGTERM to the services in reverse start order, then
// SIGKILL to those still running after the grace period.
func stop(children []*child) {
	for i := len(children) - 1; i >= 0; i-- {
		children[i].cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	for _, c := range children {
		select {
		case <-c.done:
		case <-deadline.C:
			for _, k := range children {
				k.cmd.Process.Signal(syscall.SIGKILL)
			}
			<-c.done
		}
	}
}
