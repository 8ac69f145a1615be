package tls13

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"golang.org/x/crypto/cryptobyte"
)

// RFC 9261 Exported Authenticators. After the handshake either side can
// ask the other for proof of an identity (an authenticator request) and
// answer with Certificate, CertificateVerify and Finished computed from
// exporter values (an authenticator). Both travel at the application
// layer; the engine builds and checks them, as RFC 9261 §7 recommends.

// RFC 9261 §5.1 exporter labels, by the role of the authenticator's sender.
const (
	labelClientAuthenticatorHandshakeContext = "EXPORTER-client authenticator handshake context"
	labelServerAuthenticatorHandshakeContext = "EXPORTER-server authenticator handshake context"
	labelClientAuthenticatorFinishedKey      = "EXPORTER-client authenticator finished key"
	labelServerAuthenticatorFinishedKey      = "EXPORTER-server authenticator finished key"
)

// authenticatorSignatureContext is RFC 9261 §5.2.2's context string,
// followed by the single 0 byte that separates it from the hash.
const authenticatorSignatureContext = "Exported Authenticator\x00"

// authenticatorContextLen is the length of the certificate_request_context
// values we choose: random, so unique within the connection and
// unpredictable to the peer (RFC 9261 §4, §5.2.1).
const authenticatorContextLen = 32

// ErrEmptyAuthenticator is wrapped by ValidateAuthenticator's error for a
// well-formed empty authenticator, the peer's authenticated refusal (RFC
// 9261 §6): §7.4 has the validate API return it "as invalid".
var ErrEmptyAuthenticator = errors.New("tls13: empty authenticator: the peer declined to authenticate")

// authenticatorState is a connection's record of contexts, for the
// uniqueness RFC 9261 asks of them.
type authenticatorState struct {
	mu        sync.Mutex
	last      []byte          // context of our last request or spontaneous authenticator
	used      map[string]bool // contexts of our requests and spontaneous authenticators
	answered  map[string]bool // contexts we sent authenticators for
	validated map[string]bool // contexts of peer authenticators we accepted
}

// CertificateExtensions returns, for the certificate_request_context an
// authenticator answers, the extensions of its CertificateEntries by
// index (0 is the end-entity's). It gets the context so that an
// extension can bind to it, as an attestation must.
type CertificateExtensions func(context []byte) (map[int][]Extension, error)

// ValidatedAuthenticator is a peer's authenticator that passed
// ValidateAuthenticator.
type ValidatedAuthenticator struct {
	// Context is its certificate_request_context.
	Context []byte
	// Certificate is the peer's Certificate as verified: entries with
	// their extensions, the parsed chain and the key that signed.
	Certificate *PeerCertificate
	// Scheme signed its CertificateVerify.
	Scheme SignatureScheme
}

// authenticatorKeys returns RFC 9261 §5.1's Handshake Context and Finished
// MAC Key for authenticators sent by the client (client) or the server:
// RFC 8446 §7.5 exporters over exporter_master_secret (never the early
// one), with an empty context_value and as long as the suite's hash.
func authenticatorKeys(h crypto.Hash, exporterSecret []byte, client bool) (handshakeContext, finishedKey []byte) {
	hcLabel, fkLabel := labelServerAuthenticatorHandshakeContext, labelServerAuthenticatorFinishedKey
	if client {
		hcLabel, fkLabel = labelClientAuthenticatorHandshakeContext, labelClientAuthenticatorFinishedKey
	}
	return exportKeyingMaterial(h, exporterSecret, hcLabel, nil, h.Size()),
		exportKeyingMaterial(h, exporterSecret, fkLabel, nil, h.Size())
}

// AuthenticatorKeys is authenticatorKeys for callers outside the engine:
// the Handshake Context and Finished MAC Key (RFC 9261 §5.1) of
// authenticators sent by the client (client) or the server, derived from
// a given exporter_master_secret under hash h. It exists so the published
// authenticator vectors (vectors/authenticators) can be derived without a
// connection.
func AuthenticatorKeys(h crypto.Hash, exporterMasterSecret []byte, client bool) (handshakeContext, finishedKey []byte) {
	return authenticatorKeys(h, exporterMasterSecret, client)
}

// ExportKeyingMaterialFrom is the RFC 8446 §7.5 exporter over a given
// exporter_master_secret under hash h, for the same reason as
// AuthenticatorKeys: published vectors of values derived from it.
func ExportKeyingMaterialFrom(h crypto.Hash, exporterMasterSecret []byte, label string, context []byte, length int) []byte {
	return exportKeyingMaterial(h, exporterMasterSecret, label, context, length)
}

// AuthenticatorFinished is the verify_data of an authenticator's Finished
// (RFC 9261 §5.2.3): HMAC under h keyed by the Finished MAC Key over the
// transcript hash. Exported for the same reason as AuthenticatorKeys.
func AuthenticatorFinished(h crypto.Hash, finishedKey, transcriptHash []byte) []byte {
	return authenticatorFinished(h, finishedKey, transcriptHash)
}

// authenticatorTranscript is Hash(Handshake Context || authenticator
// request || Certificate [|| CertificateVerify]) of RFC 9261 §5.2.2 and
// §5.2.3; a missing request is a nil part.
func authenticatorTranscript(h crypto.Hash, parts ...[]byte) []byte {
	d := h.New()
	for _, p := range parts {
		d.Write(p)
	}
	return d.Sum(nil)
}

// authenticatorFinished is RFC 9261 §5.2.3's Finished: HMAC keyed by the
// Finished MAC Key itself (no "finished" HKDF-Expand-Label as in RFC 8446
// §4.4.4) over the transcript hash.
func authenticatorFinished(h crypto.Hash, finishedKey, transcriptHash []byte) []byte {
	mac := hmac.New(h.New, finishedKey)
	mac.Write(transcriptHash)
	return mac.Sum(nil)
}

// parseAuthenticatorRequest decodes a CertificateRequest or a
// ClientCertificateRequest and returns it with its type.
func parseAuthenticatorRequest(data []byte) (*certificateRequestMsg, uint8, error) {
	if len(data) < 1 {
		return nil, 0, errDecode("authenticator request")
	}
	switch data[0] {
	case typeCertificateRequest:
		m := new(certificateRequestMsg)
		if err := m.unmarshal(data); err != nil {
			return nil, 0, err
		}
		return m, typeCertificateRequest, nil
	case typeClientCertificateRequest:
		m := new(clientCertificateRequestMsg)
		if err := m.unmarshal(data); err != nil {
			return nil, 0, err
		}
		return &m.certificateRequestMsg, typeClientCertificateRequest, nil
	}
	return nil, 0, Alertf(AlertUnexpectedMessage, "authenticator request of message type %d", data[0])
}

// authenticatorMsgs is a decoded authenticator; cert and cv are nil in an
// empty one.
type authenticatorMsgs struct {
	cert *certificateMsg
	cv   *certificateVerifyMsg
	fin  *finishedMsg
}

// nextAuthenticatorMessage splits the next handshake message off s.
func nextAuthenticatorMessage(s *cryptobyte.String) ([]byte, error) {
	var typ uint8
	var body cryptobyte.String
	start := *s
	if !s.ReadUint8(&typ) || !s.ReadUint24LengthPrefixed(&body) {
		return nil, errDecode("authenticator message framing")
	}
	return []byte(start[:len(start)-len(*s)]), nil
}

// parseAuthenticator decodes Certificate || CertificateVerify || Finished,
// or a lone Finished (RFC 9261 §5.2.4, §6). A message out of that order is
// unexpected_message (RFC 8446 §6); bad framing, a missing message or
// trailing bytes are decode_error.
func parseAuthenticator(data []byte) (*authenticatorMsgs, error) {
	s := cryptobyte.String(data)
	var raws [][]byte
	for !s.Empty() {
		raw, err := nextAuthenticatorMessage(&s)
		if err != nil {
			return nil, err
		}
		raws = append(raws, raw)
	}
	if len(raws) == 0 {
		return nil, errDecode("authenticator: no message")
	}
	a := &authenticatorMsgs{}
	want := []uint8{typeCertificate, typeCertificateVerify, typeFinished}
	if raws[0][0] == typeFinished {
		want = want[2:]
	}
	for i, raw := range raws {
		if i >= len(want) {
			return nil, errDecode("authenticator: data after Finished")
		}
		if raw[0] != want[i] {
			return nil, Alertf(AlertUnexpectedMessage, "authenticator: %s where %s belongs", messageName(raw[0]), messageName(want[i]))
		}
		var err error
		switch raw[0] {
		case typeCertificate:
			a.cert = new(certificateMsg)
			err = a.cert.unmarshal(raw)
		case typeCertificateVerify:
			a.cv = new(certificateVerifyMsg)
			err = a.cv.unmarshal(raw)
		case typeFinished:
			a.fin = new(finishedMsg)
			err = a.fin.unmarshal(raw)
		}
		if err != nil {
			return nil, err
		}
	}
	if a.fin == nil {
		return nil, errDecode("authenticator without Finished")
	}
	return a, nil
}

// AuthenticatorRequestContext returns the certificate_request_context of
// an authenticator request (RFC 9261 §7.2, "get context").
func AuthenticatorRequestContext(request []byte) ([]byte, error) {
	cr, _, err := parseAuthenticatorRequest(request)
	if err != nil {
		return nil, err
	}
	return cr.context, nil
}

// AuthenticatorRequestExtensions returns the extensions of an
// authenticator request, signature_algorithms included (RFC 9261 §7.2:
// an application decides from them what to put in its answer).
func AuthenticatorRequestExtensions(request []byte) ([]Extension, error) {
	cr, _, err := parseAuthenticatorRequest(request)
	if err != nil {
		return nil, err
	}
	return slices.Clone(cr.exts), nil
}

// AuthenticatorContext returns the certificate_request_context of an
// authenticator (RFC 9261 §7.2); an empty authenticator carries none and
// gives nil.
func AuthenticatorContext(authenticator []byte) ([]byte, error) {
	a, err := parseAuthenticator(authenticator)
	if err != nil || a.cert == nil {
		return nil, err
	}
	return a.cert.context, nil
}

// ParseAuthenticatorRequest and ParseAuthenticator decode as the engine
// does and report the alert it would raise; they exist for fuzzing and
// parser test vectors.
func ParseAuthenticatorRequest(data []byte) error {
	_, _, err := parseAuthenticatorRequest(data)
	return err
}

func ParseAuthenticator(data []byte) error {
	_, err := parseAuthenticator(data)
	return err
}

func (c *Conn) authenticatorReady() error {
	if !c.handshakeDone.Load() {
		return errors.New("tls13: exported authenticators need a completed handshake")
	}
	return nil
}

// requestType is the type of the authenticator requests a side sends.
func requestType(client bool) uint8 {
	if client {
		return typeClientCertificateRequest
	}
	return typeCertificateRequest
}

// newAuthenticatorContext returns the context for a request or a
// spontaneous authenticator of ours: chosen, if not nil, else fresh
// (Bugs may make it the last one).
func (c *Conn) newAuthenticatorContext(chosen []byte) ([]byte, error) {
	st := &c.ea
	st.mu.Lock()
	defer st.mu.Unlock()
	if c.config.Bugs.ReuseAuthenticatorContext && st.last != nil {
		return clone(st.last), nil
	}
	ctx := clone(chosen)
	switch {
	case chosen == nil:
		ctx = make([]byte, authenticatorContextLen)
		if _, err := io.ReadFull(c.config.rand(), ctx); err != nil {
			return nil, err
		}
	case len(chosen) == 0 || len(chosen) > 255:
		return nil, fmt.Errorf("tls13: certificate_request_context of %d bytes (1..255)", len(chosen))
	case st.used[string(chosen)]:
		return nil, errors.New("tls13: certificate_request_context already used on this connection (RFC 9261 §4)")
	}
	if st.used == nil {
		st.used = map[string]bool{}
	}
	st.used[string(ctx)] = true
	st.last = clone(ctx)
	return ctx, nil
}

// AuthenticatorRequest returns a new authenticator request (RFC 9261 §4):
// a CertificateRequest from a server, a ClientCertificateRequest from a
// client, with a fresh random certificate_request_context,
// signature_algorithms (and signature_algorithms_cert if configured) from
// Config, then exts as given: an empty extension solicits it in the
// answer's Certificate (RFC 9261 §5.2.1).
func (c *Conn) AuthenticatorRequest(exts []Extension) ([]byte, error) {
	return c.AuthenticatorRequestWithContext(nil, exts)
}

// AuthenticatorRequestWithContext is AuthenticatorRequest with the
// certificate_request_context the caller chose (nil: a fresh random one),
// for an application that binds something of its own to the context, a
// verifier's nonce for one. RFC 9261 §4 wants it unique within the
// connection, so a context we used before is refused, and unpredictable
// to the peer, which is the caller's to ensure.
func (c *Conn) AuthenticatorRequestWithContext(context []byte, exts []Extension) ([]byte, error) {
	if err := c.authenticatorReady(); err != nil {
		return nil, err
	}
	for _, e := range exts {
		if e.Type == extSignatureAlgorithms || e.Type == extSignatureAlgsCert {
			return nil, fmt.Errorf("tls13: AuthenticatorRequest: extension %d comes from Config.SignatureSchemes(Cert)", e.Type)
		}
	}
	ctx, err := c.newAuthenticatorContext(context)
	if err != nil {
		return nil, err
	}
	sigAlgs, err := c.config.signatureAlgorithmsExtensions()
	if err != nil {
		return nil, err
	}
	typ := requestType(c.isClient)
	cr := certificateRequestMsg{context: ctx, exts: c.finishExtensions(typ, append(sigAlgs, exts...))}
	return cr.marshalAs(typ)
}

// EmptyAuthenticator refuses request with RFC 9261 §6's empty
// authenticator; it is Authenticator(request, nil, nil).
func (c *Conn) EmptyAuthenticator(request []byte) ([]byte, error) {
	return c.Authenticator(request, nil, nil)
}

// Authenticator returns an exported authenticator (RFC 9261 §5):
// Certificate, CertificateVerify and Finished proving cred, answering
// request, an authenticator request from the peer. A nil request makes a
// spontaneous authenticator, which only a server may send (§5); its
// context is then fresh and its extensions and signature scheme are
// bounded by the ClientHello (§5.2). A nil cred, or one with no chain,
// makes the empty authenticator, a refusal (§6). certExts, if set, adds
// extensions to the CertificateEntries; each must have been offered in
// the request (or the ClientHello), as §5.2.1 requires.
func (c *Conn) Authenticator(request []byte, cred *Credential, certExts CertificateExtensions) ([]byte, error) {
	if err := c.authenticatorReady(); err != nil {
		return nil, err
	}
	b := &c.config.Bugs
	var ctx []byte
	var offered []uint16
	var peerSchemes []SignatureScheme
	if request == nil {
		if c.isClient {
			return nil, errors.New("tls13: a client sends authenticators only for a request (RFC 9261 §5)")
		}
		if cred == nil || len(cred.Chain) == 0 {
			return nil, errors.New("tls13: an empty authenticator answers a request")
		}
		var err error
		if ctx, err = c.newAuthenticatorContext(nil); err != nil {
			return nil, err
		}
		offered, peerSchemes = c.helloExts, c.helloSigAlgs
	} else {
		cr, typ, err := parseAuthenticatorRequest(request)
		if err != nil {
			return nil, err
		}
		if want := requestType(!c.isClient); typ != want {
			return nil, Alertf(AlertUnexpectedMessage, "we answer a %s, not a %s", messageName(want), messageName(typ))
		}
		if err := c.config.checkAuthenticatorRequestExtensions(cr.exts); err != nil {
			return nil, err
		}
		ctx, peerSchemes = cr.context, cr.sigAlgs
		for _, e := range cr.exts {
			offered = append(offered, e.Type)
		}
	}

	c.ea.mu.Lock()
	defer c.ea.mu.Unlock()
	// RFC 9261 §5.2: no second authenticator for a context already answered.
	if request != nil && c.ea.answered[string(ctx)] && !b.ReuseAuthenticatorContext {
		return nil, Alertf(AlertIllegalParameter, "certificate_request_context already answered on this connection")
	}
	hc, fk := authenticatorKeys(c.suite.hash, c.exporterSecret, c.isClient)
	certCtx := ctx
	if b.WrongAuthenticatorContext {
		certCtx = clone(ctx)
		if len(certCtx) == 0 {
			certCtx = []byte{0}
		} else {
			certCtx[len(certCtx)-1] ^= 0x01
		}
	}

	var out []byte
	if cred == nil || len(cred.Chain) == 0 {
		// RFC 9261 §6: the Finished covers a Certificate with the context
		// and no entries, which is not sent.
		certRaw, err := (&certificateMsg{context: certCtx}).marshal()
		if err != nil {
			return nil, err
		}
		vd := authenticatorFinished(c.suite.hash, fk, authenticatorTranscript(c.suite.hash, hc, request, certRaw))
		if b.CorruptAuthenticatorFinished {
			vd[0] ^= 0x01
		}
		if out, err = (&finishedMsg{verifyData: vd}).marshal(); err != nil {
			return nil, err
		}
	} else {
		var err error
		if out, err = c.fullAuthenticator(request, certCtx, cred, certExts, offered, peerSchemes, hc, fk); err != nil {
			return nil, err
		}
	}
	if c.ea.answered == nil {
		c.ea.answered = map[string]bool{}
	}
	c.ea.answered[string(ctx)] = true
	return out, nil
}

// fullAuthenticator builds Certificate || CertificateVerify || Finished.
func (c *Conn) fullAuthenticator(request, ctx []byte, cred *Credential, certExts CertificateExtensions, offered []uint16, peerSchemes []SignatureScheme, hc, fk []byte) ([]byte, error) {
	b := &c.config.Bugs
	if cred.Signer == nil {
		return nil, errors.New("tls13: authenticator credential without a signer")
	}
	// RFC 9261 §5.2.2: a scheme the request (or ClientHello) lists; none
	// that fits means no authenticator.
	scheme, err := chooseScheme(c.config.signatureSchemes(), peerSchemes, cred.Signer.Public())
	if err != nil {
		return nil, err
	}
	entries := make([]CertificateEntry, len(cred.Chain))
	for i, der := range cred.Chain {
		entries[i].Data = der
	}
	if certExts != nil {
		byEntry, err := certExts(clone(ctx))
		if err != nil {
			return nil, err
		}
		for i, exts := range byEntry {
			if i < 0 || i >= len(entries) {
				return nil, fmt.Errorf("tls13: authenticator extensions for entry %d of a chain of %d", i, len(entries))
			}
			for _, e := range exts {
				if !slices.Contains(offered, e.Type) {
					return nil, fmt.Errorf("tls13: authenticator extension %d was not offered by the peer (RFC 9261 §5.2.1)", e.Type)
				}
			}
			entries[i].Extensions = slices.Clone(exts)
		}
	}
	if len(b.UnsolicitedAuthenticatorExtensions) > 0 {
		entries[0].Extensions = append(entries[0].Extensions, b.UnsolicitedAuthenticatorExtensions...)
	}
	// The extension bugs apply as in the handshake's Certificate.
	for i := range entries {
		entries[i].Extensions = b.mangle(entries[i].Extensions)
	}
	h := c.suite.hash
	certRaw, err := (&certificateMsg{context: ctx, entries: entries}).marshal()
	if err != nil {
		return nil, err
	}
	signed := signedMessage(authenticatorSignatureContext, authenticatorTranscript(h, hc, request, certRaw))
	sig, err := sign(cred.Signer, c.config.signingRand(scheme), scheme, signed)
	if err != nil {
		return nil, Alertf(AlertInternalError, "signing the authenticator's CertificateVerify: %v", err)
	}
	if b.CorruptAuthenticatorSignature && len(sig) > 0 {
		sig[len(sig)-1] ^= 0x80
	}
	cvRaw, err := (&certificateVerifyMsg{scheme: scheme, signature: sig}).marshal()
	if err != nil {
		return nil, err
	}
	vd := authenticatorFinished(h, fk, authenticatorTranscript(h, hc, request, certRaw, cvRaw))
	if b.CorruptAuthenticatorFinished {
		vd[0] ^= 0x01
	}
	finRaw, err := (&finishedMsg{verifyData: vd}).marshal()
	if err != nil {
		return nil, err
	}
	return slices.Concat(certRaw, cvRaw, finRaw), nil
}

// ValidateAuthenticator checks a peer's authenticator (RFC 9261 §5,
// §7.4) against request, the authenticator request we sent it for, or nil
// for a server's spontaneous authenticator (only a client validates
// those). It checks, in this order: the encoding; that the context is the
// request's and was not accepted before; that the Certificate carries only
// extensions the request (or our ClientHello) offered; the X.509 chain,
// as HookState.VerifyChain does (unless Config.InsecureSkipVerify; a
// server name in the request replaces Config.ServerName); the
// CertificateVerify scheme and signature; and the Finished. Every error
// is an *AlertError naming the alert a TLS stack would send, for the
// application to carry as it sees fit. A valid empty authenticator gives
// certificate_required wrapping ErrEmptyAuthenticator.
func (c *Conn) ValidateAuthenticator(request, authenticator []byte) (*ValidatedAuthenticator, error) {
	if err := c.authenticatorReady(); err != nil {
		return nil, err
	}
	var cr *certificateRequestMsg
	var offered []uint16
	var schemes []SignatureScheme
	serverName := c.config.ServerName
	if request == nil {
		// RFC 9261 §5: "Clients MUST NOT send an authenticator without a
		// preceding authenticator request".
		if !c.isClient {
			return nil, Alertf(AlertUnexpectedMessage, "a client authenticator without a request")
		}
		offered, schemes = c.helloExts, c.helloSigAlgs
	} else {
		var typ uint8
		var err error
		if cr, typ, err = parseAuthenticatorRequest(request); err != nil {
			return nil, err
		}
		if want := requestType(c.isClient); typ != want {
			return nil, Alertf(AlertInternalError, "validating against a %s; ours are %s", messageName(typ), messageName(want))
		}
		schemes = cr.sigAlgs
		for _, e := range cr.exts {
			offered = append(offered, e.Type)
			if e.Type == extServerName && c.isClient {
				if serverName, err = decodeServerName(e.Data); err != nil {
					return nil, err
				}
			}
		}
	}
	a, err := parseAuthenticator(authenticator)
	if err != nil {
		return nil, err
	}

	c.ea.mu.Lock()
	defer c.ea.mu.Unlock()
	h := c.suite.hash
	hc, fk := authenticatorKeys(h, c.exporterSecret, !c.isClient)

	var ctx []byte
	switch {
	case a.cert == nil && cr == nil:
		return nil, Alertf(AlertUnexpectedMessage, "an empty authenticator answers a request; there was none")
	case a.cert == nil:
		ctx = cr.context
	case cr == nil:
		// RFC 9261 §5.2.1: the server's own context must be unique and
		// unpredictable, which an empty one is not.
		if len(a.cert.context) == 0 {
			return nil, Alertf(AlertIllegalParameter, "spontaneous authenticator with an empty certificate_request_context")
		}
		ctx = a.cert.context
	default:
		// RFC 9261 §5.2.1: the context "is extracted from the authenticator
		// request"; RFC 8446 §6 illegal_parameter: "a field in the
		// handshake was incorrect or inconsistent with other fields", as
		// the engine answers a mismatched post-handshake Certificate.
		if !bytes.Equal(a.cert.context, cr.context) {
			return nil, Alertf(AlertIllegalParameter, "authenticator context does not match the request's")
		}
		ctx = cr.context
	}
	// RFC 9261 §7.4: fail "if the certificate_request_context of the
	// authenticator was used in a previously validated authenticator"; a
	// replayed field is illegal_parameter as above.
	if c.ea.validated[string(ctx)] {
		return nil, Alertf(AlertIllegalParameter, "certificate_request_context already used by a validated authenticator")
	}

	if a.cert == nil {
		certRaw, err := (&certificateMsg{context: ctx}).marshal()
		if err != nil {
			return nil, err
		}
		if err := checkAuthenticatorFinished(h, fk, a.fin, authenticatorTranscript(h, hc, request, certRaw)); err != nil {
			return nil, err
		}
		c.ea.markValidated(ctx)
		return nil, &AlertError{Code: AlertCertificateRequired, Err: ErrEmptyAuthenticator}
	}

	// RFC 8446 §4.4.2.4 makes an empty Certificate a decode_error where a
	// certificate must come; here a CertificateVerify follows it.
	if len(a.cert.entries) == 0 {
		return nil, Alertf(AlertDecodeError, "authenticator Certificate without entries")
	}
	if err := c.config.checkAuthenticatorExtensions(a.cert); err != nil {
		return nil, err
	}
	// RFC 9261 §5.2.1: only extensions of the request (or the ClientHello);
	// RFC 8446 §4.2 answers an unsolicited one with unsupported_extension.
	for i, e := range a.cert.entries {
		for _, x := range e.Extensions {
			if !slices.Contains(offered, x.Type) {
				return nil, Alertf(AlertUnsupportedExtension, "authenticator CertificateEntry %d carries extension %d that was not offered", i, x.Type)
			}
		}
	}
	// RFC 9261 §5.2.1: X.509 only; the engine's alerts (unknown_ca,
	// certificate_expired, unsupported_certificate, bad_certificate).
	chain, err := c.config.verifyX509Named(a.cert.entries, c.isClient, serverName, !c.config.InsecureSkipVerify)
	if err != nil {
		return nil, err
	}
	pub := chain[0].PublicKey
	// RFC 9261 §5.2.2: a scheme of the request (or our ClientHello) and
	// valid for TLS 1.3; one we did not offer is illegal_parameter, as in
	// the handshake, and verifySignature refuses the rest likewise.
	if !slices.Contains(schemes, a.cv.scheme) {
		return nil, Alertf(AlertIllegalParameter, "authenticator CertificateVerify scheme %#04x was not offered", uint16(a.cv.scheme))
	}
	signed := signedMessage(authenticatorSignatureContext, authenticatorTranscript(h, hc, request, a.cert.raw))
	// RFC 8446 §6: a signature that does not verify is decrypt_error.
	if err := verifySignature(pub, a.cv.scheme, signed, a.cv.signature); err != nil {
		return nil, err
	}
	if err := checkAuthenticatorFinished(h, fk, a.fin, authenticatorTranscript(h, hc, request, a.cert.raw, a.cv.raw)); err != nil {
		return nil, err
	}
	c.ea.markValidated(ctx)
	return &ValidatedAuthenticator{
		Context:     clone(ctx),
		Certificate: &PeerCertificate{Type: CertTypeX509, Entries: a.cert.entries, Chain: chain, PublicKey: pub},
		Scheme:      a.cv.scheme,
	}, nil
}

// checkAuthenticatorFinished compares in constant time (RFC 9261 §5.2.4);
// a wrong length is decode_error and a wrong MAC decrypt_error, as for
// the handshake's Finished (RFC 8446 §4.4.4, §6).
func checkAuthenticatorFinished(h crypto.Hash, fk []byte, fin *finishedMsg, transcriptHash []byte) error {
	if len(fin.verifyData) != h.Size() {
		return Alertf(AlertDecodeError, "authenticator Finished of %d bytes", len(fin.verifyData))
	}
	if !hmac.Equal(fin.verifyData, authenticatorFinished(h, fk, transcriptHash)) {
		return Alertf(AlertDecryptError, "authenticator Finished does not match")
	}
	return nil
}

// markValidated records ctx; called with mu held.
func (st *authenticatorState) markValidated(ctx []byte) {
	if st.validated == nil {
		st.validated = map[string]bool{}
	}
	st.validated[string(ctx)] = true
}
