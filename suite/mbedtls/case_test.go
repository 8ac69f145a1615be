package mbedtls_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attested-tls/conformance/containers/images"
	"github.com/attested-tls/conformance/impl/attest/evidence/tpm"
	"github.com/attested-tls/conformance/peers/driver"
)

// mcase is one test's driver case: its peers (and, with containers,
// their network and swtpm services) and the forwarders that let the test
// process and its peers reach each other whichever driver runs them.
type mcase struct {
	driver.Case
	kind    string
	mu      sync.Mutex
	lns     []net.Listener
	reached map[string]string // target → where the case's peers reach it
	servers map[string]driver.Running
	tpms    int
}

var (
	casesMu sync.Mutex
	cases   = map[*testing.T]*mcase{}
)

// caseFor is t's case, made on first use and closed when t ends (after
// the cleanups of the peers started in it).
func (w *world) caseFor(t *testing.T) *mcase {
	t.Helper()
	casesMu.Lock()
	defer casesMu.Unlock()
	if k := cases[t]; k != nil {
		return k
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dk, err := w.drv.NewCase(ctx, caseName(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	k := &mcase{Case: dk, kind: w.drv.Kind(), reached: map[string]string{}, servers: map[string]driver.Running{}}
	cases[t] = k
	t.Cleanup(func() {
		casesMu.Lock()
		delete(cases, t)
		casesMu.Unlock()
		k.close()
	})
	return k
}

// caseName is a test name as a label value.
func caseName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-", r) {
			return r
		}
		return '_'
	}, s)
}

func (k *mcase) containers() bool { return k.kind == driver.KindContainers }

func (k *mcase) close() {
	k.mu.Lock()
	for _, ln := range k.lns {
		ln.Close()
	}
	k.lns = nil
	k.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	k.Close(ctx)
}

// swtpm starts an swtpm for one attesting peer: a service container on
// the case's network, or a process on the host; it returns the host:port
// the peer reaches it at.
func (k *mcase) swtpm(ctx context.Context, w *world, t *testing.T) (string, *tpm.Swtpm, error) {
	if !k.containers() {
		s, err := tpm.StartSwtpm(ctx, t.TempDir())
		if err != nil {
			return "", nil, err
		}
		t.Cleanup(func() { s.Close() })
		return s.Addr, s, nil
	}
	sc, ok := k.Case.(driver.ServiceCase)
	if !ok {
		return "", nil, fmt.Errorf("the %s driver runs no services", k.kind)
	}
	k.mu.Lock()
	k.tpms++
	alias := "tpm"
	if k.tpms > 1 {
		alias = fmt.Sprintf("tpm%d", k.tpms)
	}
	k.mu.Unlock()
	if _, err := sc.StartService(ctx, driver.Service{Image: w.swtpmImg, Alias: alias, Port: images.SwtpmPort}); err != nil {
		return "", nil, err
	}
	return fmt.Sprintf("%s:%d", alias, images.SwtpmPort), nil, nil
}

// reach makes target (host:port, or an http URL) on the test's host
// reachable from the case's containers, through a forwarder on the case
// network's gateway, and returns the address (or URL) they use.
func (k *mcase) reach(target string) (string, error) {
	u, err := url.Parse(target)
	isURL := err == nil && u.Scheme != "" && u.Host != ""
	hostport := target
	if isURL {
		hostport = u.Host
	}
	k.mu.Lock()
	a, ok := k.reached[hostport]
	k.mu.Unlock()
	if !ok {
		ln, err := net.Listen("tcp", net.JoinHostPort(k.HostAddress(), "0"))
		if err != nil {
			return "", fmt.Errorf("listening where the case's peers reach the host: %w", err)
		}
		k.serve(ln, hostport)
		a = ln.Addr().String()
		k.mu.Lock()
		k.reached[hostport] = a
		k.mu.Unlock()
	}
	if isURL {
		v := *u
		v.Host = a
		return v.String(), nil
	}
	return a, nil
}

// forward listens on addr (where the test process expects a peer) and
// forwards to target (where the driver says the peer is).
func (k *mcase) forward(addr, target string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("forwarding %s to %s: %w", addr, target, err)
	}
	k.serve(ln, target)
	return nil
}

func (k *mcase) addServer(addr string, r driver.Running) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.servers[addr] = r
}

// server is the server peer of this case the test reaches at addr.
func (k *mcase) server(addr string) driver.Running {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.servers[addr]
}

// serve pipes every connection accepted on ln to target until the case
// closes. Each direction is half-closed on its own, so an alert followed
// by a close reaches the other side as it was sent.
func (k *mcase) serve(ln net.Listener, target string) {
	k.mu.Lock()
	k.lns = append(k.lns, ln)
	k.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go pipe(in, target)
		}
	}()
}

func pipe(in net.Conn, target string) {
	defer in.Close()
	var out net.Conn
	var err error
	// The target may still be coming up (a listener about to open).
	for deadline := time.Now().Add(5 * time.Second); ; {
		out, err = net.DialTimeout("tcp", target, time.Second)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return
	}
	defer out.Close()
	driver.Splice(in, out)
}
