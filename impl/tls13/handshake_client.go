package tls13

import (
	"bytes"
	"context"
	"io"
	"net"
	"slices"
)

// clientHandshakeState is the client's handshake in progress.
type clientHandshakeState struct {
	*handshakeState
	hello    *clientHelloMsg
	shares   map[CurveID]*keyShareSecret
	offered  []uint16 // extension types in our ClientHello
	certReq  *certificateRequestMsg
	hsClient []byte // client_handshake_traffic_secret
	hsServer []byte
}

func (c *Conn) clientHandshake(ctx context.Context) (err error) {
	st := &clientHandshakeState{handshakeState: c.newHandshakeState(ctx), shares: map[CurveID]*keyShareSecret{}}
	defer func() {
		if err != nil {
			err = c.fail(err)
		}
	}()
	cfg := c.config
	st.hs.serverName = cfg.ServerName

	// ClientHello.
	random := make([]byte, 32)
	if _, err := io.ReadFull(cfg.rand(), random); err != nil {
		return err
	}
	c.clientRandom = random
	var sessionID []byte
	if cfg.CompatibilityMode {
		// RFC 8446 §4.1.2: "a client not offering a pre-TLS 1.3 session
		// MUST generate a new 32-byte value".
		sessionID = make([]byte, 32)
		if _, err := io.ReadFull(cfg.rand(), sessionID); err != nil {
			return err
		}
	}
	for _, g := range cfg.keyShareGroups() {
		if err := st.addKeyShare(g); err != nil {
			return err
		}
	}
	st.hello = &clientHelloMsg{vers: versionTLS12, random: random, sessionID: sessionID, cipherSuites: cfg.cipherSuites(), compressionMethods: []uint8{0}}
	if err := st.sendClientHello(nil); err != nil {
		return err
	}

	// ServerHello, or a HelloRetryRequest and then a ServerHello.
	sh, err := st.readServerHello()
	if err != nil {
		return err
	}
	if sh.isHelloRetryRequest() {
		if err := st.processHelloRetryRequest(sh); err != nil {
			return err
		}
		if sh, err = st.readServerHello(); err != nil {
			return err
		}
		if sh.isHelloRetryRequest() {
			return Alertf(AlertUnexpectedMessage, "second HelloRetryRequest")
		}
	}
	if err := st.processServerHello(sh); err != nil {
		return err
	}

	// EncryptedExtensions, CertificateRequest, Certificate, CertificateVerify, Finished.
	if err := st.readEncryptedExtensions(); err != nil {
		return err
	}
	if err := st.readServerCertificate(); err != nil {
		return err
	}
	if err := st.readFinished(st.hsServer); err != nil {
		return err
	}
	if err := c.requireKeyChangeBoundary(); err != nil {
		return err
	}
	apClient, apServer, exporter := c.ks.applicationTraffic(st.transcript.sum())
	c.exporterSecret = exporter
	if err := hookError(st.hooks.HandshakeDone(st.hs)); err != nil {
		return err
	}
	c.in.setTrafficSecret(c, c.suite, apServer, "server_application")

	// Our Certificate, CertificateVerify and Finished, preceded by the D.4
	// change_cipher_spec unless it preceded a second ClientHello.
	if err := st.compatCCS(cfg.CompatibilityMode); err != nil {
		return err
	}
	if err := c.protectedCCSBug(); err != nil {
		return err
	}
	if st.certReq != nil {
		if err := st.sendClientCertificate(st.certReq); err != nil {
			return err
		}
	}
	if err := c.earlyApplicationData(); err != nil {
		return err
	}
	if err := st.sendFinished(st.hsClient); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	if err := c.lateCCSBug(); err != nil {
		return err
	}
	c.out.setTrafficSecret(c, c.suite, apClient, "client_application")
	c.resumptionSecret = c.ks.resumption(st.transcript.sum())
	c.transcript = st.transcript
	c.helloSigAlgs = cfg.signatureSchemes()
	c.helloExts = slices.Clone(st.offered)
	return nil
}

func (st *clientHandshakeState) addKeyShare(g CurveID) error {
	k, _, err := st.c.config.generateKeyShare(g)
	if err != nil {
		return err
	}
	st.shares[g] = k
	return nil
}

// sendClientHello builds the extensions (again, after a HelloRetryRequest)
// and sends the ClientHello.
func (st *clientHandshakeState) sendClientHello(cookie []byte) error {
	c, cfg := st.c, st.c.config
	exts, err := st.clientHelloExtensions(cookie)
	if err != nil {
		return err
	}
	if cfg.PostHandshakeAuth {
		c.offeredPHA = true
	}
	extra, err := st.hooks.WriteClientHello(st.hs)
	if err != nil {
		return hookError(err)
	}
	st.hello.exts = c.finishExtensions(typeClientHello, append(exts, extra...))
	st.offered = st.offered[:0]
	for _, e := range st.hello.exts {
		st.offered = append(st.offered, e.Type)
	}
	if st.hello.raw, err = st.send(st.hello); err != nil {
		return err
	}
	c.helloSeen = true
	return c.flushClientHello()
}

// clientHelloExtensions are the extensions the engine itself puts in a
// ClientHello, or an internal_error if the configuration makes one that
// cannot be encoded (an ALPN protocol of more than 255 bytes, say).
func (st *clientHandshakeState) clientHelloExtensions(cookie []byte) ([]Extension, error) {
	cfg := st.c.config
	var exts []Extension
	add := func(typ uint16, data []byte, err error) error {
		if err != nil {
			return extensionError(typ, err)
		}
		exts = append(exts, Extension{typ, data})
		return nil
	}
	if cfg.ServerName != "" && net.ParseIP(cfg.ServerName) == nil {
		data, err := encodeServerName(cfg.ServerName)
		if err := add(extServerName, data, err); err != nil {
			return nil, err
		}
	}
	groups := make([]uint16, 0, len(cfg.groups()))
	for _, g := range cfg.groups() {
		groups = append(groups, uint16(g))
	}
	data, err := encodeUint16List(groups, false)
	if err := add(extSupportedGroups, data, err); err != nil {
		return nil, err
	}
	var shares []keyShare
	for _, g := range cfg.keyShareGroups() {
		if k := st.shares[g]; k != nil {
			shares = append(shares, keyShare{g, publicShare(k)})
		}
	}
	for g, k := range st.shares { // the group a HelloRetryRequest asked for
		if !slices.Contains(cfg.keyShareGroups(), g) {
			shares = append(shares, keyShare{g, publicShare(k)})
		}
	}
	data, err = encodeClientKeyShares(shares)
	if err := add(extKeyShare, data, err); err != nil {
		return nil, err
	}
	if cookie != nil {
		data, err := encodeOpaque16(cookie)
		if err := add(extCookie, data, err); err != nil {
			return nil, err
		}
	}
	data, err = encodeUint16List([]uint16{versionTLS13}, true)
	if err := add(extSupportedVersions, data, err); err != nil {
		return nil, err
	}
	sigAlgs, err := cfg.signatureAlgorithmsExtensions()
	if err != nil {
		return nil, err
	}
	exts = append(exts, sigAlgs...)
	if cfg.ClientCertificateTypes != nil {
		data, err := encodeUint8List(certTypeBytes(cfg.ClientCertificateTypes))
		if err := add(extClientCertType, data, err); err != nil {
			return nil, err
		}
	}
	if cfg.ServerCertificateTypes != nil {
		data, err := encodeUint8List(certTypeBytes(cfg.ServerCertificateTypes))
		if err := add(extServerCertType, data, err); err != nil {
			return nil, err
		}
	}
	if cfg.PostHandshakeAuth {
		exts = append(exts, Extension{extPostHandshakeAuth, nil})
	}
	if len(cfg.NextProtos) > 0 {
		data, err := encodeALPN(cfg.NextProtos)
		if err := add(extALPN, data, err); err != nil {
			return nil, err
		}
	}
	return exts, nil
}

// flushClientHello sends the first ClientHello with record version
// 0x0301, as RFC 8446 §5.1 allows and middleboxes expect.
func (c *Conn) flushClientHello() error {
	if c.out.seq == 0 && !c.helloRetried && len(c.hsOut) > 0 {
		data := c.hsOut
		c.hsOut = nil
		rec := c.out.seal(recordHandshake, data)
		rec[2] = 0x01
		return c.writeRecord(rec)
	}
	return c.flush()
}

func publicShare(k *keyShareSecret) []byte {
	if k.mlkem != nil {
		return append(k.mlkem.EncapsulationKey().Bytes(), k.ecdh.PublicKey().Bytes()...)
	}
	return k.ecdh.PublicKey().Bytes()
}

func certTypeBytes(t []CertificateType) []uint8 {
	out := make([]uint8, len(t))
	for i, x := range t {
		out[i] = uint8(x)
	}
	return out
}

// readServerHello reads a ServerHello without adding it to the transcript
// (a HelloRetryRequest rewrites the transcript first).
func (st *clientHandshakeState) readServerHello() (*serverHelloMsg, error) {
	m, err := st.c.readMessage(typeServerHello)
	if err != nil {
		return nil, err
	}
	sh := m.(*serverHelloMsg)
	if sh.supportedVersion == 0 {
		return nil, Alertf(AlertProtocolVersion, "server did not select TLS 1.3")
	}
	if sh.supportedVersion != versionTLS13 || sh.vers != versionTLS12 {
		return nil, Alertf(AlertIllegalParameter, "server selected version %#04x", sh.supportedVersion)
	}
	if !bytes.Equal(sh.sessionID, st.hello.sessionID) {
		return nil, Alertf(AlertIllegalParameter, "legacy_session_id_echo differs")
	}
	if !slices.Contains(st.hello.cipherSuites, sh.cipherSuite) || cipherSuiteByID(sh.cipherSuite) == nil {
		return nil, Alertf(AlertIllegalParameter, "server chose cipher suite %#04x that was not offered", sh.cipherSuite)
	}
	if st.c.suite != nil && st.c.suite.id != sh.cipherSuite {
		return nil, Alertf(AlertIllegalParameter, "ServerHello cipher suite differs from HelloRetryRequest")
	}
	if sh.compression != 0 {
		return nil, Alertf(AlertIllegalParameter, "compression method %d", sh.compression)
	}
	allowed := []uint16{extSupportedVersions, extKeyShare}
	if sh.isHelloRetryRequest() {
		allowed = append(allowed, extCookie)
	}
	for _, e := range sh.exts {
		if !slices.Contains(allowed, e.Type) {
			if !slices.Contains(st.offered, e.Type) {
				return nil, Alertf(AlertUnsupportedExtension, "ServerHello extension %d was not offered", e.Type)
			}
			return nil, Alertf(AlertIllegalParameter, "extension %d is not allowed in ServerHello", e.Type)
		}
	}
	return sh, nil
}

func (st *clientHandshakeState) processHelloRetryRequest(hrr *serverHelloMsg) error {
	c := st.c
	c.suite = cipherSuiteByID(hrr.cipherSuite)
	c.helloRetried, st.hs.helloRetried = true, true
	st.hs.suite = c.suite
	g := hrr.selectedGroup
	if g != 0 {
		if !slices.Contains(c.config.groups(), g) || !isSupportedGroup(g) {
			return Alertf(AlertIllegalParameter, "HelloRetryRequest selected group %#04x that was not offered", uint16(g))
		}
		if st.shares[g] != nil {
			return Alertf(AlertIllegalParameter, "HelloRetryRequest selected group %#04x that already had a share", uint16(g))
		}
	} else if hrr.cookie == nil {
		return Alertf(AlertIllegalParameter, "HelloRetryRequest would not change the ClientHello")
	}
	st.transcript.restartAfterHelloRetry(c.suite.hash, st.hello.raw)
	st.transcript.write(hrr.raw)
	if g != 0 {
		st.shares = map[CurveID]*keyShareSecret{}
		if err := st.addKeyShare(g); err != nil {
			return err
		}
	}
	// RFC 8446 D.4: the change_cipher_spec may go "before its second ClientHello".
	if err := st.compatCCS(c.config.CompatibilityMode); err != nil {
		return err
	}
	return st.sendClientHello(hrr.cookie)
}

func (st *clientHandshakeState) processServerHello(sh *serverHelloMsg) error {
	c := st.c
	if c.suite == nil {
		c.suite = cipherSuiteByID(sh.cipherSuite)
		st.transcript.setHash(c.suite.hash)
	}
	st.hs.suite = c.suite
	k := st.shares[sh.keyShare.group]
	if k == nil {
		return Alertf(AlertIllegalParameter, "server key share for group %#04x that was not offered", uint16(sh.keyShare.group))
	}
	shared, err := k.clientSharedSecret(sh.keyShare.data)
	if err != nil {
		return err
	}
	c.group = k.group
	c.ks = newKeySchedule(c.suite.hash, c.secret)
	c.earlyExporter = c.ks.earlyExporter(st.transcript.sum())
	st.transcript.write(sh.raw)
	c.ks.setHandshake(shared)
	helloHash := st.transcript.sum()
	st.hsClient, st.hsServer = c.ks.handshakeTraffic(helloHash)
	st.hs.helloHash, st.hs.handshakeSecret = helloHash, c.ks.handshake
	if err := c.requireKeyChangeBoundary(); err != nil {
		return err
	}
	c.in.setTrafficSecret(c, c.suite, st.hsServer, "server_handshake")
	c.out.setTrafficSecret(c, c.suite, st.hsClient, "client_handshake")
	return nil
}

// Extensions a server must not put in EncryptedExtensions (RFC 8446 §4.2 table).
var notInEncryptedExtensions = []uint16{extKeyShare, extSupportedVersions, extPreSharedKey, extCookie,
	extPSKModes, extSignatureAlgorithms, extSignatureAlgsCert, extPostHandshakeAuth, extCertAuthorities}

func (st *clientHandshakeState) readEncryptedExtensions() error {
	c, cfg := st.c, st.c.config
	m, err := st.read(typeEncryptedExtensions)
	if err != nil {
		return err
	}
	ee := m.(*encryptedExtensionsMsg)
	for _, e := range ee.exts {
		if !slices.Contains(st.offered, e.Type) {
			return Alertf(AlertUnsupportedExtension, "EncryptedExtensions carries extension %d that was not offered", e.Type)
		}
		if slices.Contains(notInEncryptedExtensions, e.Type) {
			return Alertf(AlertIllegalParameter, "extension %d is not allowed in EncryptedExtensions", e.Type)
		}
	}
	c.serverCertType, c.clientCertType = CertTypeX509, CertTypeX509
	if ee.hasServerCertType {
		c.serverCertType = ee.serverCertType
	}
	if !slices.Contains(certTypesOrX509(cfg.ServerCertificateTypes), c.serverCertType) {
		if ee.hasServerCertType {
			return Alertf(AlertIllegalParameter, "server certificate type %d was not offered", c.serverCertType)
		}
		return Alertf(AlertUnsupportedCertificate, "server would send X.509, which we did not offer")
	}
	if ee.hasClientCertType {
		if !slices.Contains(certTypesOrX509(cfg.ClientCertificateTypes), ee.clientCertType) {
			return Alertf(AlertIllegalParameter, "client certificate type %d was not offered", ee.clientCertType)
		}
		c.clientCertType = ee.clientCertType
	}
	if ee.alpn != "" && !slices.Contains(cfg.NextProtos, ee.alpn) {
		return Alertf(AlertIllegalParameter, "server selected ALPN protocol %q that was not offered", ee.alpn)
	}
	c.alpn = ee.alpn
	st.hs.clientCertType, st.hs.serverCertType = c.clientCertType, c.serverCertType
	return hookError(st.hooks.ReadEncryptedExtensions(st.hs, ee.exts))
}

func (st *clientHandshakeState) readServerCertificate() error {
	c := st.c
	m, err := st.read(typeCertificateRequest, typeCertificate)
	if err != nil {
		return err
	}
	if cr, ok := m.(*certificateRequestMsg); ok {
		if len(cr.context) != 0 { // RFC 8446 §4.3.2
			return Alertf(AlertIllegalParameter, "handshake CertificateRequest with a non-empty context")
		}
		st.certReq = cr
		st.hs.peerRequestedCert = true
		if err := hookError(st.hooks.ReadCertificateRequest(st.hs, cr.exts)); err != nil {
			return err
		}
		if m, err = st.read(typeCertificate); err != nil {
			return err
		}
	}
	cm := m.(*certificateMsg)
	if len(cm.context) != 0 {
		return Alertf(AlertIllegalParameter, "server Certificate with a non-empty context")
	}
	if len(cm.entries) == 0 { // RFC 8446 §4.4.2.4
		return Alertf(AlertDecodeError, "server sent an empty Certificate")
	}
	pc, err := st.verifyPeerCertificate(cm, c.serverCertType, !c.config.InsecureSkipVerify)
	if err != nil {
		return err
	}
	c.peerCert = pc
	return st.readCertificateVerify(pc.PublicKey)
}

// sendClientCertificate answers a CertificateRequest (in the handshake,
// or after it with a fresh transcript).
func (st *handshakeState) sendClientCertificate(cr *certificateRequestMsg) error {
	cm, signer, err := st.makeCertificate(cr.context, st.c.clientCertType, cr.sigAlgs, certSchemesOf(cr.sigAlgs, cr.sigAlgsCert))
	if err != nil {
		return err
	}
	if _, err := st.send(cm); err != nil {
		return err
	}
	if signer != nil && len(cm.entries) > 0 {
		if err := st.c.flushBeforeCredential(); err != nil {
			return err
		}
		return st.sendCertificateVerify(signer, cr.sigAlgs)
	}
	return nil
}
