package tpm

import (
	"context"
	"crypto"
	"crypto/sha256"
	"fmt"
	"io"
	"math/big"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// signer is the TLS identity key as a crypto.Signer: the private key never
// leaves the TPM, each signature is a TPM2_Sign.
type signer struct{ a *Attester }

var _ crypto.Signer = (*signer)(nil)

// Public returns the identity key's *ecdsa.PublicKey.
func (s *signer) Public() crypto.PublicKey { return s.a.tikPub }

// Sign signs a SHA-256 digest (the key's scheme is ECDSA/SHA-256, which is
// all TLS 1.3 pairs with P-256) and returns an ASN.1 DER ECDSA signature,
// within Config.Timeout. rand is unused: the TPM draws its own nonce.
func (s *signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.a.timeout)
	defer cancel()
	return s.a.sign(ctx, digest, opts)
}

func (a *Attester) sign(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil || opts.HashFunc() != crypto.SHA256 {
		return nil, fmt.Errorf("tpm: identity key signs SHA-256 digests only, not %v", opts)
	}
	if len(digest) != sha256.Size {
		return nil, fmt.Errorf("tpm: digest is %d bytes, want %d", len(digest), sha256.Size)
	}
	var sig *tpm2.TPMTSignature
	err := a.l.with(ctx, func(s *session) error {
		h, err := s.load(a.tik)
		if err != nil {
			return err
		}
		rsp, err := run(s, "TPM2_Sign", func(t transport.TPM) (*tpm2.SignResponse, error) {
			return tpm2.Sign{
				KeyHandle: tpm2.AuthHandle{Handle: h, Name: a.tik.name, Auth: tpm2.PasswordAuth(nil)},
				Digest:    tpm2.TPM2BDigest{Buffer: digest},
				InScheme: tpm2.TPMTSigScheme{
					Scheme:  tpm2.TPMAlgECDSA,
					Details: tpm2.NewTPMUSigScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSchemeHash{HashAlg: tpm2.TPMAlgSHA256}),
				},
				// A null ticket: the digest was not hashed by the TPM,
				// which a non-restricted key allows.
				Validation: tpm2.TPMTTKHashCheck{Tag: tpm2.TPMSTHashCheck, Hierarchy: tpm2.TPMRHNull},
			}.Execute(t)
		})
		if err != nil {
			return err
		}
		sig = &rsp.Signature
		return nil
	})
	if err != nil {
		return nil, err
	}
	ecc, err := sig.Signature.ECDSA()
	if err != nil {
		return nil, fmt.Errorf("TPM2_Sign: %w", err)
	}
	return derSignature(ecc.SignatureR.Buffer, ecc.SignatureS.Buffer)
}

// derSignature encodes r and s as the ECDSA-Sig-Value crypto.Signer
// returns (RFC 3279 §2.2.3).
func derSignature(r, s []byte) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(new(big.Int).SetBytes(r))
		b.AddASN1BigInt(new(big.Int).SetBytes(s))
	})
	return b.Bytes()
}
