package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/eaframe"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/suite/harness/wire"
	"github.com/attested-tls/conformance/vectors/gen/parser"
)

// vectorMessage is a vector group's handshake message type.
func vectorMessage(name string) (uint8, bool) {
	switch name {
	case "client_hello":
		return tls13.MsgClientHello, true
	case "encrypted_extensions":
		return tls13.MsgEncryptedExtensions, true
	case "certificate_request":
		return tls13.MsgCertificateRequest, true
	case "certificate":
		return tls13.MsgCertificate, true
	}
	return 0, false
}

// placeVector is how the reference puts tc on the wire in carrier, and a
// check that it did.
func placeVector(carrier Case, rule vectorRule, g parser.Group, tc parser.Test, want vectorWant) (func(*party.Party, *tls13.Config) error, func(*Result), error) {
	input := bytes.Clone([]byte(tc.Input))
	var pbugs func(*party.Party)
	var tbugs func(*tls13.Bugs)
	var sent func(*Result)
	ref, _ := sides(carrier.Model, carrier.PeerRole)
	msg, _ := vectorMessage(g.Message)
	switch {
	case g.Type == "ExtensionData" && msg == tls13.MsgCertificate:
		cp := uint16(g.Extension.Codepoint)
		pbugs = func(p *party.Party) { p.Bugs.OmitPayload = true }
		tbugs = func(b *tls13.Bugs) {
			b.ExtraEntryExtensions = map[int][]tls13.Extension{0: {{Type: cp, Data: bytes.Clone(input)}}}
		}
		if postHandshake(carrier.Model) {
			// The end-entity entry of the reference's authenticator.
			tbugs = func(b *tls13.Bugs) {
				b.UnsolicitedAuthenticatorExtensions = []tls13.Extension{{Type: cp, Data: bytes.Clone(input)}}
			}
		}
		sent = func(r *Result) {
			GinkgoHelper()
			c := attestedCertificate(r, carrier.Model)
			data, ok := tls13.FindExtension(c.Entries[0].Extensions, cp)
			Expect(ok && bytes.Equal(data, input)).To(BeTrue(), "the reference's leaf CertificateEntry carries extension %#x = %x, not the vector's %x\n%s", cp, data, input, r.Describe())
		}
	case g.Type == "ExtensionData" && msg != 0:
		cp := uint16(g.Extension.Codepoint)
		if rule.own == nil || !bytes.Equal(rule.own(carrier), input) {
			// DropExtensions drops the extension from every message,
			// also the reference's Certificate entries, where some
			// profiles' extensions go too when it attests.
			if e, _ := describe(carrier.Model).Extension(cp); e.InCertificate && ref.Attests && want.alert == 0 {
				return nil, nil, fmt.Errorf("replacing %s would drop it from the reference's own Certificate too, and the vector needs that attestation", e.Name)
			}
			tbugs = func(b *tls13.Bugs) {
				b.DropExtensions = append(b.DropExtensions, cp)
				if b.ExtraExtensions == nil {
					b.ExtraExtensions = map[uint8][]tls13.Extension{}
				}
				b.ExtraExtensions[msg] = append(b.ExtraExtensions[msg], tls13.Extension{Type: cp, Data: bytes.Clone(input)})
			}
		}
		sent = func(r *Result) {
			GinkgoHelper()
			data, ok := sentMessage(r, msg).Extension(cp)
			Expect(ok && bytes.Equal(data, input)).To(BeTrue(), "the reference's message %d carries extension %#x = %x (present %v), not the vector's %x\n%s", msg, cp, data, ok, input, r.Describe())
		}
	case g.Type == "HandshakeMessage":
		typ, exts, err := certTypeExtensions(input)
		if err != nil {
			return nil, nil, err
		}
		tbugs = func(b *tls13.Bugs) {
			b.DropExtensions = append(b.DropExtensions, extClientCertType, extServerCertType)
			if b.ExtraExtensions == nil {
				b.ExtraExtensions = map[uint8][]tls13.Extension{}
			}
			for _, e := range exts {
				b.ExtraExtensions[typ] = append(b.ExtraExtensions[typ], tls13.Extension{Type: e.Type, Data: bytes.Clone(e.Data)})
			}
		}
		sent = func(r *Result) {
			GinkgoHelper()
			got, err := sentMessage(r, typ).Extensions()
			Expect(err).NotTo(HaveOccurred())
			var ours []tls13.Extension
			for _, e := range got {
				if e.Type == extClientCertType || e.Type == extServerCertType {
					ours = append(ours, e)
				}
			}
			Expect(ours).To(Equal(exts), "the reference's certificate type extensions are not the vector's\n%s", r.Describe())
		}
	case g.Type == "CMW":
		pbugs = func(p *party.Party) { p.Bugs.ReplayPayload = bytes.Clone(input) }
		sent = func(r *Result) {
			GinkgoHelper()
			e := attestedCertificate(r, carrier.Model).Entries[0]
			found := bytes.Equal(e.Data, input)
			for _, x := range e.Extensions {
				// The CMW itself (ta-07's attestation_evidence), ea-07's
				// cmw_payload<1..2^24-1> or xp-03's cmw_data<1..2^16-1>
				// around it.
				found = found || bytes.Equal(x.Data, input) || len(x.Data) == len(input)+3 && bytes.Equal(x.Data[3:], input) ||
					len(x.Data) == len(input)+2 && bytes.Equal(x.Data[2:], input)
			}
			Expect(found).To(BeTrue(), "the reference's leaf CertificateEntry does not carry the vector's CMW %x\n%s", input, r.Describe())
		}
	default:
		return nil, nil, fmt.Errorf("no placement for a %s group in %s", g.Type, g.Message)
	}
	nonce := bytes.Clone(want.nonce)
	return func(p *party.Party, c *tls13.Config) error {
		if pbugs != nil {
			pbugs(p)
		}
		if tbugs != nil {
			tbugs(&c.Bugs)
		}
		if nonce != nil {
			if p.Verifier == nil {
				return errors.New("interop: the vector's nonce needs the reference to appraise with a verifier")
			}
			p.Verifier = vectorNonce{Verifier: p.Verifier, nonce: nonce}
		}
		return nil
	}, sent, nil
}

// sentMessage is the first handshake message of type typ the reference sent.
func sentMessage(r *Result, typ uint8) wire.Message {
	GinkgoHelper()
	return firstMessage(r, true, typ)
}

// firstMessage is the first handshake message of type typ the reference
// (ours) or the peer sent; the spec fails if there is none.
func firstMessage(r *Result, ours bool, typ uint8) wire.Message {
	GinkgoHelper()
	mine, theirs := r.Flights()
	who, f := "the peer", theirs
	if ours {
		who, f = "the reference", mine
	}
	if m, ok := f.Find(typ); ok {
		return m
	}
	Fail(fmt.Sprintf("%s sent no handshake message of type %d\n%s", who, typ, r.Describe()))
	return nil
}

// sentCertificate is the reference's Certificate, with at least one entry.
func sentCertificate(r *Result) *wire.CertificateMsg {
	GinkgoHelper()
	c, err := sentMessage(r, tls13.MsgCertificate).Certificate()
	Expect(err).NotTo(HaveOccurred(), "the reference's Certificate\n%s", r.Describe())
	Expect(c.Entries).NotTo(BeEmpty(), "the reference's Certificate is empty\n%s", r.Describe())
	return c
}

// attestedCertificate is the Certificate the reference's attestation
// travels in: its handshake's, or where the attestation follows the
// handshake, its authenticator's.
func attestedCertificate(r *Result, m party.Model) *wire.CertificateMsg {
	GinkgoHelper()
	if !postHandshake(m) {
		return sentCertificate(r)
	}
	for _, f := range r.Frames(true) {
		if m := wire.Leading(f.Body); f.Type == eaframe.Authenticator && m.Type() == tls13.MsgCertificate {
			c, err := m.Certificate()
			Expect(err).NotTo(HaveOccurred(), "the reference's authenticator's Certificate\n%s", r.Describe())
			Expect(c.Entries).NotTo(BeEmpty(), "the reference's authenticator's Certificate is empty\n%s", r.Describe())
			return c
		}
	}
	Fail("the reference sent no authenticator with a Certificate\n" + r.Describe())
	return nil
}

// vectorNonce is the reference's verifier issuing the vector's nonce:
// its relying party then appraises the peer's evidence against it (the
// local verifier takes any nonce unless told to track them; Veraison
// takes the caller's).
type vectorNonce struct {
	attest.Verifier
	nonce []byte
}

func (v vectorNonce) NewNonce(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return bytes.Clone(v.nonce), nil
}
