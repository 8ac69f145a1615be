package harness

import (
	"context"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest/party"
)

func TestTA07Smoke(t *testing.T) {
	f, err := NewFixture()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []Model{
		{Profile: "ta-07", Server: Side{Attests: true}},
		{Profile: "ta-07", Server: Side{Attests: true, Credential: party.X509}},
		{Profile: "ta-07", Client: Side{Attests: true}},
		{Profile: "ta-07", Client: Side{Attests: true, Credential: party.X509}},
		{Profile: "ta-07", Server: Side{Attests: true, Topology: party.Passport}},
		{Profile: "ta-07", Client: Side{Attests: true, Topology: party.Passport, Credential: party.X509}},
		{Profile: "ta-07", Server: Side{Attests: true, Credential: party.X509}, Client: Side{Attests: true, Topology: party.Passport}},
		{Profile: "ea-07", Server: Side{Attests: true, Credential: party.X509}},
		{Profile: "ea-07", Client: Side{Attests: true, Topology: party.Passport, Credential: party.X509}},
		{Profile: "ea-07", Server: Side{Attests: true, Credential: party.X509}, Client: Side{Attests: true, Topology: party.Passport, Credential: party.X509}},
		{Profile: "poc", Client: Side{Attests: true}},
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
