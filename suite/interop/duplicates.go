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

// RFC 7250's certificate type extensions.
const (
	extClientCertificateType uint16 = 19
	extServerCertificateType uint16 = 20
)

// firstFlightExtension is one extension the reference sends in its first
// flight of a model, named as the draft names it.
type firstFlightExtension struct {
	name string
	typ  uint16
}

// firstFlight lists the attestation extensions the reference sends in
// its first flight of model m (its ClientHello's offers, or its
// EncryptedExtensions' answers to them).
func firstFlight(m party.Model) []firstFlightExtension {
	if !m.Server.Attests && !m.Client.Attests {
		return nil
	}
	var out []firstFlightExtension
	switch m.Profile {
	case "ta-07":
		for _, s := range []struct {
			side                 party.Side
			bg, passport, certTy firstFlightExtension
		}{
			{m.Server, firstFlightExtension{"evidence_request", defaults.TA07EvidenceRequest},
				firstFlightExtension{"results_request", defaults.TA07ResultsRequest},
				firstFlightExtension{"server_certificate_type", extServerCertificateType}},
			{m.Client, firstFlightExtension{"evidence_proposal", defaults.TA07EvidenceProposal},
				firstFlightExtension{"results_proposal", defaults.TA07ResultsProposal},
				firstFlightExtension{"client_certificate_type", extClientCertificateType}},
		} {
			if !s.side.Attests {
				continue
			}
			if s.side.Topology == party.Passport {
				out = append(out, s.passport)
			} else {
				out = append(out, s.bg)
			}
			if s.side.Credential == party.AttestationOnly {
				out = append(out, s.certTy)
			}
		}
	case "ea-07":
		out = append(out, firstFlightExtension{"remoteAttestation", defaults.EA07RemoteAttestation})
	case "poc":
		out = append(out, firstFlightExtension{"evidence_proposal", defaults.PoCEvidenceProposal})
	}
	return out
}

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
		it := fmt.Sprintf("rejects a %s that carries %s twice (RFC 8446 §4.2)", msg, e.name)
		out = append(out, variant(m, c, "rejects-duplicate-"+e.name, it, tls13.AlertIllegalParameter, nil, func(k *Case) {
			k.Reference.Tweak = func(_ *party.Party, cfg *tls13.Config) error {
				cfg.Bugs.DuplicateExtensions = append(cfg.Bugs.DuplicateExtensions, e.typ)
				return nil
			}
		}))
	}
	return out
}
