package interop

import (
	"fmt"
	"slices"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
)

// RFC 8446 §4.2: "There MUST NOT be more than one extension of the same
// type in a given extension block." For every attestation extension the
// reference sends in its first flight (ClientHello as the client,
// EncryptedExtensions as the server), the peer gets it twice and must
// abort with illegal_parameter, the alert the suite's engine and every
// patched peer send for it. One case per profile, peer role and
// extension: the first claimed case whose reference sends it.

func init() { generators = append(generators, Duplicates) }

// firstFlight lists the attestation extensions the reference sends in
// its first flight of model m (its ClientHello's offers, or its
// EncryptedExtensions' answers to them).
func firstFlight(m party.Model) []party.Extension { return describe(m).FirstFlight(m) }

// Duplicates is the duplicated-extension cases c carries for m.
func Duplicates(m *contract.Manifest, c Case) []Case {
	if mutual(c) {
		return nil
	}
	msg := "EncryptedExtensions"
	if c.PeerRole == contract.Server {
		msg = "ClientHello"
	}
	var out []Case
	for _, e := range firstFlight(c.Model) {
		if !firstFor(m, c, func(k Case) bool {
			return !mutual(k) && k.PeerRole == c.PeerRole && k.Model.Profile == c.Model.Profile &&
				slices.Contains(firstFlight(k.Model), e)
		}) {
			continue
		}
		it := fmt.Sprintf("rejects a %s that carries %s twice (RFC 8446 §4.2)", msg, e.Name)
		out = append(out, variant(m, c, "rejects-duplicate-"+e.Name, it, tls13.AlertIllegalParameter, nil, func(k *Case) {
			k.Reference.Tweak = func(_ *party.Party, cfg *tls13.Config) error {
				cfg.Bugs.DuplicateExtensions = append(cfg.Bugs.DuplicateExtensions, e.Type)
				return nil
			}
		}))
	}
	return out
}
