package specs

import (
	"fmt"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile/codec"
	"github.com/attested-tls/conformance/impl/attest/profile/ea07"
	"github.com/attested-tls/conformance/impl/attest/profile/poc"
	"github.com/attested-tls/conformance/impl/attest/profile/ta07"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/reports/requirements"
	"github.com/attested-tls/conformance/suite/harness"
)

// Extensions outside the messages they are defined for. RFC 8446 §4.2:
// "If an implementation receives an extension which it recognizes and which
// is not specified for the message in which it appears, it MUST abort the
// handshake with an "illegal_parameter" alert." The specs come from each
// profile's own table (the one its hooks declare to the engine): one per
// extension and place it is not allowed in that the sending side can reach
// with the engine's Bugs. NewSessionTicket is left out: it follows the
// handshake, so the client's application data has flowed before it arrives.

// misplacedProfiles are the profiles' tables and the model each runs in:
// one where every place below is on the wire (both Certificates, and a
// CertificateRequest) as far as the profile allows.
var misplacedProfiles = []struct {
	model party.Model
	exts  func(codepoint.Table) []codec.Extension
	// reqs are the catalog entries that name the alert for a place.
	reqs map[tls13.ExtensionContext][]string
}{
	{model: mutualX509("ta-07"), exts: ta07.Extensions},
	{model: mutualX509("ea-07"), exts: ea07.Extensions,
		reqs: map[tls13.ExtensionContext][]string{tls13.InOtherCertificateEntry: {"EA07-4.1-3"}}},
	{model: party.Model{Profile: "poc", Client: party.Side{Attests: true, Topology: party.BackgroundCheck, Credential: party.AttestationOnly}},
		exts: poc.Extensions},
}

func mutualX509(profile string) party.Model {
	bg := party.Side{Attests: true, Topology: party.BackgroundCheck, Credential: party.X509}
	return party.Model{Profile: profile, Server: bg, Client: bg}
}

// misplacement is a place an endpoint can put an extension in.
type misplacement struct {
	where  tls13.ExtensionContext
	sender Endpoint
}

var misplacements = []misplacement{
	{tls13.InClientHello, Client},
	{tls13.InServerHello, Server},
	{tls13.InHelloRetryRequest, Server},
	{tls13.InEncryptedExtensions, Server},
	{tls13.InCertificateRequest, Server},
	{tls13.InFirstCertificateEntry, Server},
	{tls13.InOtherCertificateEntry, Server},
	{tls13.InFirstCertificateEntry, Client},
	{tls13.InOtherCertificateEntry, Client},
}

// reachable reports whether the sender's messages in m include the place.
func (p misplacement) reachable(m party.Model) bool {
	s := side(m, p.sender)
	if (p.where == tls13.InCertificateRequest || p.sender == Client && p.where&certificateEntries != 0) && !m.Client.Attests {
		return false // only a client that attests is asked for a certificate
	}
	// An attestation-only credential is one entry, written by the hooks.
	return p.where != tls13.InOtherCertificateEntry || !s.Attests || s.Credential == party.X509
}

const certificateEntries = tls13.InFirstCertificateEntry | tls13.InOtherCertificateEntry

// tweak makes the sender put ext at the place.
func (p misplacement) tweak(m party.Model, ext tls13.Extension) harness.Tweaks {
	var t harness.Tweaks
	if p.where == tls13.InOtherCertificateEntry {
		t = longerChain(m, p.sender)
	}
	chain := t.Configs
	t.Configs = func(client, server *tls13.Config) {
		if chain != nil {
			chain(client, server)
		}
		b := &server.Bugs
		if p.sender == Client {
			b = &client.Bugs
		}
		switch p.where {
		case tls13.InFirstCertificateEntry:
			b.ExtraEntryExtensions = map[int][]tls13.Extension{0: {ext}}
		case tls13.InOtherCertificateEntry:
			b.ExtraEntryExtensions = map[int][]tls13.Extension{1: {ext}}
		default:
			msg := map[tls13.ExtensionContext]uint8{
				tls13.InClientHello: tls13.MsgClientHello, tls13.InServerHello: tls13.MsgServerHello,
				tls13.InHelloRetryRequest: tls13.MsgServerHello, tls13.InEncryptedExtensions: tls13.MsgEncryptedExtensions,
				tls13.InCertificateRequest: tls13.MsgCertificateRequest,
			}[p.where]
			b.ExtraExtensions = map[uint8][]tls13.Extension{msg: {ext}}
			// The HelloRetryRequest carries it, and the client stops there.
			b.AlwaysHelloRetry = p.where == tls13.InHelloRetryRequest
		}
	}
	return t
}

// longerChain gives e's Certificate a second entry, the fixture CA's
// certificate: in the attester's chain, or else in its plain credential.
func longerChain(m party.Model, e Endpoint) harness.Tweaks {
	withCA := fixture().ChainWithCA(e == Client)
	if side(m, e).Attests {
		return on(e, func(p *party.Party) { p.Chain = withCA })
	}
	return harness.Tweaks{Configs: func(client, server *tls13.Config) {
		cfg := server
		if e == Client {
			cfg = client
		}
		creds := slices.Clone(cfg.Certificates)
		for i := range creds {
			creds[i].Chain = append(slices.Clone(creds[i].Chain), withCA[len(withCA)-1])
		}
		cfg.Certificates = creds
	}}
}

var _ = Describe("Extensions outside the messages they are defined for (RFC 8446 §4.2)", Label("misplaced-extension"), func() {
	for _, prof := range misplacedProfiles {
		m := prof.model
		Describe(describeModel(m), Case{Model: m}.Labels(), func() {
			for _, x := range prof.exts(codepoint.Default()) {
				for _, p := range misplacements {
					if x.Allowed&p.where != 0 || !p.reachable(m) {
						continue
					}
					var labels Labels
					for _, id := range prof.reqs[p.where] {
						labels = append(labels, requirements.Label(id))
					}
					receiver := p.sender.Other()
					where := p.where.String()
					if p.where&certificateEntries != 0 {
						where += fmt.Sprintf(" of the %s's Certificate", p.sender)
					}
					// The body is not what is tested: the type alone is out of place.
					ext := tls13.Extension{Type: x.Type, Data: []byte{0, 0}}
					It(fmt.Sprintf("the %s aborts with illegal_parameter when %s arrives in %s", receiver, x.Name, where), labels, func() {
						r := run(m, p.tweak(m, ext))
						Expect(r).To(AbortWith(tls13.AlertIllegalParameter, SentBy(receiver)))
						Expect(r).To(FailClosed())
					})
				}
			}
		})
	}
})
