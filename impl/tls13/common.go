package tls13

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

const (
	versionTLS12 uint16 = 0x0303
	versionTLS13 uint16 = 0x0304

	maxPlaintext       = 1 << 14
	maxCiphertext      = maxPlaintext + 256
	recordHeaderLen    = 5
	maxHandshakeLength = 1 << 18 // largest handshake message we accept; evidence can be large, 2^24 is not
)

// Record content types (RFC 8446 §5.1).
const (
	recordChangeCipherSpec uint8 = 20
	recordAlert            uint8 = 21
	recordHandshake        uint8 = 22
	recordApplicationData  uint8 = 23
)

// Handshake message types (RFC 8446 §4).
const (
	typeClientHello         uint8 = 1
	typeServerHello         uint8 = 2
	typeNewSessionTicket    uint8 = 4
	typeEndOfEarlyData      uint8 = 5
	typeEncryptedExtensions uint8 = 8
	typeCertificate         uint8 = 11
	typeCertificateRequest  uint8 = 13
	typeCertificateVerify   uint8 = 15
	typeFinished            uint8 = 20
	typeKeyUpdate           uint8 = 24
	typeMessageHash         uint8 = 254

	// RFC 9261 §4: a client's authenticator request. Never sent in the
	// handshake; it travels at the application layer.
	typeClientCertificateRequest uint8 = 17
)

// Handshake message types, exported for hooks, traces and Bugs.
const (
	MsgClientHello         = typeClientHello
	MsgServerHello         = typeServerHello
	MsgNewSessionTicket    = typeNewSessionTicket
	MsgEncryptedExtensions = typeEncryptedExtensions
	MsgCertificate         = typeCertificate
	MsgCertificateRequest  = typeCertificateRequest
	MsgCertificateVerify   = typeCertificateVerify
	MsgFinished            = typeFinished
	MsgKeyUpdate           = typeKeyUpdate

	MsgClientCertificateRequest = typeClientCertificateRequest
)

// Extension types the engine itself understands (IANA TLS ExtensionType).
const (
	extServerName          uint16 = 0
	extSupportedGroups     uint16 = 10
	extSignatureAlgorithms uint16 = 13
	extALPN                uint16 = 16
	extClientCertType      uint16 = 19
	extServerCertType      uint16 = 20
	extPreSharedKey        uint16 = 41
	extEarlyData           uint16 = 42
	extSupportedVersions   uint16 = 43
	extCookie              uint16 = 44
	extPSKModes            uint16 = 45
	extCertAuthorities     uint16 = 47
	extPostHandshakeAuth   uint16 = 49
	extSignatureAlgsCert   uint16 = 50
	extKeyShare            uint16 = 51
)

// Exported extension codepoints, for Bugs and hooks that target them.
const (
	ExtServerName          = extServerName
	ExtSupportedGroups     = extSupportedGroups
	ExtSignatureAlgorithms = extSignatureAlgorithms
	ExtALPN                = extALPN
	ExtClientCertType      = extClientCertType
	ExtServerCertType      = extServerCertType
	ExtSupportedVersions   = extSupportedVersions
	ExtCookie              = extCookie
	ExtPSKModes            = extPSKModes
	ExtPostHandshakeAuth   = extPostHandshakeAuth
	ExtKeyShare            = extKeyShare
	ExtSignatureAlgsCert   = extSignatureAlgsCert
)

// CertificateType is an RFC 7250 certificate type. Types other than X509 and
// RawPublicKey are opaque to the engine: hooks produce and verify them.
type CertificateType uint8

const (
	CertTypeX509         CertificateType = 0
	CertTypeRawPublicKey CertificateType = 2
)

// CurveID names a key exchange group (IANA TLS Supported Groups).
type CurveID uint16

const (
	X25519         CurveID = 0x001d
	CurveP256      CurveID = 0x0017
	CurveP384      CurveID = 0x0018
	X25519MLKEM768 CurveID = 0x11ec
)

// SignatureScheme is an RFC 8446 §4.2.3 signature scheme.
type SignatureScheme uint16

const (
	ECDSAWithP256AndSHA256 SignatureScheme = 0x0403
	ECDSAWithP384AndSHA384 SignatureScheme = 0x0503
	PSSWithSHA256          SignatureScheme = 0x0804
	PSSWithSHA384          SignatureScheme = 0x0805
	PSSWithSHA512          SignatureScheme = 0x0806
	Ed25519                SignatureScheme = 0x0807

	// Only for signatures in certificates (signature_algorithms_cert);
	// the engine never signs or verifies CertificateVerify with them.
	PKCS1WithSHA1          SignatureScheme = 0x0201
	PKCS1WithSHA256        SignatureScheme = 0x0401
	PKCS1WithSHA384        SignatureScheme = 0x0501
	PKCS1WithSHA512        SignatureScheme = 0x0601
	ECDSAWithSHA1          SignatureScheme = 0x0203
	ECDSAWithP521AndSHA512 SignatureScheme = 0x0603
)

// Cipher suites (RFC 8446 §B.4).
const (
	TLS_AES_128_GCM_SHA256       uint16 = 0x1301
	TLS_AES_256_GCM_SHA384       uint16 = 0x1302
	TLS_CHACHA20_POLY1305_SHA256 uint16 = 0x1303
)

type cipherSuite struct {
	id     uint16
	keyLen int
	hash   crypto.Hash
	aead   func(key []byte) (cipher.AEAD, error)
}

func aeadAESGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

var cipherSuites = []*cipherSuite{
	{TLS_AES_128_GCM_SHA256, 16, crypto.SHA256, aeadAESGCM},
	{TLS_AES_256_GCM_SHA384, 32, crypto.SHA384, aeadAESGCM},
	{TLS_CHACHA20_POLY1305_SHA256, 32, crypto.SHA256, chacha20poly1305.New},
}

// The hashes are linked here so crypto.Hash.New works without callers
// importing them.
var _ = sha256.New
var _ = sha512.New

func cipherSuiteByID(id uint16) *cipherSuite {
	for _, s := range cipherSuites {
		if s.id == id {
			return s
		}
	}
	return nil
}

// CipherSuiteHash is the hash of a TLS 1.3 cipher suite (0 for another).
func CipherSuiteHash(id uint16) crypto.Hash {
	if s := cipherSuiteByID(id); s != nil {
		return s.hash
	}
	return 0
}

// CipherSuiteName returns the RFC name of a TLS 1.3 cipher suite.
func CipherSuiteName(id uint16) string {
	switch id {
	case TLS_AES_128_GCM_SHA256:
		return "TLS_AES_128_GCM_SHA256"
	case TLS_AES_256_GCM_SHA384:
		return "TLS_AES_256_GCM_SHA384"
	case TLS_CHACHA20_POLY1305_SHA256:
		return "TLS_CHACHA20_POLY1305_SHA256"
	}
	return fmt.Sprintf("0x%04x", id)
}

// Extension is one extension as it is on the wire. Hooks add and read them.
type Extension struct {
	Type uint16
	Data []byte
}

// CertificateEntry is one entry of a Certificate message (RFC 8446 §4.4.2):
// cert_data is an X.509 certificate, a SubjectPublicKeyInfo or whatever a
// hook-defined certificate type carries.
type CertificateEntry struct {
	Data       []byte
	Extensions []Extension
}

// Extension returns the data of the first extension of type t in exts.
func FindExtension(exts []Extension, t uint16) ([]byte, bool) {
	for _, e := range exts {
		if e.Type == t {
			return e.Data, true
		}
	}
	return nil, false
}
