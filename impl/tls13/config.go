package tls13

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"io"
	"maps"
	"slices"
	"time"
)

// ClientAuthType says whether a server requests a client certificate and
// whether it must be valid.
type ClientAuthType int

const (
	NoClientCert ClientAuthType = iota
	RequestClientCert
	RequireAnyClientCert
	VerifyClientCertIfGiven
	RequireAndVerifyClientCert
)

// Credential is what one side authenticates with: a certificate chain
// (leaf first, DER) and the key that signs CertificateVerify. The key is a
// crypto.Signer so it may live in a TPM. For raw public keys (RFC 7250) the
// chain may be empty: the engine sends the SubjectPublicKeyInfo of
// Signer.Public().
type Credential struct {
	Chain  [][]byte
	Signer crypto.Signer
}

// Config configures a client or a server. The zero value is usable for a
// client that sets ServerName and RootCAs (or InsecureSkipVerify).
type Config struct {
	// Rand supplies client/server randoms, session IDs and, unless
	// KeySharePrivate says otherwise, key share private keys. Set it (with
	// KeySharePrivate) for deterministic runs. Nil means crypto/rand.
	Rand io.Reader
	// KeySharePrivate, if set, returns the private key bytes for a group's
	// key share (32 bytes for X25519, the scalar for NIST curves); nil bytes
	// fall back to Rand. It makes key shares reproducible for test vectors.
	KeySharePrivate func(group CurveID) []byte
	// DeterministicSignatures makes ECDSA CertificateVerify signatures
	// follow RFC 6979 (the signer gets a nil random source), so runs with
	// injected randomness reproduce byte for byte. Ed25519 is always
	// deterministic; RSA-PSS salts stay random.
	DeterministicSignatures bool
	// Time returns the current time for certificate validation. Nil means time.Now.
	Time func() time.Time
	// FlushBeforeCredential sends the flight so far before building the
	// Certificate and again before signing CertificateVerify, so the peer
	// derives keys and checks the certificate (and any evidence in it)
	// while a slow credential, such as a TPM quoting and signing, works.
	// It costs up to two more records per flight; the bytes are the same.
	// Off by default: a peer that aborts on the Certificate then closes
	// with the rest of the flight unread, and its reset can overtake the
	// alert it sent, so the alert a test waits for may never be seen.
	FlushBeforeCredential bool

	CipherSuites []uint16 // in preference order; nil means all three
	// Groups are the supported groups in preference order (the client
	// advertises them all; values the engine cannot compute may be listed to
	// mimic another stack). Nil means X25519, P-256, P-384, X25519MLKEM768.
	Groups []CurveID
	// KeyShareGroups are the groups a client sends key shares for in its
	// first ClientHello. Nil means the first of Groups.
	KeyShareGroups []CurveID
	// SignatureSchemes are advertised and accepted, in preference order.
	// Nil means the schemes the engine implements.
	SignatureSchemes []SignatureScheme
	// SignatureSchemesCert, if set, is sent as signature_algorithms_cert
	// (RFC 8446 §4.2.3): the schemes accepted for the signatures inside the
	// peer's certificate chain, which may include schemes valid only there
	// (PKCS1WithSHA256 and the like). Nil omits the extension, and then
	// SignatureSchemes applies to the chain too, as §4.2.3 says. A chain
	// outside the list is refused with unsupported_certificate where the
	// engine verifies chains (not with InsecureSkipVerify, nor for client
	// certificates ClientAuth does not verify, nor when a hook verifies).
	SignatureSchemesCert []SignatureScheme
	// CompatibilityMode is RFC 8446 Appendix D.4 middlebox compatibility
	// mode. A client sends a random 32-byte legacy_session_id and a dummy
	// change_cipher_spec right before its second flight. A server sends its
	// change_cipher_spec after its first handshake message whenever the
	// client's legacy_session_id is non-empty (D.4: "the server MUST"), so
	// there the option only adds one for clients that did not ask, which
	// D.4 allows ("Either side can send change_cipher_spec at any time").
	// Off by default: it changes the ClientHello and the records of
	// deterministic runs and the RFC 8448 traces.
	CompatibilityMode bool

	Certificates []Credential // the first one whose key suits the peer is used
	ServerName   string
	NextProtos   []string

	RootCAs              *x509.CertPool
	ClientCAs            *x509.CertPool
	InsecureSkipVerify   bool
	TrustedRawPublicKeys []crypto.PublicKey // accepted peer raw public keys (RFC 7250)
	ClientAuth           ClientAuthType
	// PostHandshakeAuth makes a client offer post_handshake_auth and answer
	// a CertificateRequest after the handshake (RFC 8446 §4.6.2).
	PostHandshakeAuth bool

	// ClientCertificateTypes and ServerCertificateTypes are RFC 7250
	// certificate types in preference order. On a client, Client… are the
	// types it can send and Server… the types it accepts; on a server, the
	// other way round. Nil means X.509 only, and the extension is omitted.
	ClientCertificateTypes []CertificateType
	ServerCertificateTypes []CertificateType

	// NewHooks returns the extension hooks for one connection; nil means none.
	NewHooks func() Hooks
	// HookExtensions declares the extensions the hooks define and where
	// each may appear. One received anywhere else aborts the handshake with
	// illegal_parameter (RFC 8446 §4.2: an extension "which it recognizes
	// and which is not specified for the message in which it appears"),
	// before the engine's other checks and the hooks see the message, so a
	// misplaced extension is never mistaken for an unsolicited one. List
	// only types the engine does not itself define.
	HookExtensions map[uint16]ExtensionContext

	// HelloRetryCookie, on a server, is sent in every HelloRetryRequest and
	// must come back in the second ClientHello (RFC 8446 §4.2.2).
	HelloRetryCookie []byte
	// ExtensionOrder fixes the order of extensions in the messages we send,
	// by message type: listed types come first in the listed order, the
	// rest follow in the engine's order. It lets deterministic runs mimic
	// another stack's ClientHello byte for byte.
	ExtensionOrder map[uint8][]uint16

	// AlertNames names alert codes defined outside RFC 8446 (by an
	// attestation draft's codepoint table) for this connection's errors:
	// two connections with different tables each name their own codes.
	AlertNames map[AlertCode]string

	// Bugs makes the engine misbehave for negative tests. Zero value: none.
	Bugs Bugs
	// KeyLogWriter receives NSS key log lines (SSLKEYLOGFILE format).
	KeyLogWriter io.Writer
	// Trace receives every handshake message, record and secret.
	Trace Trace
}

var defaultCipherSuites = []uint16{TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256}
var defaultGroups = []CurveID{X25519, CurveP256, CurveP384, X25519MLKEM768}
var defaultSignatureSchemes = []SignatureScheme{
	ECDSAWithP256AndSHA256, ECDSAWithP384AndSHA384, Ed25519, PSSWithSHA256, PSSWithSHA384, PSSWithSHA512,
}

// NameAlerts adds names to AlertNames (a map of c's own: configure a
// clone, not a config other connections use).
func (c *Config) NameAlerts(names map[AlertCode]string) {
	if c.AlertNames == nil {
		c.AlertNames = make(map[AlertCode]string, len(names))
	}
	maps.Copy(c.AlertNames, names)
}

// alertName is code's name on connections of c.
func (c *Config) alertName(code AlertCode) string {
	if n, ok := c.AlertNames[code]; ok {
		return n
	}
	return code.String()
}

func (c *Config) rand() io.Reader {
	if c.Rand != nil {
		return c.Rand
	}
	return rand.Reader
}

func (c *Config) now() time.Time {
	if c.Time != nil {
		return c.Time()
	}
	return time.Now()
}

func (c *Config) cipherSuites() []uint16 {
	if c.CipherSuites != nil {
		return c.CipherSuites
	}
	return defaultCipherSuites
}

func (c *Config) groups() []CurveID {
	if c.Groups != nil {
		return c.Groups
	}
	return defaultGroups
}

func (c *Config) keyShareGroups() []CurveID {
	if c.KeyShareGroups != nil {
		return c.KeyShareGroups
	}
	return c.groups()[:1]
}

func (c *Config) signatureSchemes() []SignatureScheme {
	if c.SignatureSchemes != nil {
		return c.SignatureSchemes
	}
	return defaultSignatureSchemes
}

// signatureAlgorithmsExtensions are signature_algorithms and, if
// configured, signature_algorithms_cert, for a ClientHello or a
// CertificateRequest.
func (c *Config) signatureAlgorithmsExtensions() ([]Extension, error) {
	data, err := encodeSchemes(c.signatureSchemes())
	if err != nil {
		return nil, extensionError(extSignatureAlgorithms, err)
	}
	exts := []Extension{{extSignatureAlgorithms, data}}
	if c.SignatureSchemesCert != nil {
		data, err := encodeSchemes(c.SignatureSchemesCert)
		if err != nil {
			return nil, extensionError(extSignatureAlgsCert, err)
		}
		exts = append(exts, Extension{extSignatureAlgsCert, data})
	}
	return exts, nil
}

// certSignatureSchemes are the schemes we accept in the peer's chain.
func (c *Config) certSignatureSchemes() []SignatureScheme {
	return certSchemesOf(c.signatureSchemes(), c.SignatureSchemesCert)
}

// certSchemesOf is what applies to a chain when signature_algorithms
// carried sigAlgs and signature_algorithms_cert sigAlgsCert (nil if absent).
func certSchemesOf(sigAlgs, sigAlgsCert []SignatureScheme) []SignatureScheme {
	if sigAlgsCert != nil {
		return sigAlgsCert
	}
	return sigAlgs
}

func certTypesOrX509(t []CertificateType) []CertificateType {
	if len(t) == 0 {
		return []CertificateType{CertTypeX509}
	}
	return t
}

// Clone returns a copy of c whose slices and maps, Bugs' included, are its
// own, so that a profile configuring a connection from a base config
// changes nothing another connection uses. Credentials' chains, pools,
// keys, hooks and writers are shared: nothing changes them once set.
func (c *Config) Clone() *Config {
	n := *c
	n.CipherSuites = slices.Clone(c.CipherSuites)
	n.Groups = slices.Clone(c.Groups)
	n.KeyShareGroups = slices.Clone(c.KeyShareGroups)
	n.SignatureSchemes = slices.Clone(c.SignatureSchemes)
	n.SignatureSchemesCert = slices.Clone(c.SignatureSchemesCert)
	n.Certificates = slices.Clone(c.Certificates)
	n.NextProtos = slices.Clone(c.NextProtos)
	n.TrustedRawPublicKeys = slices.Clone(c.TrustedRawPublicKeys)
	n.ClientCertificateTypes = slices.Clone(c.ClientCertificateTypes)
	n.ServerCertificateTypes = slices.Clone(c.ServerCertificateTypes)
	n.HookExtensions = maps.Clone(c.HookExtensions)
	n.AlertNames = maps.Clone(c.AlertNames)
	n.HelloRetryCookie = slices.Clone(c.HelloRetryCookie)
	n.ExtensionOrder = cloneListMap(c.ExtensionOrder)
	n.Bugs = c.Bugs.clone()
	return &n
}

func (b Bugs) clone() Bugs {
	b.DropExtensions = slices.Clone(b.DropExtensions)
	b.DuplicateExtensions = slices.Clone(b.DuplicateExtensions)
	b.TruncateExtensions = slices.Clone(b.TruncateExtensions)
	b.ExtraExtensions = cloneListMap(b.ExtraExtensions)
	b.ExtraEntryExtensions = cloneListMap(b.ExtraEntryExtensions)
	b.SkipMessages = slices.Clone(b.SkipMessages)
	b.DuplicateMessages = slices.Clone(b.DuplicateMessages)
	b.ApplicationDataAfterAlert = slices.Clone(b.ApplicationDataAfterAlert)
	b.EarlyApplicationData = slices.Clone(b.EarlyApplicationData)
	b.ApplicationDataAfterAlertReceived = slices.Clone(b.ApplicationDataAfterAlertReceived)
	b.CertificateRequestContext = slices.Clone(b.CertificateRequestContext)
	b.UnsolicitedAuthenticatorExtensions = slices.Clone(b.UnsolicitedAuthenticatorExtensions)
	return b
}

// cloneListMap copies a map of lists, each list too.
func cloneListMap[K comparable, V any](m map[K][]V) map[K][]V {
	if m == nil {
		return nil
	}
	out := make(map[K][]V, len(m))
	for k, v := range m {
		out[k] = slices.Clone(v)
	}
	return out
}
