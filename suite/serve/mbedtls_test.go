package serve

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/attested-tls/conformance/internal/needs"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/driver"
	"github.com/attested-tls/conformance/reports/results"
	"github.com/attested-tls/conformance/suite/interop"
)

// TestMbedTLSVisits points the mbedTLS peer (its image, driven as in
// `conformance run`) at serve as a client and has serve dial it as a
// server, in cases it needs no swtpm or Veraison for; serve's verdicts
// must be what `conformance run` gives it: a pass, or an expected
// failure where its expected.json lists the case.
func TestMbedTLSVisits(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the mbedTLS peer's image")
	}
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		needs.DockerEngine(t, fmt.Errorf("docker info: %v: %s", err, out))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	ref, err := interop.Setup(ctx, driver.Choice{Kind: driver.KindContainers}, t.TempDir(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close(context.WithoutCancel(ctx))
	p, err := interop.LoadPeer(ctx, "mbedtls")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	// The peer's inputs are serve's: serve takes the inputs it finds in
	// its folder.
	env, err := interop.NewEnv(ctx, ref.Driver, p, out, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	k, err := env.Driver.NewCase(ctx, "serve-mbedtls")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close(context.WithoutCancel(ctx))
	s := startServe(t, out, func(c *Config) { c.Listen = net.JoinHostPort(k.HostAddress(), "0") })

	want := func(e Entry) results.Outcome {
		if p.Expected.Match(e.ID, e.ID+"@"+string(e.VisitorRole)) >= 0 {
			return results.Fail
		}
		return results.Pass
	}
	spec := func(e Entry, n int) driver.Spec {
		dirs := map[contract.Role]string{contract.Server: filepath.Join(out, "mbedtls", fmt.Sprint(n), "server"),
			contract.Client: filepath.Join(out, "mbedtls", fmt.Sprint(n), "client")}
		return driver.Spec{Peer: env.Peer, Config: visitorConfig(t, env.Inputs, e, dirs, ""), In: env.Inputs.Dir, Root: out}
	}
	n := 0
	for _, id := range []string{
		"ta-07/server-attests/passport+x509",
		"ta-07/server-attests/passport+x509/rejects-malformed-payload",
		"ea-07/server-attests/passport+x509",
		"ta-07/server-attests/passport+attestation-only",
	} {
		t.Run("client/"+id, func(t *testing.T) {
			e := find(t, s, id, contract.Client)
			n++
			sp := spec(e, n)
			sp.Config.Connect, sp.Config.ServerName = s.Addr().String(), "mbedtls"+VisitorSep+e.Name
			before := s.lastSeq()
			r, err := k.Start(ctx, sp)
			if err != nil {
				t.Fatal(err)
			}
			res := r.Wait(ctx)
			c := waitConn(t, s, before, "mbedtls", e.ID)
			if c.Verdict != want(e) {
				t.Fatalf("serve's verdict %s (%s), want %s\n%s", c.Verdict, c.Reason, want(e), res.Describe())
			}
		})
	}
	for _, id := range []string{
		"ta-07/client-attests/passport+x509",
		"ta-07/client-attests/passport+x509/rejects-corrupt-finished",
	} {
		t.Run("server/"+id, func(t *testing.T) {
			e := find(t, s, id, contract.Server)
			n++
			sp := spec(e, n)
			sp.Config.ServerName = e.Name // serve dials with the case's name
			r, err := k.Start(ctx, sp)
			if err != nil {
				t.Fatal(err)
			}
			c, err := s.Dial(ctx, e, "mbedtls", r.Addr())
			res := r.Wait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if c.Verdict != want(e) {
				t.Fatalf("serve's verdict %s (%s), want %s\n%s", c.Verdict, c.Reason, want(e), res.Describe())
			}
		})
	}
}
