// Package xp03 is draft-fossati-seat-expat (profile "xp-03"): remote
// attestation after an ordinary TLS 1.3 handshake, carried in RFC 9261
// exported authenticators. A relying party sends an authenticator
// request with an empty cmw_attestation extension; the attester answers
// with an authenticator whose end-entity CertificateEntry carries its
// Evidence (background check) or Attestation Result (passport) in
// cmw_attestation, bound to the request's certificate_request_context by
// the §5.1 binding value. Mutual attestation is one exchange each way.
//
// Source: the editor's copy (tls-attestation/exported-attestation,
// draft-fossati-seat-expat.md at 5bd1519, 2026-07-04), whose document
// history lists the -03 changes; README.md records where it differs from
// the last published revision (-02) and from the Rust implementation.
//
// The draft leaves transport to the application: the suite's framing is
// package eaframe (peers/CONTRACT.md). The handshake itself is plain TLS
// 1.3; the profile's hooks only enforce the connection rules of §7.2 and
// keep cmw_attestation out of it.
package xp03

import (
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile/codec"
	"github.com/attested-tls/conformance/impl/tls13"
)

// Name is the profile's name everywhere: API, CLI, peer contract, reports.
const Name = "xp-03"

// Profile is draft-fossati-seat-expat (editor's copy, -03) on the engine.
type Profile struct{}

func (Profile) Name() string { return Name }

// Configure declares cmw_attestation's places (authenticators only) and
// installs the hooks of the handshake's connection rules. X.509 is
// required (§3.3), so attestation-only credentials are ErrUnsupported.
func (Profile) Configure(base *tls13.Config, isClient bool, p *party.Party) (*tls13.Config, error) {
	if (p.Attests() && p.Credential != party.X509) || (p.VerifyPeer && p.PeerCredential != party.X509) {
		return nil, party.ErrUnsupported
	}
	c := base.Clone()
	c.HookExtensions = codec.Declare(c.HookExtensions, Extensions(p.Table()))
	c.NewHooks = func() tls13.Hooks { return &hooks{p: p, client: isClient} }
	return c, nil
}

// inScope: the connection is one "for which [we require] remote
// attestation using this specification" (§7.2), or one we attest on.
func inScope(p *party.Party) bool { return p.VerifyPeer || p.Attests() }

// extEarlyData is RFC 8446's early_data.
const extEarlyData = 42

type hooks struct {
	tls13.NoHooks
	p      *party.Party
	client bool
}

// ReadClientHello refuses a client's 0-RTT offer on a connection in
// scope: §7.2 forbids the client to offer it, and a server that ignored
// the offer would still have a client that sent early data before any
// attestation. The draft names no alert; illegal_parameter is RFC 8446's
// for a field inconsistent with the rest (catalog XP03-I-3).
func (h *hooks) ReadClientHello(hs *tls13.HookState, exts []tls13.Extension) error {
	if _, ok := tls13.FindExtension(exts, extEarlyData); ok && inScope(h.p) {
		return tls13.Alertf(tls13.AlertIllegalParameter, "%s: early_data offered on a connection that requires attestation (§7.2)", Name)
	}
	return nil
}
