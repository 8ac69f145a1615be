package reference

import (
	"testing"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/peers/contract"
)

// A reference peer attests with PSA or CCA tokens (ATLS_TPM=psa-iot, cca)
// to one that takes them (ATLS_EVIDENCE), by background check and
// passport; one that takes only Parsec TPM evidence shares no evidence
// type with it.
func TestPSAModels(t *testing.T) {
	for root, format := range map[string]string{contract.RootPSA: "psa-iot", contract.RootCCA: "cca"} {
		keylessModels(t, root, format)
	}
}

// keylessModels runs models with a server attesting from root, whose
// evidence the client takes as format.
func keylessModels(t *testing.T, root, format string) {
	psaServer := func(s, c *contract.Config) { s.TPM, c.Evidence = root, format }
	for _, m := range []party.Model{
		{Profile: "ta-07", Server: bgX509},
		{Profile: "ta-07", Server: passportX509},
		{Profile: "ea-07", Server: bgX509},
		{Profile: "ea-07", Server: passportX509},
	} {
		t.Run(root+"/"+m.ID(), func(t *testing.T) {
			srv, cli, _ := pair(t, m, nil, psaServer)
			for role, r := range map[contract.Role]sideResult{contract.Server: srv, contract.Client: cli} {
				if r.code != contract.ExitOK || r.o.AppData != contract.AppDataOK {
					t.Fatalf("%s: exit %d %+v", role, r.code, r.o)
				}
			}
			if cli.o.Verdict == nil || cli.o.Verdict.Status != "affirming" {
				t.Fatalf("client verdict %+v", cli.o.Verdict)
			}
		})
	}
	srv, cli, _ := pair(t, party.Model{Profile: "ea-07", Server: bgX509}, nil, func(s, c *contract.Config) { s.TPM = root })
	if srv.code != contract.ExitFailed || cli.code != contract.ExitFailed || cli.o.AppData != contract.AppDataNone {
		t.Fatalf("%s evidence to a Parsec TPM relying party: server exit %d %+v; client exit %d %+v", root, srv.code, srv.o, cli.code, cli.o)
	}
}
