package party

import (
	"context"
	"crypto"
	"fmt"
	"io"

	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/tls13"
)

// Side says whether and how one endpoint attests.
type Side struct {
	Attests    bool
	Topology   Topology
	Credential Credential
}

func (s Side) String() string { return s.Topology.String() + "+" + s.Credential.String() }

// Model is one interaction model of a profile.
type Model struct {
	Profile        string
	Server, Client Side
}

// ID is the model's stable name, e.g. "ta-07/server-attests/bg+x509".
func (m Model) ID() string {
	switch {
	case m.Server.Attests && m.Client.Attests:
		return fmt.Sprintf("%s/mutual/server=%s,client=%s", m.Profile, m.Server, m.Client)
	case m.Server.Attests:
		return fmt.Sprintf("%s/server-attests/%s", m.Profile, m.Server)
	case m.Client.Attests:
		return fmt.Sprintf("%s/client-attests/%s", m.Profile, m.Client)
	}
	return m.Profile + "/no-attestation"
}

// Attesting is the side of m that attests as client (client) or server.
func (m Model) Attesting(client bool) Side {
	if client {
		return m.Client
	}
	return m.Server
}

// Role says which sides attest in a model.
type Role string

const (
	ServerAttests Role = "server"
	ClientAttests Role = "client"
	BothAttest    Role = "mutual"
)

// Descriptor is what a profile states about itself: the draft it
// implements, the interaction models it defines, how it binds attestation
// to the connection and where its CMW travels, the alerts its relying
// party sends and the requirement IDs of its rules. Code outside a
// profile's package asks the descriptor instead of testing the profile's
// name, so adding a profile is its package and one registration line.
type Descriptor struct {
	// Name selects the profile everywhere: API, CLI, peer contract,
	// reports ("ta-07").
	Name string
	// Draft and Revision name the text the profile implements; Title is
	// how vectors cite it.
	Draft, Revision, Title string

	// Roles, Topologies and Credentials span its interaction models;
	// MixedMutual adds mutual models whose sides differ in topology.
	Roles       []Role
	Topologies  []Topology
	Credentials []Credential
	MixedMutual bool

	// Bindings says, per credential, how the attester's attestation is
	// bound to the connection.
	Bindings map[Credential]Binding
	// Carriage says, per credential, where the attester's CMW travels.
	Carriage map[Credential]Carriage
	// Extensions are its extensions, with the default codepoints.
	Extensions []Extension
	// FirstFlight lists the attestation extensions both first flights
	// (ClientHello and EncryptedExtensions) carry in model m.
	FirstFlight func(m Model) []Extension
	// CMWIn reads the CMW from the attester's first CertificateEntry
	// (its cert_data and extensions) under table t.
	CMWIn func(t codepoint.Table, cred Credential, data []byte, exts []tls13.Extension) ([]byte, error)

	// Alerts are what its endpoints send, with the default codepoints.
	Alerts Alerts
	// NonceMin and NonceMax bound a background-check relying party's
	// nonce beyond its encoding (0: the draft sets no bound).
	NonceMin, NonceMax int
	// EvidenceTypes: the parties negotiate evidence types, so a server
	// can share none with its client.
	EvidenceTypes bool
	// CertificateRequestRequired: a server that accepts the client's
	// proposal to attest must send CertificateRequest.
	CertificateRequestRequired bool

	// Reqs are the requirement IDs of each rule the profile has.
	Reqs map[Rule][]string

	// Phase is when the attestation travels: in the handshake, on the
	// profile's hooks, or after it (RFC 9261 exported authenticators at
	// the application layer), where Attest carries it.
	Phase Phase
	// Attest, for a PostHandshake profile, runs the attestation exchanges
	// of one side with the party's roles on a connection whose handshake
	// completed, and returns the stream application data then flows on.
	// A failure has been sent to the peer as an alert (tls13.Conn.Fail)
	// and is returned as that *tls13.AlertError.
	Attest func(ctx context.Context, c *tls13.Conn, isClient bool, p *Party) (io.ReadWriter, error)

	// Vectors:

	// Secrets derives the profile's secrets beyond RFC 8446's key
	// schedule for a handshake in model m under hash h, in the order the
	// traces list them (nil: the profile adds none).
	Secrets func(h crypto.Hash, m Model, in HandshakeValues) ([]Value, error)
	// Selected names, in the draft's terms, what a handshake negotiated
	// for the attestation of side s: the evidence type evidenceType (a
	// media type) or the verifier whose identity is verifier.
	Selected func(s Side, evidenceType string, verifier []byte) string
	// Binder recomputes one binder vector (vectors/binders) under hash h:
	// from its named inputs, the intermediates and outputs of the
	// profile's binding computation (nil: the profile has no binder
	// vectors).
	Binder func(h crypto.Hash, inputs []Value) (intermediates, outputs []Value, err error)
}

// Phase is when a profile's attestation travels.
type Phase uint8

const (
	// InHandshake: in the handshake's messages, on the engine's hooks.
	InHandshake Phase = iota
	// PostHandshake: after the handshake, at the application layer, before
	// any application data (the profile's Descriptor.Attest).
	PostHandshake
)

func (ph Phase) String() string {
	if ph == PostHandshake {
		return "post-handshake"
	}
	return "in-handshake"
}

// Binding is how one credential's attestation is bound to the connection.
type Binding struct {
	// Variant names the binding: a column of the attack verdict matrix
	// ("poc", "ta-07/ao", "ta-07/x509", "ea-07").
	Variant string
	// Binder: the attestation covers a channel binder derived from the
	// handshake, not only the relying party's nonce.
	Binder bool
	// VerifierNonce: a background-check relying party's challenge is a
	// nonce its verifier issues (and may refuse to see twice).
	VerifierNonce bool
	// Text says what binds, in words.
	Text string
}

// Carriage is where a credential's CMW travels.
type Carriage struct {
	// Path names it in a trace ("CertificateEntry[0].cert_data").
	Path string
	// Text says it in words.
	Text string
}

// Extension is one attestation extension: its name in the draft and its
// default codepoint.
type Extension struct {
	Name string
	Type uint16
	// InCertificate: it (also) travels in the attester's end-entity
	// CertificateEntry.
	InCertificate bool
}

// Extension is the profile's extension of type typ (default codepoints).
func (d Descriptor) Extension(typ uint16) (Extension, bool) {
	for _, e := range d.Extensions {
		if e.Type == typ {
			return e, true
		}
	}
	return Extension{}, false
}

// Alerts are the alerts a profile's endpoints send; 0 means the profile
// has no rule for the case.
type Alerts struct {
	// Rejected: the relying party appraised the attestation and refused it.
	Rejected tls13.AlertCode
	// Missing: a Certificate without the attestation the handshake agreed on.
	Missing tls13.AlertCode
	// NoCommonType: the server shares no evidence type with the client.
	NoCommonType tls13.AlertCode
	// Unoffered: the peer selected what was not offered.
	Unoffered tls13.AlertCode
	// Declined: a client that requires the server's attestation and
	// finds it declined, by topology.
	Declined map[Topology]tls13.AlertCode
	// Misplaced: the attestation in a CertificateEntry other than the
	// end-entity's, where the contract battery places it after the
	// handshake (0: not derived for this profile).
	Misplaced tls13.AlertCode
	// EarlyData: a server's answer to a 0-RTT offer on a connection that
	// requires attestation (0: the profile forbids none).
	EarlyData tls13.AlertCode
}

// Rule names a requirement a test checks, so a profile can say which of
// its IDs the test covers (Descriptor.Reqs).
type Rule string

const (
	// The relying party rejects evidence bound to another challenge.
	RuleChallenge Rule = "challenge"
	// It rejects an attestation that is not a CMW.
	RuleMalformed Rule = "malformed"
	// It rejects an attested key other than the one signing
	// CertificateVerify (attestation-only credentials).
	RuleCertificateVerifyKey Rule = "certificate-verify-key"
	// It rejects evidence that attests another key than the end-entity
	// certificate's.
	RuleCertificateKey Rule = "certificate-key"
	// It rejects results from a verifier it does not trust.
	RuleTrustedVerifier Rule = "trusted-verifier"
	// A server that shares no evidence type aborts.
	RuleNoCommonType Rule = "no-common-type"
	// A client whose required server attestation is declined aborts.
	RuleDeclined Rule = "declined"
	// A selection that was not offered is rejected.
	RuleUnoffered Rule = "unoffered"
	// The attestation is only in the end-entity CertificateEntry.
	RuleMisplaced Rule = "misplaced"
	// No 0-RTT on a connection that requires attestation.
	RuleEarlyData Rule = "early-data"
	// A nonce outside the profile's bounds is rejected.
	RuleNonceLength Rule = "nonce-length"
	// A server that accepts a proposal sends CertificateRequest, for a
	// background-check and a passport client.
	RuleCertificateRequest         Rule = "certificate-request"
	RuleCertificateRequestPassport Rule = "certificate-request-passport"
	// The relying party checks the channel binder.
	RuleBinder Rule = "binder"
	// It checks the attested key is the TLS key.
	RuleKeyBinding Rule = "key-binding"
	// It appraises what it is given (any other check).
	RuleAppraisal Rule = "appraisal"
	// The attester binds its attestation to the connection.
	RuleAttesterBinds Rule = "attester-binds"
)

// Binds is the binding of a side using credential cred.
func (d Descriptor) Binds(cred Credential) Binding { return d.Bindings[cred] }

// Defines reports whether the profile defines model m.
func (d Descriptor) Defines(m Model) bool {
	for _, k := range d.Models() {
		if k == m {
			return true
		}
	}
	return false
}

// Models enumerates the profile's interaction models: for each role that
// attests, credential and topology, the model where every attesting side
// uses them; then, with MixedMutual, per credential the two mutual models
// whose sides differ in topology. Every matrix lists models in this order.
func (d Descriptor) Models() []Model {
	var out []Model
	for _, role := range d.Roles {
		for _, cred := range d.Credentials {
			for _, topo := range d.Topologies {
				s := Side{Attests: true, Topology: topo, Credential: cred}
				m := Model{Profile: d.Name}
				if role != ClientAttests {
					m.Server = s
				}
				if role != ServerAttests {
					m.Client = s
				}
				out = append(out, m)
			}
		}
	}
	if !d.MixedMutual {
		return out
	}
	for _, cred := range d.Credentials {
		bg := Side{Attests: true, Topology: BackgroundCheck, Credential: cred}
		pp := Side{Attests: true, Topology: Passport, Credential: cred}
		out = append(out, Model{Profile: d.Name, Server: bg, Client: pp}, Model{Profile: d.Name, Server: pp, Client: bg})
	}
	return out
}

// Value is one named byte string of a computation the profile defines.
type Value struct {
	Name  string
	Bytes []byte
	// Traced is the name the engine's tls13.Trace gives the same value
	// when the engine derives it too ("": it does not).
	Traced string
}

// HandshakeValues are what Descriptor.Secrets derives from: one
// handshake's values.
type HandshakeValues struct {
	// HandshakeSecret is RFC 8446's Handshake Secret.
	HandshakeSecret []byte
	// HelloHash is Transcript-Hash(ClientHello...ServerHello).
	HelloHash []byte
	// Nonce is the challenge the attestation of side client (or the
	// server) answered; nil if none.
	Nonce func(client bool) []byte
	// SPKI is the DER SubjectPublicKeyInfo of the end-entity certificate
	// side client (or the server) presented.
	SPKI func(client bool) ([]byte, error)
}
