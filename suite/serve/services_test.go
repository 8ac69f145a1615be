package serve

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attested-tls/conformance/containers/services"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/internal/needs"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/reference"
	"github.com/attested-tls/conformance/reports/results"
)

// TestRealServices: with a swtpm and Veraison (--services real), serve
// attests from the swtpm, appraises through Veraison (provisioned with
// the visitor's posted endorsement) and gets its passports there, and
// the verdicts are those of the local services.
func TestRealServices(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts swtpm and Veraison")
	}
	needs.Tool(t, services.SwtpmBinary)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := services.VeraisonBinaries(ctx); err != nil {
		needs.VeraisonBinaries(t, err)
	}
	s := startServe(t, t.TempDir(), func(c *Config) { c.Services = ServicesReal })
	v := newVisitor(t, s, "real")
	for _, k := range []visit{
		{"ta-07/server-attests/bg+x509", "", results.Pass},
		{"ta-07/server-attests/passport+x509", "", results.Pass},
		{"ta-07/client-attests/bg+x509", "", results.Pass},
		{"ta-07/server-attests/bg+x509/rejects-wrong-challenge", "", results.Pass},
		{"ta-07/client-attests/bg+x509", contract.WrongChallenge, results.Fail}, // peers/broken
	} {
		t.Run(k.id+"/"+k.misbehave, func(t *testing.T) {
			c := v.expect(t, s, k)
			// The reference's log says which root of trust and verifier
			// it used: the swtpm where it attests, Veraison where it
			// calls a verifier (appraising, or for its passport).
			b, err := os.ReadFile(filepath.Join(s.cfg.Out, c.Dir, string(contract.Server), reference.LogFile))
			if err != nil {
				t.Fatal(err)
			}
			e := find(t, s, k.id, contract.Client)
			m := e.InteractionModel()
			if m.Server.Attests && !strings.Contains(string(b), `TPM "swtpm:`) {
				t.Errorf("the reference did not attest from the swtpm:\n%s", b)
			}
			if (m.Client.Attests || m.Server.Topology == party.Passport) && !strings.Contains(string(b), `verifier "veraison:http://`) {
				t.Errorf("the reference did not use Veraison:\n%s", b)
			}
		})
	}
}
