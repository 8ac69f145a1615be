// Package party is one TLS endpoint's attestation roles and the flows every
// profile shares: presenting our own attestation (evidence for a
// background check, a result for a passport) and appraising the peer's.
// Profiles (ta-07, ea-07, poc) turn these into handshake hooks; this
// package knows no wire format and no alert codes.
package party

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/cmw"
	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/policy"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/veraison/ear"
)

// Topology says how an attestation is appraised (RFC 9334 §5).
type Topology uint8

const (
	// BackgroundCheck: the attester sends evidence; the relying party has
	// its own verifier appraise it.
	BackgroundCheck Topology = iota
	// Passport: the attester presents a result its verifier issued.
	Passport
)

func (t Topology) String() string {
	if t == Passport {
		return "passport"
	}
	return "bg"
}

// Credential says how attestation travels with the TLS credential.
type Credential uint8

const (
	// AttestationOnly: the attestation is the credential (ta-07's
	// "attestation" certificate type, or the poc's evidence in cert_data).
	AttestationOnly Credential = iota
	// X509: an X.509 chain plus the attestation in a CertificateEntry extension.
	X509
)

func (c Credential) String() string {
	if c == X509 {
		return "x509"
	}
	return "attestation-only"
}

// EARMediaType is how an attestation result travels in a CMW record.
const EARMediaType = `application/eat+jwt; eat_profile="tag:github.com,2023:veraison/ear"`

// DefaultTimeout bounds each attester and verifier call.
const DefaultTimeout = 10 * time.Second

// Party is one endpoint's attestation configuration: what it presents as
// attester and what it demands and checks as relying party. A zero Party
// neither attests nor asks the peer to.
type Party struct {
	// Attester makes this endpoint attest; nil means it does not.
	Attester attest.Attester
	// Topology of our own attestation: evidence or a passport result.
	Topology Topology
	// Results gives passport results for our evidence (Topology Passport).
	Results attest.ResultSource
	// ResultVerifiers are the identities of the verifiers Results can get
	// results from (what a passport attester offers).
	ResultVerifiers [][]byte
	// Credential: attestation-only or X.509 plus attestation.
	Credential Credential
	// Chain certifies Attester.Identity() (leaf first) for Credential X509.
	Chain [][]byte
	// Format is the CMW serialization we send; zero means a CBOR record.
	Format cmw.Format

	// VerifyPeer makes this endpoint ask the peer to attest.
	VerifyPeer bool
	// RequirePeer fails the handshake if the peer declines to attest.
	RequirePeer bool
	// PeerTopology is the topology we offer for the peer's attestation.
	PeerTopology Topology
	// PeerCredential is how we expect the peer's attestation to travel.
	PeerCredential Credential
	// Verifier appraises the peer's evidence (PeerTopology BackgroundCheck).
	Verifier attest.Verifier
	// VerifierMediaTypes are the evidence types Verifier can appraise.
	VerifierMediaTypes []string
	// Policy judges every result, appraised by our verifier or presented
	// as a passport; its Verifiers are the ones we trust.
	Policy *policy.Policy

	// Codepoints the profiles use; nil means codepoint.Default().
	Codepoints *codepoint.Table
	// Timeout bounds each attester and verifier call; zero means DefaultTimeout.
	Timeout time.Duration
	// AlertRoom ends each attester and verifier call that long (at most a
	// quarter of the time left) before the handshake's own deadline, so
	// that a call that never returns still leaves time to send the alert
	// (fail closed, with the alert on the wire, rather than a silent
	// timeout).
	AlertRoom time.Duration
	// Now is the relying party's clock; nil means time.Now.
	Now func() time.Time
	// OmitUnmatchedProposal is ta-07's other reading of a client proposal
	// that matches none of our evidence types or trusted verifiers
	// (catalog TA07-I-4: §8.1.2 and §8.2.2 say both "MUST be omitted" and
	// "terminates the session"): the server leaves it unanswered and goes
	// on, unless it requires the client's attestation. False, the default,
	// aborts with unsupported_evidence or unsupported_verifiers.
	OmitUnmatchedProposal bool
	// Readings are the catalog IDs of the interpretations (reports/
	// requirements, "interpretations") whose non-default reading this
	// endpoint follows, for a profile that makes one selectable.
	Readings []string
	// Bugs make the profile misbehave for negative tests.
	Bugs Bugs
}

// Reads reports whether the endpoint follows interpretation id's
// non-default reading.
func (p *Party) Reads(id string) bool { return slices.Contains(p.Readings, id) }

// Bugs are attestation-level misbehaviours, in the spirit of the engine's
// tls13.Bugs; zero value is correct behaviour.
type Bugs struct {
	// SelectUnoffered makes a server select an evidence type, scheme or
	// verifier the client did not offer.
	SelectUnoffered bool
	// NonceLength, if set, is the length of the nonce we send (ta-07, poc)
	// instead of our verifier's.
	NonceLength int
	// MalformedPayload sends bytes that are not a CMW where our
	// attestation should be.
	MalformedPayload bool
	// OmitPayload leaves our attestation out of our Certificate although
	// it was negotiated.
	OmitPayload bool
	// WrongChallenge binds our attestation to a different challenge (the
	// first byte of the qualifying data flipped).
	WrongChallenge bool
	// PayloadEntry carries the attestation extension in this
	// CertificateEntry instead of the leaf's (index 0).
	PayloadEntry int
	// Decline makes an attester that is asked decline to attest.
	Decline bool
	// ReplayPayload is sent instead of a fresh attestation: evidence or a
	// result captured from another connection.
	ReplayPayload []byte
	// OmitCertificateRequest makes a server that asks the client to attest
	// not send a CertificateRequest.
	OmitCertificateRequest bool
	// DataBeforeAttestation is sent as application data before the
	// post-handshake attestation exchanges complete (a post-handshake
	// profile's Attest), which they forbid: right after our attestation
	// if we attest, else before anything.
	DataBeforeAttestation []byte
	// SessionTicket makes a server send a NewSessionTicket on a
	// connection whose post-handshake attestation it requires, which a
	// post-handshake profile forbids.
	SessionTicket bool
	// AcceptAny makes a relying party accept whatever attestation the peer
	// presents, unappraised, as affirming and attesting the key it was
	// meant to (the challenge's; none for an attestation-only credential,
	// which the profile then refuses): the fail-open relying party a
	// conformance suite must catch.
	AcceptAny bool
}

// Table returns the codepoints in force.
func (p *Party) Table() codepoint.Table {
	if p.Codepoints != nil {
		return *p.Codepoints
	}
	return codepoint.Default()
}

func (p *Party) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Party) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultTimeout
}

// callContext bounds one attester or verifier call: Timeout, and AlertRoom
// before ctx's deadline.
func (p *Party) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	end := time.Now().Add(p.timeout())
	if d, ok := ctx.Deadline(); ok && p.AlertRoom > 0 {
		// Never more than a quarter of the time left: a short deadline
		// still leaves its calls most of it.
		if cut := d.Add(-min(p.AlertRoom, time.Until(d)/4)); cut.Before(end) {
			end = cut
		}
	}
	return context.WithDeadline(ctx, end)
}

// Attests reports whether this endpoint attests.
func (p *Party) Attests() bool { return p.Attester != nil }

// Identity is the TLS identity key of our attestation.
func (p *Party) Identity() crypto.Signer { return p.Attester.Identity() }

// TrustedVerifierIDs are the identities of the verifiers our policy trusts.
func (p *Party) TrustedVerifierIDs() [][]byte {
	if p.Policy == nil {
		return nil
	}
	var ids [][]byte
	for _, v := range p.Policy.Verifiers {
		ids = append(ids, v.ID)
	}
	return ids
}

// Reasons this package adds to those of attest.
const (
	ReasonMalformedPayload attest.Reason = "payload.malformed"
	ReasonMissingPayload   attest.Reason = "payload.missing"
	ReasonPayloadType      attest.Reason = "payload.unexpected-type"
	ReasonAttesterFailed   attest.Reason = "attester.failed"
	ReasonVerifierFailed   attest.Reason = "verifier.failed"
	ReasonDeclined         attest.Reason = "attestation.declined"
	ReasonBinderMismatch   attest.Reason = "binder.mismatch"
)

// Nonce returns the nonce this relying party sends its peer: one from its
// verifier, within the call deadline, or Bugs.NonceLength random bytes.
func (p *Party) Nonce(ctx context.Context) ([]byte, error) {
	if n := p.Bugs.NonceLength; n > 0 {
		b := make([]byte, n)
		rand.Read(b)
		return b, nil
	}
	if p.Verifier == nil {
		return nil, errors.New("background check without a verifier")
	}
	ctx, cancel := p.callContext(ctx)
	defer cancel()
	n, err := p.Verifier.NewNonce(ctx)
	if err != nil {
		return nil, fmt.Errorf("verifier nonce: %w", err)
	}
	return n, nil
}

// Present returns the CMW our endpoint sends as its attestation for ch:
// evidence for a background check, a result for a passport.
func (p *Party) Present(ctx context.Context, ch attest.Challenge) ([]byte, error) {
	if p.Bugs.MalformedPayload {
		return []byte{0xff, 0x00, 0x01}, nil
	}
	if p.Bugs.ReplayPayload != nil {
		return slices.Clone(p.Bugs.ReplayPayload), nil
	}
	if p.Bugs.WrongChallenge {
		ch = wrongChallenge(ch)
	}
	ctx, cancel := p.callContext(ctx)
	defer cancel()
	var mediaType string
	var value []byte
	if p.Topology == Passport {
		if p.Results == nil {
			return nil, attest.Reject(ReasonAttesterFailed, "passport topology without a result source")
		}
		r, err := p.Results.Result(ctx, ch)
		if err != nil {
			return nil, attest.Reject(ReasonAttesterFailed, "obtaining a result: %v", err)
		}
		mediaType, value = EARMediaType, r.EAR
	} else {
		ev, err := p.Attester.Evidence(ctx, ch)
		if err != nil {
			return nil, attest.Reject(ReasonAttesterFailed, "producing evidence: %v", err)
		}
		mediaType, value = ev.MediaType, ev.Data
	}
	format := p.Format
	if format == cmw.FormatUnknown {
		format = cmw.CBORRecord
	}
	return cmw.NewRecord(format, cmw.MediaType(mediaType), value, 0).Marshal()
}

func wrongChallenge(ch attest.Challenge) attest.Challenge {
	flip := func(b []byte) []byte {
		if len(b) == 0 {
			return []byte{0xff}
		}
		b = slices.Clone(b)
		b[0] ^= 0xff
		return b
	}
	if len(ch.Binder) > 0 {
		ch.Binder = flip(ch.Binder)
	} else {
		ch.Nonce = flip(ch.Nonce)
	}
	return ch
}

// Appraise judges the peer's attestation payload (a CMW) for challenge ch
// under the topology we offered for the peer, and returns the accepted
// result. Errors are *attest.Rejection.
func (p *Party) Appraise(ctx context.Context, payload []byte, ch attest.Challenge) (*attest.Result, error) {
	if p.Bugs.AcceptAny {
		return &attest.Result{Status: ear.TrustTierAffirming, AttestedKey: ch.TIK}, nil
	}
	if len(payload) == 0 {
		return nil, attest.Reject(ReasonMissingPayload, "no attestation in the peer's Certificate")
	}
	msg, err := cmw.Unwrap(payload)
	if err != nil {
		return nil, attest.Reject(ReasonMalformedPayload, "%v", err)
	}
	if msg.Format == cmw.CBORCollection || msg.Format == cmw.JSONCollection {
		return nil, attest.Reject(ReasonPayloadType, "a CMW collection where one record was expected")
	}
	mediaType := msg.Type.MediaType
	if msg.Type.IsContentFormat {
		mediaType = mediaTypeOfContentFormat(msg.Type.ContentFormat)
	}
	if p.Policy == nil {
		return nil, attest.Reject(ReasonVerifierFailed, "no relying-party policy configured")
	}
	ctx, cancel := p.callContext(ctx)
	defer cancel()
	// A background check's result must carry this challenge; a passport is
	// fresh by its age alone. With no key to compare (an attestation-only
	// credential) the binding is CertificateVerify by the attested key.
	pol := *p.Policy
	pol.RequireNonce = p.PeerTopology == BackgroundCheck
	pol.RequireKeyBinding = pol.RequireKeyBinding && ch.TIK != nil
	if p.PeerTopology == Passport {
		if mediaType != EARMediaType {
			return nil, attest.Reject(ReasonPayloadType, "passport carries %q, want an EAR", mediaType)
		}
		return pol.Accept(ctx, msg.Value, ch, p.now())
	}
	if p.Verifier == nil {
		return nil, attest.Reject(ReasonVerifierFailed, "background check without a verifier")
	}
	if len(p.VerifierMediaTypes) > 0 && !slices.Contains(p.VerifierMediaTypes, mediaType) {
		return nil, attest.Reject(attest.ReasonUnsupportedEvidence, "evidence of type %q", mediaType)
	}
	r, err := p.Verifier.Appraise(ctx, attest.Evidence{MediaType: mediaType, Data: msg.Value}, ch)
	if err != nil {
		if attest.ReasonOf(err) != "" {
			return nil, err
		}
		return nil, attest.Reject(ReasonVerifierFailed, "%v", err)
	}
	return pol.Accept(ctx, r.EAR, ch, p.now())
}

// PassportSource obtains passport results the way an attester does before
// a handshake: its evidence appraised by its verifier.
type PassportSource struct {
	Attester attest.Attester
	Verifier attest.Verifier
}

func (s PassportSource) Result(ctx context.Context, ch attest.Challenge) (*attest.Result, error) {
	if len(ch.QualifyingData()) == 0 {
		// A passport carries no handshake challenge: the attester gets
		// its verifier's nonce, as it would before connecting.
		n, err := s.Verifier.NewNonce(ctx)
		if err != nil {
			return nil, err
		}
		ch.Nonce = n
	}
	ev, err := s.Attester.Evidence(ctx, ch)
	if err != nil {
		return nil, err
	}
	return s.Verifier.Appraise(ctx, ev, ch)
}

func mediaTypeOfContentFormat(cf uint16) string {
	for mt := range knownMediaTypes {
		if c, ok := cmw.ContentFormatOf(mt); ok && c == cf {
			return mt
		}
	}
	return fmt.Sprintf("content-format %d", cf)
}

var knownMediaTypes = map[string]bool{EARMediaType: true}

// Outcome is what happened to one direction's attestation in a handshake,
// kept in the connection's hook values for specs and reports.
type Outcome struct {
	Profile   string
	Direction string // "server" (the server attested) or "client"
	Topology  Topology
	// Selected is the negotiated evidence type, scheme or verifier, as text.
	Selected string
	// Result is the accepted result (relying party side), nil otherwise.
	Result *attest.Result
	// Reason is why the attestation was rejected or declined, "" if accepted.
	Reason attest.Reason
	Err    string
}

const (
	peerKey = "attest.peer"
	selfKey = "attest.self"
)

// RecordPeer stores the outcome of appraising the peer.
func RecordPeer(hs *tls13.HookState, o Outcome) { hs.Values[peerKey] = o }

// RecordPeerIn and RecordSelfIn store outcomes in a connection's hook
// values after its handshake (tls13.ConnectionState.Values is the map the
// hooks wrote), for a post-handshake profile.
func RecordPeerIn(values map[string]any, o Outcome) { values[peerKey] = o }
func RecordSelfIn(values map[string]any, o Outcome) { values[selfKey] = o }

// RecordSelf stores what we presented.
func RecordSelf(hs *tls13.HookState, o Outcome) { hs.Values[selfKey] = o }

// PeerOutcome returns the outcome of appraising the peer's attestation.
func PeerOutcome(cs tls13.ConnectionState) (Outcome, bool) {
	o, ok := cs.Values[peerKey].(Outcome)
	return o, ok
}

// SelfOutcome returns what this endpoint presented.
func SelfOutcome(cs tls13.ConnectionState) (Outcome, bool) {
	o, ok := cs.Values[selfKey].(Outcome)
	return o, ok
}

// Fail records a failed appraisal and returns the alert error a profile
// sends for it.
func Fail(hs *tls13.HookState, o Outcome, code tls13.AlertCode, err error) error {
	o.Reason, o.Err = attest.ReasonOf(err), err.Error()
	if o.Reason == "" {
		o.Reason = ReasonVerifierFailed
	}
	RecordPeer(hs, o)
	return &tls13.AlertError{Code: code, Err: err}
}

// Profile is one attested TLS wire format and its negotiation rules.
type Profile interface {
	// Name is how the profile is selected everywhere ("ta-07", "ea-07", "poc").
	Name() string
	// Describe states what the profile is: its draft, models, bindings,
	// alerts and requirement IDs.
	Describe() Descriptor
	// Configure returns a copy of base that runs this profile's hooks for
	// one side with the party's roles.
	Configure(base *tls13.Config, isClient bool, p *Party) (*tls13.Config, error)
}

// ErrUnsupported says a profile does not define an interaction model.
var ErrUnsupported = errors.New("interaction model not defined by this profile")
