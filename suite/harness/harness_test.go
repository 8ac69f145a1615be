package harness

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attested-tls/conformance/containers/services"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsecac"
	"github.com/attested-tls/conformance/impl/attest/evidence/tpm"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/internal/needs"
)

func TestTA07Smoke(t *testing.T) {
	f, err := NewFixture()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []party.Model{
		{Profile: "ta-07", Server: party.Side{Attests: true}},
		{Profile: "ta-07", Server: party.Side{Attests: true, Credential: party.X509}},
		{Profile: "ta-07", Client: party.Side{Attests: true}},
		{Profile: "ta-07", Client: party.Side{Attests: true, Credential: party.X509}},
		{Profile: "ta-07", Server: party.Side{Attests: true, Topology: party.Passport}},
		{Profile: "ta-07", Client: party.Side{Attests: true, Topology: party.Passport, Credential: party.X509}},
		{Profile: "ta-07", Server: party.Side{Attests: true, Credential: party.X509}, Client: party.Side{Attests: true, Topology: party.Passport}},
		{Profile: "ea-07", Server: party.Side{Attests: true, Credential: party.X509}},
		{Profile: "ea-07", Client: party.Side{Attests: true, Topology: party.Passport, Credential: party.X509}},
		{Profile: "ea-07", Server: party.Side{Attests: true, Credential: party.X509}, Client: party.Side{Attests: true, Topology: party.Passport, Credential: party.X509}},
		{Profile: "poc", Client: party.Side{Attests: true}},
	} {
		t.Run(m.ID(), func(t *testing.T) {
			cli, srv := f.Parties(m)
			cc, sc, err := f.Configs(m, cli, srv)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := Run(ctx, cc, sc)
			if err != nil {
				t.Fatal(err)
			}
			if r.ClientErr != nil || r.ServerErr != nil || r.ClientGot != Pong || r.ServerGot != Ping {
				t.Fatal(r.Describe())
			}
		})
	}
}

// A fixture on each TPM root attests through that TPM, and Close leaves
// no swtpm behind.
func TestFixtureOnTPM(t *testing.T) {
	for _, root := range []string{RootSimulator, RootSwtpm} {
		t.Run(root, func(t *testing.T) {
			f, err := NewFixtureOn(context.Background(), root, VerifierLocal)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := f.Attester[false].(*tpm.Attester); !ok {
				t.Fatalf("attester is %T, want a TPM attester", f.Attester[false])
			}
			mutualHandshake(t, f)
			swtpm := f.swtpm
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if swtpm != nil && swtpm.Running() {
				t.Fatal("swtpm still running after Close")
			}
			if swtpm != nil {
				if _, err := os.Stat(filepath.Dir(swtpm.Dir)); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("the fixture's swtpm folder %s is left after Close (%v)", filepath.Dir(swtpm.Dir), err)
				}
			}
		})
	}
}

// A fixture on Parsec attests with a key the Parsec service holds, Close
// stops the service; with Veraison, which has no scheme for its evidence,
// the fixture refuses to start.
func TestFixtureOnParsec(t *testing.T) {
	if _, err := NewFixtureOn(context.Background(), RootParsec, VerifierVeraison); err == nil || !strings.Contains(err.Error(), "in-process verifier") {
		t.Errorf("a Parsec fixture on Veraison: %v", err)
	}
	needs.Missing(t, "the Parsec service", "unpack it with `"+needs.Deps+"`", services.HaveParsec())
	f, err := NewFixtureOn(context.Background(), RootParsec, VerifierLocal)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Attester[false].(*parsecac.Attester); !ok {
		t.Fatalf("attester is %T, want a Parsec attester", f.Attester[false])
	}
	mutualHandshake(t, f)
	p := f.parsec
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the Parsec state %s is left after Close (%v)", p.Dir, err)
	}
}

// mutualHandshake runs ta-07 with both sides attesting on f and fails t
// unless it completes.
func mutualHandshake(t *testing.T, f *Fixture) {
	t.Helper()
	m := party.Model{Profile: "ta-07", Server: party.Side{Attests: true, Credential: party.X509}, Client: party.Side{Attests: true}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := f.Handshake(ctx, m, Tweaks{})
	if err != nil || r.ClientErr != nil || r.ServerErr != nil || r.ServerGot != Ping {
		t.Fatal(err, r.Describe())
	}
}
