package driver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/attested-tls/conformance/containers/images"
	"github.com/attested-tls/conformance/containers/services"
	"github.com/attested-tls/conformance/impl/attest/evidence/tpm"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison"
	"github.com/attested-tls/conformance/internal/needs"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/inputs"
)

// containers is the container driver, or a skip when there is no engine
// (a failure under CI=true: CI runs containers).
func containers(t *testing.T, ctx context.Context) *ContainerDriver {
	t.Helper()
	if testing.Short() {
		t.Skip("starts containers")
	}
	d, err := NewContainers(ctx, t.Logf)
	if err != nil {
		needs.DockerEngine(t, err)
	}
	t.Cleanup(func() {
		if err := d.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return d
}

func caseFilter(d *ContainerDriver, name string) client.Filters {
	return d.runFilter().Add("label", LabelCase+"="+name)
}

// Veraison runs as a container of a case and swtpm as a host process on
// the case network's gateway: Veraison is READY with the case's EAR key,
// takes an endorsement read from the swtpm, and both go with the case.
func TestVeraisonAndSwtpm(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	d := containers(t, ctx)
	needs.Tool(t, services.SwtpmBinary)
	start := time.Now()
	ref, err := ServiceImage(ctx, d, images.Veraison)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %v", ref, time.Since(start))
	k, err := d.NewCase(ctx, "services")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close(ctx)

	start = time.Now()
	v, err := StartVeraison(ctx, k, VeraisonOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Veraison container start to READY: %v", time.Since(start))
	if !strings.HasPrefix(v.PeerVerificationURL, "http://veraison:8080") || v.VerificationURL == v.PeerVerificationURL {
		t.Fatalf("URLs: host %s, peers %s", v.VerificationURL, v.PeerVerificationURL)
	}
	disc, err := veraison.Discover(ctx, v.VerificationURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !disc.Key.Equal(v.EARKey) || disc.State != "READY" {
		t.Fatalf("discovery: state %s, key %v, want the case's key", disc.State, disc.Key)
	}
	// A challenge-response session opens (it needs more of the image
	// than discovery does).
	vf, err := veraison.New(ctx, veraison.Config{VerificationURL: v.VerificationURL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vf.NewNonce(ctx); err != nil {
		t.Fatalf("new session: %v\n%s", err, v.Logs(ctx))
	}
	if tv, err := v.TrustedVerifiers(); err != nil || len(tv) == 0 {
		t.Fatalf("trusted verifiers %s: %v", tv, err)
	}

	start = time.Now()
	sw, err := StartSwtpm(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("swtpm start to answering: %v", time.Since(start))
	if host, _, _ := net.SplitHostPort(sw.Addr); host != k.HostAddress() {
		t.Fatalf("swtpm address %s, want the case network's gateway %s", sw.Addr, k.HostAddress())
	}
	a, err := tpm.Open(ctx, tpm.Config{Transport: tpm.TransportSwtpm, Addr: sw.Addr})
	if err != nil {
		t.Fatal(err)
	}
	e := a.Endorsement()
	a.Close()
	if err := v.Provision(ctx, e); err != nil {
		t.Fatalf("provisioning the swtpm's endorsement: %v\n%s", err, v.Logs(ctx))
	}
	if err := v.ProvisionCoRIM(ctx, []byte{0xa0, 0xff}); err == nil {
		t.Fatal("junk CoRIM provisioned")
	}
	if logs := v.Logs(ctx); !strings.Contains(logs, "[vts-service]") {
		t.Fatalf("no VTS lines in the logs:\n%s", logs)
	}

	// Stop stops one service; the case's Close the rest and the network.
	if err := sw.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sw.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := tpm.Open(ctx, tpm.Config{Transport: tpm.TransportSwtpm, Addr: sw.Addr}); err == nil {
		t.Fatal("the swtpm still answers after Stop")
	}
	sw2, err := StartSwtpm(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if sw2.proc.Running() {
		t.Fatal("the case's Close left its swtpm running")
	}
	if c, n, err := d.Count(ctx, caseFilter(d, "services")); err != nil || c+n != 0 {
		t.Fatalf("%d containers and %d networks left by the case (%v)", c, n, err)
	}
}

// A Veraison container that exits during start-up (here: no config) fails
// StartService at once, not at its limit, with its logs in the error.
func TestServiceExitingFailsFast(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	d := containers(t, ctx)
	img, err := ServiceImage(ctx, d, images.Veraison)
	if err != nil {
		t.Fatal(err)
	}
	k, err := d.NewCase(ctx, "exits")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close(ctx)
	start := time.Now()
	_, err = k.(ServiceCase).StartService(ctx, Service{Image: img, Alias: "veraison", Port: images.VeraisonVerificationPort,
		StartTimeout: 30 * time.Second, Ready: func(context.Context, string) error { return nil }})
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "exited with code 1") || !strings.Contains(err.Error(), "no config") {
		t.Fatalf("got %v", err)
	}
	if took > 20*time.Second {
		t.Fatalf("took %v to notice the exit", took)
	}
	if err := k.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if c, n, _ := d.Count(ctx, caseFilter(d, "exits")); c+n != 0 {
		t.Fatalf("%d containers and %d networks left", c, n)
	}
}

// Under the process driver the same calls run host processes on loopback.
func TestVeraisonProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Veraison")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := services.VeraisonBinaries(ctx); err != nil {
		needs.VeraisonBinaries(t, err)
	}
	k, err := NewProcesses("").NewCase(ctx, "services")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close(ctx)
	v, err := StartVeraison(ctx, k, VeraisonOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Stop(ctx)
	if !strings.HasPrefix(v.VerificationURL, "http://127.0.0.1:") || v.PeerVerificationURL != v.VerificationURL {
		t.Fatalf("URLs %s %s", v.VerificationURL, v.PeerVerificationURL)
	}
	if disc, err := veraison.Discover(ctx, v.VerificationURL, nil); err != nil || !disc.Key.Equal(v.EARKey) {
		t.Fatalf("discovery: %v", err)
	}
	if err := v.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := veraison.Discover(ctx, v.VerificationURL, nil); err == nil {
		t.Fatal("Veraison still answers after Stop")
	}
}

// A service whose port opens but which never says it is ready fails at
// its start limit, naming the last readiness error.
func TestServiceNeverReadyFailsAtLimit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	d := containers(t, ctx)
	img, err := ServiceImage(ctx, d, images.Veraison)
	if err != nil {
		t.Fatal(err)
	}
	k, err := d.NewCase(ctx, "never-ready")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close(ctx)
	const limit = 5 * time.Second
	start := time.Now()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := veraisonService(img, key, VeraisonOptions{Alias: DefaultVeraisonAlias, ReadyTimeout: limit})
	if err != nil {
		t.Fatal(err)
	}
	svc.Ready = func(context.Context, string) error { return errors.New("still initializing") }
	_, err = k.(ServiceCase).StartService(ctx, svc)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "not ready within 5s (last: still initializing)") {
		t.Fatalf("got %v", err)
	}
	if took < limit || took > limit+15*time.Second {
		t.Fatalf("failed after %v for a %v limit", took, limit)
	}
}

// The run keeps its Veraison deployments between cases: a case gets one
// attached to its network as "veraison", two cases at once get two, a
// deployment handed back (Stop, or the case's Close) serves the next case,
// and nothing of the cases is left once the driver closes.
func TestAttachVeraison(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	d := containers(t, ctx)
	newCase := func(name string) *containerCase {
		t.Helper()
		k, err := d.NewCase(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return k.(*containerCase)
	}
	attach := func(k *containerCase) *Veraison {
		t.Helper()
		v, err := AttachVeraison(ctx, k, VeraisonOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ins, err := d.cli.ContainerInspect(ctx, v.p.c.GetContainerID(), client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ep := ins.Container.NetworkSettings.Networks[k.nw.Name]
		if ep == nil || !slices.Contains(ep.Aliases, DefaultVeraisonAlias) {
			t.Fatalf("Veraison on the case network: %+v, want alias %q", ep, DefaultVeraisonAlias)
		}
		if v.PeerVerificationURL != "http://veraison:8080" {
			t.Fatalf("peers reach it at %s", v.PeerVerificationURL)
		}
		if err := veraisonReady(ctx, v.VerificationURL, v.ProvisioningURL, v.ManagementURL, v.EARKey); err != nil {
			t.Fatal(err)
		}
		return v
	}
	k1, k2 := newCase("one"), newCase("two")
	v1, v2 := attach(k1), attach(k2)
	if v1.EARKey.Equal(v2.EARKey) {
		t.Fatal("two cases at once share one Veraison")
	}
	if err := v1.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := k1.Close(ctx); err != nil {
		t.Fatal(err)
	}
	k3 := newCase("three")
	start := time.Now()
	v3 := attach(k3)
	t.Logf("attaching an idle Veraison: %v", time.Since(start))
	if !v3.EARKey.Equal(v1.EARKey) {
		t.Fatal("the idle Veraison was not reused")
	}
	// Close without Stop detaches it, so the network can go.
	for _, k := range []*containerCase{k2, k3} {
		if err := k.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if c, n, err := d.Count(ctx, caseFilter(d, k.name)); err != nil || n != 0 {
			t.Fatalf("case %s: %d networks left (%d containers): %v", k.name, n, c, err)
		}
	}
	if n := len(d.veraison.idle); n != 2 {
		t.Fatalf("%d idle deployments, want 2", n)
	}
}

// Resident peer containers (Spec.Root): a run keeps one container per
// peer image on each case network and starts every case's peer in it. Two
// cases, one after the other, run in the same container; a server is
// waited on by its port; a peer that outlives its deadline is killed
// (137); a case's Close kills what its peers left running; and the
// driver's Close leaves nothing.
func TestResidentPeers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	d := containers(t, ctx)
	bin, err := images.Binary(ctx, "linux", d.Arch())
	if err != nil {
		t.Fatal(err)
	}
	d.idleBinary = bin
	img, err := images.Ensure(ctx, d.Client(), images.ReferencePeer, d.Arch())
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	in, err := inputs.Prepare(filepath.Join(root, "inputs"))
	if err != nil {
		t.Fatal(err)
	}
	peer := Peer{Name: "reference", Image: img.Ref}
	m := party.Model{Profile: "ta-07"}
	spec := func(name string, deadline time.Duration) (server, client Spec) {
		dirs := map[contract.Role]string{contract.Server: filepath.Join(root, name, "server"), contract.Client: filepath.Join(root, name, "client")}
		scfg, ccfg, err := in.Configs(inputs.Pair{TestCase: m.ID(), Model: m, Dirs: dirs, Timeout: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return Spec{Peer: peer, Config: scfg, In: in.Dir, Root: root, Deadline: deadline},
			Spec{Peer: peer, Config: ccfg, In: in.Dir, Root: root, Deadline: deadline}
	}
	newCase := func(name string) *containerCase {
		k, err := d.NewCase(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return k.(*containerCase)
	}

	// One: a server and a client of the no-attestation model, the
	// client connecting to the server's address.
	k1 := newCase("one")
	s, c := spec("one", 0)
	srv, err := k1.Start(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	c.Config.Connect = srv.Addr()
	cli, err := k1.Start(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Result{cli.Wait(ctx), srv.Wait(ctx)} {
		if r.Exit != contract.ExitOK || r.Outcome == nil || r.Outcome.AppData != contract.AppDataOK {
			t.Fatalf("%s", r.Describe())
		}
	}
	if len(k1.residents) != 1 {
		t.Fatalf("%d resident containers, want 1", len(k1.residents))
	}
	var first string
	for _, r := range k1.residents {
		first = r.id
	}
	if err := k1.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// Two, on the same network: the same container; a server nobody
	// connects to is killed at its deadline.
	k2 := newCase("two")
	if k2.nw.ID != k1.nw.ID || len(k2.residents) != 1 || k2.residents[residentKey(s)].id != first {
		t.Fatal("the second case got another network or container")
	}
	s, _ = spec("two", 3*time.Second)
	srv, err = k2.Start(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if r := srv.Wait(ctx); !r.Killed || r.Exit != 137 {
		t.Fatalf("want killed at the deadline with 137: %s", r.Describe())
	}
	// Three: a server left running when its case closes is killed.
	s, _ = spec("three", time.Minute)
	srv, err = k2.Start(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	pid := srv.(*execPeer).pid
	if err := k2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("the case's Close left its peer (pid %d) running", pid)
	}
	// A Veraison started now lives on a network of its own, not on the
	// idle case network with the resident: with no case open, nothing is
	// left that the driver does not keep.
	// (A case on a new network, so that the idle one is there to take.)
	k3, err := d.freshCase(ctx, "four")
	if err != nil {
		t.Fatal(err)
	}
	v, err := AttachVeraison(ctx, k3, VeraisonOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if home := d.veraison.home.nw.ID; home == k3.nw.ID || home == k1.nw.ID {
		t.Fatal("the Veraison pool took a case network")
	}
	v.Stop(ctx)
	if err := k3.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if c, n, err := d.Leftovers(ctx); err != nil || c+n != 0 {
		t.Fatalf("%d containers and %d networks neither removed nor kept: %v", c, n, err)
	}
}
