package mbedtls_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/attested-tls/conformance/peers/contract"
)

// A relying party whose verifier cannot be reached at all. The fail-open
// sweep itself (a verifier that errs, dies, hangs or re-signs, evidence of
// another type or with drifted measurements, each with application data
// after the alert and before Finished) is the battery's (suite/interop
// failopen.go), run for every peer.

// rpModel is the mbedTLS peer as relying party of one model.
type rpModel struct {
	m      model
	mbRole contract.Role
	labels []string
}

var rpModels = []rpModel{
	{pocClient, contract.Server,
		[]string{"profile:poc", "role:client", "rp:mbedtls-server", "req:POC-cert-2"}},
	{ta07Client, contract.Server,
		[]string{"profile:ta-07", "role:client", "credential:attestation-only", "rp:mbedtls-server"}},
	{ta07Server, contract.Client,
		[]string{"profile:ta-07", "role:server", "credential:attestation-only", "rp:mbedtls-client", "req:TA07-8.1.1-3"}},
}

// TestFailOpenVerifierUnreachable: a relying party whose verifier cannot
// be reached at all (nothing listens at ATLS_VERIFIER) fails before its
// handshake: exit 1 (the contract's "verifier could not be reached"), no
// handshake, no alert, no application data, and a client never connects.
func TestFailOpenVerifierUnreachable(t *testing.T) {
	for _, rp := range rpModels {
		name := spec(rp.m.id()+"/mbedtls-"+string(rp.mbRole)+"/verifier-unreachable",
			append(rp.labels, "failopen", "failure:verifier-unreachable")...)
		t.Run(name, func(t *testing.T) {
			w := env(t)
			hm := rp.m.harness()
			cfg := peerConfig(t, w, rp.m.id(), rp.m.profile, rp.mbRole, hm.Server.Attests, hm.Client.Attests)
			cfg.Verifier = "veraison:http://" + freeAddr(t) // a port nothing listens on
			var ln net.Listener
			if rp.mbRole == contract.Client {
				var err error
				if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				cfg.Connect = ln.Addr().String()
			}
			res := runContract(t, w, w.caseFor(t), cfg, nil)
			if res.Exit != contract.ExitFailed || res.Outcome == nil {
				t.Fatalf("exit %d, want 1 with an outcome\n%s", res.Exit, res.Describe())
			}
			o := res.Outcome
			if o.Handshake == contract.HandshakeOK || o.AppData != contract.AppDataNone || o.AlertSent != nil || o.Negotiated != nil {
				t.Fatalf("outcome %+v: want no handshake, no alert, no application data\n%s", o, res.Describe())
			}
			if !strings.Contains(o.Error, "verifier") {
				t.Fatalf("the error does not name the verifier: %q", o.Error)
			}
			if ln != nil {
				// The client must not have connected (process driver; a
				// container's loopback is its own, and as closed).
				ln.(*net.TCPListener).SetDeadline(time.Now().Add(100 * time.Millisecond))
				if c, err := ln.Accept(); err == nil {
					c.Close()
					t.Fatalf("the mbedTLS client connected although it has no verifier")
				}
			}
		})
	}
}

// spec names a subtest: its path, then its labels in brackets, so
// `go test -run` selects by either.
func spec(path string, labels ...string) string {
	return path + "[" + strings.Join(labels, ",") + "]"
}
