package interop

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/suite/harness/wire"
)

// Without attestation on either side a peer is a TLS 1.3 endpoint with
// X.509 (the server's certificate from the run's CA): each profile it
// claims, in each role, completes a handshake in which it sends no
// attestation extension, and ping/pong crosses. One case per profile and
// role, beside its first claimed case; and the peer against itself.

func init() { generators = append(generators, Plain) }

// Plain is the no-attestation case of c's profile and role, if c is the
// first claimed case of them.
func Plain(m *contract.Manifest, c Case) []Case {
	if !firstFor(m, c, func(k Case) bool { return k.Model.Profile == c.Model.Profile && k.PeerRole == c.PeerRole }) {
		return nil
	}
	plain := Case{Model: party.Model{Profile: c.Model.Profile}, PeerRole: c.PeerRole, Timeout: c.Timeout}
	k := withServices(m, plain, false)
	k.Kind, k.Judge = "positive", expectPlain
	k.It = "without attestation on either side completes a TLS 1.3 handshake with X.509, sends no attestation extension, and application data flows"
	return append([]Case{k}, Selves(m, plain)...)
}

// attestationExtensions are every extension of the profiles, and RFC
// 7250's certificate types: none may appear without attestation.
func attestationExtensions() []uint16 {
	out := []uint16{tls13.ExtClientCertType, tls13.ExtServerCertType}
	for _, d := range profile.All() {
		out = append(out, extensionTypes(d)...)
	}
	return out
}

// expectPlain judges a no-attestation case: it completes, and no message
// of the peer's, nor any of its certificate entries, carries an
// attestation extension.
func expectPlain(c Case, r *Result) {
	GinkgoHelper()
	ExpectCompletes(c, r)
	_, theirs := r.Flights()
	for _, msg := range theirs {
		var exts []tls13.Extension
		switch msg.Type() {
		case wire.ClientHello, wire.EncryptedExtensions, wire.CertificateRequest:
			var err error
			exts, err = msg.Extensions()
			Expect(err).NotTo(HaveOccurred(), "the peer's %s", wire.Name(msg.Type()))
		case wire.Certificate:
			cm, err := msg.Certificate()
			Expect(err).NotTo(HaveOccurred(), "the peer's Certificate")
			for _, e := range cm.Entries {
				exts = append(exts, e.Extensions...)
			}
		}
		for _, e := range exts {
			Expect(attestationExtensions()).NotTo(ContainElement(e.Type),
				"the peer's %s carries extension %d without attestation\n%s", wire.Name(msg.Type()), e.Type, r.Describe())
		}
	}
}
