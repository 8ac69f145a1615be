package specs

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile/ea07"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/reports/requirements"
	"github.com/attested-tls/conformance/suite/harness"
	"github.com/attested-tls/conformance/suite/harness/wire"
)

// ea-07: draft-fossati-seat-early-attestation-07. Every interaction model;
// X.509 is mandatory (the TIK "MUST be the X.509 certificate's end entity
// key", §2), so there is no attestation-only credential.
var ea07Spec = profileSpec{
	name: "ea-07",
	wire: ea07Wire,
	reqs: ea07Reqs,
}

// ea07Reqs lists what ea07Wire and the acceptance checks verify for m.
func ea07Reqs(m party.Model) []string {
	ids := []string{"EA07-6-1"}
	add := func(cond bool, more ...string) {
		if cond {
			ids = append(ids, more...)
		}
	}
	any := func(f func(s party.Side) bool) bool { return f(m.Server) || f(m.Client) }
	bg := func(s party.Side) bool { return s.Attests && s.Topology == party.BackgroundCheck }
	// Whoever attests: the TIK is the end-entity key and the payload binds it (§2, §4, §4.1).
	add(true, "EA07-2-1", "EA07-4-1", "EA07-4.1-1", "EA07-4.1-4")
	// Evidence: the binder over the hello transcript and the TIK hash, computed and checked by the relying party (§4, §5).
	add(any(bg), "EA07-4-2", "EA07-4.1-5", "EA07-5.1.2-1", "EA07-5.2-1")
	add(m.Server.Attests, "EA07-7.1-3", "EA07-7.2-2", "EA07-7.2-3", "EA07-7.2-4", "EA07-7.2-5", "EA07-7.2-7")
	add(bg(m.Server), "EA07-7.2-6")
	add(m.Client.Attests, "EA07-7.1-1", "EA07-7.1-2", "EA07-7.3-1", "EA07-7.3-2", "EA07-7.3-3", "EA07-7.4-3", "EA07-7.2-7")
	add(bg(m.Client), "EA07-7.4-4")
	return ids
}

func ea07Schemes(data []byte) ea07.RemoteAttestationCH {
	var x ea07.RemoteAttestationCH
	ExpectWithOffset(1, x.Unmarshal(data)).To(Succeed())
	return x
}

func ea07Wire(m party.Model, r *harness.Result) {
	t := codepoint.Default()
	ch := sent(r, Client, wire.ClientHello)
	ee := sent(r, Server, wire.EncryptedExtensions)

	step("the ClientHello populates at least one AttestationScheme list, for the directions the client wants (§6, §7.1)")
	offered := ea07Schemes(expectExtension(ch, t.EA07RemoteAttestation, true, "remoteAttestation"))
	Expect(len(offered.ServerAttesterSchemes) + len(offered.ClientAttesterSchemes)).To(BeNumerically(">", 0))
	Expect(len(offered.ServerAttesterSchemes) > 0).To(Equal(m.Server.Attests), "server_attester_schemes")
	Expect(len(offered.ClientAttesterSchemes) > 0).To(Equal(m.Client.Attests), "client_attester_schemes")

	step("the server attests with a scheme from server_attester_schemes, chosen in EncryptedExtensions (§7.2)")
	eeData := expectExtension(ee, t.EA07RemoteAttestation, m.Server.Attests, "remoteAttestation")
	chosen := map[Endpoint]ea07.AttestationScheme{}
	if m.Server.Attests {
		var x ea07.RemoteAttestationEE
		Expect(x.Unmarshal(eeData)).To(Succeed())
		Expect(x.ChosenServerScheme.In(offered.ServerAttesterSchemes)).To(BeTrue(), "chosen_server_scheme %v not offered", x.ChosenServerScheme)
		chosen[Server] = x.ChosenServerScheme
	}

	step("the server asks the client to attest in CertificateRequest, with a scheme from client_attester_schemes (§7.3)")
	if m.Client.Attests {
		crData := expectExtension(sent(r, Server, wire.CertificateRequest), t.EA07RemoteAttestation, true, "remoteAttestation")
		var x ea07.RemoteAttestationCR
		Expect(x.Unmarshal(crData)).To(Succeed())
		Expect(x.ChosenClientScheme.In(offered.ClientAttesterSchemes)).To(BeTrue(), "chosen_client_scheme %v not offered", x.ChosenClientScheme)
		chosen[Client] = x.ChosenClientScheme
	} else if cr, ok := r.ServerSent.Find(wire.CertificateRequest); ok {
		expectExtension(cr, t.EA07RemoteAttestation, false, "remoteAttestation")
	}

	step("the attester's Certificate carries remoteAttestation in its first entry only, with the chosen scheme's payload (§4.1, §7.2, §7.4)")
	for _, e := range []Endpoint{Server, Client} {
		if !side(m, e).Attests {
			continue
		}
		c := certificate(r, e)
		leafKeyIs(r, c, e)
		Expect(c.EntriesWith(t.EA07RemoteAttestation)).To(Equal([]int{0}), "the %s's remoteAttestation entries", e)
		data, _ := tls13.FindExtension(c.Entries[0].Extensions, t.EA07RemoteAttestation)
		var x ea07.RemoteAttestationCertificate
		Expect(x.Unmarshal(data)).To(Succeed())
		want := evidenceMediaType()
		if chosen[e].Mechanism == ea07.MechanismResult {
			want = party.EARMediaType
		}
		Expect(cmwMediaType(x.CMWPayload)).To(Equal(want), "the %s's payload for scheme %v", e, chosen[e])
	}
}

func ea07Violations(m party.Model) []violation {
	t := codepoint.Default()
	att := attester(m)
	rp := att.Other()
	s := side(m, att)
	selected := map[Endpoint][]string{Server: {"EA07-7.2-2", "EA07-7.2-7", "EA07-7.4-1"}, Client: {"EA07-7.3-1", "EA07-7.2-7", "EA07-7.4-1"}}[att]
	vs := []violation{
		{it: "the client aborts with illegal_parameter when the server chooses a scheme it did not offer",
			tweak: bug(Server, func(b *party.Bugs) { b.SelectUnoffered = true }), alert: tls13.AlertIllegalParameter, sender: Client, reqs: selected},
		{it: fmt.Sprintf("the %s aborts with attestation_failed when the attested key is not the end-entity certificate's key", rp),
			fault: otherKey, alert: t.EA07AttestationFailed, sender: rp, reqs: []string{"EA07-2-1", "EA07-5.1.2-7", "EA07-5.2-2", "EA07-5.2-4"}},
		{it: fmt.Sprintf("the %s aborts with attestation_failed when the cmw_payload is not a CMW", rp),
			tweak: bug(att, func(b *party.Bugs) { b.MalformedPayload = true }), alert: t.EA07AttestationFailed, sender: rp, reqs: []string{"EA07-5.1.2-2"}},
		{it: fmt.Sprintf("the %s aborts with illegal_parameter when remoteAttestation is not in the first CertificateEntry", rp),
			tweak: payloadInSecondEntry(att), alert: tls13.AlertIllegalParameter, sender: rp, reqs: []string{"EA07-4.1-3"}},
	}
	if s.Topology == party.BackgroundCheck {
		vs = append(vs,
			violation{it: "the server aborts with unsupported_attestation_schemes when no evidence type is shared",
				tweak: noCommonType(rp), alert: t.EA07UnsupportedAttestationSchemes, sender: Server, reqs: []string{"EA07-7.2-1"}},
			violation{it: fmt.Sprintf("the %s aborts with attestation_failed when the evidence carries another attestation binder", rp),
				tweak: bug(att, func(b *party.Bugs) { b.WrongChallenge = true }), alert: t.EA07AttestationFailed, sender: rp,
				reqs: []string{"EA07-5.1.2-1", "EA07-5.1.2-2", "EA07-5.1.2-3", "EA07-5.1.2-4"}},
		)
	} else {
		vs = append(vs,
			violation{it: "the server aborts with unsupported_attestation_schemes when no verifier is trusted by both",
				tweak: noCommonVerifier(rp), alert: t.EA07UnsupportedAttestationSchemes, sender: Server, reqs: []string{"EA07-7.2-1"}},
			violation{it: fmt.Sprintf("the %s aborts with attestation_failed when the results come from a verifier it does not trust", rp),
				tweak: untrustedResults(att), alert: t.EA07AttestationFailed, sender: rp, reqs: []string{"EA07-5.1.2-7"}},
		)
	}
	if att == Server {
		vs = append(vs, violation{it: "the client aborts with attestation_required when its policy demands the server's attestation and the server declines",
			tweak: bug(Server, func(b *party.Bugs) { b.Decline = true }), alert: t.EA07AttestationRequired, sender: Client, reqs: []string{"EA07-7.4-2"}})
	} else {
		// The draft names no alert for a client that answers the
		// CertificateRequest with an empty Certificate; §7.4's
		// attestation_required, mirrored, is the one that says it.
		vs = append(vs, violation{it: "the server aborts with attestation_required when the client it asked to attest declines",
			tweak: bug(Client, func(b *party.Bugs) { b.Decline = true }), alert: t.EA07AttestationRequired, sender: Server})
	}
	vs = append(vs, violation{it: fmt.Sprintf("the %s aborts with attestation_failed when the %s's Certificate carries no remoteAttestation", rp, att),
		tweak: bug(att, func(b *party.Bugs) { b.OmitPayload = true }), alert: t.EA07AttestationFailed, sender: rp})
	return vs
}

var _ = Describe("ea-07: draft-fossati-seat-early-attestation-07", func() {
	for _, m := range oneSided(ea07Spec) {
		describeViolations(m, ea07Violations(m), func() { ea07LongChain(m) })
	}

	t := codepoint.Default()
	bg := party.Side{Attests: true, Topology: party.BackgroundCheck, Credential: party.X509}
	mutual := party.Model{Profile: "ea-07", Server: bg, Client: bg}
	Describe(describeModel(mutual), Case{Model: mutual}.Labels(), func() {
		It("the server omits remoteAttestation from CertificateRequest when it does not want the client to attest, and the connection proceeds",
			Label(requirements.Label("EA07-6-2")), func() {
				r := run(mutual, on(Server, func(p *party.Party) { p.VerifyPeer, p.RequirePeer = false, false }))
				Expect(r).To(ExchangeApplicationData())
				Expect(r.Client).To(AcceptAttestationOf(identity(false)))
				expectExtension(sent(r, Server, wire.EncryptedExtensions), t.EA07RemoteAttestation, true, "remoteAttestation")
				if cr, ok := r.ServerSent.Find(wire.CertificateRequest); ok {
					expectExtension(cr, t.EA07RemoteAttestation, false, "remoteAttestation")
				}
			})
		It("the server omits remoteAttestation from CertificateRequest when it supports none of the client's schemes, and the connection proceeds",
			Label(requirements.Label("EA07-6-2")), func() {
				r := run(mutual, on(Server, func(p *party.Party) {
					p.VerifierMediaTypes, p.RequirePeer = []string{"application/x-no-such-evidence"}, false
				}))
				Expect(r).To(ExchangeApplicationData())
				Expect(r.Client).To(AcceptAttestationOf(identity(false)))
				if cr, ok := r.ServerSent.Find(wire.CertificateRequest); ok {
					expectExtension(cr, t.EA07RemoteAttestation, false, "remoteAttestation")
				}
			})
	})

	server := party.Model{Profile: "ea-07", Server: bg}
	Describe(describeModel(server), Case{Model: server}.Labels(), func() {
		It("the server aborts with unsupported_attestation_schemes when both scheme lists of the ClientHello are empty",
			Label(requirements.Label("EA07-7.2-8")), func() {
				empty, err := ea07.RemoteAttestationCH{}.Marshal()
				Expect(err).NotTo(HaveOccurred())
				r := run(server, harness.Tweaks{Configs: func(client, _ *tls13.Config) {
					client.Bugs.DropExtensions = []uint16{t.EA07RemoteAttestation}
					client.Bugs.ExtraExtensions = map[uint8][]tls13.Extension{wire.ClientHello: {{Type: t.EA07RemoteAttestation, Data: empty}}}
				}})
				Expect(r).To(AbortWith(t.EA07UnsupportedAttestationSchemes, SentBy(Server)))
				Expect(r).To(FailClosed())
			})
	})
})

// ea07LongChain: with a chain of two certificates the attester still puts
// remoteAttestation on the first entry alone (§4.1).
func ea07LongChain(m party.Model) {
	att := attester(m)
	It(fmt.Sprintf("the %s sends remoteAttestation in the first CertificateEntry only, with a two-certificate chain", att),
		Label(requirements.Label("EA07-4.1-1"), requirements.Label("EA07-4.1-2")), func() {
			r := run(m, on(att, func(p *party.Party) { p.Chain = fixture().ChainWithCA(att == Client) }))
			Expect(r).To(ExchangeApplicationData())
			if att == Client {
				Expect(r.Server).To(AcceptAttestationOf(identity(true)))
			} else {
				Expect(r.Client).To(AcceptAttestationOf(identity(false)))
			}
			c := certificate(r, att)
			Expect(c.Entries).To(HaveLen(2))
			Expect(c.EntriesWith(codepoint.Default().EA07RemoteAttestation)).To(Equal([]int{0}))
		})
}
