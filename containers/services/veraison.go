package services

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Names of the processes, as Log takes them.
const (
	VTS          = "vts-service"
	Provisioning = "provisioning-service"
	Verification = "verification-service"
	Management   = "management-service"
)

// Defaults for zero VeraisonConfig fields.
const (
	DefaultReadyTimeout = time.Minute
	DefaultLogLevel     = "info"
	// stopGrace is how long a service gets to exit after SIGTERM.
	stopGrace = 5 * time.Second
	// startAttempts bounds retries when a freshly chosen port was taken
	// between choosing and binding it.
	startAttempts = 3
)

// VeraisonConfig sets up StartVeraison; the zero value is usable.
type VeraisonConfig struct {
	// BinDir holds the binaries; "" means VeraisonBinaries(ctx), which may build.
	BinDir string
	// ReadyTimeout bounds the wait for every service to report READY
	// (within StartVeraison's context's own deadline); zero means
	// DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// LogLevel is the services' logging level (debug, info, warn, error).
	LogLevel string
	// EARKey signs the EARs (ES256); nil generates a fresh one.
	EARKey *ecdsa.PrivateKey
}

// Veraison is one running Veraison deployment.
type Veraison struct {
	// VerificationURL, ProvisioningURL and ManagementURL are the API
	// services' base URLs, "http://127.0.0.1:<port>".
	VerificationURL, ProvisioningURL, ManagementURL string
	// VTSAddr is VTS's gRPC address, host:port.
	VTSAddr string
	// EARKey is the public half of the EAR signing key; discovery must
	// return it.
	EARKey *ecdsa.PublicKey
	// StateDir holds the config, the key, the po-store and the logs; Stop
	// removes it.
	StateDir string

	procs    []*proc // in start order: VTS first
	stopOnce sync.Once
	stopErr  error
}

type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, valid after done
}

// StartVeraison launches the four services and returns once every
// /.well-known/veraison/* endpoint reports service-state READY. On any
// failure everything started is stopped and the state directory removed;
// the error carries the tail of the failing service's log.
func StartVeraison(ctx context.Context, cfg VeraisonConfig) (*Veraison, error) {
	if cfg.BinDir == "" {
		d, err := VeraisonBinaries(ctx)
		if err != nil {
			return nil, err
		}
		cfg.BinDir = d
	}
	if err := checkBinaries(cfg.BinDir); err != nil {
		return nil, err
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = DefaultLogLevel
	}
	key := cfg.EARKey
	if key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		key = k
	}
	if key.Curve != elliptic.P256() {
		return nil, errors.New("services: the EAR key must be P-256 (ES256)")
	}

	var lastErr error
	for range startAttempts {
		s, err := start(ctx, cfg, key)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

var errPortTaken = errors.New("port taken")

func start(ctx context.Context, cfg VeraisonConfig, key *ecdsa.PrivateKey) (_ *Veraison, err error) {
	dir, err := os.MkdirTemp("", "veraison-")
	if err != nil {
		return nil, err
	}
	s := &Veraison{StateDir: dir, EARKey: &key.PublicKey}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()

	ports, err := freePorts("127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.1")
	if err != nil {
		return nil, err
	}
	addr := func(p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }
	s.VTSAddr = addr(ports[0])
	s.ProvisioningURL = "http://" + addr(ports[1])
	s.VerificationURL = "http://" + addr(ports[2])
	s.ManagementURL = "http://" + addr(ports[3])

	keyPath := filepath.Join(dir, "ear-signer.jwk")
	jwk, err := JWK(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyPath, jwk, 0o600); err != nil {
		return nil, err
	}
	poStore := filepath.Join(dir, "po-store.sql")
	if out, err := exec.CommandContext(ctx, filepath.Join(cfg.BinDir, "kvstore-init"), poStore).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("services: kvstore-init: %v: %s", err, out)
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	yaml := ConfigYAML(Layout{VTS: s.VTSAddr, Provisioning: addr(ports[1]), Verification: addr(ports[2]),
		Management: addr(ports[3]), Key: keyPath, PoStore: poStore, LogLevel: cfg.LogLevel})
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		return nil, err
	}

	// VTS first: the API services ask it for their state.
	for _, name := range []string{VTS, Provisioning, Verification, Management} {
		p, err := launch(cfg.BinDir, dir, name, cfgPath)
		if err != nil {
			return nil, err
		}
		s.procs = append(s.procs, p)
	}

	rctx, cancel := context.WithTimeout(ctx, cfg.ReadyTimeout)
	defer cancel()
	for _, w := range []struct{ name, url string }{
		{Verification, s.VerificationURL + "/.well-known/veraison/verification"},
		{Provisioning, s.ProvisioningURL + "/.well-known/veraison/provisioning"},
		{Management, s.ManagementURL + "/.well-known/veraison/management"},
	} {
		if err := s.waitReady(rctx, w.name, w.url); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Layout is where one deployment's services listen and keep their
// files, as the services see them: StartVeraison fills it with loopback ports and
// its state directory, the container image (containers/images) with fixed
// ports on all interfaces and its own folders.
type Layout struct {
	// Listen addresses, host:port. VTS is also where the API services
	// reach VTS.
	VTS, Provisioning, Verification, Management string
	// Key is the EAR signing key's JWK file (see JWK); PoStore the sqlite
	// file of the policy store (made by kvstore-init).
	Key, PoStore string
	// LogLevel is debug, info, warn or error; "" means DefaultLogLevel.
	LogLevel string
}

// ConfigYAML is the one config file all four services read, each its own
// sections. Stores: trust anchors and endorsements live only in VTS, so
// memory suffices; policies are read by VTS and written by management,
// which therefore share one sqlite file. VTS listens where l says
// (without vts.listen-addr it would listen on all interfaces).
func ConfigYAML(l Layout) string {
	if l.LogLevel == "" {
		l.LogLevel = DefaultLogLevel
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) } // JSON strings are YAML
	return strings.Join([]string{
		"logging: {level: " + q(l.LogLevel) + "}",
		"provisioning: {listen-addr: " + q(l.Provisioning) + ", protocol: http}",
		"verification: {listen-addr: " + q(l.Verification) + ", protocol: http}",
		"management: {listen-addr: " + q(l.Management) + ", protocol: http}",
		"vts: {server-addr: " + q(l.VTS) + ", listen-addr: " + q(l.VTS) + ", tls: false}",
		"ear-signer: {alg: ES256, key: " + q(l.Key) + "}",
		"plugin: {backend: builtin}",
		"ta-store: {backend: memory}",
		"en-store: {backend: memory}",
		"po-store: {backend: sql, sql: {driver: sqlite3, datasource: " + q(l.PoStore) + "}}",
		"po-agent: {backend: opa}",
		"auth: {backend: passthrough}",
		"",
	}, "\n")
}

// JWK is the private key as the JWK VTS's ear-signer loads (P-256).
func JWK(k *ecdsa.PrivateKey) ([]byte, error) {
	if k.Curve != elliptic.P256() {
		return nil, errors.New("services: the EAR key must be P-256 (ES256)")
	}
	ek, err := k.ECDH()
	if err != nil {
		return nil, err
	}
	pub := ek.PublicKey().Bytes() // 0x04 || X || Y
	b64 := base64.RawURLEncoding.EncodeToString
	return json.Marshal(map[string]string{
		"kty": "EC", "crv": "P-256", "alg": "ES256",
		"x": b64(pub[1:33]), "y": b64(pub[33:]), "d": b64(ek.Bytes()),
	})
}

func launch(binDir, stateDir, name, cfgPath string) (*proc, error) {
	logPath := filepath.Join(stateDir, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer lf.Close() // the child holds its own descriptor
	cmd := exec.Command(filepath.Join(binDir, name), "--config", cfgPath)
	cmd.Dir = stateDir
	cmd.Stdout, cmd.Stderr = lf, lf
	// Killed with the test binary if that dies without calling Stop; in
	// its own process group so a terminal's ^C reaches only the test,
	// which then stops the services in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("services: starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// waitReady polls a well-known endpoint until it says READY, failing early
// if any service exits.
func (s *Veraison) waitReady(ctx context.Context, name, url string) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		for _, p := range s.procs {
			select {
			case <-p.done:
				log := s.Log(p.name)
				err := fmt.Errorf("services: %s exited during start-up (%v); log:\n%s", p.name, p.err, tail(log, 3000))
				if strings.Contains(log, "address already in use") {
					err = fmt.Errorf("%w: %w", errPortTaken, err)
				}
				return err
			default:
			}
		}
		state, err := ServiceState(ctx, url)
		if err == nil && state == "READY" {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = "service-state " + state
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("services: %s not READY before the deadline (last: %s); log:\n%s", name, last, tail(s.Log(name), 3000))
		case <-tick.C:
		}
	}
}

// DiscoveryMediaType is what the well-known endpoints answer with.
const DiscoveryMediaType = "application/vnd.veraison.discovery+json"

// ServiceState fetches a /.well-known/veraison/* document and returns its
// service-state (READY, INITIALIZING, DOWN, ...).
func ServiceState(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", DiscoveryMediaType)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, res.Status)
	}
	var doc struct {
		State string `json:"service-state"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		return "", fmt.Errorf("GET %s: %w", url, err)
	}
	return doc.State, nil
}

// Log returns what the named service (VTS, Provisioning, ...) has logged
// so far, for test diagnostics; "" once Stop has removed the state.
func (s *Veraison) Log(name string) string {
	b, _ := os.ReadFile(filepath.Join(s.StateDir, name+".log"))
	return string(b)
}

// CPU is the processor time (user and system) each running service has
// used so far, by name: read before and after a load, it tells which of
// Veraison's processes spends what on it.
func (s *Veraison) CPU() (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	for _, p := range s.procs {
		if !s.Running(p.name) {
			continue
		}
		d, err := processCPU(p.cmd.Process.Pid)
		if err != nil {
			return nil, fmt.Errorf("services: CPU time of %s: %w", p.name, err)
		}
		out[p.name] = d
	}
	return out, nil
}

// processCPU reads utime and stime from /proc/<pid>/stat (proc(5)), in
// clock ticks of 1/100 s, the USER_HZ every Linux reports there.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is parenthesized and may hold spaces:
	// count fields after its closing parenthesis.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(f))
	}
	var ticks int64
	for _, v := range f[11:13] { // fields 14 and 15: utime, stime
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// Running reports whether the named service is still running.
func (s *Veraison) Running(name string) bool {
	for _, p := range s.procs {
		if p.name == name {
			select {
			case <-p.done:
				return false
			default:
				return true
			}
		}
	}
	return false
}

// Stop terminates every service (SIGTERM, then SIGKILL after a grace
// period; API services before VTS) and removes the state directory. It is
// safe to call more than once and returns the first call's error.
func (s *Veraison) Stop() error {
	s.stopOnce.Do(func() {
		var errs []error
		for i := len(s.procs) - 1; i >= 0; i-- {
			if err := s.procs[i].stop(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := os.RemoveAll(s.StateDir); err != nil {
			errs = append(errs, err)
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

func (p *proc) stop() error {
	// Process.Signal, not kill(2) on a pid: it never reaches a process
	// that reused the pid after ours was reaped. With the builtin scheme
	// loader the services spawn no children.
	select {
	case <-p.done:
		return nil
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(stopGrace):
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(stopGrace):
		return fmt.Errorf("services: %s (pid %d) survived SIGKILL", p.name, p.cmd.Process.Pid)
	}
}
