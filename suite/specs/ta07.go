package specs

import (
	"bytes"
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile/ta07"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/reports/requirements"
	"github.com/attested-tls/conformance/suite/harness"
	"github.com/attested-tls/conformance/suite/harness/wire"
)

// ta-07: draft-fossati-tls-attestation-07. Every interaction model, both
// credentials (attestation alone, or X.509 plus attestation_evidence).
var ta07Spec = profileSpec{
	name: "ta-07",
	wire: ta07Wire,
	reqs: ta07Reqs,
}

type ta07Roles struct{ srvBG, srvPP, cliBG, cliPP bool }

func ta07RolesOf(m party.Model) ta07Roles {
	bg := func(s party.Side) bool { return s.Attests && s.Topology == party.BackgroundCheck }
	pp := func(s party.Side) bool { return s.Attests && s.Topology == party.Passport }
	return ta07Roles{bg(m.Server), pp(m.Server), bg(m.Client), pp(m.Client)}
}

// ta07Reqs lists what ta07Wire and the acceptance checks verify for m.
func ta07Reqs(m party.Model) []string {
	r := ta07RolesOf(m)
	var ids []string
	add := func(cond bool, more ...string) {
		if cond {
			ids = append(ids, more...)
		}
	}
	// The client offers only what it can appraise, and appraises what the server selected.
	add(r.srvBG, "TA07-8.1.1-3", "TA07-8.1.2-6")
	add(r.srvPP, "TA07-8.2.1-3", "TA07-8.2.2-6")
	// The client proposes only what it can present, and presents what the server selected.
	add(r.cliBG, "TA07-8.1.1-1", "TA07-8.1.2-2", "TA07-8.1.2-3", "TA07-8.1.2-4")
	add(r.cliPP, "TA07-8.2.1-1", "TA07-8.2.2-2", "TA07-8.2.2-3", "TA07-8.2.2-4")
	// Omitted extensions for roles the client does not play.
	add(!r.cliBG, "TA07-8.1.1-2")
	add(!r.cliPP, "TA07-8.2.1-2")
	add(!r.srvBG, "TA07-8.1.1-4")
	add(!r.srvPP, "TA07-8.2.1-4")
	return ids
}

func ta07Wire(m party.Model, r *harness.Result) {
	t := codepoint.Default()
	roles := ta07RolesOf(m)
	ch := sent(r, Client, wire.ClientHello)
	ee := sent(r, Server, wire.EncryptedExtensions)

	step("the ClientHello asks for what the client appraises and offers what it presents (§8.1.1, §8.2.1)")
	evReq := expectExtension(ch, t.TA07EvidenceRequest, roles.srvBG, "evidence_request")
	resReq := expectExtension(ch, t.TA07ResultsRequest, roles.srvPP, "results_request")
	evProp := expectExtension(ch, t.TA07EvidenceProposal, roles.cliBG, "evidence_proposal")
	resProp := expectExtension(ch, t.TA07ResultsProposal, roles.cliPP, "results_proposal")

	step("EncryptedExtensions selects exactly one of the client's values (§8.1.2, §8.2.2)")
	eeEvReq := expectExtension(ee, t.TA07EvidenceRequest, roles.srvBG, "evidence_request")
	eeResReq := expectExtension(ee, t.TA07ResultsRequest, roles.srvPP, "results_request")
	eeEvProp := expectExtension(ee, t.TA07EvidenceProposal, roles.cliBG, "evidence_proposal")
	eeResProp := expectExtension(ee, t.TA07ResultsProposal, roles.cliPP, "results_proposal")
	if roles.srvBG {
		var offered ta07.EvidenceRequestCH
		var sel ta07.EvidenceRequestEE
		Expect(offered.Unmarshal(evReq)).To(Succeed())
		Expect(sel.Unmarshal(eeEvReq)).To(Succeed())
		Expect(offered.SupportedEvidenceTypes).To(ContainElement(Satisfy(sel.SelectedEvidenceType.Equal)), "selected %v", sel.SelectedEvidenceType)
	}
	if roles.cliBG {
		var offered ta07.EvidenceProposalCH
		var sel ta07.EvidenceProposalEE
		Expect(offered.Unmarshal(evProp)).To(Succeed())
		Expect(sel.Unmarshal(eeEvProp)).To(Succeed())
		Expect(offered.SupportedEvidenceTypes).To(ContainElement(Satisfy(sel.SelectedEvidenceType.Equal)), "selected %v", sel.SelectedEvidenceType)
	}
	for _, pair := range [][2][]byte{{resReq, eeResReq}, {resProp, eeResProp}} {
		if pair[0] == nil {
			continue
		}
		var offered ta07.ResultsCH
		var sel ta07.ResultsEE
		Expect(offered.Unmarshal(pair[0])).To(Succeed())
		Expect(sel.Unmarshal(pair[1])).To(Succeed())
		Expect(offered.TrustedVerifiers).To(ContainElement(Satisfy(func(v ta07.VerifierIdentity) bool {
			return bytes.Equal(v, sel.SelectedVerifier)
		})), "selected verifier %x", []byte(sel.SelectedVerifier))
	}
	if m.Client.Attests {
		step("the server that takes the client's proposal sends a CertificateRequest (§8.1.2, §8.2.2)")
		Expect(r.ServerSent.Has(wire.CertificateRequest)).To(BeTrue(), "no CertificateRequest")
	}

	step("the attester's Certificate carries its attestation (§6.1, §6.2)")
	for _, e := range []Endpoint{Server, Client} {
		s := side(m, e)
		if !s.Attests {
			continue
		}
		want := evidenceMediaType()
		if s.Topology == party.Passport {
			want = party.EARMediaType
		}
		c := certificate(r, e)
		if s.Credential == party.X509 {
			leafKeyIs(r, c, e)
			Expect(c.EntriesWith(t.TA07AttestationEvidence)).To(Equal([]int{0}), "attestation_evidence must be on the end-entity's entry only")
			payload, _ := tls13.FindExtension(c.Entries[0].Extensions, t.TA07AttestationEvidence)
			Expect(cmwMediaType(payload)).To(Equal(want))
			continue
		}
		certType := r.Client.ServerCertificateType
		if e == Client {
			certType = r.Server.ClientCertificateType
		}
		Expect(certType).To(Equal(tls13.CertificateType(t.TA07AttestationCertType)), "the %s's certificate type", e)
		Expect(c.Entries).To(HaveLen(1))
		Expect(cmwMediaType(c.Entries[0].Data)).To(Equal(want))
	}
}

func ta07Violations(m party.Model) []violation {
	t := codepoint.Default()
	att := attester(m)
	rp := att.Other()
	s := side(m, att)
	var vs []violation
	if s.Topology == party.BackgroundCheck {
		selected := map[Endpoint]string{Server: "TA07-8.1.2-6", Client: "TA07-8.1.2-3"}[att]
		bound := "nonce"
		if s.Credential == party.X509 {
			bound = "channel binder"
		}
		vs = append(vs,
			violation{it: "the server aborts with unsupported_evidence when no evidence type is shared",
				tweak: noCommonType(rp), alert: t.TA07UnsupportedEvidence, sender: Server, reqs: []string{"TA07-8.1.2-1"}},
			violation{it: "the client aborts with illegal_parameter when the server selects an evidence type it did not offer",
				tweak: bug(Server, func(b *party.Bugs) { b.SelectUnoffered = true }), alert: tls13.AlertIllegalParameter, sender: Client, reqs: []string{selected}},
			violation{it: fmt.Sprintf("the %s aborts with decode_error when the nonce is shorter than 8 bytes", att),
				tweak: bug(rp, func(b *party.Bugs) { b.NonceLength = 7 }), alert: tls13.AlertDecodeError, sender: att},
			violation{it: fmt.Sprintf("the %s aborts with unsupported_evidence when the nonce is longer than its TPM evidence can bind (65 bytes; interpretation TA07-I-6)", att),
				tweak: bug(rp, func(b *party.Bugs) { b.NonceLength = 65 }), alert: t.TA07UnsupportedEvidence, sender: att, bounded: true},
			violation{it: fmt.Sprintf("the %s aborts with bad_certificate when the evidence is bound to another %s", rp, bound),
				tweak: bug(att, func(b *party.Bugs) { b.WrongChallenge = true }), alert: tls13.AlertBadCertificate, sender: rp},
		)
	} else {
		selected := map[Endpoint]string{Server: "TA07-8.2.2-6", Client: "TA07-8.2.2-3"}[att]
		vs = append(vs,
			violation{it: "the server aborts with unsupported_verifiers when no verifier is trusted by both",
				tweak: noCommonVerifier(rp), alert: t.TA07UnsupportedVerifiers, sender: Server, reqs: []string{"TA07-8.2.2-1"}},
			violation{it: "the client aborts with illegal_parameter when the server selects a verifier it was not offered",
				tweak: bug(Server, func(b *party.Bugs) { b.SelectUnoffered = true }), alert: tls13.AlertIllegalParameter, sender: Client, reqs: []string{selected}},
			violation{it: fmt.Sprintf("the %s aborts with bad_certificate when the results come from a verifier it does not trust", rp),
				tweak: untrustedResults(att), alert: tls13.AlertBadCertificate, sender: rp},
		)
	}
	switch {
	case s.Credential == party.AttestationOnly && s.Topology == party.BackgroundCheck:
		// Nothing but CertificateVerify ties the evidence to the connection.
		vs = append(vs, violation{it: fmt.Sprintf("the %s aborts with decrypt_error when the attested key is not the key signing CertificateVerify", rp),
			fault: otherKey, alert: tls13.AlertDecryptError, sender: rp})
	case s.Credential == party.AttestationOnly:
		// The attester's verifier appraised evidence for its TLS key and
		// found another key certified: the passport is not affirming.
		// Veraison does not know the TLS key the attester meant, affirms the
		// other key, and CertificateVerify then fails.
		vs = append(vs, violation{it: fmt.Sprintf("the %s aborts when the passport attests another key: bad_certificate if the verifier knew the TLS key, else decrypt_error", rp),
			fault: otherKey, alert: tls13.AlertBadCertificate, onVeraison: tls13.AlertDecryptError, sender: rp})
	default:
		vs = append(vs,
			violation{it: fmt.Sprintf("the %s aborts with bad_certificate when the attested key is not the end-entity certificate's key", rp),
				fault: otherKey, alert: tls13.AlertBadCertificate, sender: rp},
			violation{it: fmt.Sprintf("the %s aborts with illegal_parameter when attestation_evidence is not on the end-entity's CertificateEntry", rp),
				tweak: payloadInSecondEntry(att), alert: tls13.AlertIllegalParameter, sender: rp},
		)
	}
	vs = append(vs, violation{it: fmt.Sprintf("the %s aborts with bad_certificate when the attestation is not a CMW", rp),
		tweak: bug(att, func(b *party.Bugs) { b.MalformedPayload = true }), alert: tls13.AlertBadCertificate, sender: rp})
	if att == Server {
		code, name := t.TA07UnsupportedEvidence, "unsupported_evidence"
		if s.Topology == party.Passport {
			code, name = t.TA07UnsupportedVerifiers, "unsupported_verifiers"
		}
		declined := violation{it: fmt.Sprintf("the client aborts with %s when it requires the server's attestation and the server declines", name),
			tweak: bug(Server, func(b *party.Bugs) { b.Decline = true }), alert: code, sender: Client}
		if s.Credential == party.AttestationOnly {
			// A client that accepts only the attestation certificate type
			// leaves a declining server no certificate to send (RFC 7250 §4.2).
			declined = violation{it: "the server that declines to attest aborts with unsupported_certificate, the client accepting only the attestation certificate type",
				tweak: declined.tweak, alert: tls13.AlertUnsupportedCertificate, sender: Server}
		}
		vs = append(vs, declined)
	} else {
		ext, req := "evidence_proposal", "TA07-8.1.2-4"
		if s.Topology == party.Passport {
			ext, req = "results_proposal", "TA07-8.2.2-4"
		}
		vs = append(vs,
			violation{it: "the server aborts with certificate_required when the client that proposed attestation declines to attest",
				tweak: bug(Client, func(b *party.Bugs) { b.Decline = true }), alert: tls13.AlertCertificateRequired, sender: Server},
			violation{it: fmt.Sprintf("the client aborts with illegal_parameter when the server accepts its %s without a CertificateRequest", ext),
				tweak: bug(Server, func(b *party.Bugs) { b.OmitCertificateRequest = true }), alert: tls13.AlertIllegalParameter, sender: Client, reqs: []string{req}},
		)
	}
	return vs
}

// ta07NotAsked: a server that does not want the client's attestation
// leaves the proposal unanswered and the handshake goes on (§8.1.2, §8.2.2).
func ta07NotAsked(m party.Model) func() {
	if attester(m) != Client {
		return nil
	}
	ext, typ, req := "evidence_proposal", codepoint.Default().TA07EvidenceProposal, "TA07-8.1.2-5"
	if m.Client.Topology == party.Passport {
		ext, typ, req = "results_proposal", codepoint.Default().TA07ResultsProposal, "TA07-8.2.2-5"
	}
	// What matches nothing: a type (a verifier) the server cannot take.
	nothing, alert, alertName := noCommonType(Server), codepoint.Default().TA07UnsupportedEvidence, "unsupported_evidence"
	if m.Client.Topology == party.Passport {
		nothing, alert, alertName = noCommonVerifier(Server), codepoint.Default().TA07UnsupportedVerifiers, "unsupported_verifiers"
	}
	// wanting is a server that would take the client's attestation but
	// does not require it, under reading omit or not (TA07-I-4).
	wanting := func(omit bool) harness.Tweaks {
		return harness.Tweaks{Parties: func(c, srv *party.Party) {
			nothing.Parties(c, srv)
			srv.VerifyPeer, srv.RequirePeer, srv.OmitUnmatchedProposal = true, false, omit
		}}
	}
	return func() {
		It(fmt.Sprintf("the server that does not ask for the client's attestation omits %s and CertificateRequest, and the connection proceeds", ext),
			Label(requirements.Label(req)), func() {
				r := run(m, on(Server, func(p *party.Party) { p.VerifyPeer, p.RequirePeer = false, false }))
				Expect(r).To(ExchangeApplicationData())
				expectExtension(sent(r, Client, wire.ClientHello), typ, true, ext)
				expectExtension(sent(r, Server, wire.EncryptedExtensions), typ, false, ext)
				Expect(r.ServerSent.Has(wire.CertificateRequest)).To(BeFalse(), "a CertificateRequest was sent")
			})
		It(fmt.Sprintf("reading TA07-I-4 as abort (the default): the server that matches nothing in the client's %s aborts with %s, though it does not require the client's attestation",
			ext, alertName), Label(requirements.Label(req), "interpretation:TA07-I-4"), func() {
			r := run(m, wanting(false))
			Expect(r).To(AbortWith(alert, SentBy(Server)))
			Expect(r).To(FailClosed())
		})
		It(fmt.Sprintf("reading TA07-I-4 as omit: the server that matches nothing in the client's %s omits it and CertificateRequest, and the connection proceeds", ext),
			Label(requirements.Label(req), "interpretation:TA07-I-4"), func() {
				r := run(m, wanting(true))
				Expect(r).To(ExchangeApplicationData())
				expectExtension(sent(r, Server, wire.EncryptedExtensions), typ, false, ext)
				Expect(r.ServerSent.Has(wire.CertificateRequest)).To(BeFalse(), "a CertificateRequest was sent")
			})
	}
}

var _ = Describe("ta-07: draft-fossati-tls-attestation-07", func() {
	for _, m := range oneSided(ta07Spec) {
		describeViolations(m, ta07Violations(m), ta07NotAsked(m))
	}
})

// An attestation_evidence nobody asked for: the server's plain X.509
// certificate carries one although the client negotiated no evidence
// from the server (RFC 8446 §4.4.2: extensions in Certificate answer the
// ClientHello's).
var _ = Describe("ta-07: unsolicited attestation_evidence", func() {
	m := party.Model{Profile: "ta-07", Client: party.Side{Attests: true, Topology: party.BackgroundCheck, Credential: party.X509}}
	Describe(describeModel(m), Case{Model: m}.Labels(), func() {
		It("the client aborts with unsupported_extension when the server's certificate carries attestation_evidence it did not negotiate", func() {
			r := run(m, harness.Tweaks{Configs: func(_, s *tls13.Config) {
				s.Bugs.ExtraEntryExtensions = map[int][]tls13.Extension{0: {{Type: codepoint.Default().TA07AttestationEvidence, Data: []byte{0xa0}}}}
			}})
			Expect(r).To(AbortWith(tls13.AlertUnsupportedExtension, SentBy(Client)))
			Expect(r).To(FailClosed())
		})
	})
})
