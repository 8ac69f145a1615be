// Package interop runs a peer under test against the in-process
// reference: one case is one connection between the peer (a container or
// a process, started by peers/driver) and the reference peer running in
// the test process (peers/reference), both configured through the peer
// contract. Each case writes its folder under the run's output folder:
//
//	cases/<case>/<peer role>-peer/{server,client}/
//	    stdout.txt stderr.txt   the driven peer's output (its driver writes them)
//	    peer.log                either side's progress log
//	    keylog.txt              NSS key log (SSLKEYLOGFILE)
//	    handshake.pcap          the connection as that side saw it
//	    endorsements.json       an attester's endorsement
package interop

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"time"

	"github.com/attested-tls/conformance/containers/images"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/driver"
	"github.com/attested-tls/conformance/peers/inputs"
	"github.com/attested-tls/conformance/peers/reference"
)

// Env is one run: the driver, the peer it runs, the run's inputs and
// output folder.
type Env struct {
	Driver   driver.Driver
	Peer     driver.Peer
	Manifest *contract.Manifest
	Inputs   *inputs.Inputs
	Out      string
	// Image is how the peer's image was obtained (containers only);
	// ImageID its engine ID ("sha256:…").
	Image   images.Image
	ImageID string
	// refresh, if set, makes sure the image is still there before a case.
	refresh func(ctx context.Context) error
}

// Setup selects the driver as c says, makes sure the reference peer can
// run under it (its binary built, its image imported), and prepares the
// inputs.
func Setup(ctx context.Context, c driver.Choice, out string, logf driver.Logf) (*Env, error) {
	p, err := LoadPeer(ctx, "reference")
	if err != nil {
		return nil, err
	}
	binary, err := images.Binary(ctx, runtime.GOOS, runtime.GOARCH)
	if err != nil {
		return nil, err
	}
	drv, err := driver.Select(ctx, c, binary, logf)
	if err != nil {
		return nil, err
	}
	e, err := NewEnv(ctx, drv, p, out, logf)
	if err != nil {
		drv.Close(ctx)
		return nil, err
	}
	if cd, ok := drv.(*driver.ContainerDriver); ok && !e.Image.Cached {
		if n := images.Prune(ctx, cd.Client(), images.ReferencePeer, e.Image.Ref); n > 0 {
			logf("peers: %d older tags of %s removed", n, images.ReferencePeer.Repository)
		}
	}
	return e, nil
}

// Close removes what the driver left and the built binaries.
func (e *Env) Close(ctx context.Context) error {
	defer images.RemoveBinaries()
	return e.Driver.Close(ctx)
}

// peerEnv is the manifest's env, then the case's (which wins).
func (e *Env) peerEnv(extra []string) []string {
	var env []string
	if e.Manifest != nil {
		env = append(env, e.Manifest.Env...)
	}
	return append(env, extra...)
}

// Case is one connection between the peer under test and the reference.
type Case struct {
	Model party.Model
	// PeerRole is the role the peer under test plays; the in-process
	// reference plays the other.
	PeerRole contract.Role
	// Misbehave names a misbehaviour per role.
	Misbehave map[contract.Role]string
	// TestCase overrides the case ID given to both (default: the model ID).
	TestCase string
	// PeerEnv are extra variables for the peer under test (ATLS_FAULT).
	PeerEnv []string
	// Tweak, if set, changes the peer's configuration (unsupported cases);
	// TweakReference the in-process reference's (its TPM or verifier).
	Tweak, TweakReference func(*contract.Config)
	// Endorse, if set, is called with the peer under test's endorsement
	// (read from its ATLS_ENDORSEMENTS_OUT) after the peer wrote it and
	// before the in-process reference, the relying party, starts: the
	// suite provisions a remote verifier with it. The peer under test
	// must be the attester. A client peer is started first (it retries
	// its dial until the reference listens), so no contract change is
	// needed for the ordering.
	Endorse func(ctx context.Context, e parsectpm.Endorsement) error
	// Services, if set, starts the case's helper containers (swtpm,
	// Veraison) on its network before the peer starts; it may adjust the
	// peer's and the in-process reference's configurations to reach them.
	// It and Endorse share the case's services (withServices), so a copy
	// of a case shares them too: derive a case that runs beside it from
	// withServices, not by copying.
	Services servicesFunc
	// Timeout is both sides' ATLS_TIMEOUT (default 15 s); Deadline the
	// peer's (default Timeout + 10 s).
	Timeout, Deadline time.Duration
	// ProvisionReference, if set, is given the in-process reference's
	// endorsement once it wrote it and before the peer under test can
	// appraise its evidence (a relying-party peer using Veraison): the
	// reference attests.
	ProvisionReference func(ctx context.Context, e parsectpm.Endorsement) error
	// Unrunnable, if set, says why the suite cannot run this case for
	// the peer (a service it needs that pair specs do not provide yet):
	// its spec fails with this message instead of running.
	Unrunnable string
	// Unclaimed marks a case outside the peer's manifest: the contract
	// wants it to exit 127, and its spec records it as unsupported.
	Unclaimed bool
	// Variant names a case derived from the model's (a negative
	// "rejects-…"): it extends the case's folder and spec ID, not the
	// peer's ATLS_TESTCASE, since the peer plays the model as usual and
	// only the in-process reference departs from it.
	Variant string
	// It says what the peer does in a variant, in the drafts' words; Reqs
	// are the requirement IDs the variant checks (a model's own case takes
	// the spec tree's).
	It   string
	Reqs []string
	// Negative, if set, says the peer must abort instead of completing.
	Negative *Negative
	// Check, if set, checks more of what the case did once it is judged.
	Check func(c Case, r *Result)
	// Exit, if set, makes this a contract case (conduct.go): the peer
	// must exit so before any handshake, which is all that is judged.
	Exit *Exit
	// Judge, if set, replaces the judgement of a case that neither
	// completes nor aborts with an alert (ExpectCompletes, ExpectAborts).
	Judge func(c Case, r *Result)
	// Kind is the variant's kind label (kind:<Kind>): positive, negative,
	// fail-open, vector, attack; "" derives it.
	Kind string
	// Reference adjusts the in-process reference beyond the contract's
	// misbehaviours (KeepSending is set for every negative case).
	Reference reference.Options
	// Self, if set, runs the peer against itself (self.go) with these
	// services, instead of against the in-process reference.
	Self *selfServices
	// attack is an attack case's attacker (attacks.go).
	attack *peerAttack
	// real says the case got the services --services real gives
	// (withServices): a case derived from it with services of its own
	// asks for the same.
	real bool
}

// servicesFunc starts a case's services and adjusts both sides'
// configurations to them (Case.Services).
type servicesFunc = func(ctx context.Context, k driver.Case, peer, ref *contract.Config) error

// after runs f once the case's services (if any) are up: to change what
// they set up, such as the verifier the peer reaches.
func (c *Case) after(f servicesFunc) {
	services := c.Services
	c.Services = func(ctx context.Context, k driver.Case, peer, ref *contract.Config) error {
		if services != nil {
			if err := services(ctx, k, peer, ref); err != nil {
				return err
			}
		}
		return f(ctx, k, peer, ref)
	}
}

// Negative is a case the peer must abort: the reference misbehaves and
// the peer sends Alert (by the profile's default codepoints) and nothing
// more.
type Negative struct {
	Alert tls13.AlertCode
}

// ID is the case's ID: the test case (with its variant), and the peer's role.
func (c Case) ID() string {
	return c.name() + "@" + string(c.PeerRole)
}

// name is the test case and its variant.
func (c Case) name() string {
	tc := c.TestCase
	if tc == "" {
		tc = c.Model.ID()
	}
	if c.Variant != "" {
		tc += "/" + c.Variant
	}
	return tc
}

// Result is what both sides did.
type Result struct {
	Peer *driver.Result
	// Reference is the in-process side's outcome and exit code.
	Reference     contract.Outcome
	ReferenceExit int
	// Wire is what the in-process reference saw on the connection.
	Wire reference.Wire
	// Dir is the case's folder; Dirs each role's.
	Dir  string
	Dirs map[contract.Role]string
	Took time.Duration
	// Client is the client peer of a case that runs the peer against
	// itself (Peer is then its server); Pcap the capture the suite took
	// between them.
	Client *driver.Result
	Pcap   string
}

// Describe is a failure message with both sides and where the logs are.
func (r *Result) Describe() string {
	// A visitor to conformance serve reports nothing but the wire.
	peer := "the peer: no report (judged on the wire alone)"
	if r.Peer != nil {
		peer = r.Peer.Describe()
	}
	return fmt.Sprintf("wire, as the reference saw it: %s\nreference: exit %d (%s) handshake=%s app_data=%s error=%q\n%s\ncase folder %s",
		wireSummary(r), r.ReferenceExit, contract.ExitName(r.ReferenceExit), r.Reference.Handshake, r.Reference.AppData,
		r.Reference.Error, peer, r.Dir)
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._+=,@-]+`)

// grace is how long the in-process server waits for a client once the
// driven client has exited: no connection will come any more.
const grace = time.Second

// Run runs one case. It fails only when the case could not be set up;
// a peer that fails to start is reported in Result.Peer with its logs.
func (e *Env) Run(ctx context.Context, c Case) (*Result, error) {
	if c.Self != nil {
		return e.runSelf(ctx, c)
	}
	if c.attack != nil {
		c.attack.in = e.Inputs
	}
	r, err := e.run(ctx, c)
	if c.attack != nil && r != nil {
		c.attack.ran(r)
	}
	return r, err
}

// run runs one case against the in-process reference: both sides'
// configurations, the case's network and services, then the two sides in
// the order the peer's role calls for.
func (e *Env) run(ctx context.Context, c Case) (*Result, error) {
	start := time.Now()
	if c.Timeout == 0 {
		c.Timeout = 15 * time.Second
	}
	cr, err := e.newCaseRun(c, start)
	if err != nil {
		return nil, err
	}
	if e.refresh != nil {
		if err := e.refresh(ctx); err != nil {
			return nil, err
		}
	}
	k, err := e.Driver.NewCase(ctx, unsafeChars.ReplaceAllString(c.ID(), "_"))
	if err != nil {
		return nil, err
	}
	defer k.Close(context.WithoutCancel(ctx))
	if c.Services != nil {
		// Services live as long as the case: their context ends with Run
		// (a service func stops what it started with context.AfterFunc).
		svcCtx, stopServices := context.WithCancel(ctx)
		defer stopServices()
		if err := c.Services(svcCtx, k, &cr.peerCfg, &cr.refCfg); err != nil {
			return nil, err
		}
	}
	cr.spec = driver.Spec{Peer: e.Peer, Config: cr.peerCfg, In: e.Inputs.Dir, PeerOut: cr.res.Dirs[cr.refCfg.Role], Root: e.Out,
		Env: e.peerEnv(c.PeerEnv), Deadline: c.Deadline}
	refLog, err := os.Create(filepath.Join(cr.res.Dirs[cr.refCfg.Role], "reference.txt"))
	if err != nil {
		return nil, err
	}
	defer refLog.Close()
	cr.refOpt.Log, cr.refOpt.Wire = refLog, &cr.res.Wire

	if c.PeerRole == contract.Server {
		return cr.runPeerServer(ctx, k)
	}
	return cr.runPeerClient(ctx, k)
}

// caseRun is one case under way: both sides' configurations and the
// result so far.
type caseRun struct {
	e     *Env
	c     Case
	start time.Time
	res   *Result

	peerCfg, refCfg contract.Config
	refOpt          reference.Options
	spec            driver.Spec // the peer's, once the case's services are up
}

// newCaseRun empties the case's folder and makes both sides'
// configurations, tweaked as the case says.
func (e *Env) newCaseRun(c Case, start time.Time) (*caseRun, error) {
	tc := c.TestCase
	if tc == "" {
		tc = c.Model.ID()
	}
	dir := filepath.Join(e.Out, "cases", unsafeChars.ReplaceAllString(c.name(), "_"), string(c.PeerRole)+"-peer")
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	cr := &caseRun{e: e, c: c, start: start, refOpt: c.Reference}
	cr.refOpt.Wire = nil
	if c.Negative != nil {
		cr.refOpt.KeepSending = true
	}
	cr.res = &Result{Dir: dir, Dirs: map[contract.Role]string{
		contract.Server: filepath.Join(dir, "server"), contract.Client: filepath.Join(dir, "client")}}
	scfg, ccfg, err := e.Inputs.Configs(inputs.Pair{TestCase: tc, Model: c.Model, Dirs: cr.res.Dirs,
		Misbehave: c.Misbehave, Timeout: c.Timeout})
	if err != nil {
		return nil, err
	}
	cr.peerCfg, cr.refCfg = scfg, ccfg
	if c.PeerRole == contract.Client {
		cr.peerCfg, cr.refCfg = ccfg, scfg
	}
	if c.Tweak != nil {
		c.Tweak(&cr.peerCfg)
	}
	if c.TweakReference != nil {
		c.TweakReference(&cr.refCfg)
	}
	if c.Endorse != nil && cr.peerCfg.EndorsementsOut == "" {
		return nil, fmt.Errorf("interop: %s: Endorse needs the peer under test to attest", c.ID())
	}
	return cr, nil
}

// provisionRef provisions the reference's endorsement, from where its
// configuration says it is written at the time of the call.
func (cr *caseRun) provisionRef(ctx context.Context) error {
	return cr.e.provisionReference(ctx, cr.c, cr.refCfg.EndorsementsOut)
}

// done stamps the result with the case's duration.
func (cr *caseRun) done() (*Result, error) {
	cr.res.Took = time.Since(cr.start)
	return cr.res, nil
}

// notRun ends a case whose reference never ran: the peer's result and why.
func (cr *caseRun) notRun(ctx context.Context, r driver.Running, why string) (*Result, error) {
	cr.res.Peer = r.Wait(ctx)
	cr.res.ReferenceExit = -1
	cr.res.Reference.Error = "not run: " + why
	return cr.done()
}

// runPeerServer runs a case whose peer is the server: the peer starts,
// then the reference dials it.
func (cr *caseRun) runPeerServer(ctx context.Context, k driver.Case) (*Result, error) {
	c, res := cr.c, cr.res
	r, err := k.Start(ctx, cr.spec)
	if err != nil {
		if r == nil {
			return nil, err
		}
		return cr.notRun(ctx, r, "the peer did not start")
	}
	cr.refCfg.Connect = r.Addr()
	// A server writes its endorsement before it listens: it is there.
	if err := cr.e.endorse(ctx, c, cr.peerCfg.EndorsementsOut); err != nil {
		return cr.notRun(ctx, r, err.Error())
	}
	if c.ProvisionReference != nil {
		// The reference client writes its endorsement and dials at
		// once: it dials a gate that lets the connection through to
		// the peer once the endorsement is provisioned.
		gate, _, err := gateway(ctx, "127.0.0.1", cr.refCfg.Connect, cr.provisionRef, nil)
		if err != nil {
			return nil, err
		}
		defer gate.Close()
		cr.refCfg.Connect = gate.Addr().String()
	}
	res.Reference, res.ReferenceExit = reference.Run(ctx, cr.refCfg, cr.refOpt)
	res.Peer = r.Wait(ctx)
	return cr.done()
}

// runPeerClient runs a case whose peer is the client: the reference
// listens where the peer can reach it, and the peer dials it.
func (cr *caseRun) runPeerClient(ctx context.Context, k driver.Case) (*Result, error) {
	c, res := cr.c, cr.res
	ln, err := net.Listen("tcp", net.JoinHostPort(k.HostAddress(), "0"))
	if err != nil {
		return nil, fmt.Errorf("interop: listening where the peer can reach us: %w", err)
	}
	cr.refCfg.Listen = ln.Addr().String()
	cr.spec.Config.Connect = ln.Addr().String()
	// Both attest and both endorsements go to a verifier: the reference
	// starts (and writes its endorsement) only once the peer's is
	// provisioned, so the peer dials a gate that lets it through to the
	// reference once the reference's is provisioned too.
	gated := c.Endorse != nil && c.ProvisionReference != nil
	if gated {
		gate, _, err := gateway(ctx, k.HostAddress(), cr.refCfg.Listen, cr.provisionRef, nil)
		if err != nil {
			ln.Close()
			return nil, err
		}
		defer gate.Close()
		cr.spec.Config.Connect = gate.Addr().String()
	}
	refCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	type side struct {
		o    contract.Outcome
		code int
	}
	refDone := make(chan side, 1)
	runRef := func() {
		go func() {
			opt := cr.refOpt
			opt.Listener = ln
			o, code := reference.Run(refCtx, cr.refCfg, opt)
			refDone <- side{o, code}
		}()
	}
	// abandon stops the reference, or closes its listener if it never
	// started.
	abandon := func(err error) (*Result, error) {
		cancel()
		if c.Endorse == nil {
			<-refDone
		} else {
			ln.Close()
		}
		return nil, err
	}
	if c.Endorse == nil {
		runRef()
	}
	if c.ProvisionReference != nil && !gated {
		// The reference server wrote its endorsement before accepting; the
		// peer client starts once it is provisioned.
		if err := cr.provisionRef(ctx); err != nil {
			return abandon(err)
		}
	}
	r, err := k.Start(ctx, cr.spec)
	if err != nil && r == nil {
		return abandon(err)
	}
	if c.Endorse != nil {
		// The client attester wrote its endorsement before dialing; its
		// connection waits in the listener's backlog meanwhile.
		if err := cr.e.endorse(ctx, c, cr.peerCfg.EndorsementsOut); err != nil {
			ln.Close()
			return cr.notRun(ctx, r, err.Error())
		}
		runRef()
	}
	res.Peer = r.Wait(ctx)
	var s side
	select {
	case s = <-refDone:
	case <-time.After(grace):
		cancel()
		s = <-refDone
	}
	res.Reference, res.ReferenceExit = s.o, s.code
	return cr.done()
}

// endorse waits (up to the case's timeout) for the attester's endorsement
// file at path and hands it to c.Endorse.
func (e *Env) endorse(ctx context.Context, c Case, path string) error {
	if c.Endorse == nil {
		return nil
	}
	if err := waitEndorsement(ctx, path, c.Timeout, c.Endorse); err != nil {
		return fmt.Errorf("the peer's endorsement: %w", err)
	}
	return nil
}

// provisionReference waits for the reference's endorsement at path and
// hands it to c.ProvisionReference.
func (e *Env) provisionReference(ctx context.Context, c Case, path string) error {
	if path == "" {
		return fmt.Errorf("interop: %s: the reference does not attest, nothing to provision", c.ID())
	}
	if err := waitEndorsement(ctx, path, c.Timeout, c.ProvisionReference); err != nil {
		return fmt.Errorf("interop: the reference's endorsement: %w", err)
	}
	return nil
}

// waitEndorsement waits (up to limit) for an attester's endorsement file
// to hold one, and hands it to provision.
func waitEndorsement(ctx context.Context, path string, limit time.Duration, provision func(context.Context, parsectpm.Endorsement) error) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		b, err := os.ReadFile(path)
		if en, perr := contract.ParseEndorsement(b); err == nil && perr == nil {
			if err := provision(ctx, en); err != nil {
				return fmt.Errorf("provisioning it: %w", err)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("none at %s: %w", path, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// gateway listens on host, accepts one connection and, once ready
// returns, pipes it to target with pipe (driver.Splice if nil): a client
// that dials at once waits in the gate. done is closed once the
// connection ended, or the listener closed before one came.
func gateway(ctx context.Context, host, target string, ready func(context.Context) error, pipe func(in, out net.Conn)) (ln net.Listener, done <-chan struct{}, err error) {
	if pipe == nil {
		pipe = driver.Splice
	}
	ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, nil, err
	}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		in, err := ln.Accept()
		if err != nil {
			return
		}
		defer in.Close()
		if ready(ctx) != nil {
			return
		}
		var d net.Dialer
		out, err := d.DialContext(ctx, "tcp", target)
		if err != nil {
			return
		}
		defer out.Close()
		pipe(in, out)
	}()
	return ln, ended, nil
}
