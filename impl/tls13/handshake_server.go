package tls13

import (
	"bytes"
	"context"
	"io"
	"slices"
)

// serverHandshakeState is the server's handshake in progress.
type serverHandshakeState struct {
	*handshakeState
	hello       *clientHelloMsg
	group       CurveID
	certReq     *certificateRequestMsg
	requireCert bool
	hsClient    []byte
	hsServer    []byte
}

func (c *Conn) serverHandshake(ctx context.Context) (err error) {
	st := &serverHandshakeState{handshakeState: c.newHandshakeState(ctx)}
	defer func() {
		if err != nil {
			err = c.fail(err)
		}
	}()
	cfg := c.config

	// ClientHello, perhaps after a HelloRetryRequest.
	if err := st.readClientHello(); err != nil {
		return err
	}
	// RFC 8446 §5.1: nothing may follow the ClientHello in its record, as
	// the next message comes under the handshake keys.
	if err := c.requireKeyChangeBoundary(); err != nil {
		return err
	}
	if err := hookError(st.hooks.ReadClientHello(st.hs, st.hello.exts)); err != nil {
		return err
	}
	if err := st.negotiateCertificateTypes(); err != nil {
		return err
	}

	// ServerHello, then keys change.
	if err := st.sendServerHello(); err != nil {
		return err
	}
	if err := c.protectedCCSBug(); err != nil {
		return err
	}

	// EncryptedExtensions, CertificateRequest, Certificate, CertificateVerify, Finished.
	if err := st.sendEncryptedExtensions(); err != nil {
		return err
	}
	st.requireCert = cfg.ClientAuth != NoClientCert || st.hs.requestClientCert
	if st.requireCert {
		if err := st.sendCertificateRequest(); err != nil {
			return err
		}
	}
	if err := c.flushBeforeCredential(); err != nil {
		return err
	}
	cm, signer, err := st.makeCertificate(nil, c.serverCertType, st.hello.sigAlgs, certSchemesOf(st.hello.sigAlgs, st.hello.sigAlgsCert))
	if err != nil {
		return err
	}
	if len(cm.entries) == 0 || signer == nil {
		return Alertf(AlertHandshakeFailure, "no server credential fits the client's signature algorithms and certificate types")
	}
	if _, err := st.send(cm); err != nil {
		return err
	}
	if err := c.flushBeforeCredential(); err != nil {
		return err
	}
	if err := st.sendCertificateVerify(signer, st.hello.sigAlgs); err != nil {
		return err
	}
	if err := st.sendFinished(st.hsServer); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	if err := c.lateCCSBug(); err != nil {
		return err
	}
	apClient, apServer, exporter := c.ks.applicationTraffic(st.transcript.sum())
	c.exporterSecret = exporter
	c.out.setTrafficSecret(c, c.suite, apServer, "server_application")
	if err := c.earlyApplicationData(); err != nil {
		return err
	}

	// The client's Certificate, CertificateVerify and Finished.
	if st.certReq != nil {
		if err := st.readClientCertificate(st.certReq.context); err != nil {
			return err
		}
	}
	if err := st.readFinished(st.hsClient); err != nil {
		return err
	}
	if err := c.requireKeyChangeBoundary(); err != nil {
		return err
	}
	if err := hookError(st.hooks.HandshakeDone(st.hs)); err != nil {
		return err
	}
	c.in.setTrafficSecret(c, c.suite, apClient, "client_application")
	c.resumptionSecret = c.ks.resumption(st.transcript.sum())
	c.transcript = st.transcript
	c.helloSigAlgs = st.hello.sigAlgs
	for _, e := range st.hello.exts {
		c.helloExts = append(c.helloExts, e.Type)
	}
	return nil
}

// readClientHello reads the ClientHello, answers a HelloRetryRequest if
// no acceptable key share came, and leaves the final hello in st.hello.
func (st *serverHandshakeState) readClientHello() error {
	c, cfg := st.c, st.c.config
	m, err := c.readMessage(typeClientHello)
	if err != nil {
		return err
	}
	ch := m.(*clientHelloMsg)
	c.clientRandom, c.helloSeen = ch.random, true
	if err := st.checkClientHello(ch); err != nil {
		return err
	}
	st.hello = ch
	c.peerOfferedPHA = ch.postHandshakeAuth
	if ch.serverName != "" {
		c.serverName, st.hs.serverName = ch.serverName, ch.serverName
	}
	suite := cipherSuiteByID(cfg.Bugs.ServerCipherSuite)
	for _, id := range cfg.cipherSuites() {
		if suite == nil && slices.Contains(ch.cipherSuites, id) {
			suite = cipherSuiteByID(id)
		}
	}
	if suite == nil {
		return Alertf(AlertHandshakeFailure, "no cipher suite in common")
	}
	c.suite, st.hs.suite = suite, suite
	st.transcript.setHash(suite.hash)

	share, retryGroup, err := st.selectGroup(ch)
	if err != nil {
		return err
	}
	if share == nil || cfg.Bugs.AlwaysHelloRetry {
		if share != nil {
			retryGroup = share.group
		}
		if err := st.helloRetry(ch, retryGroup); err != nil {
			return err
		}
		return nil
	}
	st.transcript.write(ch.raw)
	st.group = share.group
	return nil
}

// checkClientHello applies the checks of RFC 8446 §4.1.2 and §4.2 that do
// not depend on our configuration.
func (st *serverHandshakeState) checkClientHello(ch *clientHelloMsg) error {
	if !slices.Contains(ch.supportedVersions, versionTLS13) {
		return Alertf(AlertProtocolVersion, "client does not offer TLS 1.3")
	}
	if !bytes.Equal(ch.compressionMethods, []byte{0}) {
		return Alertf(AlertIllegalParameter, "legacy_compression_methods is not [null]")
	}
	if ch.sigAlgs == nil {
		return Alertf(AlertMissingExtension, "ClientHello without signature_algorithms")
	}
	if ch.supportedGroups == nil || !ch.hasKeyShare {
		return Alertf(AlertMissingExtension, "ClientHello without supported_groups or key_share")
	}
	for _, ks := range ch.keyShares {
		if !slices.Contains(ch.supportedGroups, ks.group) {
			return Alertf(AlertIllegalParameter, "key share for group %#04x not in supported_groups", uint16(ks.group))
		}
	}
	return nil
}

// selectGroup returns the client share to use, or else the group to ask
// for in a HelloRetryRequest.
func (st *serverHandshakeState) selectGroup(ch *clientHelloMsg) (*keyShare, CurveID, error) {
	for _, g := range st.c.config.groups() {
		for i := range ch.keyShares {
			if ch.keyShares[i].group == g && isSupportedGroup(g) {
				return &ch.keyShares[i], 0, nil
			}
		}
	}
	for _, g := range st.c.config.groups() {
		if isSupportedGroup(g) && slices.Contains(ch.supportedGroups, g) {
			return nil, g, nil
		}
	}
	return nil, 0, Alertf(AlertHandshakeFailure, "no key exchange group in common")
}

func (st *serverHandshakeState) helloRetry(ch1 *clientHelloMsg, g CurveID) error {
	c, cfg := st.c, st.c.config
	c.helloRetried, st.hs.helloRetried = true, true
	exts := []Extension{{extKeyShare, encodeUint16(uint16(g))}}
	if cfg.HelloRetryCookie != nil {
		cookie, err := encodeOpaque16(cfg.HelloRetryCookie)
		if err != nil {
			return extensionError(extCookie, err)
		}
		exts = append(exts, Extension{extCookie, cookie})
	}
	exts = append(exts, Extension{extSupportedVersions, encodeUint16(versionTLS13)})
	hrr := &serverHelloMsg{vers: versionTLS12, random: helloRetryRequestRandom, sessionID: ch1.sessionID,
		cipherSuite: c.suite.id, exts: c.finishExtensions(typeServerHello, exts)}
	if err := c.requireKeyChangeBoundary(); err != nil {
		return err
	}
	st.transcript.restartAfterHelloRetry(c.suite.hash, ch1.raw)
	if _, err := st.send(hrr); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	if err := st.sendCompatCCS(ch1); err != nil {
		return err
	}
	m, err := c.readMessage(typeClientHello)
	if err != nil {
		return err
	}
	ch2 := m.(*clientHelloMsg)
	if err := st.checkClientHello(ch2); err != nil {
		return err
	}
	// RFC 8446 §4.1.2: the second ClientHello repeats the first but for
	// key_share, cookie, early_data and padding.
	if !bytes.Equal(ch2.random, ch1.random) || !bytes.Equal(ch2.sessionID, ch1.sessionID) ||
		!slices.Equal(ch2.cipherSuites, ch1.cipherSuites) || !slices.Equal(ch2.supportedGroups, ch1.supportedGroups) ||
		!slices.Equal(ch2.supportedVersions, ch1.supportedVersions) || ch2.serverName != ch1.serverName {
		return Alertf(AlertIllegalParameter, "second ClientHello differs from the first")
	}
	if len(ch2.keyShares) != 1 || ch2.keyShares[0].group != g {
		return Alertf(AlertIllegalParameter, "second ClientHello does not carry exactly the requested key share")
	}
	if cfg.HelloRetryCookie != nil && !bytes.Equal(ch2.cookie, cfg.HelloRetryCookie) {
		return Alertf(AlertIllegalParameter, "second ClientHello does not echo the cookie")
	}
	st.transcript.write(ch2.raw)
	st.hello, st.group = ch2, g
	return nil
}

// negotiateCertificateTypes applies RFC 7250 §4.2.
func (st *serverHandshakeState) negotiateCertificateTypes() error {
	c, cfg, ch := st.c, st.c.config, st.hello
	c.serverCertType, c.clientCertType = CertTypeX509, CertTypeX509
	offered := certTypesOrX509(ch.serverCertTypes)
	pick := func(ours, theirs []CertificateType) (CertificateType, bool) {
		for _, t := range ours {
			if slices.Contains(theirs, t) {
				return t, true
			}
		}
		return 0, false
	}
	t, ok := pick(certTypesOrX509(cfg.ServerCertificateTypes), offered)
	if !ok {
		return Alertf(AlertUnsupportedCertificate, "no server certificate type in common (client offers %v)", offered)
	}
	c.serverCertType = t
	// RFC 7250 §4.2: the client's types matter only if we will request a
	// certificate; otherwise the extension is simply omitted from EE.
	if ch.clientCertTypes != nil && (cfg.ClientAuth != NoClientCert || st.hs.requestClientCert) {
		t, ok := pick(certTypesOrX509(cfg.ClientCertificateTypes), ch.clientCertTypes)
		if !ok {
			return Alertf(AlertUnsupportedCertificate, "no client certificate type in common (client offers %v)", ch.clientCertTypes)
		}
		c.clientCertType = t
	}
	st.hs.clientCertType, st.hs.serverCertType = c.clientCertType, c.serverCertType
	return nil
}

func (st *serverHandshakeState) sendServerHello() error {
	c, cfg := st.c, st.c.config
	var clientShare []byte
	for _, ks := range st.hello.keyShares {
		if ks.group == st.group {
			clientShare = ks.data
		}
	}
	serverShare, shared, err := cfg.serverKeyExchange(st.group, clientShare)
	if err != nil {
		return err
	}
	c.group = st.group
	random := make([]byte, 32)
	if _, err := io.ReadFull(cfg.rand(), random); err != nil {
		return err
	}
	share, err := encodeServerKeyShare(keyShare{st.group, serverShare})
	if err != nil {
		return extensionError(extKeyShare, err)
	}
	exts := []Extension{
		{extKeyShare, share},
		{extSupportedVersions, encodeUint16(versionTLS13)},
	}
	sh := &serverHelloMsg{vers: versionTLS12, random: random, sessionID: st.hello.sessionID,
		cipherSuite: c.suite.id, exts: c.finishExtensions(typeServerHello, exts)}
	c.ks = newKeySchedule(c.suite.hash, c.secret)
	c.earlyExporter = c.ks.earlyExporter(st.transcript.sum())
	if _, err := st.send(sh); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	if err := st.sendCompatCCS(st.hello); err != nil {
		return err
	}
	c.ks.setHandshake(shared)
	helloHash := st.transcript.sum()
	st.hsClient, st.hsServer = c.ks.handshakeTraffic(helloHash)
	st.hs.helloHash, st.hs.handshakeSecret = helloHash, c.ks.handshake
	c.out.setTrafficSecret(c, c.suite, st.hsServer, "server_handshake")
	c.in.setTrafficSecret(c, c.suite, st.hsClient, "client_handshake")
	return nil
}

// sendCompatCCS sends the change_cipher_spec of RFC 8446 D.4 after our
// first handshake message, the HelloRetryRequest or the ServerHello. D.4:
// "if the client sends a non-empty session ID, the server MUST send the
// change_cipher_spec"; the client's session ID is its request for
// compatibility mode (§4.1.2), so our own option only adds the record for
// clients that did not ask, which "must" ignore it (D.4, §5).
func (st *serverHandshakeState) sendCompatCCS(ch *clientHelloMsg) error {
	return st.compatCCS(len(ch.sessionID) > 0 || st.c.config.CompatibilityMode)
}

func (st *serverHandshakeState) sendEncryptedExtensions() error {
	c, cfg, ch := st.c, st.c.config, st.hello
	var exts []Extension
	if ch.serverName != "" {
		exts = append(exts, Extension{extServerName, nil})
	}
	if ch.alpn != nil && len(cfg.NextProtos) > 0 {
		var proto string
		for _, p := range cfg.NextProtos {
			if proto == "" && slices.Contains(ch.alpn, p) {
				proto = p
			}
		}
		if proto == "" {
			return Alertf(AlertNoApplicationProtocol, "no ALPN protocol in common")
		}
		c.alpn = proto
		alpn, err := encodeALPN([]string{proto})
		if err != nil {
			return extensionError(extALPN, err)
		}
		exts = append(exts, Extension{extALPN, alpn})
	}
	if ch.serverCertTypes != nil {
		exts = append(exts, Extension{extServerCertType, []byte{byte(c.serverCertType)}})
	}
	if ch.clientCertTypes != nil && (cfg.ClientAuth != NoClientCert || st.hs.requestClientCert) {
		exts = append(exts, Extension{extClientCertType, []byte{byte(c.clientCertType)}})
	}
	extra, err := st.hooks.WriteEncryptedExtensions(st.hs)
	if err != nil {
		return hookError(err)
	}
	ee := &encryptedExtensionsMsg{exts: c.finishExtensions(typeEncryptedExtensions, append(exts, extra...))}
	_, err = st.send(ee)
	return err
}

// certificateRequest builds a CertificateRequest with the given context.
func (st *handshakeState) certificateRequest(context []byte) (*certificateRequestMsg, error) {
	c := st.c
	exts, err := c.config.signatureAlgorithmsExtensions()
	if err != nil {
		return nil, err
	}
	st.hs.sentCertificateRequest = true
	extra, err := st.hooks.WriteCertificateRequest(st.hs)
	if err != nil {
		return nil, hookError(err)
	}
	cr := &certificateRequestMsg{context: context, exts: c.finishExtensions(typeCertificateRequest, append(exts, extra...))}
	if cr.raw, err = cr.marshal(); err != nil {
		return nil, err
	}
	return cr, nil
}

func (st *serverHandshakeState) sendCertificateRequest() error {
	cr, err := st.certificateRequest(st.c.config.Bugs.CertificateRequestContext)
	if err != nil {
		return err
	}
	st.certReq = cr
	st.sendRaw(cr.raw)
	return nil
}

// readClientCertificate reads the client's Certificate and, if it is not
// empty, its CertificateVerify.
func (st *handshakeState) readClientCertificate(context []byte) error {
	c, cfg := st.c, st.c.config
	m, err := st.read(typeCertificate)
	if err != nil {
		return err
	}
	cm := m.(*certificateMsg)
	if !bytes.Equal(cm.context, context) {
		return Alertf(AlertIllegalParameter, "client Certificate context does not match the CertificateRequest")
	}
	pc, err := st.verifyClientCertificate(cm)
	if err != nil {
		return err
	}
	if len(cm.entries) == 0 {
		if cfg.ClientAuth == RequireAnyClientCert || cfg.ClientAuth == RequireAndVerifyClientCert {
			return Alertf(AlertCertificateRequired, "client sent no certificate")
		}
		return nil
	}
	if pc.PublicKey == nil {
		return Alertf(AlertBadCertificate, "client certificate carries no usable key")
	}
	c.peerCert = pc
	return st.readCertificateVerify(pc.PublicKey)
}

// verifyClientCertificate validates a client chain only as far as
// ClientAuth asks: a certificate requested but not verified is parsed only.
func (st *handshakeState) verifyClientCertificate(cm *certificateMsg) (*PeerCertificate, error) {
	return st.verifyPeerCertificate(cm, st.c.clientCertType, st.c.config.ClientAuth >= VerifyClientCertIfGiven)
}
