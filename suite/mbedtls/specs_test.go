package mbedtls_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/driver"
	"github.com/attested-tls/conformance/suite/interop"
)

// The positive specs: each model where it is defined, the mbedTLS peer
// in each role against the Go reference, and against itself.

func TestInterop(t *testing.T) {
	for _, m := range []model{pocClient, ta07Client, ta07Server} {
		t.Run(m.id(), func(t *testing.T) {
			t.Run("mbedtls-client/go-server", func(t *testing.T) {
				r := runMixed(t, m, contract.Client, goOptions{})
				wantSuccess(t, r, m.clientAttests)
			})
			t.Run("go-client/mbedtls-server", func(t *testing.T) {
				r := runMixed(t, m, contract.Server, goOptions{})
				wantSuccess(t, r, !m.clientAttests)
			})
			t.Run("mbedtls-client/mbedtls-server", func(t *testing.T) {
				s, c := runBoth(t, m)
				for _, r := range []run{s, c} {
					if r.exit != contract.ExitOK || r.outcome.AppData != contract.AppDataOK {
						t.Fatalf("exit %d, app_data %s\n%s", r.exit, r.outcome.AppData, r.peer.describe())
					}
				}
				rp := s
				if !m.clientAttests {
					rp = c
				}
				if rp.outcome.Verdict == nil || rp.outcome.Verdict.Status != "affirming" {
					t.Fatalf("relying party verdict %+v\n%s", rp.outcome.Verdict, rp.peer.describe())
				}
			})
		})
	}
}

// Mutual attestation (ta-07, both sides background check with
// attestation-only credentials): each side attests and appraises the
// other, and both verdicts are affirming.
func TestMutual(t *testing.T) {
	m := ta07Mutual
	// Not m.id(): its comma ends up in swtpm's --log path (t.TempDir),
	// which swtpm splits on commas.
	name := "ta-07/mutual/bg+attestation-only"
	affirmed := func(t *testing.T, r run) {
		t.Helper()
		if r.exit != contract.ExitOK || r.outcome.AppData != contract.AppDataOK {
			t.Fatalf("exit %d, app_data %s\n%s", r.exit, r.outcome.AppData, r.describe())
		}
		if v := r.outcome.Verdict; v == nil || v.Status != "affirming" {
			t.Fatalf("mbedTLS relying party: verdict %+v\n%s", v, r.describe())
		}
		if n := r.outcome.Negotiated; n == nil || n.ServerAttestation == nil || n.ClientAttestation == nil {
			t.Fatalf("mbedTLS peer reports negotiated %+v, want both attestations\n%s", n, r.describe())
		}
	}
	for _, role := range []contract.Role{contract.Client, contract.Server} {
		t.Run(name+"/mbedtls-"+string(role), func(t *testing.T) {
			r := runMixed(t, m, role, goOptions{})
			wantSuccess(t, r, true)
			affirmed(t, r)
		})
	}
	t.Run(name+"/mbedtls-client/mbedtls-server", func(t *testing.T) {
		s, c := runBoth(t, m)
		affirmed(t, s)
		affirmed(t, c)
	})
}

// Without attestation on either side the peer is a TLS 1.3 endpoint
// with X.509 (the server's certified by the run's CA): the handshake and
// ping/pong complete, nothing is appraised, nothing reports attestation.
func TestNoAttestation(t *testing.T) {
	plainOK := func(t *testing.T, r run) {
		t.Helper()
		if r.exit != contract.ExitOK || r.outcome.AppData != contract.AppDataOK {
			t.Fatalf("exit %d, app_data %s\n%s", r.exit, r.outcome.AppData, r.describe())
		}
		if r.outcome.Verdict != nil {
			t.Fatalf("a verdict without attestation: %+v", r.outcome.Verdict)
		}
		if n := r.outcome.Negotiated; n == nil || n.ServerAttestation != nil || n.ClientAttestation != nil {
			t.Fatalf("negotiated %+v, want no attestation\n%s", n, r.describe())
		}
	}
	for _, m := range []model{{profile: "ta-07", plain: true}, {profile: "poc", plain: true}} {
		for _, role := range []contract.Role{contract.Client, contract.Server} {
			t.Run(m.id()+"/mbedtls-"+string(role), func(t *testing.T) {
				r := runMixed(t, m, role, goOptions{})
				if r.goSide.err != nil {
					t.Fatalf("Go side: %v\n%s", r.goSide.err, r.describe())
				}
				plainOK(t, r)
			})
		}
		t.Run(m.id()+"/mbedtls-client/mbedtls-server", func(t *testing.T) {
			s, c := runBoth(t, m)
			plainOK(t, s)
			plainOK(t, c)
		})
	}
}

// Alert codes the specs expect (ta-07's unsupported_evidence is the
// default codepoint).
const (
	alertIllegalParameter    = tls13.AlertIllegalParameter
	alertDecodeError         = tls13.AlertDecodeError
	alertBadCertificate      = tls13.AlertBadCertificate
	alertUnsupportedEvidence = tls13.AlertCode(224)
)

// TestContract: the compliance probe and cases outside the manifest exit
// 127 with an outcome line; a malformed variable, or a relying party
// given no verifier to trust, exits 2.
func TestContract(t *testing.T) {
	w := env(t)
	k := w.caseFor(t) // the cases share one driver case: none listens or connects
	cases := []struct {
		name  string
		rp    bool // the peer appraises (the server, the client attests)
		tweak func(*contract.Config)
		env   []string
		want  int
	}{
		{"probe", false, func(c *contract.Config) { c.TestCase = contract.ProbeCase() }, nil, contract.ExitUnsupported},
		{"passport", false, func(c *contract.Config) {
			c.TestCase, c.ClientAttests = "ta-07/client-attests/passport+attestation-only", contract.AttestsPassport
		}, nil, contract.ExitUnsupported},
		{"x509-credential", false, func(c *contract.Config) { c.ClientCredential = contract.X509 }, nil, contract.ExitUnsupported},
		{"misbehaviour", false, func(c *contract.Config) { c.Misbehave = contract.SelectUnoffered }, nil, contract.ExitUnsupported},
		{"ea-07", false, func(c *contract.Config) { c.Profile, c.TestCase = "ea-07", "ea-07/client-attests/bg+x509" }, nil, contract.ExitUnsupported},
		{"local-verifier", true, func(c *contract.Config) { c.Verifier = "local" }, nil, contract.ExitUnsupported},
		{"bad-timeout", false, func(*contract.Config) {}, []string{contract.EnvTimeout + "=soon"}, contract.ExitConfig},
		{"no-trusted-verifier", true, func(c *contract.Config) { c.TrustedVerifiers = "" }, nil, contract.ExitConfig},
		{"malformed-trusted-verifiers", true, func(c *contract.Config) { c.TrustedVerifiers = w.caCert }, nil, contract.ExitConfig},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			role := contract.Client
			if c.rp {
				role = contract.Server
			}
			cfg := peerConfig(t, w, ta07Client.id(), "ta-07", role, false, true)
			if c.rp {
				cfg.Listen = "127.0.0.1:9"
			} else {
				cfg.Connect, cfg.TPM = "127.0.0.1:9", "swtpm:127.0.0.1:1"
			}
			c.tweak(&cfg)
			res := runContract(t, w, k, cfg, c.env)
			// The contract's 10 s; a container's time also counts its
			// creation, which takes seconds on 2 loaded cores.
			limit := 10 * time.Second
			if k.containers() {
				limit = 30 * time.Second
			}
			if res.Took > limit || res.Killed {
				t.Fatalf("took %v (killed: %v)", res.Took, res.Killed)
			}
			if res.Exit != c.want {
				t.Fatalf("exit %d, want %d\n%s", res.Exit, c.want, res.Describe())
			}
			if res.Outcome == nil || res.Outcome.Handshake != contract.HandshakeNone {
				t.Fatalf("outcome %+v, %v", res.Outcome, res.OutcomeErr)
			}
			if c.want == contract.ExitConfig && c.rp && !strings.Contains(res.Outcome.Error, contract.EnvTrustedVerifiers) {
				t.Fatalf("the error does not name %s: %q", contract.EnvTrustedVerifiers, res.Outcome.Error)
			}
		})
	}
}

// runContract runs the peer with cfg as it is, in the driver case k (no
// services: it is expected to exit before it listens or connects).
func runContract(t *testing.T, w *world, k *mcase, cfg contract.Config, env []string) *driver.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spec := driver.Spec{Peer: w.mb, Config: cfg, In: w.dir, Env: env, Deadline: 15 * time.Second}
	// A server that exits before it listens fails Start; its result is
	// still the Running's.
	r, err := k.Start(ctx, spec)
	if err != nil && r == nil {
		t.Fatal(err)
	}
	return r.Wait(ctx)
}

// TestManifest: the peer's manifest and expected results parse, and the
// manifest admits exactly the models the specs run.
func TestManifest(t *testing.T) {
	p, err := interop.LoadPeer(context.Background(), "mbedtls")
	if err != nil {
		t.Fatal(err)
	}
	m, exp := p.Manifest, p.Expected
	// The models the specs pass are not in the baseline; what the
	// manifest leaves out is, each as unsupported.
	for _, m := range []model{pocClient, ta07Client, ta07Server, ta07Mutual, {profile: "ta-07", plain: true}, {profile: "poc", plain: true}} {
		for _, id := range []string{m.id(), m.id() + "@client", m.id() + "@server"} {
			if reason, ok := exp.Lookup(id); ok {
				t.Errorf("expected.json lists %s, which the specs pass: %s", id, reason)
			}
		}
	}
	for _, id := range []string{"ea-07/client-attests/bg+x509", "ea-07/server-attests/bg+attestation-only",
		"ta-07/server-attests/passport+attestation-only", "ta-07/client-attests/bg+x509"} {
		i := exp.Match(id)
		if i < 0 || exp.Failures[i].Expects() != contract.ExpectUnsupported {
			t.Errorf("expected.json does not list %s as unsupported", id)
		}
	}
	base := contract.Config{Role: contract.Server, Profile: "ta-07", ClientAttests: contract.AttestsBG,
		ClientCredential: contract.AttestationOnly, ServerAttests: contract.AttestsNone, Verifier: "veraison:http://v"}
	if err := m.Supports(base); err != nil {
		t.Errorf("ta-07 client-attests: %v", err)
	}
	passport := base
	passport.ClientAttests = contract.AttestsPassport
	if err := m.Supports(passport); err == nil {
		t.Error("the manifest admits passport")
	}
	ea07 := base
	ea07.Profile = "ea-07"
	if err := m.Supports(ea07); err == nil {
		t.Error("the manifest admits ea-07")
	}
	x509 := base
	x509.ClientCredential = contract.X509
	if err := m.Supports(x509); err == nil {
		t.Error("the manifest admits X.509 credentials")
	}
	local := base
	local.Verifier = "local"
	if err := m.Supports(local); err == nil {
		t.Error("the manifest admits the local verifier")
	}
}
