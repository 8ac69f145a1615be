package parsectpm

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/attested-tls/conformance/impl/attest"
)

// Endorsement is what a verifier knows about one attester: its attestation
// key, and the PCR values a trustworthy boot produces.
type Endorsement struct {
	// KeyID is the kid the attester's tokens carry (a UEID).
	KeyID []byte
	// AttestationKey verifies the KAT and PAT signatures (ECDSA P-256).
	AttestationKey *ecdsa.PublicKey
	// PCRSelection is the selection the quote must cover, exactly.
	PCRSelection PCRSelection
	// ReferencePCRs holds the expected value of every selected PCR.
	ReferencePCRs map[int][]byte
	// MediaType is the evidence format endorsed, "" for this package's.
	// Formats with no TPM (package psa) reuse the shape so that every
	// fixture, peer file and provisioning path carries them unchanged:
	// KeyID is the instance identity, AttestationKey the key that signs
	// the evidence, PCRSelection.PCRs the indices of the measured
	// components and ReferencePCRs their reference measurements.
	MediaType string
	// Activation, for evidence whose key credential activation showed
	// to be in a TPM (package parsecac), replaces AttestationKey and the
	// PCRs: such evidence is signed by the key itself and quotes none.
	Activation *Activation
}

// Activation records the TPM2_ActivateCredential a verifier saw succeed
// for an attester: the TPM holding the private half of EK had keys of
// these names loaded.
type Activation struct {
	// EK is the endorsement key as the attester exports it (PKCS#1 DER
	// for RSA).
	EK []byte
	// Names are the activated keys' TPM names (nameAlg ‖ digest).
	Names [][]byte
}

// Format is the evidence media type e endorses.
func (e Endorsement) Format() string {
	if e.MediaType == "" {
		return MediaType
	}
	return e.MediaType
}

// Validate checks the endorsement is usable.
func (e Endorsement) Validate() error {
	if err := validUEID(e.KeyID); err != nil {
		return fmt.Errorf("parsectpm: endorsement kid: %w", err)
	}
	if a := e.Activation; a != nil {
		if len(a.EK) == 0 || len(a.Names) == 0 || slices.ContainsFunc(a.Names, func(n []byte) bool { return len(n) < 2 }) {
			return fmt.Errorf("parsectpm: endorsement's activation names no EK or key")
		}
		return nil
	}
	if e.AttestationKey == nil || e.AttestationKey.Curve != elliptic.P256() {
		return fmt.Errorf("parsectpm: endorsement needs an ECDSA P-256 attestation key")
	}
	if len(e.PCRSelection.PCRs) == 0 {
		return fmt.Errorf("parsectpm: endorsement selects no PCRs")
	}
	if _, err := e.PCRSelection.TPMLPCRSelection(); err != nil {
		return fmt.Errorf("parsectpm: endorsement: %w", err)
	}
	if _, err := e.PCRSelection.Digest(e.ReferencePCRs); err != nil {
		return fmt.Errorf("parsectpm: endorsement: %w", err)
	}
	return nil
}

// Verify performs every relying-party check on the evidence: it is signed by
// the endorsed attestation key, TPM-generated, bound to
// expectedQualifyingData, certifies a TPM-resident key (the expected TIK
// when one is given), and quotes the endorsed PCR values. A failed check
// returns *attest.Rejection with the reason constant for that check; an
// unusable endorsement returns a plain error.
func Verify(ev *Evidence, e Endorsement, expectedQualifyingData []byte, expectedTIK crypto.PublicKey) error {
	if err := e.Validate(); err != nil {
		return err
	}
	if err := ev.Validate(); err != nil {
		return err
	}
	kat, pat := ev.KAT, ev.PAT

	if !bytes.Equal(kat.KID, e.KeyID) || !bytes.Equal(pat.KID, e.KeyID) {
		return attest.Reject(ReasonKIDMismatch, "kat kid %x, pat kid %x, endorsed %x", kat.KID, pat.KID, e.KeyID)
	}

	// Authenticity first: nothing else in a token means anything until the
	// endorsed key is shown to have signed it.
	if err := verifySig(e.AttestationKey, kat.CertInfo, kat.Sig, "kat", ReasonKATSignature); err != nil {
		return err
	}
	if err := verifySig(e.AttestationKey, pat.AttestInfo, pat.Sig, "pat", ReasonPATSignature); err != nil {
		return err
	}

	certInfo, err := parseAttest(kat.CertInfo, "kat.certInfo", STAttestCertify)
	if err != nil {
		return err
	}
	quote, err := parseAttest(pat.AttestInfo, "pat.attestInfo", STAttestQuote)
	if err != nil {
		return err
	}

	if !bytes.Equal(certInfo.ExtraData, expectedQualifyingData) {
		return attest.Reject(ReasonQualifyingData, "kat extraData %x, want %x", certInfo.ExtraData, expectedQualifyingData)
	}
	if !bytes.Equal(quote.ExtraData, expectedQualifyingData) {
		return attest.Reject(ReasonQualifyingData, "pat extraData %x, want %x", quote.ExtraData, expectedQualifyingData)
	}

	if _, err := checkCertifiedKey(kat, certInfo, expectedTIK); err != nil {
		return err
	}
	return checkQuote(quote, e)
}

func verifySig(ak *ecdsa.PublicKey, signed, rawSig []byte, which string, bad attest.Reason) error {
	sig, err := ParseSignature(rawSig)
	if err != nil {
		return attest.Reject(ReasonMalformed, "%s.sig: %v", which, err)
	}
	if sig.Alg != AlgECDSA {
		return attest.Reject(ReasonSignatureScheme, "%s.sig algorithm %#x, want ECDSA", which, sig.Alg)
	}
	if sig.Hash != AlgSHA256 {
		return attest.Reject(ReasonSignatureScheme, "%s.sig hash %#x, want SHA-256", which, sig.Hash)
	}
	digest := sha256.Sum256(signed)
	r := new(big.Int).SetBytes(sig.R)
	s := new(big.Int).SetBytes(sig.S)
	if !ecdsa.Verify(ak, digest[:], r, s) {
		return attest.Reject(bad, "%s signature does not verify with the endorsed attestation key", which)
	}
	return nil
}

// parseAttest checks the magic and type before parsing: "not
// TPM-generated" and "not the expected kind of token" deserve their own
// reasons.
func parseAttest(raw []byte, which string, want uint16) (*Attest, error) {
	if len(raw) < 4 {
		return nil, attest.Reject(ReasonMalformed, "%s: %d bytes", which, len(raw))
	}
	if m := binary.BigEndian.Uint32(raw); m != GeneratedValue {
		return nil, attest.Reject(ReasonBadMagic, "%s magic %#x", which, m)
	}
	if len(raw) >= 6 {
		if t := binary.BigEndian.Uint16(raw[4:]); t != want {
			return nil, attest.Reject(ReasonBadType, "%s type %#x, want %#x", which, t, want)
		}
	}
	a, err := ParseAttest(raw)
	if err != nil {
		return nil, attest.Reject(ReasonMalformed, "%s: %v", which, err)
	}
	return a, nil
}

func checkCertifiedKey(kat *KAT, certInfo *Attest, expectedTIK crypto.PublicKey) (*ecdsa.PublicKey, error) {
	// A key of another type parses no further but is named: its Name is
	// checked first, its type after.
	pub, perr := ParsePublic(kat.PubArea)
	if perr != nil && !errors.Is(perr, ErrNotECC) {
		return nil, attest.Reject(ReasonMalformed, "kat.pubArea: %v", perr)
	}
	name, err := Name(kat.PubArea)
	if err != nil {
		return nil, attest.Reject(ReasonCertifiedName, "kat.pubArea nameAlg: %v", err)
	}
	if !bytes.Equal(certInfo.Certify.Name, name) {
		return nil, attest.Reject(ReasonCertifiedName, "certified name %x, pubArea name %x", certInfo.Certify.Name, name)
	}
	key, err := certifiedKey(pub, perr)
	if err != nil {
		return nil, err
	}
	if pub.Attributes&AttrFixedTPM == 0 {
		return nil, attest.Reject(ReasonNotFixedTPM, "certified key may leave the TPM")
	}
	if pub.Attributes&AttrSensitiveDataOrigin == 0 {
		return nil, attest.Reject(ReasonNotSensitiveDataOrigin, "certified key was not generated by the TPM")
	}
	if expectedTIK != nil {
		eq, ok := expectedTIK.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !eq.Equal(key) {
			return nil, attest.Reject(ReasonTIKMismatch, "certified key is not the TLS identity key")
		}
	}
	return key, nil
}

// certifiedKey is the certified ECC key (veraison/parsec accepts only
// ECC), its point checked to be on its curve, from ParsePublic's result.
func certifiedKey(pub *Public, err error) (*ecdsa.PublicKey, error) {
	if errors.Is(err, ErrNotECC) {
		return nil, attest.Reject(ReasonKeyType, "certified key: %v", err)
	}
	if err != nil {
		return nil, attest.Reject(ReasonMalformed, "kat.pubArea: %v", err)
	}
	key, err := pub.Key()
	if err != nil {
		return nil, attest.Reject(ReasonKeyType, "certified key: %v", err)
	}
	return key, nil
}

// PublicKey returns the key the KAT certifies (the TIK), without verifying
// anything: call Verify first.
func (ev *Evidence) PublicKey() (*ecdsa.PublicKey, error) {
	if ev == nil || ev.KAT == nil {
		return nil, attest.Reject(ReasonMalformed, "missing kat")
	}
	return certifiedKey(ParsePublic(ev.KAT.PubArea))
}

func checkQuote(a *Attest, e Endorsement) error {
	q := a.Quote
	sel, err := selectionOf(q.PCRSelect)
	if err != nil {
		return attest.Reject(ReasonPCRSelection, "%v", err)
	}
	want := e.PCRSelection
	if sel.Hash != want.Hash || !slices.Equal(sel.PCRs, sortedUnique(want.PCRs)) {
		return attest.Reject(ReasonPCRSelection, "quoted %v PCRs %v, endorsed %v PCRs %v", sel.Hash, sel.PCRs, want.Hash, sortedUnique(want.PCRs))
	}
	digest, err := want.Digest(e.ReferencePCRs)
	if err != nil {
		return fmt.Errorf("parsectpm: endorsement: %w", err)
	}
	if !bytes.Equal(q.PCRDigest, digest) {
		return attest.Reject(ReasonPCRDigest, "pcrDigest %x, reference %x", q.PCRDigest, digest)
	}
	return nil
}
