package xp03

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"sync"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/eaframe"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/tls13"
)

// Alerts where the draft names none (catalog XP03-I-4): a refused or
// missing attestation is bad_certificate, the alert for a credential
// that fails its checks; application data before the attestation is
// done, or a frame out of turn, is unexpected_message.
const (
	AlertRejected   = tls13.AlertBadCertificate
	AlertOutOfOrder = tls13.AlertUnexpectedMessage
)

// FrameRecord is one frame a side sent or received, for wire checks.
type FrameRecord struct {
	Sent  bool
	Frame eaframe.Frame
}

// framesKey keeps a connection's FrameRecords in its hook values.
const framesKey = "xp-03.frames"

// Frames returns the frames of the attestation phase of a connection.
func Frames(cs tls13.ConnectionState) []FrameRecord {
	f, _ := cs.Values[framesKey].(*frameLog)
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]FrameRecord(nil), f.frames...)
}

type frameLog struct {
	mu     sync.Mutex
	frames []FrameRecord
}

func (l *frameLog) add(sent bool, f eaframe.Frame) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.frames = append(l.frames, FrameRecord{Sent: sent, Frame: f})
}

// session is one side's post-handshake attestation on one connection.
type session struct {
	ctx      context.Context
	c        *tls13.Conn
	isClient bool
	p        *party.Party
	values   map[string]any
	log      *frameLog
	request  []byte // our outstanding request, nil if none
	done     bool   // we sent attested
	peerDone bool   // the peer sent attested
}

// attestAfterHandshake is Descriptor.Attest: each side asks for the
// attestation it requires (one request), answers the peer's request and
// sends attested once it needs nothing more; application data flows once
// both sides sent attested (§7.3: "Remote attestation MUST be completed
// before sending any application data to the peer").
func attestAfterHandshake(ctx context.Context, c *tls13.Conn, isClient bool, p *party.Party) (io.ReadWriter, error) {
	if d, ok := ctx.Deadline(); ok {
		c.SetDeadline(d)
	}
	cs := c.ConnectionState()
	s := &session{ctx: ctx, c: c, isClient: isClient, p: p, values: cs.Values, log: &frameLog{}}
	if s.values == nil {
		return nil, c.Fail(tls13.Alertf(tls13.AlertInternalError, "%s: connection without the profile's hooks", Name))
	}
	s.values[framesKey] = s.log
	if err := s.run(); err != nil {
		return nil, s.fail(err)
	}
	return &stream{s: s}, nil
}

// fail sends err's alert (internal_error for other errors), unless the
// peer sent it, the engine did already or the transport broke
// (tls13.Conn.Fail).
func (s *session) fail(err error) error { return s.c.Fail(err) }

func (s *session) write(f eaframe.Frame) error {
	s.log.add(true, f)
	return eaframe.Write(s.c, f)
}

func (s *session) read() (eaframe.Frame, error) {
	f, err := eaframe.Read(s.c)
	if err == nil {
		s.log.add(false, f)
	}
	return f, err
}

func (s *session) run() error {
	p := s.p
	if p.Bugs.SessionTicket && !s.isClient {
		if err := s.c.WriteSessionTicket(7200, 0, []byte{0}, []byte("a ticket no one should keep"), nil); err != nil {
			return err
		}
	}
	if p.Bugs.DataBeforeAttestation != nil && !p.Attests() {
		if err := s.earlyData(); err != nil {
			return err
		}
	}
	if p.VerifyPeer {
		if err := s.sendRequest(); err != nil {
			return err
		}
	} else if err := s.attested(); err != nil {
		return err
	}
	for !s.done || !s.peerDone {
		f, err := s.read()
		if err != nil {
			return err
		}
		switch f.Type {
		case eaframe.AuthenticatorRequest:
			err = s.answer(f.Body)
		case eaframe.Authenticator:
			err = s.validate(f.Body)
		case eaframe.Attested:
			if s.peerDone {
				err = tls13.Alertf(AlertOutOfOrder, "%s: a second attested frame", Name)
			}
			s.peerDone = true
		default:
			err = tls13.Alertf(AlertOutOfOrder, "%s: %s before the attestation completed (§7.3)", Name, f.Type)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *session) attested() error {
	s.done = true
	return s.write(eaframe.Frame{Type: eaframe.Attested})
}

// sendRequest asks for the peer's attestation (§3.1): an empty
// cmw_attestation, and for a background check the verifier's nonce as
// the certificate_request_context (§5.1).
func (s *session) sendRequest() error {
	var context []byte
	if s.p.PeerTopology == party.BackgroundCheck {
		n, err := s.p.Nonce(s.ctx)
		if err != nil {
			return tls13.Alertf(tls13.AlertInternalError, "%s: %v", Name, err)
		}
		context = n
	}
	req, err := s.c.AuthenticatorRequestWithContext(context, []tls13.Extension{{Type: s.p.Table().XP03CMWAttestation}})
	if err != nil {
		return tls13.Alertf(tls13.AlertInternalError, "%s: authenticator request: %v", Name, err)
	}
	s.request = req
	return s.write(eaframe.Frame{Type: eaframe.AuthenticatorRequest, Body: req})
}

// label is the exporter label this endpoint reads (catalog XP03-I-1).
func (s *session) label() string {
	if s.p.Reads(ReadingValidationLabel) {
		return LabelValidation
	}
	return LabelBinder
}

// bindingFor is the §5.1 binding value of an authenticator for context
// by the holder of leaf, with AIK_pub_hash's hash.
func (s *session) bindingFor(context []byte, leaf *x509.Certificate) ([]byte, error) {
	h := tls13.CipherSuiteHash(s.c.ConnectionState().CipherSuite)
	exported, err := s.c.ExportKeyingMaterial(s.label(), context, ExportedLength)
	if err != nil {
		return nil, err
	}
	return Binding(h, leaf.RawSubjectPublicKeyInfo, exported), nil
}

// answer answers the peer's request: with our attestation in the first
// entry if it solicited cmw_attestation and we attest, with our
// certificate alone if it did not, with the empty authenticator if we
// cannot or will not attest.
func (s *session) answer(req []byte) error {
	p := s.p
	ctx, err := tls13.AuthenticatorRequestContext(req)
	if err != nil {
		return err
	}
	exts, err := tls13.AuthenticatorRequestExtensions(req)
	if err != nil {
		return err
	}
	_, solicited := tls13.FindExtension(exts, p.Table().XP03CMWAttestation)
	self := party.Outcome{Profile: Name, Direction: side(s.isClient), Topology: p.Topology, Selected: "cmw_attestation"}
	var auth []byte
	if !p.Attests() || p.Bugs.Decline {
		self.Reason = party.ReasonDeclined
		auth, err = s.c.EmptyAuthenticator(req)
	} else {
		leaf, perr := x509.ParseCertificate(p.Chain[0])
		if perr != nil {
			return tls13.Alertf(tls13.AlertInternalError, "%s: our end-entity certificate: %v", Name, perr)
		}
		var certExts tls13.CertificateExtensions
		if solicited && !p.Bugs.OmitPayload {
			certExts = func(context []byte) (map[int][]tls13.Extension, error) {
				return s.present(context, leaf)
			}
		}
		auth, err = s.c.Authenticator(req, &tls13.Credential{Chain: p.Chain, Signer: p.Identity()}, certExts)
	}
	if err != nil {
		if _, ok := tls13.AsAlert(err); ok {
			return err
		}
		return tls13.Alertf(tls13.AlertInternalError, "%s: authenticator for context %x: %v", Name, ctx, err)
	}
	party.RecordSelfIn(s.values, self)
	if err := s.write(eaframe.Frame{Type: eaframe.Authenticator, Body: auth}); err != nil {
		return err
	}
	if p.Bugs.DataBeforeAttestation != nil && p.Attests() {
		return s.earlyData()
	}
	return nil
}

// earlyData is party.Bugs.DataBeforeAttestation's application data.
func (s *session) earlyData() error {
	return s.write(eaframe.Frame{Type: eaframe.ApplicationData, Body: s.p.Bugs.DataBeforeAttestation})
}

// present is our cmw_attestation for context: the CMW bound by the
// binding value (§5.1), in the first entry (or Bugs.PayloadEntry's).
func (s *session) present(context []byte, leaf *x509.Certificate) (map[int][]tls13.Extension, error) {
	p := s.p
	b, err := s.bindingFor(context, leaf)
	if err != nil {
		return nil, err
	}
	payload, err := p.Present(s.ctx, attest.Challenge{Profile: Name, Binder: b, TIK: leaf.PublicKey})
	if err != nil {
		return nil, tls13.Alertf(tls13.AlertInternalError, "%s: %v", Name, err)
	}
	ext, err := CMWAttestation{CMWData: payload}.Marshal()
	if err != nil {
		return nil, err
	}
	return map[int][]tls13.Extension{p.Bugs.PayloadEntry: {{Type: p.Table().XP03CMWAttestation, Data: ext}}}, nil
}

// validate checks the peer's authenticator for our request: the engine
// validates it (context, solicited extensions, X.509 chain, signature,
// Finished: §3.1's unsupported_extension, §3.3's PKIX), then we appraise
// the CMW for the binding value and compare AIK_pub_hash (§4, §5.1, §5.2).
func (s *session) validate(auth []byte) error {
	p := s.p
	if s.request == nil || s.done {
		return tls13.Alertf(AlertOutOfOrder, "%s: an authenticator we did not request", Name)
	}
	out := party.Outcome{Profile: Name, Direction: side(!s.isClient), Topology: p.PeerTopology, Selected: "cmw_attestation"}
	va, err := s.c.ValidateAuthenticator(s.request, auth)
	if errors.Is(err, tls13.ErrEmptyAuthenticator) {
		out.Reason, out.Err = party.ReasonDeclined, err.Error()
		party.RecordPeerIn(s.values, out)
		if p.RequirePeer {
			return err // certificate_required
		}
		return s.attested()
	}
	if err != nil {
		out.Reason, out.Err = reasonOf(err), err.Error()
		party.RecordPeerIn(s.values, out)
		return err
	}
	reject := func(code tls13.AlertCode, err error) error {
		out.Reason, out.Err = attest.ReasonOf(err), err.Error()
		if out.Reason == "" {
			out.Reason = party.ReasonVerifierFailed
		}
		party.RecordPeerIn(s.values, out)
		return &tls13.AlertError{Code: code, Err: err}
	}
	leaf := va.Certificate.Chain[0]
	data, ok := tls13.FindExtension(va.Certificate.Entries[0].Extensions, p.Table().XP03CMWAttestation)
	if !ok {
		if !p.RequirePeer {
			out.Reason = party.ReasonMissingPayload
			party.RecordPeerIn(s.values, out)
			return s.attested()
		}
		return reject(AlertRejected, attest.Reject(party.ReasonMissingPayload, "%s: no cmw_attestation in the authenticator", Name))
	}
	var ca CMWAttestation
	if err := ca.Unmarshal(data); err != nil {
		return reject(tls13.AlertDecodeError, attest.Reject(party.ReasonMalformedPayload, "%v", err))
	}
	b, err := s.bindingFor(va.Context, leaf)
	if err != nil {
		return reject(tls13.AlertInternalError, err)
	}
	ch := attest.Challenge{Profile: Name, Binder: b, TIK: leaf.PublicKey}
	if p.PeerTopology == party.BackgroundCheck {
		ch.Nonce = va.Context // the verifier's nonce (§5.1)
	}
	r, err := p.Appraise(s.ctx, ca.CMWData, ch)
	if err != nil {
		return reject(AlertRejected, err)
	}
	if err := s.checkAIK(r, leaf); err != nil {
		return reject(AlertRejected, err)
	}
	out.Result = r
	party.RecordPeerIn(s.values, out)
	return s.attested()
}

// checkAIK compares AIK_pub_hash (§5.2): the hash of the key the
// attestation attests (Parsec TPM evidence carries the key itself, from
// which the verifier reports it; catalog XP03-I-5) against the hash of
// the end-entity certificate's key, under the cipher suite's hash.
func (s *session) checkAIK(r *attest.Result, leaf *x509.Certificate) error {
	if s.p.Bugs.AcceptAny {
		return nil
	}
	h := tls13.CipherSuiteHash(s.c.ConnectionState().CipherSuite)
	want, err := AIKPubHash(h, leaf.PublicKey)
	if err != nil {
		return err
	}
	if r.AttestedKey == nil {
		return attest.Reject(attest.ReasonNoAttestedKey, "%s: the attestation names no AIK", Name)
	}
	got, err := AIKPubHash(h, r.AttestedKey)
	if err != nil || !bytes.Equal(got, want) {
		return attest.Reject(attest.ReasonKeyMismatch, "%s: AIK_pub_hash %x, the end-entity key hashes to %x", Name, got, want)
	}
	return nil
}

func reasonOf(err error) attest.Reason {
	if r := attest.ReasonOf(err); r != "" {
		return r
	}
	return party.ReasonVerifierFailed
}

func side(client bool) string {
	if client {
		return "client"
	}
	return "server"
}

// stream carries application data in frames once the attestation phase
// is over; any other frame then is unexpected_message (re-attestation is
// not supported).
type stream struct {
	s   *session
	buf []byte
}

func (st *stream) Read(b []byte) (int, error) {
	for len(st.buf) == 0 {
		f, err := eaframe.Read(st.s.c)
		if err != nil {
			return 0, st.s.c.Fail(err) // sends the framing's alert; the engine's own or the peer's stand
		}
		st.s.log.add(false, f)
		if f.Type != eaframe.ApplicationData {
			return 0, st.s.c.Fail(tls13.Alertf(AlertOutOfOrder, "%s: %s after the attestation completed", Name, f.Type))
		}
		st.buf = f.Body
	}
	n := copy(b, st.buf)
	st.buf = st.buf[n:]
	return n, nil
}

func (st *stream) Write(b []byte) (int, error) {
	if err := eaframe.Write(st.s.c, eaframe.Frame{Type: eaframe.ApplicationData, Body: b}); err != nil {
		return 0, err
	}
	return len(b), nil
}
