package specs

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/eaframe"
	"github.com/attested-tls/conformance/impl/attest/endpoint"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile/xp03"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/reports/requirements"
	"github.com/attested-tls/conformance/suite/harness"
	"github.com/attested-tls/conformance/suite/harness/wire"
)

// xp-03: draft-fossati-seat-expat (editor's copy, -03). The attestation
// follows a plain handshake, in RFC 9261 exported authenticators carried
// in the suite's frames (impl/attest/eaframe); X.509 is required (§3.3).
var xp03Spec = profileSpec{
	name: "xp-03",
	wire: xp03Wire,
	reqs: xp03Reqs,
}

func xp03Reqs(m party.Model) []string {
	ids := []string{"XP03-3-1", "XP03-3.1-1", "XP03-3.2-1", "XP03-3.3-1", "XP03-4-1", "XP03-4.3-1", "XP03-4.3-2",
		"XP03-5.1-1", "XP03-5.2-1", "XP03-5.2-2", "XP03-5.2-3", "XP03-7.2-1", "XP03-7.2-2", "XP03-7.3-1"}
	if m.Server.Topology == party.Passport && m.Server.Attests || m.Client.Topology == party.Passport && m.Client.Attests {
		ids = append(ids, "XP03-4-2")
	}
	if m.Server.Topology == party.BackgroundCheck && m.Server.Attests || m.Client.Topology == party.BackgroundCheck && m.Client.Attests {
		ids = append(ids, "XP03-7-1")
	}
	return ids
}

// xpFrames are the frames e sent (sent) or received: against a peer
// under test, as the reference's wire recorder read them.
func xpFrames(r *harness.Result, e Endpoint, sent bool) []eaframe.Frame {
	if r.Foreign {
		if (e == Client) == sent {
			return r.ClientFrames
		}
		return r.ServerFrames
	}
	cs := r.Server
	if e == Client {
		cs = r.Client
	}
	var out []eaframe.Frame
	for _, f := range xp03.Frames(cs) {
		if f.Sent == sent {
			out = append(out, f.Frame)
		}
	}
	return out
}

func xpFind(fs []eaframe.Frame, t eaframe.Type) (eaframe.Frame, bool) {
	for _, f := range fs {
		if f.Type == t {
			return f, true
		}
	}
	return eaframe.Frame{}, false
}

func xp03Wire(m party.Model, r *harness.Result) {
	t := codepoint.Default()
	ext := t.XP03CMWAttestation

	step("nothing of the attestation travels in the handshake (§3: only in exported authenticators)")
	for _, e := range []Endpoint{Client, Server} {
		f := r.ServerSent
		if e == Client {
			f = r.ClientSent
		}
		for _, msg := range f {
			if exts, err := msg.Extensions(); err == nil {
				_, found := tls13.FindExtension(exts, ext)
				Expect(found).To(BeFalse(), "cmw_attestation in the %s's %s", e, wire.Name(msg.Type()))
			}
			if c, err := msg.Certificate(); err == nil {
				for i, en := range c.Entries {
					_, found := tls13.FindExtension(en.Extensions, ext)
					Expect(found).To(BeFalse(), "cmw_attestation in the %s's handshake CertificateEntry %d", e, i)
				}
			}
		}
	}

	step("the client offers no 0-RTT and the server sends no NewSessionTicket (§7.2)")
	ch := sent(r, Client, wire.ClientHello)
	exts, err := ch.Extensions()
	Expect(err).NotTo(HaveOccurred())
	for _, typ := range []uint16{42, 41} { // early_data, pre_shared_key
		_, found := tls13.FindExtension(exts, typ)
		Expect(found).To(BeFalse(), "ClientHello extension %d", typ)
	}
	Expect(r.ServerSent.Has(tls13.MsgNewSessionTicket)).To(BeFalse(), "the server sent a NewSessionTicket")

	for _, att := range []Endpoint{Server, Client} {
		if !attests(m, att) {
			continue
		}
		rp := att.Other()
		step(fmt.Sprintf("the %s asks with an empty cmw_attestation in its %s (§3.1)", rp, map[Endpoint]string{Client: "ClientCertificateRequest", Server: "CertificateRequest"}[rp]))
		req, ok := xpFind(xpFrames(r, rp, true), eaframe.AuthenticatorRequest)
		Expect(ok).To(BeTrue(), "the %s sent no authenticator request", rp)
		want := tls13.MsgCertificateRequest
		if rp == Client {
			want = 17 // ClientCertificateRequest (RFC 9261 §4)
		}
		Expect(req.Body[0]).To(Equal(want), "the request's message type")
		rexts, err := tls13.AuthenticatorRequestExtensions(req.Body)
		Expect(err).NotTo(HaveOccurred())
		data, found := tls13.FindExtension(rexts, ext)
		Expect(found).To(BeTrue(), "no cmw_attestation in the request")
		Expect(data).To(BeEmpty(), "cmw_attestation in a request is empty")
		ctx, err := tls13.AuthenticatorRequestContext(req.Body)
		Expect(err).NotTo(HaveOccurred())

		step(fmt.Sprintf("the %s answers with cmw_attestation in the first CertificateEntry alone, for the request's context (§3, §3.2)", att))
		auth, ok := xpFind(xpFrames(r, att, true), eaframe.Authenticator)
		Expect(ok).To(BeTrue(), "the %s sent no authenticator", att)
		actx, err := tls13.AuthenticatorContext(auth.Body)
		Expect(err).NotTo(HaveOccurred())
		Expect(actx).To(Equal(ctx), "the authenticator's certificate_request_context")
		c, err := wire.Leading(auth.Body).Certificate()
		Expect(err).NotTo(HaveOccurred())
		Expect(c.Entries).NotTo(BeEmpty())
		d, found := tls13.FindExtension(c.Entries[0].Extensions, ext)
		Expect(found).To(BeTrue(), "no cmw_attestation in the end-entity entry")
		var x xp03.CMWAttestation
		Expect(x.Unmarshal(d)).To(Succeed())
		wantType := evidenceMediaType()
		if side(m, att).Topology == party.Passport {
			wantType = party.EARMediaType
		}
		Expect(cmwMediaType(x.CMWData)).To(Equal(wantType))
		for i, en := range c.Entries[1:] {
			_, found := tls13.FindExtension(en.Extensions, ext)
			Expect(found).To(BeFalse(), "cmw_attestation in CertificateEntry %d", i+1)
		}
	}

	step("no application data before both sides said attested (§7.3)")
	for _, e := range []Endpoint{Client, Server} {
		attested := 0
		for _, f := range xpFrames(r, e, true) {
			if f.Type == eaframe.Attested {
				attested++
			}
			if f.Type == eaframe.ApplicationData {
				Expect(attested).To(Equal(1), "the %s sent application data before its attested", e)
			}
		}
	}
}

func attests(m party.Model, e Endpoint) bool { return side(m, e).Attests }

func xp03Violations(m party.Model) []violation {
	t := codepoint.Default()
	att := attester(m)
	rp := att.Other()
	s := side(m, att)
	unsolicited, _ := xp03.CMWAttestation{CMWData: []byte{0x82, 0x01, 0x41, 0x00}}.Marshal()
	vs := []violation{
		{it: fmt.Sprintf("the %s aborts the authenticator verification with unsupported_extension when cmw_attestation comes unsolicited", rp),
			tweak: harness.Tweaks{Configs: func(client, server *tls13.Config) {
				a, r := server, client
				if att == Client {
					a, r = client, server
				}
				a.Bugs.UnsolicitedAuthenticatorExtensions = []tls13.Extension{{Type: t.XP03CMWAttestation, Data: unsolicited}}
				r.Bugs.DropExtensions = []uint16{t.XP03CMWAttestation}
			}}, alert: tls13.AlertUnsupportedExtension, sender: rp, reqs: []string{"XP03-3.1-2"}},
		{it: fmt.Sprintf("the %s aborts with illegal_parameter when cmw_attestation is not in the first CertificateEntry", rp),
			tweak: payloadInSecondEntry(att), alert: tls13.AlertIllegalParameter, sender: rp, reqs: []string{"XP03-3-1", "XP03-3-2"}},
		{it: fmt.Sprintf("the %s aborts with bad_certificate when the attested key is not the end-entity key (AIK_pub_hash)", rp),
			fault: otherKey, alert: xp03.AlertRejected, sender: rp, reqs: []string{"XP03-5.2-3"}},
		{it: fmt.Sprintf("the %s aborts with bad_certificate when cmw_data is not a CMW", rp),
			tweak: bug(att, func(b *party.Bugs) { b.MalformedPayload = true }), alert: xp03.AlertRejected, sender: rp, reqs: []string{"XP03-4-1"}},
		{it: fmt.Sprintf("the %s aborts with bad_certificate when the authenticator carries no cmw_attestation", rp),
			tweak: bug(att, func(b *party.Bugs) { b.OmitPayload = true }), alert: xp03.AlertRejected, sender: rp, reqs: []string{"XP03-4-1"}},
		{it: fmt.Sprintf("the %s aborts with certificate_required when the %s declines with the empty authenticator", rp, att),
			tweak: bug(att, func(b *party.Bugs) { b.Decline = true }), alert: tls13.AlertCertificateRequired, sender: rp},
		{it: fmt.Sprintf("the %s aborts with decrypt_error when the authenticator's CertificateVerify does not verify", rp),
			tweak: harness.Tweaks{Configs: func(client, server *tls13.Config) {
				if att == Client {
					client.Bugs.CorruptAuthenticatorSignature = true
				} else {
					server.Bugs.CorruptAuthenticatorSignature = true
				}
			}}, alert: tls13.AlertDecryptError, sender: rp, reqs: []string{"XP03-4.3-2"}},
		{it: fmt.Sprintf("the %s aborts with unknown_ca when the attested certificate does not chain to its trust anchor, however good the attestation", rp),
			tweak: on(att, func(p *party.Party) {
				ca, err := endpoint.NewCA()
				Expect(err).NotTo(HaveOccurred())
				p.Chain, err = ca.Issue(p.Identity(), att == Client, fixture().ServerName)
				Expect(err).NotTo(HaveOccurred())
			}), alert: tls13.AlertUnknownCA, sender: rp, reqs: []string{"XP03-3.3-1", "XP03-3.3-2"}},
		{it: fmt.Sprintf("the %s aborts with unexpected_message when application data comes before the attestation", att),
			tweak: bug(rp, func(b *party.Bugs) { b.DataBeforeAttestation = []byte("too early") }),
			alert: tls13.AlertUnexpectedMessage, sender: att, reqs: []string{"XP03-7.3-1"}},
	}
	if s.Topology == party.BackgroundCheck {
		vs = append(vs,
			violation{it: fmt.Sprintf("the %s aborts with bad_certificate when the Evidence carries another binding value", rp),
				tweak: bug(att, func(b *party.Bugs) { b.WrongChallenge = true }), alert: xp03.AlertRejected, sender: rp,
				reqs: []string{"XP03-3.2-1", "XP03-5.1-1"}},
			violation{it: fmt.Sprintf("the %s aborts with bad_certificate when the Evidence is signed by an attestation key no trust anchor vouches for", rp),
				fault: &parsectpm.Faults{UnendorsedKey: true}, alert: xp03.AlertRejected, sender: rp, reqs: []string{"XP03-7-1"}},
		)
	} else {
		vs = append(vs, violation{it: fmt.Sprintf("the %s aborts with bad_certificate when the Attestation Result is signed by a verifier it does not trust", rp),
			tweak: untrustedResults(att), alert: xp03.AlertRejected, sender: rp, reqs: []string{"XP03-4-2"}})
	}
	if att == Server {
		vs = append(vs, violation{it: "the server refuses a ClientHello that offers 0-RTT with illegal_parameter (XP03-I-3)",
			tweak: harness.Tweaks{Configs: func(client, _ *tls13.Config) {
				client.Bugs.ExtraExtensions = map[uint8][]tls13.Extension{wire.ClientHello: {{Type: 42}}}
			}}, alert: tls13.AlertIllegalParameter, sender: Server, reqs: []string{"XP03-7.2-2"}})
	}
	return vs
}

var _ = Describe("xp-03: draft-fossati-seat-expat (post-handshake attestation)", func() {
	for _, m := range oneSided(xp03Spec) {
		describeViolations(m, xp03Violations(m), nil)
	}
	bg := party.Side{Attests: true, Topology: party.BackgroundCheck, Credential: party.X509}
	server := party.Model{Profile: "xp-03", Server: bg}
	Describe(describeModel(server), Case{Model: server}.Labels(), func() {
		It("a client that receives a NewSessionTicket discards it, completes, and offers no resumption on its next connection",
			Label(requirements.Label("XP03-7.2-3")), func() {
				r := run(server, bug(Server, func(b *party.Bugs) { b.SessionTicket = true }))
				Expect(r).To(ExchangeApplicationData())
				Expect(r.ServerSent.Has(tls13.MsgNewSessionTicket)).To(BeTrue(), "the misbehaving server sent no ticket")
				again := run(server, harness.Tweaks{})
				exts, err := sent(again, Client, wire.ClientHello).Extensions()
				Expect(err).NotTo(HaveOccurred())
				_, psk := tls13.FindExtension(exts, 41)
				Expect(psk).To(BeFalse(), "the next ClientHello offers a PSK")
			})
		It("an endpoint that does not attest answers a request carrying cmw_attestation as if the extension were absent",
			Label(requirements.Label("XP03-3.1-3")), func() {
				r := run(server, harness.Tweaks{Parties: func(client, srv *party.Party) {
					srv.Attester = nil
					client.RequirePeer = false
				}})
				Expect(r).To(ExchangeApplicationData())
				_, ok := xpFind(xpFrames(r, Server, true), eaframe.Authenticator)
				Expect(ok).To(BeTrue(), "the server did not answer the request")
				o, _ := party.PeerOutcome(r.Client)
				Expect(o.Reason).To(Equal(party.ReasonDeclined))
			})
		It("both endpoints reading the exporter label \"Attestation Binding\" (XP03-I-1, validation-section) interoperate; one of each reading does not",
			Label(requirements.Label("XP03-5.1-1"), "interpretation:XP03-I-1"), func() {
				both := run(server, harness.Tweaks{Parties: func(c, s *party.Party) {
					c.Readings = []string{xp03.ReadingValidationLabel}
					s.Readings = []string{xp03.ReadingValidationLabel}
				}})
				Expect(both).To(ExchangeApplicationData())
				mixed := run(server, on(Client, func(p *party.Party) { p.Readings = []string{xp03.ReadingValidationLabel} }))
				Expect(mixed).To(AbortWith(xp03.AlertRejected, SentBy(Client)))
				Expect(mixed).To(FailClosed())
			})
	})
})
