// Package parsectpm is the Parsec TPM key-attestation evidence format
// (application/vnd.parallaxsecond.key-attestation.tpm): a CBOR map holding a
// key attestation token (KAT, from TPM2_Certify) and a platform attestation
// token (PAT, from TPM2_Quote), both signed by the TPM's attestation key.
//
// The wire layout follows what github.com/veraison/parsec's tpm package
// decodes (keys "kat", "pat", "tpmVer", "kid", "sig", "pubArea",
// "certInfo", "attestInfo"; kid a UEID); that package cannot be built beside
// go-tpm v0.9.x, so the codec is written here on go-tpm's direct API.
package parsectpm

import (
	"bytes"
	"fmt"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/internal/cborev"
)

// MediaType is the evidence media type Veraison's PARSEC_TPM scheme accepts.
const MediaType = "application/vnd.parallaxsecond.key-attestation.tpm"

// TPMVersion is the only tpmVer value producers emit.
const TPMVersion = "2.0"

// MaxQualifyingData is the most qualifyingData TPM2_Quote and TPM2_Certify
// take (TPMU_HA with SHA-512): a nonce or binder longer than this cannot
// be bound into Parsec TPM evidence.
const MaxQualifyingData = 64

// Evidence is the decoded CBOR collection. The TPM structures stay as the
// bytes that were signed; Verify parses them.
type Evidence struct {
	KAT *KAT `cbor:"kat"`
	PAT *PAT `cbor:"pat"`
}

// KAT is the key attestation token: TPM2_Certify of the TLS identity key.
type KAT struct {
	TPMVer   string `cbor:"tpmVer"`
	KID      []byte `cbor:"kid"`      // attestation key identifier, a UEID
	Sig      []byte `cbor:"sig"`      // TPMT_SIGNATURE over CertInfo
	PubArea  []byte `cbor:"pubArea"`  // TPMT_PUBLIC of the certified key
	CertInfo []byte `cbor:"certInfo"` // TPMS_ATTEST, type TPM_ST_ATTEST_CERTIFY
}

// PAT is the platform attestation token: TPM2_Quote over the PCRs.
type PAT struct {
	TPMVer     string `cbor:"tpmVer"`
	KID        []byte `cbor:"kid"`
	Sig        []byte `cbor:"sig"`        // TPMT_SIGNATURE over AttestInfo
	AttestInfo []byte `cbor:"attestInfo"` // TPMS_ATTEST, type TPM_ST_ATTEST_QUOTE
}

// Reasons Verify and Decode reject with, one per check.
const (
	ReasonMalformed              attest.Reason = "parsec-tpm.malformed"
	ReasonKIDMismatch            attest.Reason = "parsec-tpm.kid-mismatch"
	ReasonSignatureScheme        attest.Reason = "parsec-tpm.signature-scheme"
	ReasonKATSignature           attest.Reason = "parsec-tpm.kat-signature"
	ReasonPATSignature           attest.Reason = "parsec-tpm.pat-signature"
	ReasonBadMagic               attest.Reason = "parsec-tpm.bad-magic"
	ReasonBadType                attest.Reason = "parsec-tpm.bad-type"
	ReasonQualifyingData         attest.Reason = "parsec-tpm.qualifying-data"
	ReasonCertifiedName          attest.Reason = "parsec-tpm.certified-name"
	ReasonKeyType                attest.Reason = "parsec-tpm.key-type"
	ReasonNotFixedTPM            attest.Reason = "parsec-tpm.not-fixed-tpm"
	ReasonNotSensitiveDataOrigin attest.Reason = "parsec-tpm.not-sensitive-data-origin"
	ReasonTIKMismatch            attest.Reason = "parsec-tpm.tik-mismatch"
	ReasonPCRSelection           attest.Reason = "parsec-tpm.pcr-selection"
	ReasonPCRDigest              attest.Reason = "parsec-tpm.pcr-digest"
)

// Reasons lists every reason this package rejects with.
var Reasons = []attest.Reason{
	ReasonMalformed, ReasonKIDMismatch, ReasonSignatureScheme, ReasonKATSignature,
	ReasonPATSignature, ReasonBadMagic, ReasonBadType, ReasonQualifyingData,
	ReasonCertifiedName, ReasonKeyType, ReasonNotFixedTPM, ReasonNotSensitiveDataOrigin,
	ReasonTIKMismatch, ReasonPCRSelection, ReasonPCRDigest,
}

// The PoC specifies CTAP2 canonical CBOR for this format; unknown keys
// are ignored as Veraison ignores them.
var codec = cborev.New(ReasonMalformed, cborev.Limits{NestedLevels: 16, ArrayElements: 1024, MapPairs: 1024})

// Encode serialises ev in CTAP2 canonical CBOR after checking it is
// complete.
func Encode(ev *Evidence) ([]byte, error) { return codec.Encode(ev) }

// Decode parses the CBOR collection and checks every field is present and
// well-formed at the CBOR level (the TPM structures are parsed by Verify).
// Errors are *attest.Rejection with ReasonMalformed.
func Decode(data []byte) (*Evidence, error) { return cborev.Decode[Evidence](codec, data) }

// Validate checks every field is present. Errors are *attest.Rejection
// with ReasonMalformed.
func (ev *Evidence) Validate() error {
	if ev == nil || ev.KAT == nil {
		return attest.Reject(ReasonMalformed, "missing kat")
	}
	if ev.PAT == nil {
		return attest.Reject(ReasonMalformed, "missing pat")
	}
	k, p := ev.KAT, ev.PAT
	for _, f := range []struct {
		name string
		ok   bool
	}{
		{"kat.tpmVer", k.TPMVer != ""},
		{"kat.sig", len(k.Sig) > 0},
		{"kat.pubArea", len(k.PubArea) > 0},
		{"kat.certInfo", len(k.CertInfo) > 0},
		{"pat.tpmVer", p.TPMVer != ""},
		{"pat.sig", len(p.Sig) > 0},
		{"pat.attestInfo", len(p.AttestInfo) > 0},
	} {
		if !f.ok {
			return attest.Reject(ReasonMalformed, "missing or empty %s", f.name)
		}
	}
	if err := validUEID(k.KID); err != nil {
		return attest.Reject(ReasonMalformed, "kat.kid: %v", err)
	}
	if err := validUEID(p.KID); err != nil {
		return attest.Reject(ReasonMalformed, "pat.kid: %v", err)
	}
	return nil
}

// validUEID applies the UEID rules veraison/parsec enforces on kid: type
// RAND (16, 24 or 32 bytes), EUI (6 or 8) or IMEI (14).
func validUEID(u []byte) error {
	if len(u) == 0 {
		return fmt.Errorf("empty UEID")
	}
	n := len(u) - 1
	switch u[0] {
	case 0x01:
		if n == 16 || n == 24 || n == 32 {
			return nil
		}
	case 0x02:
		if n == 6 || n == 8 {
			return nil
		}
	case 0x03:
		if n == 14 {
			return nil
		}
	default:
		return fmt.Errorf("UEID type %#x", u[0])
	}
	return fmt.Errorf("UEID type %#x with %d bytes", u[0], n)
}

// Equal reports whether two evidences carry the same bytes.
func (ev *Evidence) Equal(o *Evidence) bool {
	if ev == nil || o == nil || ev.KAT == nil || ev.PAT == nil || o.KAT == nil || o.PAT == nil {
		return ev == o
	}
	a, b := ev.KAT, o.KAT
	c, d := ev.PAT, o.PAT
	return a.TPMVer == b.TPMVer && bytes.Equal(a.KID, b.KID) && bytes.Equal(a.Sig, b.Sig) &&
		bytes.Equal(a.PubArea, b.PubArea) && bytes.Equal(a.CertInfo, b.CertInfo) &&
		c.TPMVer == d.TPMVer && bytes.Equal(c.KID, d.KID) && bytes.Equal(c.Sig, d.Sig) &&
		bytes.Equal(c.AttestInfo, d.AttestInfo)
}
