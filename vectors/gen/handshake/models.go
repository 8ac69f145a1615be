package handshake

import (
	"fmt"
	"strings"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile"
)

// Topology and credential names as the traces spell them.
const (
	BackgroundCheck = "background-check"
	Passport        = "passport"
	AttestationOnly = "attestation-only"
	X509            = "x509"
)

// Case is one trace to generate: a profile and an interaction model.
type Case struct {
	Profile string
	Model   Model
}

func side(t party.Topology, c party.Credential) Side {
	s := Side{Attests: true, Topology: BackgroundCheck, Credential: AttestationOnly}
	if t == party.Passport {
		s.Topology = Passport
	}
	if c == party.X509 {
		s.Credential = X509
	}
	return s
}

// Cases lists every trace, in a fixed order: every model of every
// profile, as the profiles describe them; a post-handshake profile's trace
// goes on past the handshake (PostHandshake).
func Cases() []Case {
	var out []Case
	for _, m := range profile.Models() {
		var k Model
		if m.Server.Attests {
			k.Server = side(m.Server.Topology, m.Server.Credential)
		}
		if m.Client.Attests {
			k.Client = side(m.Client.Topology, m.Client.Credential)
		}
		out = append(out, Case{Profile: m.Profile, Model: k})
	}
	return out
}

func (s Side) short() string {
	t := "bg"
	if s.Topology == Passport {
		t = "passport"
	}
	return t + "+" + s.Credential
}

// ID is the case's stable name, the suite's model ID, e.g.
// "ta-07/server-attests/bg+x509".
func (c Case) ID() string {
	m := c.Model
	switch {
	case m.Server.Attests && m.Client.Attests:
		return fmt.Sprintf("%s/mutual/server=%s,client=%s", c.Profile, m.Server.short(), m.Client.short())
	case m.Server.Attests:
		return fmt.Sprintf("%s/server-attests/%s", c.Profile, m.Server.short())
	case m.Client.Attests:
		return fmt.Sprintf("%s/client-attests/%s", c.Profile, m.Client.short())
	}
	return c.Profile + "/no-attestation"
}

// Path is where the case's trace lives under vectors/: the ID without the
// profile, with '/' ',' → '_' and '+' '=' → '-'.
func (c Case) Path() string {
	name := strings.TrimPrefix(c.ID(), c.Profile+"/")
	name = strings.NewReplacer("/", "_", ",", "_", "+", "-", "=", "-").Replace(name)
	return "traces/" + c.Profile + "/" + name + ".json"
}

func (c Case) topology(client bool) party.Topology {
	s := c.Model.Server
	if client {
		s = c.Model.Client
	}
	if s.Topology == Passport {
		return party.Passport
	}
	return party.BackgroundCheck
}

func (c Case) credential(client bool) party.Credential {
	s := c.Model.Server
	if client {
		s = c.Model.Client
	}
	if s.Credential == X509 {
		return party.X509
	}
	return party.AttestationOnly
}

func (c Case) attests(client bool) bool {
	if client {
		return c.Model.Client.Attests
	}
	return c.Model.Server.Attests
}

// Description says in words what the trace shows.
func (c Case) Description() string {
	var parts []string
	for _, client := range []bool{false, true} {
		if !c.attests(client) {
			continue
		}
		who, other := "server", "client"
		if client {
			who, other = "client", "server"
		}
		how := "presents Parsec TPM evidence that the " + other + "'s verifier appraises (background check)"
		if c.topology(client) == party.Passport {
			how = "presents an EAR its verifier issued over its Parsec TPM evidence (passport)"
		}
		parts = append(parts, fmt.Sprintf("The %s %s, %s.", who, how, c.carriage(client)))
	}
	if !c.attests(false) {
		parts = append(parts, "The server authenticates with a plain X.509 certificate.")
	}
	parts = append(parts, "Each relying party requires the peer's attestation, accepts results only from the shared verifier, and requires the attested key to be the peer's TLS key.")
	return strings.Join(parts, " ")
}

// carriage says in words where side client's CMW travels, as its
// profile describes it.
func (c Case) carriage(client bool) string {
	return c.describe().Carriage[c.credential(client)].Text
}

// carriedIn names where the CMW travels, for the trace.
func (c Case) carriedIn(client bool) string {
	return c.describe().Carriage[c.credential(client)].Path
}

// describe is the case's profile's descriptor, for a case of Cases.
func (c Case) describe() party.Descriptor { return profile.MustDescribe(c.Profile) }

// side is side client's (or the server's) part in the case's model.
func (c Case) side(client bool) party.Side {
	if !c.attests(client) {
		return party.Side{}
	}
	return party.Side{Attests: true, Topology: c.topology(client), Credential: c.credential(client)}
}

// model is the case's interaction model.
func (c Case) model() party.Model {
	return party.Model{Profile: c.Profile, Server: c.side(false), Client: c.side(true)}
}
