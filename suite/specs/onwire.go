package specs

import (
	"crypto"
	"crypto/x509"
	"github.com/onsi/ginkgo/v2"
	"sync/atomic"

	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/impl/attest/cmw"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/suite/harness"
	"github.com/attested-tls/conformance/suite/harness/wire"
)

// sent returns the first message of type t that endpoint e sent.
func sent(r *harness.Result, e Endpoint, t uint8) wire.Message {
	f := r.ServerSent
	if e == Client {
		f = r.ClientSent
	}
	m, ok := f.Find(t)
	ExpectWithOffset(1, ok).To(BeTrue(), "the %s sent no %s", e, wire.Name(t))
	return m
}

// extension returns extension typ of m and whether it is there; m must parse.
func extension(m wire.Message, typ uint16) ([]byte, bool) {
	exts, err := m.Extensions()
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), "reading %s", wire.Name(m.Type()))
	return tls13.FindExtension(exts, typ)
}

// expectExtension asserts extension typ is in m (present) or not; what
// names it in failures. It returns the extension's data.
func expectExtension(m wire.Message, typ uint16, present bool, what string) []byte {
	d, ok := extension(m, typ)
	if present {
		ExpectWithOffset(1, ok).To(BeTrue(), "%s carries no %s", wire.Name(m.Type()), what)
	} else {
		ExpectWithOffset(1, ok).To(BeFalse(), "%s carries %s", wire.Name(m.Type()), what)
	}
	return d
}

// certificate returns the Certificate message endpoint e sent, parsed.
func certificate(r *harness.Result, e Endpoint) *wire.CertificateMsg {
	c, err := sent(r, e, wire.Certificate).Certificate()
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return c
}

// leafKeyIs asserts the end-entity certificate certifies the attester's
// key (of a foreign peer, only that it is a certificate: the relying
// party checks its key binding).
func leafKeyIs(r *harness.Result, c *wire.CertificateMsg, e Endpoint) {
	ExpectWithOffset(1, c.Entries).NotTo(BeEmpty(), "an empty Certificate")
	leaf, err := x509.ParseCertificate(c.Entries[0].Data)
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), "the first CertificateEntry is not an X.509 certificate")
	if !r.Foreign {
		ExpectWithOffset(1, sameKey(leaf.PublicKey, identity(e == Client))).To(BeTrue(), "the end-entity key is not the attester's TLS identity key")
	}
}

// CheckWire runs the profile's wire checks of a positive case on r: what
// the in-process specs check of our client and server, applied to a pair
// of the reference and a peer under test.
func CheckWire(m party.Model, r *harness.Result) {
	specFor(m.Profile).wire(m, r)
}

// outsideSpecs is set while CheckWireOutsideSpecs runs.
var outsideSpecs atomic.Bool

// CheckWireOutsideSpecs is CheckWire for a caller that is no running
// spec (conformance serve judging a visitor): its steps are not reported
// with By, which Ginkgo allows only in a running spec. Its failures are
// Gomega's, as CheckWire's. Callers serialize it.
func CheckWireOutsideSpecs(m party.Model, r *harness.Result) {
	outsideSpecs.Store(true)
	defer outsideSpecs.Store(false)
	CheckWire(m, r)
}

// step reports a wire check's step, in a running spec.
func step(text string) {
	if !outsideSpecs.Load() {
		ginkgo.By(text)
	}
}

// cmwMediaType unwraps a CMW record and returns its media type.
func cmwMediaType(payload []byte) string {
	msg, err := cmw.Unwrap(payload)
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), "the attestation payload is not a CMW")
	ExpectWithOffset(1, msg.Type.IsContentFormat).To(BeFalse(), "a content-format CMW where a media type was expected")
	return msg.Type.MediaType
}

// side returns the model's side for endpoint e.
func side(m party.Model, e Endpoint) party.Side {
	if e == Client {
		return m.Client
	}
	return m.Server
}

func sameKey(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}
