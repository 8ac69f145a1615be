package mbedtls_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/software"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
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

// Alert codes the specs expect (ta-07's unsupported_evidence is the
// default codepoint).
const (
	alertIllegalParameter    = tls13.AlertIllegalParameter
	alertDecodeError         = tls13.AlertDecodeError
	alertBadCertificate      = tls13.AlertBadCertificate
	alertUnsupportedEvidence = tls13.AlertCode(224)
)

// The negative specs: the Go reference misbehaves and drives the mbedTLS
// peer into a failure path; the peer must send the profile's alert and
// let no application data through.
func TestNegative(t *testing.T) {
	unendorsed := func(t *testing.T) goOptions {
		t.Helper()
		w := env(t)
		a, err := software.New(software.Config{Faults: software.Faults{UnendorsedKey: true}})
		if err != nil {
			t.Fatal(err)
		}
		// Veraison learns an attestation key that did not sign the evidence.
		if err := provisionEndorsement(t, w, a); err != nil {
			t.Fatal(err)
		}
		return goOptions{attester: a}
	}
	cases := []struct {
		name   string
		m      model
		mbRole contract.Role
		opts   func(t *testing.T) goOptions
		want   tls13.AlertCode
	}{
		// ta-07, the mbedTLS client attests to a misbehaving Go server.
		{"select-unoffered", ta07Client, contract.Client, bugs(party.Bugs{SelectUnoffered: true}), alertIllegalParameter},
		{"nonce-length-7", ta07Client, contract.Client, bugs(party.Bugs{NonceLength: 7}), alertDecodeError},
		{"malformed-extension", ta07Client, contract.Client, tlsBugs(tls13.Bugs{TruncateExtensions: []uint16{0xFFA1}}), alertDecodeError},
		// ta-07, the mbedTLS client appraises a misbehaving Go server.
		{"select-unoffered", ta07Server, contract.Client, bugs(party.Bugs{SelectUnoffered: true}), alertIllegalParameter},
		{"wrong-challenge", ta07Server, contract.Client, bugs(party.Bugs{WrongChallenge: true}), alertBadCertificate},
		{"malformed-payload", ta07Server, contract.Client, bugs(party.Bugs{MalformedPayload: true}), alertBadCertificate},
		// ta-07, the mbedTLS server attests to a misbehaving Go client.
		{"nonce-length-7", ta07Server, contract.Server, bugs(party.Bugs{NonceLength: 7}), alertDecodeError},
		{"no-common-evidence-type", ta07Server, contract.Server, func(*testing.T) goOptions {
			return goOptions{verifierMediaTypes: []string{"application/x-not-parsec"}}
		}, alertUnsupportedEvidence},
		{"malformed-extension", ta07Server, contract.Server, tlsBugs(tls13.Bugs{TruncateExtensions: []uint16{0xFFA0}}), alertDecodeError},
		// ta-07, the mbedTLS server appraises a misbehaving Go client.
		{"wrong-challenge", ta07Client, contract.Server, bugs(party.Bugs{WrongChallenge: true}), alertBadCertificate},
		{"malformed-payload", ta07Client, contract.Server, bugs(party.Bugs{MalformedPayload: true}), alertBadCertificate},
		{"unendorsed-key", ta07Client, contract.Server, unendorsed, alertBadCertificate},
		{"no-common-evidence-type", ta07Client, contract.Server, func(t *testing.T) goOptions {
			return goOptions{attester: otherType{env(t).attester}}
		}, alertUnsupportedEvidence},
		// poc, the mbedTLS client attests to a misbehaving Go server.
		{"select-unoffered", pocClient, contract.Client, bugs(party.Bugs{SelectUnoffered: true}), alertDecodeError},
		{"nonce-length-33", pocClient, contract.Client, bugs(party.Bugs{NonceLength: 33}), alertDecodeError},
		{"malformed-extension", pocClient, contract.Client, tlsBugs(tls13.Bugs{TruncateExtensions: []uint16{100}}), alertDecodeError},
		// poc, the mbedTLS server appraises a misbehaving Go client.
		{"wrong-challenge", pocClient, contract.Server, bugs(party.Bugs{WrongChallenge: true}), alertDecodeError},
		{"malformed-payload", pocClient, contract.Server, bugs(party.Bugs{MalformedPayload: true}), alertDecodeError},
		{"unendorsed-key", pocClient, contract.Server, unendorsed, alertDecodeError},
		{"malformed-extension", pocClient, contract.Server, tlsBugs(tls13.Bugs{TruncateExtensions: []uint16{100}}), alertDecodeError},
	}
	for _, c := range cases {
		t.Run(c.m.id()+"/mbedtls-"+string(c.mbRole)+"/"+c.name, func(t *testing.T) {
			r := runMixed(t, c.m, c.mbRole, c.opts(t))
			wantAlert(t, r, c.want)
		})
	}
}

func bugs(b party.Bugs) func(*testing.T) goOptions {
	return func(*testing.T) goOptions { return goOptions{bugs: b} }
}

func tlsBugs(b tls13.Bugs) func(*testing.T) goOptions {
	return func(*testing.T) goOptions { return goOptions{tlsBugs: b} }
}

// otherType offers an evidence type the mbedTLS relying party does not
// take.
type otherType struct{ attest.Attester }

func (otherType) MediaTypes() []string { return []string{"application/x-not-parsec"} }

func provisionEndorsement(t *testing.T, w *world, a *software.Attester) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := veraison.ProvisionEndorsement(ctx, w.svc.ProvisioningURL, a.Endorsement(), nil)
	return err
}

// TestContract: the compliance probe and cases outside the manifest exit
// 127 with an outcome line; a malformed variable exits 2.
func TestContract(t *testing.T) {
	w := env(t)
	cases := []struct {
		name  string
		tweak func(*contract.Config)
		want  int
	}{
		{"probe", func(c *contract.Config) { c.TestCase = contract.ProbeCase() }, contract.ExitUnsupported},
		{"passport", func(c *contract.Config) {
			c.TestCase, c.ClientAttests = "ta-07/client-attests/passport+attestation-only", contract.AttestsPassport
		}, contract.ExitUnsupported},
		{"x509-credential", func(c *contract.Config) { c.ClientCredential = contract.X509 }, contract.ExitUnsupported},
		{"misbehaviour", func(c *contract.Config) { c.Misbehave = contract.SelectUnoffered }, contract.ExitUnsupported},
		{"ea-07", func(c *contract.Config) { c.Profile, c.TestCase = "ea-07", "ea-07/client-attests/bg+x509" }, contract.ExitUnsupported},
		{"bad-timeout", func(c *contract.Config) { c.Timeout = -1 }, contract.ExitConfig},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := peerConfig(t, w, ta07Client.id(), "ta-07", contract.Client, false, true)
			cfg.Connect, cfg.TPM = "127.0.0.1:9", "swtpm:127.0.0.1:1"
			c.tweak(&cfg)
			cmd := exec.Command(w.peer)
			cmd.Env = cfg.Env()
			if c.name == "bad-timeout" {
				cmd.Env = append(cmd.Env, "ATLS_TIMEOUT=soon")
			}
			start := time.Now()
			stdout, _ := cmd.Output()
			if took := time.Since(start); took > 10*time.Second {
				t.Fatalf("took %v", took)
			}
			if got := cmd.ProcessState.ExitCode(); got != c.want {
				t.Fatalf("exit %d, want %d\n%s", got, c.want, stdout)
			}
			o, err := contract.ParseOutcome(stdout)
			if err != nil || o.Handshake != contract.HandshakeNone {
				t.Fatalf("outcome %+v, %v", o, err)
			}
		})
	}
}

// TestManifest: the peer's manifest and expected results parse, and the
// manifest admits exactly the models the specs run.
func TestManifest(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "peers", "mbedtls", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := contract.ParseManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	if b, err = os.ReadFile(filepath.Join(root, "peers", "mbedtls", "expected.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := contract.ParseExpected(b); err != nil {
		t.Fatal(err)
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
	local := base
	local.Verifier = "local"
	if err := m.Supports(local); err == nil {
		t.Error("the manifest admits the local verifier")
	}
}
