package endpoint

import (
	"fmt"

	"github.com/attested-tls/conformance/impl/attest/party"
)

// Side says whether and how one endpoint attests.
type Side struct {
	Attests    bool
	Topology   party.Topology
	Credential party.Credential
}

func (s Side) String() string { return s.Topology.String() + "+" + s.Credential.String() }

// Model is one interaction model of a profile.
type Model struct {
	Profile        string
	Server, Client Side
}

// ID is the model's stable name, e.g. "ta-07/server-attests/bg+x509".
func (m Model) ID() string {
	switch {
	case m.Server.Attests && m.Client.Attests:
		return fmt.Sprintf("%s/mutual/server=%s,client=%s", m.Profile, m.Server, m.Client)
	case m.Server.Attests:
		return fmt.Sprintf("%s/server-attests/%s", m.Profile, m.Server)
	case m.Client.Attests:
		return fmt.Sprintf("%s/client-attests/%s", m.Profile, m.Client)
	}
	return m.Profile + "/no-attestation"
}

// ModelsOf enumerates one profile's interaction models: for each role
// that attests ("server", "client", "mutual"), credential and topology,
// the model where every attesting side uses them; then, with mixed, per
// credential the two mutual models whose sides differ in topology. The
// in-process matrix and the peer pair matrix both list models this way,
// in this order.
func ModelsOf(profile string, roles []string, topologies []party.Topology, credentials []party.Credential, mixed bool) []Model {
	var out []Model
	for _, role := range roles {
		for _, cred := range credentials {
			for _, topo := range topologies {
				s := Side{Attests: true, Topology: topo, Credential: cred}
				m := Model{Profile: profile}
				if role != "client" {
					m.Server = s
				}
				if role != "server" {
					m.Client = s
				}
				out = append(out, m)
			}
		}
	}
	if !mixed {
		return out
	}
	for _, cred := range credentials {
		bg := Side{Attests: true, Topology: party.BackgroundCheck, Credential: cred}
		pp := Side{Attests: true, Topology: party.Passport, Credential: cred}
		out = append(out, Model{Profile: profile, Server: bg, Client: pp}, Model{Profile: profile, Server: pp, Client: bg})
	}
	return out
}
