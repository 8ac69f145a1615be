package specs

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile/poc"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/reports/requirements"
	"github.com/attested-tls/conformance/suite/harness"
	"github.com/attested-tls/conformance/suite/harness/wire"
)

// poc: the CCC attested-tls-poc wire (the patched mbedTLS it used). Only
// the client attests, with evidence in cert_data, background check.
var pocSpec = profileSpec{
	name: "poc",
	wire: pocWire,
	reqs: func(party.Model) []string {
		return []string{"POC-ext-1", "POC-ch-1", "POC-ch-2", "POC-ee-1", "POC-cert-1", "POC-cert-2", "POC-cv-1"}
	},
}

func pocWire(m party.Model, r *harness.Result) {
	t := codepoint.Default()
	step("the ClientHello proposes EAT in extension 100, NUMERIC encoding")
	var offered poc.EvidenceProposalCH
	Expect(offered.Unmarshal(expectExtension(sent(r, Client, wire.ClientHello), t.PoCEvidenceProposal, true, "evidence_proposal"))).To(Succeed())
	Expect(offered.ContentFormats).To(ContainElement(poc.TypeEAT))

	step("EncryptedExtensions answers EAT and a nonce the PoC client accepts")
	var sel poc.EvidenceProposalEE
	Expect(sel.Unmarshal(expectExtension(sent(r, Server, wire.EncryptedExtensions), t.PoCEvidenceProposal, true, "evidence_proposal"))).To(Succeed())
	Expect(sel.CheckPoC()).To(Succeed())
	Expect(sel.Nonce).NotTo(BeEmpty())

	step("the client's Certificate is one entry whose cert_data is the CMW, with no extensions")
	c := certificate(r, Client)
	Expect(c.Entries).To(HaveLen(1))
	Expect(c.Entries[0].Extensions).To(BeEmpty())
	Expect(cmwMediaType(c.Entries[0].Data)).To(Equal(evidenceMediaType()))
}

func pocViolations(m party.Model) []violation {
	return []violation{
		{it: "the client aborts with decode_error when the server answers a type other than EAT",
			tweak: bug(Server, func(b *party.Bugs) { b.SelectUnoffered = true }), alert: tls13.AlertDecodeError, sender: Client, reqs: []string{"POC-ee-2"}},
		{it: "the client aborts with decode_error when the nonce is longer than 32 bytes",
			tweak: bug(Server, func(b *party.Bugs) { b.NonceLength = poc.NonceLenMax + 1 }), alert: tls13.AlertDecodeError, sender: Client, reqs: []string{"POC-ee-2"}},
		{it: "the server aborts with decode_error when its verifier cannot appraise the evidence type",
			tweak: noCommonType(Server), alert: tls13.AlertDecodeError, sender: Server, reqs: []string{"POC-cert-2"}},
		{it: "the server aborts with decode_error when the evidence is bound to another nonce",
			tweak: bug(Client, func(b *party.Bugs) { b.WrongChallenge = true }), alert: tls13.AlertDecodeError, sender: Server, reqs: []string{"POC-cert-2"}},
		{it: "the server aborts with decode_error when the evidence is not a CMW",
			tweak: bug(Client, func(b *party.Bugs) { b.MalformedPayload = true }), alert: tls13.AlertDecodeError, sender: Server, reqs: []string{"POC-cert-2"}},
		{it: "the server aborts with decrypt_error when the attested key is not the key signing CertificateVerify",
			fault: otherKey, alert: tls13.AlertDecryptError, sender: Server, reqs: []string{"POC-cv-1"}},
		// The fork's answer to an empty Certificate is unrecorded;
		// certificate_required is RFC 8446 §4.4.2.4's.
		{it: "the server aborts with certificate_required when the client it asked to attest declines",
			tweak: bug(Client, func(b *party.Bugs) { b.Decline = true }), alert: tls13.AlertCertificateRequired, sender: Server},
	}
}

var _ = Describe("poc: CCC attested-tls-poc", func() {
	for _, m := range oneSided(pocSpec) {
		describeViolations(m, pocViolations(m), func() { pocNoEAT(m) })
	}
})

// pocNoEAT: a ClientHello proposing only a type the PoC does not know (the
// engine rewrites extension 100; our client proposes EAT alone) gets the
// answer NONE, which the client refuses.
func pocNoEAT(m party.Model) {
	It("the server answers NONE to a proposal without EAT, and the client aborts with decode_error", Label(requirements.Label("POC-ch-2"), requirements.Label("POC-ee-2")), func() {
		t := codepoint.Default()
		other, err := poc.EvidenceProposalCH{ContentFormats: []uint16{poc.TypeEAT + 1}}.Marshal()
		Expect(err).NotTo(HaveOccurred())
		r := run(m, harness.Tweaks{Configs: func(client, _ *tls13.Config) {
			client.Bugs.DropExtensions = []uint16{t.PoCEvidenceProposal}
			client.Bugs.ExtraExtensions = map[uint8][]tls13.Extension{wire.ClientHello: {{Type: t.PoCEvidenceProposal, Data: other}}}
		}})
		Expect(r).To(AbortWith(tls13.AlertDecodeError, SentBy(Client)))
		Expect(r).To(FailClosed())
		var sel poc.EvidenceProposalEE
		Expect(sel.Unmarshal(expectExtension(sent(r, Server, wire.EncryptedExtensions), t.PoCEvidenceProposal, true, "evidence_proposal"))).To(Succeed())
		Expect(sel.ContentFormat).To(Equal(poc.TypeNone))
	})
}
