package driver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/attested-tls/conformance/peers/contract"
)

// Labels on every container and network the container driver creates.
// A run's leftovers are found by LabelRun; those of a run whose process
// died (LabelHost, LabelPID) are swept by the next run.
const (
	LabelRun  = "org.attested-tls.conformance.run"
	LabelPID  = "org.attested-tls.conformance.pid"
	LabelHost = "org.attested-tls.conformance.host"
	LabelCase = "org.attested-tls.conformance.case"
)

// Where a peer container sees its folders, and where a server listens.
const (
	MountIn   = "/atls/in"
	MountOut  = "/atls/out"
	MountPeer = "/atls/peer"
	PeerPort  = 4433
)

// ContainerDriver runs peers in containers, one bridge network per case.
type ContainerDriver struct {
	cli    *testcontainers.DockerClient
	runID  string
	engine string
	arch   string
	logf   Logf
	sigc   chan os.Signal
	closed chan struct{}
	// veraison keeps the run's Veraison deployments between cases.
	veraison veraisonPool
	// idle are case networks a closed case left empty, for the next
	// case: creating and removing a bridge network costs the engine
	// about a quarter of a second each time.
	netMu sync.Mutex
	idle  []*containerCase
	// idleBinary is the suite's static binary, the first process of
	// resident peer containers (resident.go); "" runs a container per
	// peer instead.
	idleBinary string
}

var tcLoggerOnce sync.Once

// NewContainers connects to the Docker engine, sweeps what dead runs
// left behind, and removes this run's containers and networks if the
// process is interrupted (SIGINT, SIGTERM) before Close.
//
// The testcontainers reaper (Ryuk) is an image that cannot be pulled
// here, so TESTCONTAINERS_RYUK_DISABLED is set unless already set, and
// this driver cleans up itself.
func NewContainers(ctx context.Context, logf Logf) (*ContainerDriver, error) {
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	tcLoggerOnce.Do(func() { tclog.SetDefault(tclog.NewNoopLogger()) })
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := os.Stat("/var/run/docker.sock"); err != nil && os.Getenv("DOCKER_HOST") == "" {
		return nil, fmt.Errorf("no /var/run/docker.sock and no DOCKER_HOST")
	}
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, err
	}
	info, err := cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		cli.Close()
		return nil, err
	}
	d := &ContainerDriver{cli: cli, runID: randomID(), logf: logf, closed: make(chan struct{})}
	d.arch = goarch(info.Info.Architecture)
	d.engine = fmt.Sprintf("Docker %s (%s/%s) at %s, run %s", info.Info.ServerVersion, info.Info.OSType,
		d.arch, cli.DaemonHost(), d.runID)
	if n := d.sweepStale(ctx); n > 0 {
		logf("peers: removed %d containers and networks left by earlier runs", n)
	}
	d.sigc = make(chan os.Signal, 1)
	signal.Notify(d.sigc, os.Interrupt, syscall.SIGTERM)
	go d.onSignal()
	return d, nil
}

func (d *ContainerDriver) onSignal() {
	select {
	case sig := <-d.sigc:
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		n := d.sweep(ctx, d.runFilter())
		cancel()
		fmt.Fprintf(os.Stderr, "peers: %v: removed %d containers and networks of run %s\n", sig, n, d.runID)
		os.Exit(130)
	case <-d.closed:
	}
}

func randomID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// goarch maps the engine's architecture to Go's.
func goarch(a string) string {
	switch a {
	case "x86_64", "amd64":
		return "amd64"
	case "aarch64", "arm64":
		return "arm64"
	}
	return a
}

func (d *ContainerDriver) Kind() string { return KindContainers }

// Engine describes the engine and the run, for the selection log line.
func (d *ContainerDriver) Engine() string { return d.engine }

// Client is the engine's client (for building images).
func (d *ContainerDriver) Client() *client.Client { return d.cli.Client }

// Arch is the engine's GOARCH.
func (d *ContainerDriver) Arch() string { return d.arch }

// RunID labels everything this driver creates.
func (d *ContainerDriver) RunID() string { return d.runID }

func (d *ContainerDriver) labels(caseName string) map[string]string {
	host, _ := os.Hostname()
	l := map[string]string{LabelRun: d.runID, LabelPID: strconv.Itoa(os.Getpid()), LabelHost: host}
	if caseName != "" {
		l[LabelCase] = caseName
	}
	return l
}

func (d *ContainerDriver) runFilter() client.Filters {
	return client.Filters{}.Add("label", LabelRun+"="+d.runID)
}

// Count is how many containers and networks carry the filter's labels.
func (d *ContainerDriver) Count(ctx context.Context, f client.Filters) (containers, networks int, err error) {
	return d.countExcept(ctx, f, nil)
}

// Leftovers counts this run's containers and networks that the driver
// does not keep for later cases (empty case networks and their resident
// peer containers, Veraison deployments): with no case open, what closed
// cases failed to remove. After Close it counts everything of the run.
func (d *ContainerDriver) Leftovers(ctx context.Context) (containers, networks int, err error) {
	return d.countExcept(ctx, d.runFilter(), d.kept())
}

// countExcept counts the containers and networks f matches whose IDs
// are not in skip.
func (d *ContainerDriver) countExcept(ctx context.Context, f client.Filters, skip map[string]bool) (containers, networks int, err error) {
	cs, err := d.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return 0, 0, err
	}
	ns, err := d.cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return 0, 0, err
	}
	for _, c := range cs.Items {
		if !skip[c.ID] {
			containers++
		}
	}
	for _, n := range ns.Items {
		if !skip[n.ID] {
			networks++
		}
	}
	return containers, networks, nil
}

// kept are the IDs of what the driver keeps for later cases; none once
// it is closed.
func (d *ContainerDriver) kept() map[string]bool {
	ids := map[string]bool{}
	select {
	case <-d.closed:
		return ids
	default:
	}
	d.netMu.Lock()
	for _, k := range d.idle {
		ids[k.nw.ID] = true
		for _, r := range k.residents {
			ids[r.id] = true
		}
	}
	d.netMu.Unlock()
	d.veraison.mu.Lock()
	for _, v := range d.veraison.all {
		ids[v.p.c.GetContainerID()] = true
	}
	if h := d.veraison.home; h != nil {
		ids[h.nw.ID] = true
	}
	d.veraison.mu.Unlock()
	return ids
}

// AnyRun filters everything any run of this driver created.
func AnyRun() client.Filters { return client.Filters{}.Add("label", LabelRun) }

// sweep force-removes the containers, then the networks, the filter
// matches; it returns how many it removed.
func (d *ContainerDriver) sweep(ctx context.Context, f client.Filters) int {
	return d.sweepWhere(ctx, f, func(map[string]string) bool { return true })
}

func (d *ContainerDriver) sweepWhere(ctx context.Context, f client.Filters, keep func(map[string]string) bool) int {
	n := 0
	if cs, err := d.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f}); err == nil {
		for _, c := range cs.Items {
			if keep(c.Labels) {
				if _, err := d.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err == nil {
					n++
				}
			}
		}
	}
	if ns, err := d.cli.NetworkList(ctx, client.NetworkListOptions{Filters: f}); err == nil {
		for _, nw := range ns.Items {
			if keep(nw.Labels) {
				if _, err := d.cli.NetworkRemove(ctx, nw.ID, client.NetworkRemoveOptions{}); err == nil {
					n++
				}
			}
		}
	}
	return n
}

// sweepStale removes what runs on this host whose process is gone left.
func (d *ContainerDriver) sweepStale(ctx context.Context) int {
	host, _ := os.Hostname()
	return d.sweepWhere(ctx, AnyRun(), func(l map[string]string) bool {
		pid, err := strconv.Atoi(l[LabelPID])
		return l[LabelHost] == host && err == nil && !alive(pid)
	})
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Close removes every container and network of this run.
func (d *ContainerDriver) Close(ctx context.Context) error {
	select {
	case <-d.closed:
		return nil
	default:
	}
	close(d.closed)
	signal.Stop(d.sigc)
	d.veraison.close(ctx)
	d.sweep(ctx, d.runFilter())
	c, n, err := d.Leftovers(ctx)
	d.cli.Close()
	if err == nil && c+n > 0 {
		err = fmt.Errorf("driver: %d containers and %d networks of run %s could not be removed", c, n, d.runID)
	}
	return err
}

// NewCase gives the case a network of its own: an empty one a closed
// case left, or a new one. Containers on it carry the case's label; the
// network only the run's.
func (d *ContainerDriver) NewCase(ctx context.Context, name string) (Case, error) {
	d.netMu.Lock()
	if n := len(d.idle); n > 0 {
		k := d.idle[n-1]
		d.idle = d.idle[:n-1]
		d.netMu.Unlock()
		return &containerCase{d: d, name: name, nw: k.nw, gateway: k.gateway, residents: k.residents}, nil
	}
	d.netMu.Unlock()
	return d.freshCase(ctx, name)
}

// freshCase is a case on a new network.
func (d *ContainerDriver) freshCase(ctx context.Context, name string) (*containerCase, error) {
	nw, err := network.New(ctx, network.WithLabels(d.labels("")))
	if err != nil {
		return nil, fmt.Errorf("driver: case network: %w", err)
	}
	c := &containerCase{d: d, name: name, nw: nw, residents: map[string]*resident{}}
	res, err := d.cli.NetworkInspect(ctx, nw.ID, client.NetworkInspectOptions{})
	if err == nil && len(res.Network.IPAM.Config) > 0 {
		c.gateway = res.Network.IPAM.Config[0].Gateway.String()
	}
	if c.gateway == "" {
		c.Close(ctx)
		return nil, fmt.Errorf("driver: case network %s has no gateway address: %v", nw.Name, err)
	}
	return c, nil
}

type containerCase struct {
	d       *ContainerDriver
	name    string
	nw      *testcontainers.DockerNetwork
	gateway string
	mu      sync.Mutex
	peers   []*peerContainer
	// attached are the run's services attached to the case network
	// (AttachVeraison): Close detaches them before it removes it.
	attached []func(context.Context) error
	// residents are the network's kept peer containers, by residentKey;
	// execs the peers this case started in them.
	residents map[string]*resident
	execs     []*execPeer
}

// HostAddress is the network's gateway: the host as the case's
// containers see it.
func (c *containerCase) HostAddress() string { return c.gateway }

func (c *containerCase) Close(ctx context.Context) error {
	c.mu.Lock()
	peers, attached, execs := c.peers, c.attached, c.execs
	c.peers, c.attached, c.execs = nil, nil, nil
	c.mu.Unlock()
	var errs []error
	for _, p := range peers {
		if err := p.c.Terminate(ctx, testcontainers.StopTimeout(0)); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range execs {
		if err := p.stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if len(execs) > 0 {
		for _, r := range c.residents {
			r.killStrays()
		}
	}
	for _, detach := range attached {
		if err := detach(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 && c.gateway != "" && c.empty(ctx) {
		// Nothing of the case is left on it: the next case may have it.
		c.d.netMu.Lock()
		select {
		case <-c.d.closed:
		default:
			c.d.idle = append(c.d.idle, c)
			c.d.netMu.Unlock()
			return nil
		}
		c.d.netMu.Unlock()
	}
	for _, r := range c.residents {
		if _, err := c.d.cli.ContainerRemove(ctx, r.id, client.ContainerRemoveOptions{Force: true}); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.nw.Remove(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// empty reports whether no container but the network's residents is on
// the case network.
func (c *containerCase) empty(ctx context.Context) bool {
	res, err := c.d.cli.NetworkInspect(ctx, c.nw.ID, client.NetworkInspectOptions{})
	if err != nil {
		return false
	}
	for id := range res.Network.Containers {
		if !c.isResident(id) {
			return false
		}
	}
	return true
}

func (c *containerCase) isResident(id string) bool {
	for _, r := range c.residents {
		if r.id == id {
			return true
		}
	}
	return false
}

type peerContainer struct {
	spec    Spec
	c       *testcontainers.DockerContainer
	cli     *testcontainers.DockerClient
	ip      string
	started time.Time
	once    sync.Once
	result  *Result
	failed  *Result // set when the start failed
}

// mounts maps the spec's host folders to container folders.
func mounts(s Spec) (binds []string, mapPath func(string) string, err error) {
	ms := []mount{{s.Config.Out, MountOut, "rw"}}
	if s.In != "" {
		ms = append(ms, mount{s.In, MountIn, "ro"})
	}
	if s.PeerOut != "" {
		ms = append(ms, mount{s.PeerOut, MountPeer, "ro"})
	}
	return bindMounts(ms, s.Config, "the peer's in, out or peer folders")
}

// mount is a host folder seen in a container.
type mount struct{ host, ctr, mode string }

// bindMounts makes binds of ms and a mapPath from host paths under them
// to container paths; a path of cfg under none of them (what says where
// they should be) is an error.
func bindMounts(ms []mount, cfg contract.Config, what string) (binds []string, mapPath func(string) string, err error) {
	for i := range ms {
		if ms[i].host, err = filepath.Abs(ms[i].host); err != nil {
			return nil, nil, err
		}
		binds = append(binds, ms[i].host+":"+ms[i].ctr+":"+ms[i].mode)
	}
	var bad []string
	mapPath = func(p string) string {
		abs, _ := filepath.Abs(p)
		for _, x := range ms {
			if rel, err := filepath.Rel(x.host, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
				return filepath.ToSlash(filepath.Join(x.ctr, rel))
			}
		}
		bad = append(bad, p)
		return p
	}
	// Check every path now, so an unmappable one is an error here.
	cfg.MapPaths(mapPath)
	if len(bad) > 0 {
		return nil, nil, fmt.Errorf("driver: %v are not under %s", bad, what)
	}
	return binds, mapPath, nil
}

func (c *containerCase) Start(ctx context.Context, s Spec) (Running, error) {
	if s.Config.Out == "" {
		return nil, errors.New("driver: the peer's Config.Out is required")
	}
	if s.Peer.Image == "" {
		return nil, fmt.Errorf("driver: peer %s has no image", s.Peer.Name)
	}
	if s.Root != "" && c.d.idleBinary != "" {
		return c.startResident(ctx, s)
	}
	binds, mapPath, err := mounts(s)
	if err != nil {
		return nil, err
	}
	cfg := s.Config
	if cfg.Role == contract.Server {
		cfg.Listen = fmt.Sprintf("0.0.0.0:%d", PeerPort)
	}
	cfg = cfg.MapPaths(mapPath)
	env := map[string]string{}
	for _, kv := range append(cfg.Env(), s.Env...) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	opts := []testcontainers.ContainerCustomizer{
		testcontainers.WithEnv(env),
		testcontainers.WithLabels(c.d.labels(c.name)),
		network.WithNetwork([]string{string(cfg.Role)}, c.nw),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) { hc.Binds = append(hc.Binds, binds...) }),
		// Files the peer writes belong to whoever runs the suite.
		testcontainers.WithConfigModifier(func(cc *container.Config) { cc.User = suiteUser() }),
	}
	p := &peerContainer{spec: s, cli: c.d.cli, started: time.Now()}
	if s.waitsForPort() {
		opts = append(opts, testcontainers.WithWaitStrategy(&portWait{net: c.nw.Name, port: PeerPort,
			limit: min(StartTimeout, s.deadline()), ip: &p.ip}))
	}
	ctr, err := testcontainers.Run(ctx, s.Peer.Image, opts...)
	p.c = ctr
	if ctr != nil {
		c.mu.Lock()
		c.peers = append(c.peers, p)
		c.mu.Unlock()
	}
	if err != nil {
		r := &Result{Peer: s.Peer.Name, Role: cfg.Role, Exit: -1, Err: err, Took: time.Since(p.started)}
		if ctr != nil {
			p.kill(ctx)
			p.collect(ctx, r)
		}
		r.finish(s.Config.Out)
		p.failed = r
		return p, fmt.Errorf("driver: starting %s (%s): %w", s.Peer.Name, cfg.Role, err)
	}
	return p, nil
}

func (p *peerContainer) Addr() string { return fmt.Sprintf("%s:%d", p.ip, PeerPort) }

func (p *peerContainer) PeerAddr() string { return fmt.Sprintf("%s:%d", p.spec.Config.Role, PeerPort) }

func (p *peerContainer) kill(ctx context.Context) {
	p.cli.ContainerKill(ctx, p.c.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"})
}

func (p *peerContainer) Wait(ctx context.Context) *Result {
	p.once.Do(func() {
		if p.failed != nil {
			p.result = p.failed
			return
		}
		r := &Result{Peer: p.spec.Peer.Name, Role: p.spec.Config.Role, Exit: -1}
		since := p.started
		deadline := since.Add(p.spec.deadline())
		for first := true; ; first = false {
			st, err := p.c.State(ctx)
			if err != nil {
				r.Err = err
				break
			}
			if first {
				// The deadline runs from when the engine started the
				// peer's process, not from our create request.
				if t, err := time.Parse(time.RFC3339Nano, st.StartedAt); err == nil && t.After(since) {
					since = t
					deadline = since.Add(p.spec.deadline())
				}
			}
			if !st.Running {
				break
			}
			if time.Now().After(deadline) {
				r.Killed = true
				r.Err = fmt.Errorf("killed at its deadline of %v", p.spec.deadline())
				p.kill(ctx)
				continue
			}
			select {
			case <-ctx.Done():
				r.Err = ctx.Err()
				p.kill(context.Background())
			case <-time.After(50 * time.Millisecond):
			}
		}
		r.Took = time.Since(since)
		p.collect(ctx, r)
		r.finish(p.spec.Config.Out)
		p.result = r
	})
	return p.result
}

// collect reads the exit code and the logs of a stopped container.
func (p *peerContainer) collect(ctx context.Context, r *Result) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for range 100 { // a killed container takes a moment to stop
		st, err := p.c.State(ctx)
		if err != nil || !st.Running {
			if err == nil {
				r.Exit = st.ExitCode
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	rc, err := p.cli.ContainerLogs(ctx, p.c.GetContainerID(), client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		r.Err = errors.Join(r.Err, err)
		return
	}
	defer rc.Close()
	var out, errOut capped
	stdcopy.StdCopy(&out, &errOut, rc)
	r.Stdout, r.Stderr = out.Bytes(), errOut.Bytes()
}

// portWait is ready when the container listens on port, judged from the
// socket table of its network namespace (listening.go), or, where that
// cannot be read, by dialing it on the case network. It fails at once if
// the container exits.
type portWait struct {
	net   string
	port  int
	limit time.Duration
	ip    *string
}

func (w *portWait) WaitUntilReady(ctx context.Context, t wait.StrategyTarget) error {
	ctx, cancel := context.WithTimeout(ctx, w.limit)
	defer cancel()
	notOpen := fmt.Errorf("port %d not open within %v", w.port, w.limit)
	for {
		ins, err := t.Inspect(ctx)
		if err != nil {
			if ctx.Err() != nil { // the limit ran out during the inspection itself
				return notOpen
			}
			return err
		}
		if ins.State != nil && !ins.State.Running {
			return fmt.Errorf("exited with code %d before opening port %d", ins.State.ExitCode, w.port)
		}
		if ins.NetworkSettings != nil {
			if ep := ins.NetworkSettings.Networks[w.net]; ep != nil && ep.IPAddress.IsValid() {
				*w.ip = ep.IPAddress.String()
			}
		}
		if *w.ip != "" && ins.State != nil {
			ok, known := listening(ins.State.Pid, w.port)
			if !known {
				ok = dialable(ctx, fmt.Sprintf("%s:%d", *w.ip, w.port))
			}
			if ok {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return notOpen
		case <-time.After(50 * time.Millisecond):
		}
	}
}
