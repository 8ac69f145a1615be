package ta07

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"slices"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile/codec"
	"github.com/attested-tls/conformance/impl/tls13"
)

// Name is the profile's name everywhere: API, CLI, peer contract, reports.
const Name = "ta-07"

// Profile is draft-fossati-tls-attestation-07 on the engine's hooks.
//
// The draft defines no alert for a failed appraisal; this profile sends
// bad_certificate (RFC 8446 §6.2: the credential "contained signatures
// that did not verify correctly"), and certificate_required when a client
// that agreed to attest sends no credential. A client whose required
// server attestation is declined sends unsupported_evidence (or
// unsupported_verifiers for a passport), the draft's "nothing in common"
// alerts, since no offered type found a taker. An extension in a message
// it is not defined for (Extensions) is illegal_parameter, from the engine
// (RFC 8446 §4.2).
type Profile struct{}

func (Profile) Name() string { return Name }

// direction is the state of one attestation direction of a handshake.
type direction struct {
	negotiated bool
	topology   party.Topology
	evType     EvidenceType
	verifier   VerifierIdentity
	nonce      []byte
	// What the client offered, to check the server's selection.
	offeredTypes     []EvidenceType
	offeredVerifiers []VerifierIdentity
}

func (d *direction) selected() string {
	if d.topology == party.Passport {
		return "verifier:" + hex.EncodeToString(d.verifier)
	}
	return d.evType.String()
}

type hooks struct {
	tls13.NoHooks
	p        *party.Party
	client   bool
	srv, cli direction // the server's and the client's attestation
	chExts   []tls13.Extension
}

func (Profile) Configure(base *tls13.Config, isClient bool, p *party.Party) (*tls13.Config, error) {
	cfg := base.Clone()
	t := p.Table()
	att := tls13.CertificateType(t.TA07AttestationCertType)
	withX509 := func(types ...tls13.CertificateType) []tls13.CertificateType {
		return append(types, tls13.CertTypeX509)
	}
	if p.Attests() && p.Credential == party.X509 {
		cfg.Certificates = []tls13.Credential{{Chain: p.Chain, Signer: p.Identity()}}
	}
	ours, theirs := &cfg.ClientCertificateTypes, &cfg.ServerCertificateTypes
	if !isClient {
		ours, theirs = theirs, ours
	}
	if p.Attests() && p.Credential == party.AttestationOnly && !(p.Bugs.Decline && !isClient) {
		*ours = []tls13.CertificateType{att}
		if !isClient && len(cfg.Certificates) > 0 {
			*ours = withX509(att) // serve clients that do not ask for attestation
		}
	}
	if p.VerifyPeer && p.PeerCredential == party.AttestationOnly {
		*theirs = []tls13.CertificateType{att}
		if !p.RequirePeer {
			*theirs = withX509(att)
		}
	}
	// The connection names its table's alerts; other connections may
	// use another table.
	cfg.NameAlerts(codepoint.AlertNames(t))
	cfg.HookExtensions = codec.Declare(cfg.HookExtensions, Extensions(t))
	cfg.NewHooks = func() tls13.Hooks { return &hooks{p: p, client: isClient} }
	return cfg, nil
}

func kindOf(c party.Credential) CredentialKind {
	if c == party.X509 {
		return CertAttestation
	}
	return Attestation
}

func evidenceTypes(mediaTypes []string, c party.Credential) []EvidenceType {
	var out []EvidenceType
	for _, mt := range mediaTypes {
		out = append(out, EvidenceType{CredentialKind: kindOf(c), Encoding: MediaType, MediaType: mt})
	}
	return out
}

func verifierIDs(ids [][]byte) []VerifierIdentity {
	out := make([]VerifierIdentity, len(ids))
	for i, id := range ids {
		out[i] = VerifierIdentity(id)
	}
	return out
}

// ours is the direction in which this endpoint attests; peer the other.
func (h *hooks) ours() *direction {
	if h.client {
		return &h.cli
	}
	return &h.srv
}

func (h *hooks) peer() *direction {
	if h.client {
		return &h.srv
	}
	return &h.cli
}

func (h *hooks) table() (ext struct{ evReq, evProp, resReq, resProp, attEv uint16 }, unsupEv, unsupVer tls13.AlertCode) {
	t := h.p.Table()
	ext.evReq, ext.evProp, ext.resReq, ext.resProp, ext.attEv = t.TA07EvidenceRequest, t.TA07EvidenceProposal,
		t.TA07ResultsRequest, t.TA07ResultsProposal, t.TA07AttestationEvidence
	return ext, t.TA07UnsupportedEvidence, t.TA07UnsupportedVerifiers
}

// newNonce is our verifier's nonce (or party.Bugs.NonceLength's).
func (h *hooks) newNonce(ctx context.Context) ([]byte, error) {
	n, err := h.p.Nonce(ctx)
	if err != nil {
		return nil, tls13.Alertf(tls13.AlertInternalError, "ta-07: %v", err)
	}
	return n, nil
}

func marshalExt(typ uint16, m interface{ Marshal() ([]byte, error) }) (tls13.Extension, error) {
	b, err := m.Marshal()
	return tls13.Extension{Type: typ, Data: b}, err
}

// marshalNonceExt marshals an extension whose last field is the nonce. A
// nonce the encoder refuses (party.Bugs.NonceLength out of <8..255>) is
// spliced in after encoding a valid placeholder, so the bug reaches the wire.
func marshalNonceExt(typ uint16, nonce []byte, encode func(nonce []byte) interface{ Marshal() ([]byte, error) }) (tls13.Extension, error) {
	if len(nonce) >= MinNonceLen && len(nonce) <= MaxNonceLen {
		return marshalExt(typ, encode(nonce))
	}
	placeholder := make([]byte, MinNonceLen)
	e, err := marshalExt(typ, encode(placeholder))
	if err != nil || len(nonce) > 255 {
		return e, err
	}
	body := append(e.Data[:len(e.Data)-1-MinNonceLen:len(e.Data)-1-MinNonceLen], byte(len(nonce)))
	e.Data = append(body, nonce...)
	return e, nil
}

// WriteClientHello offers what the client asks of the server and what it
// can present itself (§5, §8.1.1, §8.2.1).
func (h *hooks) WriteClientHello(hs *tls13.HookState) ([]tls13.Extension, error) {
	if h.chExts != nil { // the second ClientHello repeats the first
		return h.chExts, nil
	}
	ext, _, _ := h.table()
	p := h.p
	exts := []tls13.Extension{}
	if p.VerifyPeer {
		h.srv.topology = p.PeerTopology
		if p.PeerTopology == party.Passport {
			h.srv.offeredVerifiers = verifierIDs(p.TrustedVerifierIDs())
			e, err := marshalExt(ext.resReq, ResultsCH{TrustedVerifiers: h.srv.offeredVerifiers})
			if err != nil {
				return nil, err
			}
			exts = append(exts, e)
		} else {
			nonce, err := h.newNonce(hs.Context())
			if err != nil {
				return nil, err
			}
			h.srv.nonce = nonce
			h.srv.offeredTypes = evidenceTypes(p.VerifierMediaTypes, p.PeerCredential)
			e, err := marshalNonceExt(ext.evReq, nonce, func(n []byte) interface{ Marshal() ([]byte, error) } {
				return EvidenceRequestCH{SupportedEvidenceTypes: h.srv.offeredTypes, Nonce: n}
			})
			if err != nil {
				return nil, err
			}
			exts = append(exts, e)
		}
	}
	if p.Attests() {
		h.cli.topology = p.Topology
		var e tls13.Extension
		var err error
		if p.Topology == party.Passport {
			h.cli.offeredVerifiers = verifierIDs(p.ResultVerifiers)
			e, err = marshalExt(ext.resProp, ResultsCH{TrustedVerifiers: h.cli.offeredVerifiers})
		} else {
			h.cli.offeredTypes = evidenceTypes(p.Attester.MediaTypes(), p.Credential)
			e, err = marshalExt(ext.evProp, EvidenceProposalCH{SupportedEvidenceTypes: h.cli.offeredTypes})
		}
		if err != nil {
			return nil, err
		}
		exts = append(exts, e)
	}
	h.chExts = exts
	return exts, nil
}

// selectType picks our first type the peer offered (§8.1.2: "echo exactly
// one value from the client's list").
func (h *hooks) selectType(ours, offered []EvidenceType) (EvidenceType, bool) {
	if h.p.Bugs.SelectUnoffered {
		return EvidenceType{Encoding: MediaType, MediaType: "application/x-not-offered"}, true
	}
	for _, t := range ours {
		for _, o := range offered {
			if t.Equal(o) {
				return t, true
			}
		}
	}
	return EvidenceType{}, false
}

func (h *hooks) selectVerifier(ours [][]byte, offered []VerifierIdentity) (VerifierIdentity, bool) {
	if h.p.Bugs.SelectUnoffered {
		return VerifierIdentity("not-offered"), true
	}
	for _, id := range ours {
		for _, o := range offered {
			if string(id) == string(o) {
				return o, true
			}
		}
	}
	return nil, false
}

// ReadClientHello is the server's negotiation (§8.1.2, §8.2.2).
func (h *hooks) ReadClientHello(hs *tls13.HookState, exts []tls13.Extension) error {
	ext, unsupEv, unsupVer := h.table()
	p := h.p
	// The server attests.
	if d, ok := tls13.FindExtension(exts, ext.evReq); ok && p.Attests() && p.Topology == party.BackgroundCheck && !p.Bugs.Decline {
		var ch EvidenceRequestCH
		if err := ch.Unmarshal(d); err != nil {
			return err
		}
		t, ok := h.selectType(evidenceTypes(p.Attester.MediaTypes(), p.Credential), ch.SupportedEvidenceTypes)
		if !ok {
			return tls13.Alertf(unsupEv, "ta-07: no evidence type in common with %v", ch.SupportedEvidenceTypes)
		}
		if err := unbindable(p.Attester, ch.Nonce, unsupEv); err != nil {
			return err
		}
		h.srv = direction{negotiated: true, topology: party.BackgroundCheck, evType: t, nonce: ch.Nonce}
	}
	if d, ok := tls13.FindExtension(exts, ext.resReq); ok && p.Attests() && p.Topology == party.Passport && !p.Bugs.Decline {
		var ch ResultsCH
		if err := ch.Unmarshal(d); err != nil {
			return err
		}
		v, ok := h.selectVerifier(p.ResultVerifiers, ch.TrustedVerifiers)
		if !ok {
			return tls13.Alertf(unsupVer, "ta-07: no verifier in common")
		}
		h.srv = direction{negotiated: true, topology: party.Passport, verifier: v}
	}
	// The client attests.
	if !p.VerifyPeer {
		return nil
	}
	if d, ok := tls13.FindExtension(exts, ext.evProp); ok && p.PeerTopology == party.BackgroundCheck {
		var ch EvidenceProposalCH
		if err := ch.Unmarshal(d); err != nil {
			return err
		}
		t, ok := h.selectType(evidenceTypes(p.VerifierMediaTypes, p.PeerCredential), ch.SupportedEvidenceTypes)
		switch {
		case ok:
			nonce, err := h.newNonce(hs.Context())
			if err != nil {
				return err
			}
			h.cli = direction{negotiated: true, topology: party.BackgroundCheck, evType: t, nonce: nonce}
		case !p.OmitUnmatchedProposal:
			return tls13.Alertf(unsupEv, "ta-07: no evidence type in common with the client's proposal")
		}
	}
	if d, ok := tls13.FindExtension(exts, ext.resProp); ok && p.PeerTopology == party.Passport {
		var ch ResultsCH
		if err := ch.Unmarshal(d); err != nil {
			return err
		}
		v, ok := h.selectVerifier(p.TrustedVerifierIDs(), ch.TrustedVerifiers)
		switch {
		case ok:
			h.cli = direction{negotiated: true, topology: party.Passport, verifier: v}
		case !p.OmitUnmatchedProposal:
			return tls13.Alertf(unsupVer, "ta-07: no trusted verifier in the client's proposal")
		}
	}
	if h.cli.negotiated && !p.Bugs.OmitCertificateRequest {
		hs.RequestClientCertificate() // §8.1.2: "MUST also send a CertificateRequest"
	}
	if p.RequirePeer && !h.cli.negotiated {
		code := unsupEv
		if p.PeerTopology == party.Passport {
			code = unsupVer
		}
		return tls13.Alertf(code, "ta-07: client attestation required, the client proposed none")
	}
	return nil
}

func (h *hooks) WriteEncryptedExtensions(hs *tls13.HookState) ([]tls13.Extension, error) {
	ext, _, _ := h.table()
	var exts []tls13.Extension
	add := func(typ uint16, m interface{ Marshal() ([]byte, error) }) error {
		e, err := marshalExt(typ, m)
		exts = append(exts, e)
		return err
	}
	var err error
	switch {
	case h.srv.negotiated && h.srv.topology == party.BackgroundCheck:
		err = add(ext.evReq, EvidenceRequestEE{SelectedEvidenceType: h.srv.evType})
	case h.srv.negotiated:
		err = add(ext.resReq, ResultsEE{SelectedVerifier: h.srv.verifier})
	}
	if err != nil {
		return nil, err
	}
	switch {
	case h.cli.negotiated && h.cli.topology == party.BackgroundCheck:
		var e tls13.Extension
		e, err = marshalNonceExt(ext.evProp, h.cli.nonce, func(n []byte) interface{ Marshal() ([]byte, error) } {
			return EvidenceProposalEE{SelectedEvidenceType: h.cli.evType, Nonce: n}
		})
		exts = append(exts, e)
	case h.cli.negotiated:
		err = add(ext.resProp, ResultsEE{SelectedVerifier: h.cli.verifier})
	}
	return exts, err
}

// ReadEncryptedExtensions checks the server's selections against what the
// client offered (§8.1.2: the server echoes "exactly one value").
func (h *hooks) ReadEncryptedExtensions(hs *tls13.HookState, exts []tls13.Extension) error {
	ext, unsupEv, unsupVer := h.table()
	if d, ok := tls13.FindExtension(exts, ext.evReq); ok {
		var ee EvidenceRequestEE
		if err := ee.Unmarshal(d); err != nil {
			return err
		}
		if !slices.ContainsFunc(h.srv.offeredTypes, ee.SelectedEvidenceType.Equal) {
			return tls13.Alertf(tls13.AlertIllegalParameter, "ta-07: server selected evidence type %v that was not offered", ee.SelectedEvidenceType)
		}
		h.srv.negotiated, h.srv.evType = true, ee.SelectedEvidenceType
	}
	if d, ok := tls13.FindExtension(exts, ext.resReq); ok {
		var ee ResultsEE
		if err := ee.Unmarshal(d); err != nil {
			return err
		}
		if !containsVerifier(h.srv.offeredVerifiers, ee.SelectedVerifier) {
			return tls13.Alertf(tls13.AlertIllegalParameter, "ta-07: server selected a verifier that was not offered")
		}
		h.srv.negotiated, h.srv.verifier = true, ee.SelectedVerifier
	}
	if d, ok := tls13.FindExtension(exts, ext.evProp); ok {
		var ee EvidenceProposalEE
		if err := ee.Unmarshal(d); err != nil {
			return err
		}
		if !slices.ContainsFunc(h.cli.offeredTypes, ee.SelectedEvidenceType.Equal) {
			return tls13.Alertf(tls13.AlertIllegalParameter, "ta-07: server selected evidence type %v that was not offered", ee.SelectedEvidenceType)
		}
		if h.p.Attests() {
			if err := unbindable(h.p.Attester, ee.Nonce, unsupEv); err != nil {
				return err
			}
		}
		h.cli.negotiated, h.cli.evType, h.cli.nonce = true, ee.SelectedEvidenceType, ee.Nonce
	}
	if d, ok := tls13.FindExtension(exts, ext.resProp); ok {
		var ee ResultsEE
		if err := ee.Unmarshal(d); err != nil {
			return err
		}
		if !containsVerifier(h.cli.offeredVerifiers, ee.SelectedVerifier) {
			return tls13.Alertf(tls13.AlertIllegalParameter, "ta-07: server selected a verifier that was not offered")
		}
		h.cli.negotiated, h.cli.verifier = true, ee.SelectedVerifier
	}
	if h.p.VerifyPeer && h.p.RequirePeer && !h.srv.negotiated {
		code := unsupEv
		if h.p.PeerTopology == party.Passport {
			code = unsupVer
		}
		return tls13.Alertf(code, "ta-07: server attestation required, the server declined")
	}
	return nil
}

// unbindable refuses a nonce our attester's evidence cannot carry
// (catalog TA07-I-6): a TPM binds at most 64 bytes of qualifying data, and
// the channel binder of an X.509 credential is as long as the nonce. No
// evidence type of ours answers such a request, so it is the draft's
// unsupported_evidence, not a failure to attest later.
func unbindable(a attest.Attester, nonce []byte, unsupEv tls13.AlertCode) error {
	if b, ok := a.(attest.Bounded); ok && len(nonce) > b.MaxQualifyingData() {
		return tls13.Alertf(unsupEv, "ta-07: a %d-byte nonce: our evidence binds at most %d bytes", len(nonce), b.MaxQualifyingData())
	}
	return nil
}

func containsVerifier(list []VerifierIdentity, v VerifierIdentity) bool {
	return slices.ContainsFunc(list, func(o VerifierIdentity) bool { return string(o) == string(v) })
}

// challenge is what attestation in direction d binds to: the nonce for an
// attestation-only credential, the channel binder over it for X.509 plus
// attestation (§6.2.1), nothing but the key for a passport.
func (h *hooks) challenge(hs *tls13.HookState, d *direction, x509Cred bool, tik crypto.PublicKey) (attest.Challenge, error) {
	ch := attest.Challenge{Profile: Name, Nonce: d.nonce, TIK: tik}
	if x509Cred && len(d.nonce) > 0 {
		hes := hs.DeriveHandshakeSecret("h exp master")
		b, err := ChannelBinder(hs.Hash(), hes, d.nonce, len(d.nonce))
		if err != nil {
			return ch, err
		}
		ch.Binder = b
	}
	return ch, nil
}

// Credential presents our attestation as the Certificate payload (§6).
func (h *hooks) Credential(hs *tls13.HookState) (*tls13.OutgoingCertificate, error) {
	d, p := h.ours(), h.p
	if !d.negotiated || !p.Attests() {
		return nil, nil
	}
	if p.Bugs.Decline { // agreed to attest, then sends nothing
		return &tls13.OutgoingCertificate{}, nil
	}
	ext, _, _ := h.table()
	tik := p.Identity()
	x509Cred := p.Credential == party.X509
	outcome := party.Outcome{Profile: Name, Direction: side(!h.client), Topology: d.topology, Selected: d.selected()}
	if !x509Cred && hs.CertificateType(h.client) != tls13.CertificateType(p.Table().TA07AttestationCertType) {
		return nil, tls13.Alertf(tls13.AlertUnsupportedCertificate, "ta-07: attestation credential negotiated without the attestation certificate type")
	}
	ch, err := h.challenge(hs, d, x509Cred, tik.Public())
	if err != nil {
		return nil, err
	}
	var payload []byte
	if !p.Bugs.OmitPayload {
		if payload, err = p.Present(hs.Context(), ch); err != nil {
			return nil, tls13.Alertf(tls13.AlertInternalError, "ta-07: %v", err)
		}
	}
	party.RecordSelf(hs, outcome)
	if !x509Cred {
		if payload == nil {
			return &tls13.OutgoingCertificate{}, nil // declining: an empty Certificate
		}
		return &tls13.OutgoingCertificate{Entries: []tls13.CertificateEntry{{Data: payload}}, Signer: tik}, nil
	}
	entries := make([]tls13.CertificateEntry, len(p.Chain))
	for i, der := range p.Chain {
		entries[i] = tls13.CertificateEntry{Data: der}
	}
	if i := p.Bugs.PayloadEntry; payload != nil && i < len(entries) {
		entries[i].Extensions = append(entries[i].Extensions, tls13.Extension{Type: ext.attEv, Data: payload})
	}
	return &tls13.OutgoingCertificate{Entries: entries, Signer: tik}, nil
}

func side(server bool) string {
	if server {
		return "server"
	}
	return "client"
}

// VerifyPeerCertificate appraises the peer's attestation and, for an
// attestation-only credential, hands the engine the attested key that
// must sign CertificateVerify.
func (h *hooks) VerifyPeerCertificate(hs *tls13.HookState, pc *tls13.PeerCertificate) error {
	d, p := h.peer(), h.p
	ext, _, _ := h.table()
	if h.client && h.cli.negotiated && !hs.CertificateRequested() {
		// §8.1.2: a server that takes the client's proposal must ask for its certificate.
		return tls13.Alertf(tls13.AlertIllegalParameter, "ta-07: evidence_proposal accepted without a CertificateRequest")
	}
	if !d.negotiated {
		// RFC 8446 §4.4.2: a Certificate's extensions answer ones we sent;
		// attestation_evidence answers an evidence type we negotiated.
		if len(pc.Entries) > 0 {
			if _, ok := tls13.FindExtension(pc.Entries[0].Extensions, ext.attEv); ok {
				return tls13.Alertf(tls13.AlertUnsupportedExtension, "ta-07: attestation_evidence without a negotiated evidence type")
			}
		}
		return nil
	}
	out := party.Outcome{Profile: Name, Direction: side(h.client), Topology: d.topology, Selected: d.selected()}
	bad := tls13.AlertBadCertificate
	if len(pc.Entries) == 0 {
		return party.Fail(hs, out, tls13.AlertCertificateRequired, attest.Reject(party.ReasonDeclined, "the client agreed to attest and sent no credential"))
	}
	attType := tls13.CertificateType(p.Table().TA07AttestationCertType)
	if pc.Type == attType {
		ch, _ := h.challenge(hs, d, false, nil)
		r, err := p.Appraise(hs.Context(), pc.Entries[0].Data, ch)
		if err != nil {
			return party.Fail(hs, out, bad, err)
		}
		if r.AttestedKey == nil {
			return party.Fail(hs, out, bad, attest.Reject(attest.ReasonNoAttestedKey, "the result attests no TLS key"))
		}
		out.Result = r
		party.RecordPeer(hs, out)
		pc.PublicKey = r.AttestedKey // the attested key must sign CertificateVerify
		return nil
	}
	if p.PeerCredential == party.AttestationOnly {
		return party.Fail(hs, out, tls13.AlertUnsupportedCertificate, attest.Reject(party.ReasonPayloadType, "attestation-only credential expected, got certificate type %d", pc.Type))
	}
	// The engine has refused attestation_evidence in any other entry (Extensions).
	payload, _ := tls13.FindExtension(pc.Entries[0].Extensions, ext.attEv)
	leaf, err := x509.ParseCertificate(pc.Entries[0].Data)
	if err != nil {
		return party.Fail(hs, out, bad, attest.Reject(party.ReasonPayloadType, "end-entity certificate: %v", err))
	}
	ch, err := h.challenge(hs, d, true, leaf.PublicKey)
	if err != nil {
		return party.Fail(hs, out, bad, err)
	}
	r, err := p.Appraise(hs.Context(), payload, ch)
	if err != nil {
		return party.Fail(hs, out, bad, err)
	}
	if eq, ok := r.AttestedKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(leaf.PublicKey) {
		return party.Fail(hs, out, bad, attest.Reject(attest.ReasonKeyMismatch, "the attested key is not the certificate's key"))
	}
	out.Result = r
	party.RecordPeer(hs, out)
	return nil // the engine validates the chain and CertificateVerify with the leaf key
}
