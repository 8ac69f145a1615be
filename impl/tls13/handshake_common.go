package tls13

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/x509"
	"errors"
	"slices"
)

// handshakeState is what both sides keep during one handshake.
type handshakeState struct {
	c          *Conn
	ctx        context.Context
	hooks      Hooks
	hs         *HookState
	transcript *transcriptHash
	// next, when set, replaces reading from the handshake (post-handshake
	// exchanges read with application data allowed).
	next func(want uint8) (handshakeMessage, error)
	// sentCCS: the RFC 8446 D.4 change_cipher_spec went out (it goes once).
	sentCCS bool
}

// compatCCS sends the D.4 change_cipher_spec if want and it has not gone.
func (st *handshakeState) compatCCS(want bool) error {
	if !want || st.sentCCS {
		return nil
	}
	st.sentCCS = true
	return st.c.writeCompatCCS()
}

func (c *Conn) newHandshakeState(ctx context.Context) *handshakeState {
	hooks := Hooks(NoHooks{})
	if c.config.NewHooks != nil {
		hooks = c.config.NewHooks()
	}
	t := &transcriptHash{}
	st := &handshakeState{c: c, ctx: ctx, hooks: hooks, transcript: t}
	st.hs = &HookState{ctx: ctx, isClient: c.isClient, config: c.config, transcript: t, Values: map[string]any{}}
	c.hooks, c.hookState = hooks, st.hs
	return st
}

// send encodes a handshake message, queues it and adds it to the
// transcript, unless Bugs say to skip or repeat it, and returns its
// encoding. A message that cannot be encoded (a hook's or a Bugs
// extension too long for its length prefix) is an internal_error naming it.
func (st *handshakeState) send(m handshakeMessage) ([]byte, error) {
	raw, err := m.marshal()
	if err != nil {
		return nil, err
	}
	st.sendRaw(raw)
	return raw, nil
}

// sendRaw is send for a message already encoded.
func (st *handshakeState) sendRaw(raw []byte) {
	b := &st.c.config.Bugs
	if containsUint8(b.SkipMessages, raw[0]) {
		return
	}
	st.transcript.write(raw)
	st.c.writeHandshake(raw)
	if containsUint8(b.DuplicateMessages, raw[0]) {
		st.c.writeHandshake(raw)
	}
}

// read reads the next handshake message of one of the wanted types and
// adds it to the transcript.
func (st *handshakeState) read(want ...uint8) (handshakeMessage, error) {
	if st.next != nil && len(want) == 1 {
		return st.next(want[0])
	}
	m, err := st.c.readMessage(want...)
	if err != nil {
		return nil, err
	}
	st.transcript.write(rawOf(m))
	return m, nil
}

func rawOf(m handshakeMessage) []byte {
	switch m := m.(type) {
	case *clientHelloMsg:
		return m.raw
	case *serverHelloMsg:
		return m.raw
	case *encryptedExtensionsMsg:
		return m.raw
	case *certificateRequestMsg:
		return m.raw
	case *certificateMsg:
		return m.raw
	case *certificateVerifyMsg:
		return m.raw
	case *finishedMsg:
		return m.raw
	case *newSessionTicketMsg:
		return m.raw
	case *keyUpdateMsg:
		return m.raw
	}
	panic("tls13: unknown message")
}

// finishExtensions orders, and lets Bugs corrupt, the extensions of an
// outgoing message.
func (c *Conn) finishExtensions(msgType uint8, exts []Extension) []Extension {
	if order := c.config.ExtensionOrder[msgType]; order != nil {
		pos := func(t uint16) int {
			if i := slices.Index(order, t); i >= 0 {
				return i
			}
			return len(order)
		}
		slices.SortStableFunc(exts, func(a, b Extension) int { return pos(a.Type) - pos(b.Type) })
	}
	return c.config.Bugs.applyExtensionBugs(msgType, exts)
}

// hookError turns a hook's error into one that carries an alert.
func hookError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := AsAlert(err); ok {
		return err
	}
	return &AlertError{Code: AlertInternalError, Err: err}
}

// makeCertificate builds our Certificate message for the negotiated type
// and returns the key that signs CertificateVerify; peerCertSchemes are
// what the peer accepts in our chain (RFC 8446 §4.2.3).
func (st *handshakeState) makeCertificate(context []byte, certType CertificateType, peerSchemes, peerCertSchemes []SignatureScheme) (*certificateMsg, crypto.Signer, error) {
	out, err := st.hooks.Credential(st.hs)
	if err != nil {
		return nil, nil, hookError(err)
	}
	if out == nil {
		out = st.c.config.defaultCredential(certType, peerSchemes, peerCertSchemes)
	}
	if out == nil {
		if certType != CertTypeX509 && certType != CertTypeRawPublicKey {
			return nil, nil, Alertf(AlertInternalError, "no credential for certificate type %d", certType)
		}
		out = &OutgoingCertificate{}
	}
	entries := slices.Clone(out.Entries)
	for i, extra := range st.c.config.Bugs.ExtraEntryExtensions {
		if i < len(entries) {
			entries[i].Extensions = append(slices.Clone(entries[i].Extensions), extra...)
		}
	}
	for i := range entries {
		entries[i].Extensions = st.c.config.Bugs.mangle(entries[i].Extensions)
	}
	return &certificateMsg{context: context, entries: entries}, out.Signer, nil
}

// defaultCredential picks the first configured credential whose key fits
// a scheme the peer accepts, shaped for the certificate type. Of X.509
// chains it prefers the first signed only with peerCertSchemes, and
// otherwise sends the first that fits anyway: RFC 8446 §4.4.2.2 says a
// server that has no such chain "SHOULD continue the handshake by sending
// the client a certificate chain of its choice", and the same suits a
// client answering a CertificateRequest.
func (c *Config) defaultCredential(certType CertificateType, peerSchemes, peerCertSchemes []SignatureScheme) *OutgoingCertificate {
	var fallback *OutgoingCertificate
	for _, cred := range c.Certificates {
		out := c.shapeCredential(cred, certType, peerSchemes)
		if out == nil {
			continue
		}
		// With a single credential there is no choice to make, and no
		// chain to parse on every handshake.
		if certType != CertTypeX509 || len(c.Certificates) == 1 || chainSignedWith(cred.Chain, peerCertSchemes) {
			return out
		}
		if fallback == nil {
			fallback = out
		}
	}
	return fallback
}

// shapeCredential is cred for the certificate type, or nil if it does not
// suit it or no scheme the peer accepts fits its key.
func (c *Config) shapeCredential(cred Credential, certType CertificateType, peerSchemes []SignatureScheme) *OutgoingCertificate {
	if cred.Signer == nil {
		return nil
	}
	if _, err := chooseScheme(c.signatureSchemes(), peerSchemes, cred.Signer.Public()); err != nil {
		return nil
	}
	switch certType {
	case CertTypeX509:
		if len(cred.Chain) == 0 {
			return nil
		}
		var entries []CertificateEntry
		for _, der := range cred.Chain {
			entries = append(entries, CertificateEntry{Data: der})
		}
		return &OutgoingCertificate{Entries: entries, Signer: cred.Signer}
	case CertTypeRawPublicKey:
		spki, err := x509.MarshalPKIXPublicKey(cred.Signer.Public())
		if err != nil {
			return nil
		}
		return &OutgoingCertificate{Entries: []CertificateEntry{{Data: spki}}, Signer: cred.Signer}
	}
	return nil
}

// sendCertificateVerify signs the transcript with signer.
func (st *handshakeState) sendCertificateVerify(signer crypto.Signer, peerSchemes []SignatureScheme) error {
	c := st.c
	scheme, err := chooseScheme(c.config.signatureSchemes(), peerSchemes, signer.Public())
	if err != nil {
		return err
	}
	ctx := clientSignatureContext
	if !c.isClient {
		ctx = serverSignatureContext
	}
	sig, err := sign(signer, c.config.signingRand(scheme), scheme, signedMessage(ctx, st.transcript.sum()))
	if err != nil {
		// A TPM-held key fails here; say which operation failed.
		return Alertf(AlertInternalError, "signing CertificateVerify: %v", err)
	}
	if c.config.Bugs.CorruptCertificateVerify && len(sig) > 0 {
		sig[len(sig)-1] ^= 0x80
	}
	if c.config.Bugs.CertificateVerifyScheme != 0 {
		scheme = c.config.Bugs.CertificateVerifyScheme
	}
	_, err = st.send(&certificateVerifyMsg{scheme: scheme, signature: sig})
	return err
}

// verifyPeerCertificate runs the hook and then, unless it took over, the
// engine's X.509 or raw public key validation (parsing only, when verify
// is false).
func (st *handshakeState) verifyPeerCertificate(m *certificateMsg, certType CertificateType, verify bool) (*PeerCertificate, error) {
	c := st.c
	pc := &PeerCertificate{Type: certType, Entries: m.entries}
	if err := st.hooks.VerifyPeerCertificate(st.hs, pc); err != nil {
		return nil, hookError(err)
	}
	if pc.PublicKey != nil || len(m.entries) == 0 {
		return pc, nil
	}
	switch certType {
	case CertTypeX509:
		chain, err := c.config.verifyX509(m.entries, c.isClient, verify)
		if err != nil {
			return nil, err
		}
		pc.Chain, pc.PublicKey = chain, chain[0].PublicKey
	case CertTypeRawPublicKey:
		if len(m.entries) != 1 {
			return nil, Alertf(AlertDecodeError, "raw public key Certificate with %d entries", len(m.entries))
		}
		pub, err := x509.ParsePKIXPublicKey(m.entries[0].Data)
		if err != nil {
			return nil, Alertf(AlertBadCertificate, "raw public key: %v", err)
		}
		if verify && !slices.ContainsFunc(c.config.TrustedRawPublicKeys, func(k crypto.PublicKey) bool {
			eq, ok := k.(interface{ Equal(crypto.PublicKey) bool })
			return ok && eq.Equal(pub)
		}) {
			return nil, Alertf(AlertBadCertificate, "raw public key is not trusted")
		}
		pc.PublicKey = pub
	default:
		return nil, Alertf(AlertUnsupportedCertificate, "no verifier for certificate type %d", certType)
	}
	return pc, nil
}

// verifyX509 parses the peer's chain and, when verify is set, validates
// it for our side (isClient): a server's chain against RootCAs and
// ServerName, a client's against ClientCAs; at Config.Time, for
// the side's extended key usage, and signed only with the schemes we
// advertised for certificates. Its alerts are the engine's: unknown_ca,
// certificate_expired, unsupported_certificate, else bad_certificate.
func (c *Config) verifyX509(entries []CertificateEntry, isClient, verify bool) ([]*x509.Certificate, error) {
	return c.verifyX509Named(entries, isClient, c.ServerName, verify)
}

// verifyX509Named is verifyX509 checking a server's chain for serverName
// instead of Config.ServerName: an exported authenticator may prove
// another identity than the handshake's (RFC 9261 §1).
func (c *Config) verifyX509Named(entries []CertificateEntry, isClient bool, serverName string, verify bool) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for _, e := range entries {
		cert, err := x509.ParseCertificate(e.Data)
		if err != nil {
			return nil, Alertf(AlertBadCertificate, "certificate: %v", err)
		}
		chain = append(chain, cert)
	}
	if !verify {
		return chain, nil
	}
	opts := x509.VerifyOptions{Intermediates: x509.NewCertPool(), CurrentTime: c.now()}
	for _, cert := range chain[1:] {
		opts.Intermediates.AddCert(cert)
	}
	if isClient {
		opts.Roots, opts.DNSName = c.RootCAs, serverName
		opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	} else {
		opts.Roots = c.ClientCAs
		opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	paths, err := chain[0].Verify(opts)
	if err != nil {
		var unknown x509.UnknownAuthorityError
		var invalid x509.CertificateInvalidError
		switch {
		case errors.As(err, &unknown):
			return nil, Alertf(AlertUnknownCA, "%v", err)
		case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
			return nil, Alertf(AlertCertificateExpired, "%v", err)
		}
		return nil, Alertf(AlertBadCertificate, "%v", err)
	}
	// RFC 8446 §4.2.3: the chain's signatures must use schemes we
	// advertised for certificates. Any verified path will do, less its
	// trust anchor (§4.4.2.2); with none, §4.4.2.2 names the alert: "by
	// default, unsupported_certificate".
	schemes := c.certSignatureSchemes()
	var bad *x509.Certificate
	for _, p := range paths {
		if bad = unacceptableSignature(p[:len(p)-1], schemes); bad == nil {
			return chain, nil
		}
	}
	return nil, Alertf(AlertUnsupportedCertificate, "certificate %q is signed with %v, which we did not advertise for certificates",
		bad.Subject.CommonName, bad.SignatureAlgorithm)
}

// readCertificateVerify checks the peer's signature over the transcript.
func (st *handshakeState) readCertificateVerify(pub crypto.PublicKey) error {
	th := st.transcript.sum()
	m, err := st.read(typeCertificateVerify)
	if err != nil {
		return err
	}
	cv := m.(*certificateVerifyMsg)
	if !slices.Contains(st.c.config.signatureSchemes(), cv.scheme) {
		return Alertf(AlertIllegalParameter, "CertificateVerify scheme %#04x was not offered", uint16(cv.scheme))
	}
	ctx := serverSignatureContext
	if !st.c.isClient {
		ctx = clientSignatureContext
	}
	return verifySignature(pub, cv.scheme, signedMessage(ctx, th), cv.signature)
}

// sendFinished sends Finished keyed by baseKey.
func (st *handshakeState) sendFinished(baseKey []byte) error {
	c := st.c
	vd := finishedVerifyData(c.suite.hash, baseKey, st.transcript.sum())
	if c.config.Bugs.CorruptFinished {
		vd[0] ^= 0x01
	}
	_, err := st.send(&finishedMsg{verifyData: vd})
	return err
}

// readFinished checks the peer's Finished keyed by baseKey.
func (st *handshakeState) readFinished(baseKey []byte) error {
	want := finishedVerifyData(st.c.suite.hash, baseKey, st.transcript.sum())
	m, err := st.read(typeFinished)
	if err != nil {
		return err
	}
	if len(m.(*finishedMsg).verifyData) != len(want) {
		return Alertf(AlertDecodeError, "Finished of %d bytes", len(m.(*finishedMsg).verifyData))
	}
	if !hmac.Equal(m.(*finishedMsg).verifyData, want) {
		return Alertf(AlertDecryptError, "Finished verify_data does not match")
	}
	return nil
}

// earlyApplicationData sends Bugs.EarlyApplicationData mid-handshake.
func (c *Conn) earlyApplicationData() error {
	if d := c.config.Bugs.EarlyApplicationData; d != nil {
		if err := c.flush(); err != nil {
			return err
		}
		return c.writeRecords(recordApplicationData, d)
	}
	return nil
}
