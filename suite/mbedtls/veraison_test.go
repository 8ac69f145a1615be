package mbedtls_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/driver"
)

// Veraison as a service of the case (driver.StartVeraison: a container on
// the case's network, or host processes without Docker), the mbedTLS
// relying party reaching it by its alias and trusting the key the suite
// made for it: the Go client's and the mbedTLS server's swtpm evidence is
// affirmed and the connection completes.
func TestVeraisonService(t *testing.T) {
	for _, c := range []struct {
		name string
		m    model
	}{
		{"go-client/mbedtls-server", ta07Client},
		{"mbedtls-client/mbedtls-server", ta07Server},
		{"go-client/mbedtls-server", pocClient},
	} {
		t.Run(c.m.id()+"/"+c.name, func(t *testing.T) {
			w := env(t)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			k := w.caseFor(t)
			v, err := driver.StartVeraison(ctx, k.Case, driver.VeraisonOptions{})
			if err != nil {
				t.Fatalf("starting Veraison for the case: %v", err)
			}
			defer v.Stop(context.WithoutCancel(ctx))
			tv, err := v.TrustedVerifiers()
			if err != nil {
				t.Fatal(err)
			}
			trusted := filepath.Join(w.dir, fmt.Sprintf("trusted-%s.json", caseName(t.Name())))
			if err := os.WriteFile(trusted, tv, 0o644); err != nil {
				t.Fatal(err)
			}
			rp := func(cfg *contract.Config) {
				cfg.Verifier, cfg.TrustedVerifiers = "veraison:"+v.PeerVerificationURL, trusted
			}
			var rpPeer *mbedPeer
			if c.m.clientAttests {
				// The Go client attests; the mbedTLS server appraises.
				if err := v.Provision(ctx, w.attester.Endorsement()); err != nil {
					t.Fatal(err)
				}
				cfg := peerConfig(t, w, c.m.id(), c.m.profile, contract.Server, false, true)
				rp(&cfg)
				rpPeer = startPeer(t, w, cfg)
				g := runGoClient(ctx, cfg.Listen, goConfig(t, w, c.m, true, "", goOptions{}))
				if g.err != nil || g.got != "pong\n" {
					rpPeer.wait(t)
					t.Fatalf("Go client: %v, read %q\n%s\nVeraison:\n%s", g.failure(), g.got, rpPeer.describe(), tail(v.Logs(ctx), 20))
				}
			} else {
				// The mbedTLS server attests; the mbedTLS client appraises.
				scfg := peerConfig(t, w, c.m.id(), c.m.profile, contract.Server, true, false)
				srv := startPeer(t, w, scfg)
				if err := provisionCase(ctx, v, scfg.EndorsementsOut); err != nil {
					t.Fatal(err)
				}
				ccfg := peerConfig(t, w, c.m.id(), c.m.profile, contract.Client, true, false)
				rp(&ccfg)
				ccfg.Connect = scfg.Listen
				rpPeer = startPeer(t, w, ccfg)
				if o, code := srv.wait(t); code != contract.ExitOK || o.AppData != contract.AppDataOK {
					t.Fatalf("mbedTLS server: exit %d\n%s", code, srv.describe())
				}
			}
			rpOut, rpExit := rpPeer.wait(t)
			if rpExit != contract.ExitOK || rpOut.AppData != contract.AppDataOK || rpOut.Verdict == nil || rpOut.Verdict.Status != "affirming" {
				t.Fatalf("mbedTLS relying party: exit %d, verdict %+v\n%s\nVeraison:\n%s", rpExit, rpOut.Verdict, rpPeer.describe(), tail(v.Logs(ctx), 20))
			}
		})
	}
}

// provisionCase gives the case's Veraison the endorsement an attesting
// peer wrote.
func provisionCase(ctx context.Context, v *driver.Veraison, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("the peer's endorsement: %w", err)
	}
	e, err := contract.ParseEndorsement(b)
	if err != nil {
		return err
	}
	return v.Provision(ctx, e)
}
