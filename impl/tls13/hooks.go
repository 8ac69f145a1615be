package tls13

import (
	"context"
	"crypto"
	"crypto/x509"
)

// Hooks extend the handshake with extensions, certificate types and
// credentials the engine does not know. Config.NewHooks makes one value per
// connection, so a Hooks value may keep that connection's state.
//
// A hook that returns an error aborts the handshake. If the error is (or
// wraps) an *AlertError, that alert is sent; otherwise internal_error.
// Extensions a hook returns that make a message unencodable (a body
// longer than its 2-byte length allows) also abort it with internal_error,
// and the error names the message.
// Embed NoHooks to implement only some methods. Declare the extensions the
// hooks define in Config.HookExtensions: the engine then refuses them in
// messages they are not defined for, so the Read hooks see only the ones
// in their place.
type Hooks interface {
	// WriteClientHello (client) returns extensions to add to a ClientHello;
	// called again for the second ClientHello after a HelloRetryRequest.
	WriteClientHello(hs *HookState) ([]Extension, error)
	// ReadClientHello (server) sees every extension of the ClientHello the
	// handshake proceeds with, before the server answers.
	ReadClientHello(hs *HookState, exts []Extension) error
	// WriteEncryptedExtensions (server) returns extensions to add to EncryptedExtensions.
	WriteEncryptedExtensions(hs *HookState) ([]Extension, error)
	// ReadEncryptedExtensions (client) sees every extension of
	// EncryptedExtensions; the engine has already rejected ones not offered.
	ReadEncryptedExtensions(hs *HookState, exts []Extension) error
	// WriteCertificateRequest (server) returns extensions to add to a CertificateRequest.
	WriteCertificateRequest(hs *HookState) ([]Extension, error)
	// ReadCertificateRequest (client) sees every extension of a CertificateRequest.
	ReadCertificateRequest(hs *HookState, exts []Extension) error
	// Credential (both) returns what to send in our Certificate message, or
	// nil to use Config.Certificates. It is called for the negotiated
	// certificate type (hs.CertificateType(true)); custom types must be
	// served here.
	Credential(hs *HookState) (*OutgoingCertificate, error)
	// VerifyPeerCertificate (both) is called with the peer's Certificate
	// before the engine's own checks. For X.509 and raw public keys the
	// engine then validates pc as usual unless the hook set pc.PublicKey;
	// for other types the hook must set it. pc.PublicKey verifies the
	// peer's CertificateVerify. An empty client Certificate also comes here.
	// hs.VerifyChain runs the engine's X.509 chain validation on demand.
	VerifyPeerCertificate(hs *HookState, pc *PeerCertificate) error
	// HandshakeDone (both) is called after the peer's Finished verified and
	// before our last flight (client) or before application data is
	// released (server); an error still aborts the handshake.
	HandshakeDone(hs *HookState) error
}

// NoHooks implements Hooks doing nothing; embed it.
type NoHooks struct{}

func (NoHooks) WriteClientHello(*HookState) ([]Extension, error)         { return nil, nil }
func (NoHooks) ReadClientHello(*HookState, []Extension) error            { return nil }
func (NoHooks) WriteEncryptedExtensions(*HookState) ([]Extension, error) { return nil, nil }
func (NoHooks) ReadEncryptedExtensions(*HookState, []Extension) error    { return nil }
func (NoHooks) WriteCertificateRequest(*HookState) ([]Extension, error)  { return nil, nil }
func (NoHooks) ReadCertificateRequest(*HookState, []Extension) error     { return nil }
func (NoHooks) Credential(*HookState) (*OutgoingCertificate, error)      { return nil, nil }
func (NoHooks) VerifyPeerCertificate(*HookState, *PeerCertificate) error { return nil }
func (NoHooks) HandshakeDone(*HookState) error                           { return nil }

// OutgoingCertificate is a hook's Certificate payload: the entries as they
// go on the wire and the key that signs CertificateVerify. A nil Signer
// with no entries sends an empty Certificate (a client declining).
type OutgoingCertificate struct {
	Entries []CertificateEntry
	Signer  crypto.Signer
}

// PeerCertificate is the peer's Certificate as received.
type PeerCertificate struct {
	Type    CertificateType
	Entries []CertificateEntry
	// Chain is the parsed X.509 chain once the engine verified it.
	Chain []*x509.Certificate
	// PublicKey verifies the peer's CertificateVerify. A hook that sets it
	// takes over validation of the certificate.
	PublicKey crypto.PublicKey
}

// HookState is a hook's view of the handshake in progress.
type HookState struct {
	ctx      context.Context
	isClient bool
	config   *Config
	suite    *cipherSuite
	// transcript is the running transcript hash; helloHash is
	// Transcript-Hash(ClientHello...ServerHello), handshakeSecret the
	// Handshake Secret, both set once ServerHello is processed.
	transcript      *transcriptHash
	helloHash       []byte
	handshakeSecret []byte

	clientCertType, serverCertType CertificateType
	helloRetried                   bool
	requestClientCert              bool
	sentCertificateRequest         bool
	peerRequestedCert              bool
	postHandshake                  bool
	serverName                     string
	// Values lets hooks that cooperate on one connection share state.
	Values map[string]any
}

// Context is the context of the handshake: hooks honour its deadline.
func (hs *HookState) Context() context.Context { return hs.ctx }

// IsClient reports which side the hook runs on.
func (hs *HookState) IsClient() bool { return hs.isClient }

// Config is the connection's configuration (do not modify it).
func (hs *HookState) Config() *Config { return hs.config }

// ServerName is the SNI name (sent, on a client; received, on a server).
func (hs *HookState) ServerName() string { return hs.serverName }

// CipherSuite is the negotiated suite, 0 before ServerHello.
func (hs *HookState) CipherSuite() uint16 {
	if hs.suite == nil {
		return 0
	}
	return hs.suite.id
}

// Hash is the negotiated suite's hash, 0 before ServerHello.
func (hs *HookState) Hash() crypto.Hash {
	if hs.suite == nil {
		return 0
	}
	return hs.suite.hash
}

// TranscriptHash is Transcript-Hash of every handshake message so far,
// nil before ServerHello (the hash is not yet known).
func (hs *HookState) TranscriptHash() []byte {
	if hs.transcript == nil || hs.suite == nil {
		return nil
	}
	return hs.transcript.sum()
}

// HelloTranscriptHash is Transcript-Hash(ClientHello...ServerHello), the
// checkpoint the attestation drafts bind to; nil before ServerHello.
func (hs *HookState) HelloTranscriptHash() []byte { return clone(hs.helloHash) }

// DeriveHandshakeSecret is Derive-Secret(Handshake Secret, label,
// ClientHello...ServerHello): further secrets of the key schedule at that
// checkpoint, such as draft-fossati-tls-attestation's "h exp master".
// Nil before ServerHello.
func (hs *HookState) DeriveHandshakeSecret(label string) []byte {
	if hs.handshakeSecret == nil {
		return nil
	}
	out := DeriveSecret(hs.suite.hash, hs.handshakeSecret, label, hs.helloHash)
	if t := hs.config.Trace; t != nil {
		t.Secret(label, out)
	}
	return out
}

// CertificateType is the negotiated certificate type of the client's
// (client=true) or the server's certificate.
func (hs *HookState) CertificateType(client bool) CertificateType {
	if client {
		return hs.clientCertType
	}
	return hs.serverCertType
}

// HelloRetried reports whether a HelloRetryRequest happened.
func (hs *HookState) HelloRetried() bool { return hs.helloRetried }

// RequestClientCertificate, called by a server hook before
// EncryptedExtensions is written, makes the server send a
// CertificateRequest whatever Config.ClientAuth says.
func (hs *HookState) RequestClientCertificate() { hs.requestClientCert = true }

// CertificateRequested reports whether a CertificateRequest was sent
// (server) or received (client) in this handshake.
func (hs *HookState) CertificateRequested() bool {
	return hs.sentCertificateRequest || hs.peerRequestedCert
}

// PostHandshake reports whether the hook runs for a post-handshake
// CertificateRequest (RFC 8446 §4.6.2).
func (hs *HookState) PostHandshake() bool { return hs.postHandshake }

// VerifyChain validates the peer's X.509 chain in pc as the engine does
// when Config asks it to (InsecureSkipVerify unset on a client,
// ClientAuth of VerifyClientCertIfGiven or more on a server), whatever
// Config says: a server's chain against RootCAs and ServerName, a
// client's against ClientCAs, at Config.Time, for the side's extended key
// usage, signed only with schemes advertised for certificates. Its error
// is the *AlertError the engine would send: unknown_ca, certificate_expired,
// unsupported_certificate, else bad_certificate. On success it sets
// pc.Chain and pc.PublicKey, so the engine does not validate the chain
// again. A VerifyPeerCertificate hook calls it to require a valid chain
// where the configuration would have the engine only parse one.
func (hs *HookState) VerifyChain(pc *PeerCertificate) error {
	if pc.Type != CertTypeX509 {
		return Alertf(AlertUnsupportedCertificate, "VerifyChain: certificate type %d is not X.509", pc.Type)
	}
	if len(pc.Entries) == 0 {
		return Alertf(AlertBadCertificate, "VerifyChain: no certificate")
	}
	chain, err := hs.config.verifyX509(pc.Entries, hs.isClient, true)
	if err != nil {
		return err
	}
	pc.Chain, pc.PublicKey = chain, chain[0].PublicKey
	return nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
