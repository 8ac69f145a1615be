package parsectpm

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/big"
	"slices"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/google/go-tpm/tpm2"
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
}

// Validate checks the endorsement is usable.
func (e Endorsement) Validate() error {
	if err := validUEID(e.KeyID); err != nil {
		return fmt.Errorf("parsectpm: endorsement kid: %w", err)
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
	if err := ev.validate(); err != nil {
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

	certInfo, err := parseAttest(kat.CertInfo, "kat.certInfo", tpm2.TPMSTAttestCertify)
	if err != nil {
		return err
	}
	quote, err := parseAttest(pat.AttestInfo, "pat.attestInfo", tpm2.TPMSTAttestQuote)
	if err != nil {
		return err
	}

	if !bytes.Equal(certInfo.ExtraData.Buffer, expectedQualifyingData) {
		return attest.Reject(ReasonQualifyingData, "kat extraData %x, want %x", certInfo.ExtraData.Buffer, expectedQualifyingData)
	}
	if !bytes.Equal(quote.ExtraData.Buffer, expectedQualifyingData) {
		return attest.Reject(ReasonQualifyingData, "pat extraData %x, want %x", quote.ExtraData.Buffer, expectedQualifyingData)
	}

	if err := checkCertifiedKey(kat, certInfo, expectedTIK); err != nil {
		return err
	}
	return checkQuote(quote, e)
}

func verifySig(ak *ecdsa.PublicKey, signed, rawSig []byte, which string, bad attest.Reason) error {
	sig, err := ParseSignature(rawSig)
	if err != nil {
		return attest.Reject(ReasonMalformed, "%s.sig: %v", which, err)
	}
	if sig.SigAlg != tpm2.TPMAlgECDSA {
		return attest.Reject(ReasonSignatureScheme, "%s.sig algorithm %v, want ECDSA", which, sig.SigAlg)
	}
	ecc, err := sig.Signature.ECDSA()
	if err != nil {
		return attest.Reject(ReasonMalformed, "%s.sig: %v", which, err)
	}
	if ecc.Hash != tpm2.TPMAlgSHA256 {
		return attest.Reject(ReasonSignatureScheme, "%s.sig hash %v, want SHA-256", which, ecc.Hash)
	}
	digest := sha256.Sum256(signed)
	r := new(big.Int).SetBytes(ecc.SignatureR.Buffer)
	s := new(big.Int).SetBytes(ecc.SignatureS.Buffer)
	if !ecdsa.Verify(ak, digest[:], r, s) {
		return attest.Reject(bad, "%s signature does not verify with the endorsed attestation key", which)
	}
	return nil
}

// parseAttest checks the magic before parsing: go-tpm refuses a wrong magic
// while unmarshalling, and "not TPM-generated" deserves its own reason.
func parseAttest(raw []byte, which string, want tpm2.TPMST) (*tpm2.TPMSAttest, error) {
	if len(raw) < 4 {
		return nil, attest.Reject(ReasonMalformed, "%s: %d bytes", which, len(raw))
	}
	if m := binary.BigEndian.Uint32(raw); tpm2.TPMGenerated(m) != tpm2.TPMGeneratedValue {
		return nil, attest.Reject(ReasonBadMagic, "%s magic %#x", which, m)
	}
	if len(raw) >= 6 {
		if t := tpm2.TPMST(binary.BigEndian.Uint16(raw[4:])); t != want {
			return nil, attest.Reject(ReasonBadType, "%s type %#x, want %#x", which, uint16(t), uint16(want))
		}
	}
	a, err := ParseAttest(raw)
	if err != nil {
		return nil, attest.Reject(ReasonMalformed, "%s: %v", which, err)
	}
	return a, nil
}

func checkCertifiedKey(kat *KAT, certInfo *tpm2.TPMSAttest, expectedTIK crypto.PublicKey) error {
	certify, err := certInfo.Attested.Certify()
	if err != nil {
		return attest.Reject(ReasonMalformed, "kat.certInfo: %v", err)
	}
	pub, err := ParsePublic(kat.PubArea)
	if err != nil {
		return attest.Reject(ReasonMalformed, "kat.pubArea: %v", err)
	}
	name, err := Name(kat.PubArea)
	if err != nil {
		return attest.Reject(ReasonCertifiedName, "kat.pubArea nameAlg: %v", err)
	}
	if !bytes.Equal(certify.Name.Buffer, name) {
		return attest.Reject(ReasonCertifiedName, "certified name %x, pubArea name %x", certify.Name.Buffer, name)
	}
	key, err := publicKey(pub)
	if err != nil {
		return err
	}
	if !pub.ObjectAttributes.FixedTPM {
		return attest.Reject(ReasonNotFixedTPM, "certified key may leave the TPM")
	}
	if !pub.ObjectAttributes.SensitiveDataOrigin {
		return attest.Reject(ReasonNotSensitiveDataOrigin, "certified key was not generated by the TPM")
	}
	if expectedTIK != nil {
		eq, ok := expectedTIK.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !eq.Equal(key) {
			return attest.Reject(ReasonTIKMismatch, "certified key is not the TLS identity key")
		}
	}
	return nil
}

// publicKey extracts the certified ECC key (veraison/parsec accepts only
// ECC) and checks the point is on its curve.
func publicKey(pub *tpm2.TPMTPublic) (*ecdsa.PublicKey, error) {
	if pub.Type != tpm2.TPMAlgECC {
		return nil, attest.Reject(ReasonKeyType, "certified key type %v, want ECC", pub.Type)
	}
	k, err := tpm2.Pub(*pub)
	if err != nil {
		return nil, attest.Reject(ReasonKeyType, "certified key: %v", err)
	}
	ek, ok := k.(*ecdsa.PublicKey)
	if !ok {
		return nil, attest.Reject(ReasonKeyType, "certified key is %T", k)
	}
	if _, err := ek.ECDH(); err != nil {
		return nil, attest.Reject(ReasonKeyType, "certified key: %v", err)
	}
	return ek, nil
}

// PublicKey returns the key the KAT certifies (the TIK), without verifying
// anything: call Verify first.
func (ev *Evidence) PublicKey() (*ecdsa.PublicKey, error) {
	if ev == nil || ev.KAT == nil {
		return nil, attest.Reject(ReasonMalformed, "missing kat")
	}
	pub, err := ParsePublic(ev.KAT.PubArea)
	if err != nil {
		return nil, attest.Reject(ReasonMalformed, "kat.pubArea: %v", err)
	}
	return publicKey(pub)
}

func checkQuote(a *tpm2.TPMSAttest, e Endorsement) error {
	q, err := a.Attested.Quote()
	if err != nil {
		return attest.Reject(ReasonMalformed, "pat.attestInfo: %v", err)
	}
	sel, err := selectionFromTPM(q.PCRSelect)
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
	if !bytes.Equal(q.PCRDigest.Buffer, digest) {
		return attest.Reject(ReasonPCRDigest, "pcrDigest %x, reference %x", q.PCRDigest.Buffer, digest)
	}
	return nil
}
