// Package parsecac is evidence that a TLS identity key lives in a TPM
// through the Parsec service, as far as upstream Parsec can show it: its
// key-attestation operations (PrepareKeyAttestation, AttestKey) offer one
// mechanism, TPM2_ActivateCredential. A verifier makes a credential for
// the key's TPM name under the TPM's endorsement key (EK); only a TPM
// holding that EK's private half and a loaded object of that name
// recovers it (Activate). That is interactive, so it happens once, when
// the attester is endorsed; per handshake the evidence carries the key's
// public area and the EK, and the key's own signature over the challenge
// (Verify). Parsec offers no TPM2_Quote or TPM2_Certify: no platform
// state, and no per-handshake statement signed by the TPM.
package parsecac

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/internal/cborev"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
)

// MediaType is this format's evidence media type.
const MediaType = "application/vnd.attested-tls.parsec-activation+cbor"

// Evidence is the decoded CBOR map.
type Evidence struct {
	// KID identifies the endorsement recording the activation (a UEID,
	// KeyID).
	KID []byte `cbor:"kid"`
	// Name is the identity key's TPM name (nameAlg ‖ digest), as
	// PrepareKeyAttestation reports it.
	Name []byte `cbor:"name"`
	// Public is the identity key's TPMT_PUBLIC.
	Public []byte `cbor:"pubArea"`
	// EK is the public endorsement key the name was activated under, as
	// Parsec exports it (PKCS#1 RSAPublicKey DER).
	EK []byte `cbor:"ek"`
	// QualifyingData is the challenge's nonce or binder Sig covers.
	QualifyingData []byte `cbor:"qd"`
	// Sig is the identity key's ECDSA signature (ASN.1 DER) over
	// SignedDigest(QualifyingData).
	Sig []byte `cbor:"sig"`
}

// Reasons Decode, Verify and Activate reject with, one per check.
const (
	ReasonMalformed      attest.Reason = "parsec-activation.malformed"
	ReasonName           attest.Reason = "parsec-activation.name"
	ReasonKeyType        attest.Reason = "parsec-activation.key-type"
	ReasonAttributes     attest.Reason = "parsec-activation.attributes"
	ReasonTIKMismatch    attest.Reason = "parsec-activation.tik-mismatch"
	ReasonQualifyingData attest.Reason = "parsec-activation.qualifying-data"
	ReasonSignature      attest.Reason = "parsec-activation.signature"
	ReasonNotActivated   attest.Reason = "parsec-activation.not-activated"
	ReasonActivation     attest.Reason = "parsec-activation.activation-failed"
)

// Reasons lists every reason this package rejects with.
var Reasons = []attest.Reason{
	ReasonMalformed, ReasonName, ReasonKeyType, ReasonAttributes, ReasonTIKMismatch,
	ReasonQualifyingData, ReasonSignature, ReasonNotActivated, ReasonActivation,
}

var codec = cborev.New(ReasonMalformed, cborev.Limits{NestedLevels: 4, ArrayElements: 16, MapPairs: 16})

// maxField bounds each field: a TPMT_PUBLIC, an RSA key or a DER
// signature is a few hundred bytes, qualifying data at most 64K.
const maxField = 1 << 16

// Encode serialises ev in CTAP2 canonical CBOR after checking it is
// complete.
func Encode(ev *Evidence) ([]byte, error) { return codec.Encode(ev) }

// Decode parses the CBOR map and checks every field is present. Errors
// are *attest.Rejection with ReasonMalformed.
func Decode(data []byte) (*Evidence, error) { return cborev.Decode[Evidence](codec, data) }

// Validate checks every field is present and bounded. Errors are
// *attest.Rejection with ReasonMalformed.
func (ev *Evidence) Validate() error {
	if ev == nil {
		return attest.Reject(ReasonMalformed, "no evidence")
	}
	for _, f := range []struct {
		name string
		v    []byte
	}{{"kid", ev.KID}, {"name", ev.Name}, {"pubArea", ev.Public}, {"ek", ev.EK}, {"qd", ev.QualifyingData}, {"sig", ev.Sig}} {
		if len(f.v) == 0 {
			return attest.Reject(ReasonMalformed, "missing or empty %s", f.name)
		}
		if len(f.v) > maxField {
			return attest.Reject(ReasonMalformed, "%s of %d bytes", f.name, len(f.v))
		}
	}
	return nil
}

// signLabel separates the identity key's signatures over a challenge
// from anything else it signs (TLS CertificateVerify among them).
const signLabel = "attested-tls parsec activation challenge v1\x00"

// SignedDigest is what the identity key signs for qualifying data qd:
// SHA-256(label ‖ uint16(len(qd)) ‖ qd).
func SignedDigest(qd []byte) ([]byte, error) {
	if len(qd) == 0 || len(qd) > 0xffff {
		return nil, fmt.Errorf("parsecac: qualifying data of %d bytes", len(qd))
	}
	h := sha256.New()
	h.Write([]byte(signLabel))
	h.Write(binary.BigEndian.AppendUint16(nil, uint16(len(qd))))
	h.Write(qd)
	return h.Sum(nil), nil
}

// kidLabel separates key IDs from other hashes of the same bytes.
const kidLabel = "attested-tls parsec activation kid v1\x00"

// KeyID is the kid of the endorsement of an attester whose identity key
// name was activated under ek: a UEID (RAND, 32 bytes) of both.
func KeyID(ek, name []byte) []byte {
	h := sha256.New()
	h.Write([]byte(kidLabel))
	h.Write(binary.BigEndian.AppendUint16(nil, uint16(min(len(ek), 0xffff))))
	h.Write(ek)
	h.Write(name)
	return h.Sum([]byte{0x01})
}

// Endorse is the endorsement of an attester whose keys' names (its
// identity key's first) were activated under ek.
func Endorse(ek []byte, names ...[]byte) parsectpm.Endorsement {
	a := &parsectpm.Activation{EK: bytes.Clone(ek)}
	for _, n := range names {
		a.Names = append(a.Names, bytes.Clone(n))
	}
	var first []byte
	if len(names) > 0 {
		first = names[0]
	}
	return parsectpm.Endorsement{KeyID: KeyID(ek, first), MediaType: MediaType, Activation: a}
}

// Attributes the identity key must have: it never leaves the TPM, nor its
// parent, the TPM made it, and it signs.
const required = parsectpm.AttrFixedTPM | parsectpm.AttrFixedParent | parsectpm.AttrSensitiveDataOrigin | parsectpm.AttrSign

// Key checks the evidence's key (its name is its public area's, it is a
// TPM-resident ECDSA signing key on a NIST curve) and returns it, without
// checking the challenge, the signature or the endorsement.
func (ev *Evidence) Key() (*ecdsa.PublicKey, error) {
	if err := ev.Validate(); err != nil {
		return nil, err
	}
	name, err := parsectpm.Name(ev.Public)
	if err != nil {
		return nil, attest.Reject(ReasonName, "pubArea: %v", err)
	}
	if !bytes.Equal(name, ev.Name) {
		return nil, attest.Reject(ReasonName, "name %x, pubArea's name %x", ev.Name, name)
	}
	pub, err := parsectpm.ParsePublic(ev.Public)
	if errors.Is(err, parsectpm.ErrNotECC) {
		return nil, attest.Reject(ReasonKeyType, "%v", err)
	}
	if err != nil {
		return nil, attest.Reject(ReasonMalformed, "pubArea: %v", err)
	}
	if missing := required &^ pub.Attributes; missing != 0 {
		return nil, attest.Reject(ReasonAttributes, "attributes %#x lack %#x (fixedTPM, fixedParent, sensitiveDataOrigin, sign)", pub.Attributes, missing)
	}
	key, err := pub.Key()
	if err != nil {
		return nil, attest.Reject(ReasonKeyType, "%v", err)
	}
	return key, nil
}

// Verify performs every relying-party check on the evidence: its key is
// the one its name names, TPM-resident and made there, a signing key; it
// carries expectedQualifyingData; the key is the expected TLS identity
// key when tik is given, and signed that challenge; and e, the
// endorsement of the evidence's kid (nil if none), says that key was
// activated under that EK. A failed check returns *attest.Rejection with
// its reason.
func Verify(ev *Evidence, e *parsectpm.Endorsement, expectedQualifyingData []byte, tik crypto.PublicKey) error {
	key, err := ev.Key()
	if err != nil {
		return err
	}
	// The challenge before the key, as a TPM's key attestation is
	// checked: evidence relayed from another connection fails its binder.
	if !bytes.Equal(ev.QualifyingData, expectedQualifyingData) {
		return attest.Reject(ReasonQualifyingData, "qd %x, want %x", ev.QualifyingData, expectedQualifyingData)
	}
	if tik != nil {
		eq, ok := tik.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !eq.Equal(key) {
			return attest.Reject(ReasonTIKMismatch, "evidence's key is not the TLS identity key")
		}
	}
	digest, err := SignedDigest(ev.QualifyingData)
	if err != nil {
		return attest.Reject(ReasonMalformed, "%v", err)
	}
	if !ecdsa.VerifyASN1(key, digest, ev.Sig) {
		return attest.Reject(ReasonSignature, "the key's signature over the challenge does not verify")
	}
	if e == nil || !bytes.Equal(e.KeyID, ev.KID) || e.Format() != MediaType || e.Activation == nil {
		return attest.Reject(attest.ReasonNoEndorsement, "no endorsement for kid %x", ev.KID)
	}
	if a := e.Activation; !bytes.Equal(a.EK, ev.EK) || !slices.ContainsFunc(a.Names, func(n []byte) bool { return bytes.Equal(n, ev.Name) }) {
		return attest.Reject(ReasonNotActivated, "name %x was never activated under this EK", ev.Name)
	}
	return nil
}
