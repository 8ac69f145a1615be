package specs

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/reports/requirements"
	"github.com/attested-tls/conformance/suite/harness"
)

// profileSpec is what the matrix needs to know of one profile: which
// interaction models it defines, and the wire checks every positive case
// of a model gets, with the requirements those checks cover.
type profileSpec struct {
	name string // the profile; its descriptor gives its models
	// wire checks a successful run of m on the wire; reqs lists the
	// requirement IDs it checks for m.
	wire func(m party.Model, r *harness.Result)
	reqs func(m party.Model) []string
}

// profileSpecs are the profiles the suite knows, in report order. The
// list is static so the tree is the same whichever profiles are built in;
// a profile whose hooks are missing fails its specs.
var profileSpecs = []profileSpec{ta07Spec, ea07Spec, pocSpec, xp03Spec}

// Case is one positive entry of the matrix.
type Case struct {
	Model party.Model
	// Reqs are the IDs of the requirements the case checks.
	Reqs []string
}

// Labels are the case's Ginkgo labels.
func (c Case) Labels() Labels {
	m := c.Model
	ls := Labels{"profile:" + m.Profile, "model:" + modelLabel(m), "role:" + roleLabel(m), "credential:" + credentialLabel(m)}
	for _, id := range c.Reqs {
		ls = append(ls, requirements.Label(id))
	}
	return ls
}

func roleLabel(m party.Model) string {
	switch {
	case m.Server.Attests && m.Client.Attests:
		return "mutual"
	case m.Server.Attests:
		return "server"
	}
	return "client"
}

func attesting(m party.Model) []party.Side {
	var out []party.Side
	for _, s := range []party.Side{m.Server, m.Client} {
		if s.Attests {
			out = append(out, s)
		}
	}
	return out
}

func modelLabel(m party.Model) string {
	sides := attesting(m)
	if len(sides) == 2 && sides[0].Topology != sides[1].Topology {
		return "mixed"
	}
	return sides[0].Topology.String()
}

func credentialLabel(m party.Model) string { return attesting(m)[0].Credential.String() }

// Cases is the generated matrix: per profile, every role × topology ×
// credential it defines, plus mixed mutual cases.
func Cases() []Case {
	var out []Case
	for _, p := range profileSpecs {
		out = append(out, p.cases()...)
	}
	return out
}

func (p profileSpec) cases() []Case {
	models := profile.MustDescribe(p.name).Models()
	out := make([]Case, len(models))
	for i, m := range models {
		out[i] = Case{Model: m, Reqs: p.reqs(m)}
	}
	return out
}

func specFor(profile string) profileSpec {
	for _, p := range profileSpecs {
		if p.name == profile {
			return p
		}
	}
	panic("specs: no profile " + profile)
}

// identity is the TLS identity key of the attester on one side.
func identity(client bool) any { return fixture().Attester[client].Identity().Public() }

var _ = Describe("Interaction models", func() {
	entries := []TableEntry{}
	for _, c := range Cases() {
		entries = append(entries, Entry(c.Model.ID(), c, c.Labels()))
	}
	DescribeTable("an attested handshake completes, data flows both ways and the relying party accepts the attestation",
		func(c Case) {
			m := c.Model
			r := run(m, harness.Tweaks{})
			Expect(r).To(ExchangeApplicationData())
			if m.Server.Attests {
				Expect(r.Client).To(AcceptAttestationOf(identity(false)), "the client, as relying party for the server")
			}
			if m.Client.Attests {
				Expect(r.Server).To(AcceptAttestationOf(identity(true)), "the server, as relying party for the client")
			}
			specFor(m.Profile).wire(m, r)
		},
		entries,
	)
})

// evidenceMediaType is the format the fixture's root of trust produces
// (Parsec TPM key attestation, or a PSA token on psa-iot), which an
// attester's evidence CMW must carry.
func evidenceMediaType() string { return fixture().MediaTypes[0] }
