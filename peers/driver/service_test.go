package driver

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/attested-tls/conformance/containers/images"
	"github.com/attested-tls/conformance/impl/attest/evidence/tpm"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison/service"
	"github.com/attested-tls/conformance/internal/needs"
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

// Veraison and swtpm run as containers of a case: Veraison is READY with
// the case's EAR key, takes an endorsement read from the swtpm container,
// and both go with the case.
func TestVeraisonAndSwtpmContainers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	d := containers(t, ctx)
	needs.Tool(t, tpm.SwtpmBinary) // its image is built from the host's
	for _, r := range []images.Recipe{images.Veraison, images.Swtpm} {
		start := time.Now()
		ref, err := ServiceImage(ctx, d, r)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %v", ref, time.Since(start))
	}
	k, err := d.NewCase(ctx, "services")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close(ctx)

	start := time.Now()
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
	sw, err := StartSwtpm(ctx, k, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("swtpm container start to open port: %v", time.Since(start))
	if sw.PeerAddr != "tpm:2321" {
		t.Fatalf("swtpm peer address %s", sw.PeerAddr)
	}
	a, err := tpm.Open(ctx, tpm.Config{Transport: tpm.TransportSwtpm, Addr: sw.HostAddr})
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

	// Stop removes one service; the case's Close the rest and the network.
	if err := sw.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sw.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if c, _, err := d.Count(ctx, caseFilter(d, "services")); err != nil || c != 1 {
		t.Fatalf("%d containers after stopping swtpm (%v), want Veraison's", c, err)
	}
	if err := k.Close(ctx); err != nil {
		t.Fatal(err)
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
	if _, err := service.Binaries(ctx); err != nil {
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
	needs.Tool(t, tpm.SwtpmBinary) // its image is built from the host's
	img, err := ServiceImage(ctx, d, images.Swtpm)
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
	_, err = k.(ServiceCase).StartService(ctx, Service{Image: img, Alias: "tpm", Port: images.SwtpmPort, StartTimeout: limit,
		Ready: func(context.Context, string) error { return errors.New("still initializing") }})
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "not ready within 5s (last: still initializing)") {
		t.Fatalf("got %v", err)
	}
	if took < limit || took > limit+15*time.Second {
		t.Fatalf("failed after %v for a %v limit", took, limit)
	}
}
