package ea07

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/cmw"
	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile/codec"
	"github.com/attested-tls/conformance/impl/tls13"
)

// Name is the profile's name everywhere: API, CLI, peer contract, reports.
const Name = "ea-07"

// Profile is draft-fossati-seat-early-attestation-07 on the engine's hooks.
//
// X.509 is mandatory (§2: the TIK "MUST be the X.509 certificate's end
// entity key"), so attestation-only credentials are ErrUnsupported and an
// attester always sends its chain with the CMW in the leaf's
// remoteAttestation extension.
//
// Alerts, where the draft names them: unsupported_attestation_schemes
// (§7.2) when the ClientHello's lists are both empty or nothing the server
// is willing to do is in them; attestation_required (§7.4) when the client's
// policy needs the server's attestation and EncryptedExtensions has no
// scheme; attestation_failed (§5.1.2) for a binder mismatch, a failed
// appraisal, a malformed CMW, and also for a negotiated attestation missing
// from the Certificate, a payload not of the chosen scheme, or an attested
// key that is not the end-entity key (the draft lists only the first three;
// the others are the same "Evidence rejected" case); illegal_parameter
// (§4.1) for the extension outside the first CertificateEntry, and (RFC
// 8446 §4.2) in any message §4.1 does not define it for, which the engine
// enforces from Extensions.
//
// Our choices where the draft names no alert:
//   - a chosen_server_scheme or chosen_client_scheme the client did not
//     offer (§7.4 "MUST check") is illegal_parameter, RFC 8446's alert for a
//     field that is syntactically right but semantically wrong;
//   - a server whose policy requires client attestation sends
//     attestation_required when the client offered no client_attester_schemes
//     or answered the CertificateRequest with an empty Certificate (the §7.4
//     alert, mirrored: the peer declined to act as attester), and
//     unsupported_attestation_schemes when the client offered schemes but
//     none the server accepts (§7.2's "nothing in common", per direction);
//   - remoteAttestation in a Certificate when no scheme was chosen for that
//     direction is unsupported_extension if our ClientHello or
//     CertificateRequest did not carry the extension (RFC 8446 §4.4.2), and
//     illegal_parameter otherwise.
//
// A server with neither an attester nor a verifier does not support the
// extension and ignores it (§7.2, first outcome). party.Bugs.Decline makes
// a server choose no server scheme and, if it then has nothing to choose,
// behave like that server instead of alerting, so a client's
// attestation_required path can be reached; it makes a client answer the
// CertificateRequest with an empty Certificate.
//
// The binder is computed at the ClientHello...ServerHello checkpoint the
// engine reports (after a HelloRetryRequest: the transcript with the
// synthetic message_hash, which the draft's editor's copy, post -07,
// prescribes and -07 leaves open). Post-handshake client reattestation
// (§5.4.1) runs through the same hooks with that same binder: §8.4 says it
// "does not change for the lifetime of the connection", so resent stale
// Evidence passes, the gap §8.4 admits.
//
// A server that negotiated client attestation has the engine validate the
// client's chain against Config.ClientCAs (HookState.VerifyChain) when
// Config.ClientAuth would not make it do so: attestation vouches for the
// key, the chain for who holds it.
type Profile struct{}

func (Profile) Name() string { return Name }

func (Profile) Configure(base *tls13.Config, isClient bool, p *party.Party) (*tls13.Config, error) {
	if p.Attests() && p.Credential != party.X509 {
		return nil, fmt.Errorf("ea-07: an attestation-only credential: %w", party.ErrUnsupported)
	}
	if p.VerifyPeer && p.PeerCredential != party.X509 {
		return nil, fmt.Errorf("ea-07: expecting an attestation-only peer credential: %w", party.ErrUnsupported)
	}
	cfg := base.Clone()
	if p.Attests() {
		if len(p.Chain) == 0 {
			return nil, errors.New("ea-07: the attester needs an X.509 chain for its TLS identity key")
		}
		leaf, err := x509.ParseCertificate(p.Chain[0])
		if err != nil {
			return nil, fmt.Errorf("ea-07: end-entity certificate: %w", err)
		}
		if !sameKey(leaf.PublicKey, p.Identity().Public()) {
			return nil, errors.New("ea-07: the end-entity certificate does not certify the attester's TLS identity key")
		}
		cfg.Certificates = []tls13.Credential{{Chain: p.Chain, Signer: p.Identity()}}
	}
	t := p.Table()
	// The connection names its table's alerts; other connections may
	// use another table.
	cfg.NameAlerts(codepoint.AlertNames(t))
	cfg.HookExtensions = codec.Declare(cfg.HookExtensions, Extensions(t))
	cfg.NewHooks = func() tls13.Hooks { return &hooks{p: p, client: isClient} }
	return cfg, nil
}

// Binder is the attestation binder of §5.1.1 for the attester whose
// end-entity certificate is leaf, at the handshake checkpoint
// helloTranscriptHash: s_attest_binder for the server's certificate,
// c_attest_binder for the client's. The hooks use it on both sides.
func Binder(h crypto.Hash, helloTranscriptHash []byte, leaf *x509.Certificate) []byte {
	return AttestBinder(h, AttestBase(h, helloTranscriptHash), leaf.RawSubjectPublicKeyInfo)
}

// direction is the state of one attestation direction of a handshake.
type direction struct {
	// offered is what the client put in the ClientHello for this direction
	// (client side: to check the server's choice).
	offered    []AttestationScheme
	negotiated bool
	scheme     AttestationScheme
	// appraised: the relying party accepted the peer's attestation.
	appraised bool
}

type hooks struct {
	tls13.NoHooks
	p      *party.Party
	client bool
	// chExts is the first ClientHello's extensions, repeated after a
	// HelloRetryRequest; sentExt says whether they carry remoteAttestation.
	chExts   []tls13.Extension
	sentExt  bool
	srv, cli direction // the server's and the client's attestation
}

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

func (h *hooks) alerts() (unsupported, required, failed tls13.AlertCode) {
	t := h.p.Table()
	return t.EA07UnsupportedAttestationSchemes, t.EA07AttestationRequired, t.EA07AttestationFailed
}

func (h *hooks) extType() uint16 { return h.p.Table().EA07RemoteAttestation }

func evidenceSchemes(mediaTypes []string) []AttestationScheme {
	var out []AttestationScheme
	for _, mt := range mediaTypes {
		out = append(out, AttestationScheme{Mechanism: MechanismEvidence, Evidence: EvidenceType{Encoding: MediaType, MediaType: mt}})
	}
	return out
}

func resultSchemes(ids [][]byte) []AttestationScheme {
	var out []AttestationScheme
	for _, id := range ids {
		out = append(out, AttestationScheme{Mechanism: MechanismResult, Verifier: VerifierIdentity(bytes.Clone(id))})
	}
	return out
}

// presentable are the schemes p can attest with.
func presentable(p *party.Party) []AttestationScheme {
	if !p.Attests() {
		return nil
	}
	if p.Topology == party.Passport {
		return resultSchemes(p.ResultVerifiers)
	}
	return evidenceSchemes(p.Attester.MediaTypes())
}

// acceptable are the schemes p can appraise the peer with (§7.1: only
// evidence types it can pass to its verifier; for results, the verifiers
// its policy trusts).
func acceptable(p *party.Party) []AttestationScheme {
	if !p.VerifyPeer {
		return nil
	}
	if p.PeerTopology == party.Passport {
		return resultSchemes(p.TrustedVerifierIDs())
	}
	return evidenceSchemes(p.VerifierMediaTypes)
}

// WriteClientHello offers what the client accepts from the server and what
// it can present itself (§7.1); no extension if it neither verifies nor
// attests, since it "MUST populate at least one AttestationScheme" (§6).
func (h *hooks) WriteClientHello(hs *tls13.HookState) ([]tls13.Extension, error) {
	if h.chExts != nil { // the second ClientHello repeats the first
		return h.chExts, nil
	}
	h.srv.offered, h.cli.offered = acceptable(h.p), presentable(h.p)
	exts := []tls13.Extension{}
	if len(h.srv.offered) > 0 || len(h.cli.offered) > 0 {
		b, err := RemoteAttestationCH{ServerAttesterSchemes: h.srv.offered, ClientAttesterSchemes: h.cli.offered}.Marshal()
		if err != nil {
			return nil, err
		}
		exts = append(exts, tls13.Extension{Type: h.extType(), Data: b})
		h.sentExt = true
	}
	h.chExts = exts
	return exts, nil
}

// choose picks the first scheme of the client's list (§7.1: "sorted by
// preference") that we support.
func (h *hooks) choose(ours, offered []AttestationScheme) (AttestationScheme, bool) {
	if h.p.Bugs.SelectUnoffered {
		return unoffered(ours, offered), true
	}
	for _, o := range offered {
		if o.In(ours) {
			return o, true
		}
	}
	return AttestationScheme{}, false
}

// unoffered makes a scheme of our mechanism that is not in offered.
func unoffered(ours, offered []AttestationScheme) AttestationScheme {
	mech := MechanismEvidence
	if len(ours) > 0 {
		mech = ours[0].Mechanism
	}
	for i := 0; ; i++ {
		sc := AttestationScheme{Mechanism: mech,
			Evidence: EvidenceType{Encoding: MediaType, MediaType: fmt.Sprintf("application/x-not-offered-%d", i)},
			Verifier: VerifierIdentity(fmt.Sprintf("not-offered-%d", i))}
		if !sc.In(offered) {
			return sc
		}
	}
}

// ReadClientHello is the server's negotiation (§6, §7.2, §7.3).
func (h *hooks) ReadClientHello(hs *tls13.HookState, exts []tls13.Extension) error {
	p := h.p
	unsupported, required, _ := h.alerts()
	data, ok := tls13.FindExtension(exts, h.extType())
	if !p.Attests() && !p.VerifyPeer {
		return nil // no support: EncryptedExtensions goes without the extension (§7.2)
	}
	var ch RemoteAttestationCH
	if ok {
		if err := ch.Unmarshal(data); err != nil {
			return err
		}
		if len(ch.ServerAttesterSchemes) == 0 && len(ch.ClientAttesterSchemes) == 0 {
			return tls13.Alertf(unsupported, "ea-07: server_attester_schemes and client_attester_schemes both empty (§7.2)")
		}
		if p.Attests() && !p.Bugs.Decline {
			if sc, ok := h.choose(presentable(p), ch.ServerAttesterSchemes); ok {
				h.srv.negotiated, h.srv.scheme = true, sc
			}
		}
		if p.VerifyPeer {
			if sc, ok := h.choose(acceptable(p), ch.ClientAttesterSchemes); ok {
				h.cli.negotiated, h.cli.scheme = true, sc
			}
		}
		if !h.srv.negotiated && !h.cli.negotiated && !p.Bugs.Decline {
			return tls13.Alertf(unsupported, "ea-07: no attestation scheme in common with the client (§7.2)")
		}
	}
	if p.VerifyPeer && p.RequirePeer && !h.cli.negotiated {
		out := party.Outcome{Profile: Name, Direction: "client", Topology: p.PeerTopology}
		if len(ch.ClientAttesterSchemes) > 0 {
			return party.Fail(hs, out, unsupported, attest.Reject(attest.ReasonUnsupportedEvidence, "ea-07: no client_attester_scheme we accept"))
		}
		return party.Fail(hs, out, required, attest.Reject(party.ReasonDeclined, "ea-07: client attestation required, the client offered none"))
	}
	if h.cli.negotiated && !p.Bugs.OmitCertificateRequest {
		hs.RequestClientCertificate() // §7.3: chosen_client_scheme travels in CertificateRequest
	}
	return nil
}

func (h *hooks) WriteEncryptedExtensions(hs *tls13.HookState) ([]tls13.Extension, error) {
	if !h.srv.negotiated {
		return nil, nil
	}
	b, err := RemoteAttestationEE{ChosenServerScheme: h.srv.scheme}.Marshal()
	return []tls13.Extension{{Type: h.extType(), Data: b}}, err
}

// WriteCertificateRequest carries chosen_client_scheme, in the handshake
// and again in a post-handshake CertificateRequest (§5.4.1).
func (h *hooks) WriteCertificateRequest(hs *tls13.HookState) ([]tls13.Extension, error) {
	if !h.cli.negotiated {
		return nil, nil
	}
	b, err := RemoteAttestationCR{ChosenClientScheme: h.cli.scheme}.Marshal()
	return []tls13.Extension{{Type: h.extType(), Data: b}}, err
}

// ReadEncryptedExtensions checks chosen_server_scheme (§7.4).
func (h *hooks) ReadEncryptedExtensions(hs *tls13.HookState, exts []tls13.Extension) error {
	_, required, _ := h.alerts()
	if data, ok := tls13.FindExtension(exts, h.extType()); ok {
		var ee RemoteAttestationEE
		if err := ee.Unmarshal(data); err != nil {
			return err
		}
		// §7.4 says the client MUST check but names no alert.
		if !ee.ChosenServerScheme.In(h.srv.offered) {
			return tls13.Alertf(tls13.AlertIllegalParameter, "ea-07: chosen_server_scheme %v was not offered", ee.ChosenServerScheme)
		}
		h.srv.negotiated, h.srv.scheme = true, ee.ChosenServerScheme
	}
	if p := h.p; p.VerifyPeer && p.RequirePeer && !h.srv.negotiated {
		out := party.Outcome{Profile: Name, Direction: "server", Topology: p.PeerTopology}
		return party.Fail(hs, out, required, attest.Reject(party.ReasonDeclined, "ea-07: server attestation required, EncryptedExtensions chose no scheme (§7.4)"))
	}
	return nil
}

// ReadCertificateRequest checks chosen_client_scheme (§7.4), in the
// handshake and after it.
func (h *hooks) ReadCertificateRequest(hs *tls13.HookState, exts []tls13.Extension) error {
	h.cli.negotiated = false
	data, ok := tls13.FindExtension(exts, h.extType())
	if !ok {
		return nil
	}
	var cr RemoteAttestationCR
	if err := cr.Unmarshal(data); err != nil {
		return err
	}
	// §7.4 says the client MUST check but names no alert.
	if !cr.ChosenClientScheme.In(h.cli.offered) {
		return tls13.Alertf(tls13.AlertIllegalParameter, "ea-07: chosen_client_scheme %v was not offered", cr.ChosenClientScheme)
	}
	h.cli.negotiated, h.cli.scheme = true, cr.ChosenClientScheme
	return nil
}

// challenge is what an attestation of scheme sc by the holder of leaf
// binds to: the binder for Evidence (§5.1.1), only the key for results,
// whose freshness is their age (§4).
func challenge(hs *tls13.HookState, sc AttestationScheme, leaf *x509.Certificate) (attest.Challenge, error) {
	ch := attest.Challenge{Profile: Name, TIK: leaf.PublicKey}
	if sc.Mechanism == MechanismEvidence {
		th := hs.HelloTranscriptHash()
		if th == nil {
			return ch, tls13.Alertf(tls13.AlertInternalError, "ea-07: no ClientHello...ServerHello transcript yet")
		}
		ch.Binder = Binder(hs.Hash(), th, leaf)
	}
	return ch, nil
}

func side(server bool) string {
	if server {
		return "server"
	}
	return "client"
}

// Credential sends our chain with the CMW in the first entry (§4.1).
func (h *hooks) Credential(hs *tls13.HookState) (*tls13.OutgoingCertificate, error) {
	d, p := h.ours(), h.p
	if !d.negotiated || !p.Attests() {
		return nil, nil // Config.Certificates, without attestation
	}
	self := party.Outcome{Profile: Name, Direction: side(!h.client), Topology: p.Topology, Selected: d.scheme.String()}
	if h.client && p.Bugs.Decline {
		self.Reason = party.ReasonDeclined
		party.RecordSelf(hs, self)
		return &tls13.OutgoingCertificate{}, nil
	}
	leaf, err := x509.ParseCertificate(p.Chain[0])
	if err != nil {
		return nil, tls13.Alertf(tls13.AlertInternalError, "ea-07: our end-entity certificate: %v", err)
	}
	ch, err := challenge(hs, d.scheme, leaf)
	if err != nil {
		return nil, err
	}
	entries := make([]tls13.CertificateEntry, len(p.Chain))
	for i, der := range p.Chain {
		entries[i] = tls13.CertificateEntry{Data: der}
	}
	if !p.Bugs.OmitPayload {
		payload, err := p.Present(hs.Context(), ch)
		if err != nil {
			return nil, tls13.Alertf(tls13.AlertInternalError, "ea-07: %v", err)
		}
		ext, err := RemoteAttestationCertificate{CMWPayload: payload}.Marshal()
		if err != nil {
			return nil, err
		}
		i := p.Bugs.PayloadEntry
		if i < 0 || i >= len(entries) {
			return nil, tls13.Alertf(tls13.AlertInternalError, "ea-07: Bugs.PayloadEntry %d outside a chain of %d", i, len(entries))
		}
		entries[i].Extensions = append(entries[i].Extensions, tls13.Extension{Type: h.extType(), Data: ext})
	}
	party.RecordSelf(hs, self)
	return &tls13.OutgoingCertificate{Entries: entries, Signer: p.Identity()}, nil
}

func (h *hooks) entryWithExtension(entries []tls13.CertificateEntry) int {
	for i, e := range entries {
		if _, ok := tls13.FindExtension(e.Extensions, h.extType()); ok {
			return i
		}
	}
	return -1
}

// VerifyPeerCertificate appraises the peer's attestation (§5.1.2, §5.2).
// The engine then validates the chain (server's) and CertificateVerify
// with the end-entity key, which CertificateVerify proves (§4).
func (h *hooks) VerifyPeerCertificate(hs *tls13.HookState, pc *tls13.PeerCertificate) error {
	d, p := h.peer(), h.p
	_, required, failed := h.alerts()
	if !d.negotiated {
		if i := h.entryWithExtension(pc.Entries); i >= 0 {
			code := tls13.AlertUnsupportedExtension // RFC 8446 §4.4.2: not in our ClientHello / CertificateRequest
			if h.client && h.sentExt {
				code = tls13.AlertIllegalParameter
			}
			return tls13.Alertf(code, "ea-07: remoteAttestation in CertificateEntry %d, no scheme was chosen for it", i)
		}
		return nil
	}
	out := party.Outcome{Profile: Name, Direction: side(h.client), Topology: p.PeerTopology, Selected: d.scheme.String()}
	if len(pc.Entries) == 0 { // only a client may send an empty Certificate
		err := attest.Reject(party.ReasonDeclined, "ea-07: the client was asked to attest and sent no certificate")
		if p.RequirePeer {
			return party.Fail(hs, out, required, err)
		}
		out.Reason, out.Err = party.ReasonDeclined, err.Error()
		party.RecordPeer(hs, out)
		return nil
	}
	// The engine has refused remoteAttestation in any other entry (Extensions).
	data, ok := tls13.FindExtension(pc.Entries[0].Extensions, h.extType())
	if !ok {
		return party.Fail(hs, out, failed, attest.Reject(party.ReasonMissingPayload, "ea-07: scheme %v chosen, no remoteAttestation in the Certificate", d.scheme))
	}
	var rc RemoteAttestationCertificate
	if err := rc.Unmarshal(data); err != nil {
		// The extension's own framing is TLS syntax: decode_error, not attestation_failed.
		return party.Fail(hs, out, tls13.AlertDecodeError, attest.Reject(party.ReasonMalformedPayload, "%v", err))
	}
	leaf, err := x509.ParseCertificate(pc.Entries[0].Data)
	if err != nil {
		return party.Fail(hs, out, tls13.AlertBadCertificate, attest.Reject(party.ReasonPayloadType, "ea-07: end-entity certificate: %v", err))
	}
	if !h.client {
		if err := verifyClientChain(hs, pc); err != nil {
			return err
		}
	}
	if err := payloadOfScheme(d.scheme, rc.CMWPayload); err != nil {
		return party.Fail(hs, out, failed, err)
	}
	ch, err := challenge(hs, d.scheme, leaf)
	if err != nil {
		return err
	}
	r, err := p.Appraise(hs.Context(), rc.CMWPayload, ch)
	if err != nil {
		return party.Fail(hs, out, failed, err)
	}
	if !sameKey(r.AttestedKey, leaf.PublicKey) { // §4: assertions about the TIK
		return party.Fail(hs, out, failed, attest.Reject(attest.ReasonKeyMismatch, "ea-07: the attested key is not the end-entity certificate's key"))
	}
	if d.scheme.Mechanism == MechanismResult && !bytes.Equal(r.Verifier, d.scheme.Verifier) {
		return party.Fail(hs, out, failed, attest.Reject(attest.ReasonUntrustedVerifier, "ea-07: result from verifier %x, the chosen scheme names %x", r.Verifier, []byte(d.scheme.Verifier)))
	}
	out.Result = r
	party.RecordPeer(hs, out)
	d.appraised = true
	return nil
}

// HandshakeDone refuses to finish without an attestation the relying
// party required and negotiated but never received (a server that
// skipped its CertificateRequest, for one).
func (h *hooks) HandshakeDone(hs *tls13.HookState) error {
	d, p := h.peer(), h.p
	if d.negotiated && !d.appraised && p.RequirePeer {
		_, required, _ := h.alerts()
		out := party.Outcome{Profile: Name, Direction: side(h.client), Topology: p.PeerTopology, Selected: d.scheme.String()}
		return party.Fail(hs, out, required, attest.Reject(party.ReasonDeclined, "ea-07: attestation negotiated, none received"))
	}
	return nil
}

// payloadOfScheme checks that an evidence CMW carries the chosen evidence
// type (§7.2: "populate the Certificate message extension according to its
// chosen scheme"). A CMW that does not parse is left to Appraise, which
// rejects it as malformed.
func payloadOfScheme(sc AttestationScheme, payload []byte) error {
	if sc.Mechanism != MechanismEvidence {
		return nil
	}
	msg, err := cmw.Unwrap(payload)
	if err != nil || msg.Format == cmw.CBORCollection || msg.Format == cmw.JSONCollection {
		return nil
	}
	var match bool
	switch {
	case sc.Evidence.Encoding == ContentFormat && msg.Type.IsContentFormat:
		match = msg.Type.ContentFormat == sc.Evidence.ContentFormat
	case sc.Evidence.Encoding == ContentFormat:
		cf, ok := cmw.ContentFormatOf(msg.Type.MediaType)
		match = ok && cf == sc.Evidence.ContentFormat
	case msg.Type.IsContentFormat:
		cf, ok := cmw.ContentFormatOf(sc.Evidence.MediaType)
		match = ok && cf == msg.Type.ContentFormat
	default:
		match = msg.Type.MediaType == sc.Evidence.MediaType
	}
	if !match {
		return attest.Reject(party.ReasonPayloadType, "ea-07: CMW of type %v, the chosen scheme is %v", msg.Type, sc)
	}
	return nil
}

// verifyClientChain has the engine validate the client's chain against
// ClientCAs when Config.ClientAuth would have it only parse the chain
// (HookState.VerifyChain, with the engine's alerts), which also hands the
// engine the leaf key.
func verifyClientChain(hs *tls13.HookState, pc *tls13.PeerCertificate) error {
	if hs.Config().ClientAuth >= tls13.VerifyClientCertIfGiven {
		return nil // the engine validates it
	}
	if err := hs.VerifyChain(pc); err != nil {
		return fmt.Errorf("ea-07: client certificate: %w", err) // keeps the engine's alert
	}
	return nil
}

func sameKey(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && b != nil && eq.Equal(b)
}
