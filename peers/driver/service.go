package driver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/attested-tls/conformance/containers/images"
	"github.com/attested-tls/conformance/containers/services"
	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison"
	"github.com/attested-tls/conformance/peers/contract"
)

// Service is a helper container of a case (swtpm, a verifier) that its
// peers reach on the case's network as Alias:Port.
type Service struct {
	Image, Alias string
	Port         int
	// StartTimeout bounds the wait for Port and Ready; zero means
	// StartTimeout.
	StartTimeout time.Duration
	// Files are copied into the container before it starts (its config
	// and keys, made by the test process for this case).
	Files []ServiceFile
	// Ready, if set, is the service's real readiness, polled after Port
	// opens until it returns nil; ip is the container's address on the
	// case network, which the test process reaches too.
	Ready func(ctx context.Context, ip string) error
}

// ServiceFile is one file Service.Files copies in.
type ServiceFile struct {
	Path string // absolute, in the container
	Mode int64
	Data []byte
}

// ServiceCase is a case that can run services beside its peers (the
// container driver's).
type ServiceCase interface {
	// StartService starts s, returns once its port is open (and Ready
	// said so), and gives the address the test process reaches it at.
	// The case's Close removes it; it carries the run's labels, so sweeps
	// find it too. On failure the error carries the tail of its logs.
	StartService(ctx context.Context, s Service) (hostAddr string, err error)
}

var _ ServiceCase = (*containerCase)(nil)

func (c *containerCase) StartService(ctx context.Context, s Service) (string, error) {
	p, err := c.startService(ctx, s)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(p.ip, strconv.Itoa(s.Port)), nil
}

func (c *containerCase) startService(ctx context.Context, s Service) (*peerContainer, error) {
	limit := s.StartTimeout
	if limit == 0 {
		limit = StartTimeout
	}
	p := &peerContainer{cli: c.d.cli, started: time.Now()}
	var files []testcontainers.ContainerFile
	for _, f := range s.Files {
		files = append(files, testcontainers.ContainerFile{Reader: bytes.NewReader(f.Data), ContainerFilePath: f.Path, FileMode: f.Mode})
	}
	ctr, err := testcontainers.Run(ctx, s.Image,
		testcontainers.WithLabels(c.d.labels(c.name)),
		network.WithNetwork([]string{s.Alias}, c.nw),
		testcontainers.WithFiles(files...),
		testcontainers.WithWaitStrategy(&readyWait{limit: limit, ready: s.Ready, ip: &p.ip,
			port: &portWait{net: c.nw.Name, port: s.Port, limit: limit, ip: &p.ip}}))
	if ctr != nil {
		p.c = ctr
		c.mu.Lock()
		c.peers = append(c.peers, p)
		c.mu.Unlock()
	}
	if err != nil {
		msg := ""
		if ctr != nil {
			msg = "\n  logs (tail):\n" + indent(tail([]byte(p.logs(ctx)), 40))
		}
		return nil, fmt.Errorf("driver: service %s (%s): %w%s", s.Alias, s.Image, err, msg)
	}
	return p, nil
}

// logs is what the container wrote so far, stdout and stderr merged.
func (p *peerContainer) logs(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	rc, err := p.cli.ContainerLogs(ctx, p.c.GetContainerID(), client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return "(no logs: " + err.Error() + ")"
	}
	defer rc.Close()
	var out capped
	stdcopy.StdCopy(&out, &out, rc)
	return string(out.Bytes())
}

// remove takes p out of the case and removes its container; once the
// case's Close has removed it, there is nothing left to do.
func (c *containerCase) remove(ctx context.Context, p *peerContainer) error {
	c.mu.Lock()
	found := false
	for i, q := range c.peers {
		if q == p {
			c.peers = append(c.peers[:i], c.peers[i+1:]...)
			found = true
			break
		}
	}
	c.mu.Unlock()
	if !found {
		return nil
	}
	return p.c.Terminate(context.WithoutCancel(ctx), testcontainers.StopTimeout(0))
}

// readyWait waits for the port, then polls ready until it answers nil,
// all within limit; it fails at once if the container exits.
type readyWait struct {
	port  *portWait
	ready func(ctx context.Context, ip string) error
	limit time.Duration
	ip    *string
}

func (w *readyWait) WaitUntilReady(ctx context.Context, t wait.StrategyTarget) error {
	ctx, cancel := context.WithTimeout(ctx, w.limit)
	defer cancel()
	if err := w.port.WaitUntilReady(ctx, t); err != nil || w.ready == nil {
		return err
	}
	var last error
	for {
		// Each probe gets its own short deadline: one that hangs does not
		// eat the whole limit.
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		last = w.ready(pctx, *w.ip)
		pcancel()
		if last == nil {
			return nil
		}
		if st, err := t.State(ctx); err == nil && !st.Running {
			return fmt.Errorf("exited with code %d before it was ready (last: %v)", st.ExitCode, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready within %v (last: %v)", w.limit, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Images of the services, built once per container driver (a Veraison
// layer is ~180 MB to hash: not once per case).
var svcImages struct {
	sync.Mutex
	m map[*ContainerDriver]map[string]string // driver → repository → ref
}

// ServiceImage returns the image of r for d's engine, building it if
// needed (and then removing older tags of r), once per driver.
func ServiceImage(ctx context.Context, d *ContainerDriver, r images.Recipe) (string, error) {
	svcImages.Lock()
	defer svcImages.Unlock()
	if ref, ok := svcImages.m[d][r.Repository]; ok {
		return ref, nil
	}
	img, err := images.Ensure(ctx, d.cli.Client, r, d.arch)
	if err != nil {
		return "", err
	}
	state := "cached"
	if !img.Cached {
		state = "built"
		if n := images.Prune(ctx, d.cli.Client, r, img.Ref); n > 0 {
			state = fmt.Sprintf("built, %d older tags removed", n)
		}
	}
	if d.logf != nil {
		d.logf("peers: image %s (%s in %v)", img.Ref, state, img.Took.Round(time.Millisecond))
	}
	if svcImages.m == nil {
		svcImages.m = map[*ContainerDriver]map[string]string{}
	}
	if svcImages.m[d] == nil {
		svcImages.m[d] = map[string]string{}
	}
	svcImages.m[d][r.Repository] = img.Ref
	return img.Ref, nil
}

// EnsureServiceImages prepares what StartVeraison needs under d, so the
// first case does not pay for it: the Veraison image for containers, the
// Veraison binaries for processes.
func EnsureServiceImages(ctx context.Context, d Driver) error {
	if cd, ok := d.(*ContainerDriver); ok {
		_, err := ServiceImage(ctx, cd, images.Veraison)
		return err
	}
	_, err := services.VeraisonBinaries(ctx)
	return err
}

// Defaults of VeraisonOptions.
const (
	DefaultVeraisonAlias = "veraison"
	// VeraisonReadyTimeout bounds a Veraison start (container start and
	// the services' READY); the services take ~1–2 s when the machine is
	// idle.
	VeraisonReadyTimeout = time.Minute
)

// VeraisonOptions configure StartVeraison; the zero value is usable.
type VeraisonOptions struct {
	// Alias is its name on the case network (DefaultVeraisonAlias).
	Alias string
	// ReadyTimeout bounds the start (VeraisonReadyTimeout), not the
	// first build of the image or binaries, which ctx alone bounds.
	ReadyTimeout time.Duration
	// LogLevel is the services' (services.DefaultLogLevel).
	LogLevel string
}

// Veraison is a Veraison deployment serving one case: VTS, provisioning,
// verification and management, with an EAR signing key made for the case.
type Veraison struct {
	// VerificationURL, ProvisioningURL and ManagementURL are where the
	// test process reaches the API services.
	VerificationURL, ProvisioningURL, ManagementURL string
	// PeerVerificationURL and PeerProvisioningURL are where the case's
	// peers reach them (http://veraison:8080 on a case network).
	PeerVerificationURL, PeerProvisioningURL string
	// EARKey verifies its EARs. It is the key the suite generated: trust
	// it, not what discovery says (Ready checked they are the same).
	EARKey *ecdsa.PublicKey

	k    *containerCase
	p    *peerContainer     // container mode
	svc  *services.Veraison // process mode
	once sync.Once
	err  error
	// release hands a pooled deployment back (AttachVeraison) instead
	// of stopping it; logLevel is what it was started with.
	release  func(context.Context) error
	logLevel string
}

// StartVeraison runs Veraison for the case k and returns once every
// service says READY on its well-known endpoint and discovery serves the
// case's EAR key. Under the container driver it is a container on the
// case's network (removed with the case; the image is built from the
// cached Veraison binaries the first time); under the process driver it is
// the services as host processes on loopback, which the case's Close does
// not know about: call Stop.
func StartVeraison(ctx context.Context, k Case, o VeraisonOptions) (*Veraison, error) {
	if o.Alias == "" {
		o.Alias = DefaultVeraisonAlias
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = VeraisonReadyTimeout
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	// The binaries or the image come first, outside ReadyTimeout: a cold
	// Veraison build takes minutes, once.
	c, ok := k.(*containerCase)
	if !ok {
		bin, err := services.VeraisonBinaries(ctx)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(ctx, o.ReadyTimeout)
		defer cancel()
		svc, err := services.StartVeraison(ctx, services.VeraisonConfig{BinDir: bin, EARKey: key, LogLevel: o.LogLevel, ReadyTimeout: o.ReadyTimeout})
		if err != nil {
			return nil, err
		}
		return &Veraison{VerificationURL: svc.VerificationURL, ProvisioningURL: svc.ProvisioningURL,
			ManagementURL: svc.ManagementURL, PeerVerificationURL: svc.VerificationURL,
			PeerProvisioningURL: svc.ProvisioningURL, EARKey: svc.EARKey, svc: svc}, nil
	}
	img, err := ServiceImage(ctx, c.d, images.Veraison)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.ReadyTimeout)
	defer cancel()
	svc, err := veraisonService(img, key, o)
	if err != nil {
		return nil, err
	}
	p, err := c.startService(ctx, svc)
	if err != nil {
		return nil, err
	}
	return &Veraison{
		VerificationURL:     serviceURL(p.ip, images.VeraisonVerificationPort),
		ProvisioningURL:     serviceURL(p.ip, images.VeraisonProvisioningPort),
		ManagementURL:       serviceURL(p.ip, images.VeraisonManagementPort),
		PeerVerificationURL: serviceURL(o.Alias, images.VeraisonVerificationPort),
		PeerProvisioningURL: serviceURL(o.Alias, images.VeraisonProvisioningPort),
		EARKey:              &key.PublicKey, k: c, p: p,
	}, nil
}

// veraisonService is the Veraison image as a case's service, its
// configuration and EAR key copied in.
func veraisonService(img string, key *ecdsa.PrivateKey, o VeraisonOptions) (Service, error) {
	jwk, err := services.JWK(key)
	if err != nil {
		return Service{}, err
	}
	return Service{
		Image: img, Alias: o.Alias, Port: images.VeraisonVerificationPort, StartTimeout: o.ReadyTimeout,
		Files: []ServiceFile{
			{Path: images.VeraisonConfig, Mode: 0o644, Data: []byte(services.ConfigYAML(images.VeraisonLayout(o.LogLevel)))},
			{Path: images.VeraisonKey, Mode: 0o600, Data: jwk},
		},
		Ready: func(ctx context.Context, ip string) error {
			return veraisonReady(ctx, serviceURL(ip, images.VeraisonVerificationPort), serviceURL(ip, images.VeraisonProvisioningPort),
				serviceURL(ip, images.VeraisonManagementPort), &key.PublicKey)
		},
	}, nil
}

func serviceURL(host string, port int) string {
	return "http://" + net.JoinHostPort(host, strconv.Itoa(port))
}

// veraisonReady: every API service says READY, and the verification
// service's discovery serves the case's EAR key.
func veraisonReady(ctx context.Context, verification, provisioning, management string, key *ecdsa.PublicKey) error {
	d, err := veraison.Discover(ctx, verification, nil)
	if err != nil {
		return err
	}
	if d.State != "READY" {
		return fmt.Errorf("verification: service-state %s", d.State)
	}
	if !d.Key.Equal(key) {
		return errors.New("verification: discovery serves another EAR key than the case's")
	}
	for _, u := range []string{provisioning + "/.well-known/veraison/provisioning", management + "/.well-known/veraison/management"} {
		st, err := services.ServiceState(ctx, u)
		if err != nil {
			return err
		}
		if st != "READY" {
			return fmt.Errorf("%s: service-state %s", u, st)
		}
	}
	return nil
}

// TrustedVerifiers is an ATLS_TRUSTED_VERIFIERS file trusting this
// Veraison's EAR key.
func (v *Veraison) TrustedVerifiers() ([]byte, error) {
	id, err := attest.VerifierIdentity(v.EARKey)
	if err != nil {
		return nil, err
	}
	return contract.MarshalTrustedVerifiers([]attest.TrustedVerifier{{ID: id, Key: v.EARKey}})
}

// ProvisionTimeout bounds Provision when ctx has no sooner deadline.
const ProvisionTimeout = 30 * time.Second

// Provision gives Veraison an attester's endorsement (its attestation key
// and reference PCRs, as a parsec-tpm CoRIM with a fresh class ID).
func (v *Veraison) Provision(ctx context.Context, e parsectpm.Endorsement) error {
	ctx, cancel := context.WithTimeout(ctx, ProvisionTimeout)
	defer cancel()
	_, err := veraison.ProvisionEndorsement(ctx, v.ProvisioningURL, e, nil)
	return err
}

// ProvisionCoRIM submits an unsigned parsec-tpm CoRIM as is (a peer's
// own endorsement format, or a deliberately bad one).
func (v *Veraison) ProvisionCoRIM(ctx context.Context, cbor []byte) error {
	ctx, cancel := context.WithTimeout(ctx, ProvisionTimeout)
	defer cancel()
	return veraison.ProvisionCoRIM(ctx, v.ProvisioningURL, cbor, nil)
}

// Logs is what the services logged so far, for failure messages.
func (v *Veraison) Logs(ctx context.Context) string {
	if v.svc != nil {
		var b bytes.Buffer
		for _, n := range []string{services.VTS, services.Provisioning, services.Verification, services.Management} {
			fmt.Fprintf(&b, "--- %s\n%s", n, v.svc.Log(n))
		}
		return b.String()
	}
	return v.p.logs(ctx)
}

// Stop stops and removes the deployment; calling it again returns the
// first call's error. (A container is also removed by its case's Close.)
func (v *Veraison) Stop(ctx context.Context) error {
	v.once.Do(func() {
		if v.release != nil {
			v.err = v.release(ctx)
			return
		}
		if v.svc != nil {
			v.err = v.svc.Stop()
			return
		}
		v.err = v.k.remove(ctx, v.p)
	})
	return v.err
}

// SwtpmStartTimeout bounds StartSwtpm.
const SwtpmStartTimeout = 30 * time.Second

// Swtpm is a TPM 2.0 simulator serving one case.
type Swtpm struct {
	// Addr is its TPM command port, where both the test process and the
	// case's peers reach it (ATLS_TPM is "swtpm:" + Addr).
	Addr string

	proc *services.Swtpm
	once sync.Once
	err  error
}

// StartSwtpm runs a fresh swtpm for the case k, already past
// TPM2_Startup, and returns once it answers a command: a process on the
// host, with its command port on the case network's gateway under the
// container driver (where the case's containers reach it, as they reach
// the in-process reference), on loopback under the process driver. Stop,
// or the case's Close, stops it. (A process, not a container: it starts
// in milliseconds where a container takes about a second.)
func StartSwtpm(ctx context.Context, k Case) (*Swtpm, error) {
	ctx, cancel := context.WithTimeout(ctx, SwtpmStartTimeout)
	defer cancel()
	s, err := services.StartSwtpmAt(ctx, "", k.HostAddress())
	if err != nil {
		return nil, err
	}
	sw := &Swtpm{Addr: s.Addr, proc: s}
	if c, ok := k.(*containerCase); ok {
		c.mu.Lock()
		c.attached = append(c.attached, sw.Stop)
		c.mu.Unlock()
	}
	return sw, nil
}

// Stop stops the swtpm and removes its state; calling it again returns
// the first call's error.
func (s *Swtpm) Stop(ctx context.Context) error {
	s.once.Do(func() { s.err = s.proc.Close() })
	return s.err
}
