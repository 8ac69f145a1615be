package tls13

// Bugs makes the engine misbehave on purpose, so a conformance spec can
// drive a peer into each failure path (in the spirit of BoringSSL's
// ProtocolBugs). Every field's zero value is correct behaviour; each field
// names what it breaks on the wire.
type Bugs struct {
	// DropExtensions are left out of every message we send, including
	// extensions a hook added.
	DropExtensions []uint16
	// DuplicateExtensions are sent twice in every message that carries them.
	DuplicateExtensions []uint16
	// TruncateExtensions have the last byte of their body cut (a malformed
	// extension whose length fields no longer add up).
	TruncateExtensions []uint16
	// ExtraExtensions are appended, by handshake message type, to messages
	// we send: unsolicited or forbidden extensions. They are added after
	// the other extension bugs apply, so DropExtensions plus
	// ExtraExtensions replaces an extension with another body.
	ExtraExtensions map[uint8][]Extension
	// ExtraEntryExtensions are appended to the extensions of the
	// CertificateEntry at the given index (0 = leaf) of our Certificate.
	ExtraEntryExtensions map[int][]Extension

	// SkipMessages are handshake message types we do not send (for
	// example CertificateVerify), so the peer sees a message out of order.
	SkipMessages []uint8
	// DuplicateMessages are handshake message types we send twice.
	DuplicateMessages []uint8

	// CorruptCertificateVerify flips a bit of our CertificateVerify signature.
	CorruptCertificateVerify bool
	// CorruptFinished flips a bit of our Finished verify_data.
	CorruptFinished bool
	// CertificateVerifyScheme, if set, is announced in CertificateVerify
	// instead of the scheme actually used.
	CertificateVerifyScheme SignatureScheme

	// SendAlert, if set, replaces the alert code we send on a fatal error:
	// a peer that reports failures with the wrong alert.
	SendAlert AlertCode
	// NoAlert sends no alert at all on a fatal error; the connection is
	// just closed.
	NoAlert bool
	// ApplicationDataAfterAlert is sent as application data right after we
	// send a fatal alert: a fail-open peer, to check the other side drops it.
	ApplicationDataAfterAlert []byte
	// EarlyApplicationData is sent as application data in the middle of
	// our handshake: by a server right after its flight, before the
	// client's Finished arrived; by a client before its Finished.
	EarlyApplicationData []byte
	// ApplicationDataAfterAlertReceived is sent as application data as
	// soon as we receive a fatal alert, under whatever keys we write with:
	// the side that did not abort keeps trying, so a check that no data
	// crosses after a failure is not vacuous.
	ApplicationDataAfterAlertReceived []byte

	// SkipChangeCipherSpec leaves out the RFC 8446 D.4 change_cipher_spec
	// where compatibility mode sends it.
	SkipChangeCipherSpec bool
	// DuplicateChangeCipherSpec sends that change_cipher_spec twice.
	DuplicateChangeCipherSpec bool
	// ChangeCipherSpecValue, if set, is the byte it carries instead of 1.
	ChangeCipherSpecValue uint8
	// ProtectedChangeCipherSpec sends a change_cipher_spec under the
	// handshake keys, as the first record of our encrypted flight.
	ProtectedChangeCipherSpec bool
	// ChangeCipherSpecAfterFinished sends a change_cipher_spec in the clear
	// right after our Finished.
	ChangeCipherSpecAfterFinished bool

	// ServerCipherSuite, on a server, is selected whatever the client offered.
	ServerCipherSuite uint16
	// AlwaysHelloRetry, on a server, sends a HelloRetryRequest even when the
	// client's key share was acceptable (it asks for the same group).
	AlwaysHelloRetry bool
	// CertificateRequestContext, on a server, is sent in a handshake
	// CertificateRequest, where RFC 8446 says it must be empty.
	CertificateRequestContext []byte

	// RFC 9261 exported authenticators (Conn.AuthenticatorRequest and
	// Conn.Authenticator). These leave the handshake alone, and the
	// handshake's knobs above leave authenticators alone, except that
	// extension knobs keyed by CertificateRequest (13) or
	// ClientCertificateRequest (17) apply to authenticator requests.

	// WrongAuthenticatorContext puts in our authenticators' Certificate a
	// certificate_request_context other than the request's (its last byte
	// flipped, or a byte added to an empty one); signature and Finished
	// are computed over the wrong one, so only the context check fails.
	WrongAuthenticatorContext bool
	// ReuseAuthenticatorContext gives our authenticator requests and
	// spontaneous authenticators the context of our previous one, and
	// lets us answer a request whose context we already answered; RFC
	// 9261 §4 and §5.2.1 want every context unique within the connection.
	ReuseAuthenticatorContext bool
	// CorruptAuthenticatorSignature flips a bit of our authenticators'
	// CertificateVerify signature.
	CorruptAuthenticatorSignature bool
	// CorruptAuthenticatorFinished flips a bit of our authenticators'
	// Finished, an empty authenticator's included.
	CorruptAuthenticatorFinished bool
	// UnsolicitedAuthenticatorExtensions are added to the end-entity
	// CertificateEntry of our authenticators after the check that the
	// request (or, for a spontaneous one, the ClientHello) offered them
	// (RFC 9261 §5.2.1).
	UnsolicitedAuthenticatorExtensions []Extension
}

func containsUint8(list []uint8, v uint8) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func containsUint16(list []uint16, v uint16) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// applyExtensionBugs rewrites the extensions of an outgoing message of type msgType.
func (b *Bugs) applyExtensionBugs(msgType uint8, exts []Extension) []Extension {
	return append(b.mangle(exts), b.ExtraExtensions[msgType]...)
}

func (b *Bugs) mangle(exts []Extension) []Extension {
	if len(b.DropExtensions)+len(b.DuplicateExtensions)+len(b.TruncateExtensions) == 0 {
		return exts
	}
	var out []Extension
	for _, e := range exts {
		if containsUint16(b.DropExtensions, e.Type) {
			continue
		}
		if containsUint16(b.TruncateExtensions, e.Type) && len(e.Data) > 0 {
			e.Data = e.Data[:len(e.Data)-1]
		}
		out = append(out, e)
		if containsUint16(b.DuplicateExtensions, e.Type) {
			out = append(out, e)
		}
	}
	return out
}
