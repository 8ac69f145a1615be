package tls13

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"slices"
)

const (
	serverSignatureContext = "TLS 1.3, server CertificateVerify\x00"
	clientSignatureContext = "TLS 1.3, client CertificateVerify\x00"
)

// signedMessage is the content covered by CertificateVerify (RFC 8446 §4.4.3).
func signedMessage(context string, transcript []byte) []byte {
	m := bytes.Repeat([]byte{0x20}, 64)
	m = append(m, context...)
	return append(m, transcript...)
}

// SignedContent returns what CertificateVerify signs for a transcript
// hash, so tests and hooks can check a signature without the engine.
func SignedContent(server bool, transcriptHash []byte) []byte {
	if server {
		return signedMessage(serverSignatureContext, transcriptHash)
	}
	return signedMessage(clientSignatureContext, transcriptHash)
}

// schemeHash returns the hash a scheme signs with (0 for Ed25519, which
// signs the message itself) and whether the engine implements the scheme.
func schemeHash(s SignatureScheme) (crypto.Hash, bool) {
	switch s {
	case ECDSAWithP256AndSHA256, PSSWithSHA256:
		return crypto.SHA256, true
	case ECDSAWithP384AndSHA384, PSSWithSHA384:
		return crypto.SHA384, true
	case PSSWithSHA512:
		return crypto.SHA512, true
	case Ed25519:
		return 0, true
	}
	return 0, false
}

// schemeFits reports whether scheme s can be used with public key pub.
func schemeFits(s SignatureScheme, pub crypto.PublicKey) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return (s == ECDSAWithP256AndSHA256 && k.Curve == elliptic.P256()) ||
			(s == ECDSAWithP384AndSHA384 && k.Curve == elliptic.P384())
	case *rsa.PublicKey:
		// RSASSA-PSS with a salt as long as the hash needs an encoded
		// message of 2*hLen+2 bytes (RFC 8017 §9.1.1): a small key cannot
		// carry SHA-512.
		h, ok := schemeHash(s)
		if !ok || (s != PSSWithSHA256 && s != PSSWithSHA384 && s != PSSWithSHA512) {
			return false
		}
		return (k.N.BitLen()-1+7)/8 >= 2*h.Size()+2
	case ed25519.PublicKey:
		return s == Ed25519
	}
	return false
}

// chooseScheme picks our preferred scheme that the peer accepts and our key fits.
func chooseScheme(ours, peers []SignatureScheme, pub crypto.PublicKey) (SignatureScheme, error) {
	for _, s := range ours {
		if _, ok := schemeHash(s); !ok || !schemeFits(s, pub) {
			continue
		}
		for _, p := range peers {
			if p == s {
				return s, nil
			}
		}
	}
	return 0, Alertf(AlertHandshakeFailure, "no signature scheme shared with the peer fits our %T key", pub)
}

func signerOpts(s SignatureScheme) crypto.SignerOpts {
	h, _ := schemeHash(s)
	switch s {
	case PSSWithSHA256, PSSWithSHA384, PSSWithSHA512:
		return &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
	}
	return h
}

func digest(s SignatureScheme, msg []byte) []byte {
	h, _ := schemeHash(s)
	if h == 0 {
		return msg
	}
	d := h.New()
	d.Write(msg)
	return d.Sum(nil)
}

// signingRand is the randomness for a signature under scheme: none for
// ECDSA when DeterministicSignatures is set, so crypto/ecdsa signs per
// RFC 6979; RSA-PSS salts stay random.
func (c *Config) signingRand(scheme SignatureScheme) io.Reader {
	if c.DeterministicSignatures && scheme != PSSWithSHA256 && scheme != PSSWithSHA384 && scheme != PSSWithSHA512 {
		return nil
	}
	return c.rand()
}

func sign(signer crypto.Signer, rand io.Reader, s SignatureScheme, msg []byte) ([]byte, error) {
	return signer.Sign(rand, digest(s, msg), signerOpts(s))
}

// verifySignature checks sig over msg with pub under scheme s; any failure
// is decrypt_error (RFC 8446 §4.4.3), an unusable scheme illegal_parameter.
func verifySignature(pub crypto.PublicKey, s SignatureScheme, msg, sig []byte) error {
	if _, ok := schemeHash(s); !ok || !schemeFits(s, pub) {
		return Alertf(AlertIllegalParameter, "signature scheme %#04x does not fit the peer's %T key", uint16(s), pub)
	}
	var err error
	d := digest(s, msg)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, d, sig) {
			err = errors.New("ECDSA signature invalid")
		}
	case *rsa.PublicKey:
		err = rsa.VerifyPSS(k, signerOpts(s).HashFunc(), d, sig, signerOpts(s).(*rsa.PSSOptions))
	case ed25519.PublicKey:
		if !ed25519.Verify(k, d, sig) {
			err = errors.New("Ed25519 signature invalid")
		}
	default:
		err = fmt.Errorf("unsupported key type %T", pub)
	}
	if err != nil {
		return Alertf(AlertDecryptError, "CertificateVerify: %v", err)
	}
	return nil
}

// certSignatureScheme is the RFC 8446 §4.2.3 code point of the algorithm
// that signed a certificate, 0 if it has none. ECDSA maps by its hash
// alone: in a certificate the curve is the issuer's, and holding a P-384
// CA that signs with SHA-256 to "ecdsa_secp256r1_sha256" would reject
// chains no stack treats as unusual. RSA-PSS maps to the rsae code points:
// crypto/x509 parses only rsaEncryption issuer keys.
func certSignatureScheme(a x509.SignatureAlgorithm) SignatureScheme {
	switch a {
	case x509.SHA1WithRSA:
		return PKCS1WithSHA1
	case x509.SHA256WithRSA:
		return PKCS1WithSHA256
	case x509.SHA384WithRSA:
		return PKCS1WithSHA384
	case x509.SHA512WithRSA:
		return PKCS1WithSHA512
	case x509.ECDSAWithSHA1:
		return ECDSAWithSHA1
	case x509.ECDSAWithSHA256:
		return ECDSAWithP256AndSHA256
	case x509.ECDSAWithSHA384:
		return ECDSAWithP384AndSHA384
	case x509.ECDSAWithSHA512:
		return ECDSAWithP521AndSHA512
	case x509.SHA256WithRSAPSS:
		return PSSWithSHA256
	case x509.SHA384WithRSAPSS:
		return PSSWithSHA384
	case x509.SHA512WithRSAPSS:
		return PSSWithSHA512
	case x509.PureEd25519:
		return Ed25519
	}
	return 0
}

// unacceptableSignature returns the first certificate of chain signed with
// a scheme outside schemes, or nil. Self-signed certificates are skipped:
// RFC 8446 §4.4.2.2 lets them, and trust anchors, be signed with any
// algorithm, since they begin a certification path.
func unacceptableSignature(chain []*x509.Certificate, schemes []SignatureScheme) *x509.Certificate {
	for _, cert := range chain {
		s := certSignatureScheme(cert.SignatureAlgorithm)
		if s != 0 && slices.Contains(schemes, s) {
			continue
		}
		if bytes.Equal(cert.RawIssuer, cert.RawSubject) &&
			cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) == nil {
			continue
		}
		return cert
	}
	return nil
}

// chainSignedWith reports whether a DER chain of ours satisfies the peer's
// schemes; a chain we cannot parse does not.
func chainSignedWith(chain [][]byte, schemes []SignatureScheme) bool {
	certs := make([]*x509.Certificate, 0, len(chain))
	for _, der := range chain {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return false
		}
		certs = append(certs, cert)
	}
	return unacceptableSignature(certs, schemes) == nil
}
