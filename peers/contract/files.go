package contract

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/cca"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/psa"
)

// EndorsementFile is the JSON an attesting peer writes to
// ATLS_ENDORSEMENTS_OUT and a relying party reads from ATLS_ENDORSEMENTS:
// what a verifier needs to accept the attester's Parsec TPM evidence.
type EndorsementFile struct {
	// AttestationKey is the PEM "PUBLIC KEY" (SPKI) of the attestation key.
	AttestationKey string `json:"attestation_key"`
	// KeyID is the kid the evidence carries (a UEID), hex.
	KeyID        string `json:"key_id"`
	PCRSelection struct {
		Hash string `json:"hash"` // "sha256"
		PCRs []int  `json:"pcrs"`
	} `json:"pcr_selection"`
	// ReferencePCRs maps each selected PCR index (decimal) to its value, hex.
	ReferencePCRs map[string]string `json:"reference_pcrs"`
	// MediaType is the evidence format endorsed when it is not Parsec TPM
	// key attestation: for a PSA token (psa.MediaType) key_id is the
	// instance ID, attestation_key the IAK, and the PCRs the indices and
	// reference measurements of its software components.
	MediaType string `json:"media_type,omitempty"`
}

// MaxFileSize bounds every contract file a parser reads.
const MaxFileSize = 1 << 20

// MarshalEndorsement renders an endorsement as the contract's JSON.
func MarshalEndorsement(e parsectpm.Endorsement) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	if e.Activation != nil {
		return nil, errors.New("contract: an endorsement of Parsec credential activation has no file form")
	}
	spki, err := x509.MarshalPKIXPublicKey(e.AttestationKey)
	if err != nil {
		return nil, err
	}
	var f EndorsementFile
	f.AttestationKey = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))
	f.KeyID = hex.EncodeToString(e.KeyID)
	f.PCRSelection.Hash = "sha256"
	f.PCRSelection.PCRs = slices.Clone(e.PCRSelection.PCRs)
	if e.Format() != parsectpm.MediaType {
		f.MediaType = e.MediaType
	}
	f.ReferencePCRs = map[string]string{}
	for i, v := range e.ReferencePCRs {
		f.ReferencePCRs[strconv.Itoa(i)] = hex.EncodeToString(v)
	}
	return json.MarshalIndent(f, "", "  ")
}

// ParseEndorsement reads the contract's endorsement JSON.
func ParseEndorsement(b []byte) (parsectpm.Endorsement, error) {
	var e parsectpm.Endorsement
	if len(b) > MaxFileSize {
		return e, errors.New("contract: endorsement file too large")
	}
	var f EndorsementFile
	if err := json.Unmarshal(b, &f); err != nil {
		return e, fmt.Errorf("contract: endorsement: %w", err)
	}
	pub, err := parseECPublicKeyPEM(f.AttestationKey)
	if err != nil {
		return e, fmt.Errorf("contract: endorsement attestation_key: %w", err)
	}
	kid, err := hex.DecodeString(f.KeyID)
	if err != nil {
		return e, fmt.Errorf("contract: endorsement key_id: %w", err)
	}
	if f.PCRSelection.Hash != "sha256" {
		return e, fmt.Errorf("contract: endorsement pcr_selection hash %q, want sha256", f.PCRSelection.Hash)
	}
	ref := map[int][]byte{}
	for k, v := range f.ReferencePCRs {
		i, err := strconv.Atoi(k)
		if err != nil || k != strconv.Itoa(i) {
			return e, fmt.Errorf("contract: endorsement reference_pcrs index %q", k)
		}
		if ref[i], err = hex.DecodeString(v); err != nil {
			return e, fmt.Errorf("contract: endorsement reference_pcrs[%s]: %w", k, err)
		}
	}
	switch f.MediaType {
	case "", parsectpm.MediaType, psa.MediaType, cca.MediaType:
	default:
		return e, fmt.Errorf("contract: endorsement media_type %q: want none, %q, %q or %q", f.MediaType, parsectpm.MediaType, psa.MediaType, cca.MediaType)
	}
	e = parsectpm.Endorsement{KeyID: kid, AttestationKey: pub,
		PCRSelection:  parsectpm.PCRSelection{Hash: crypto.SHA256, PCRs: f.PCRSelection.PCRs},
		ReferencePCRs: ref, MediaType: f.MediaType}
	if err := e.Validate(); err != nil {
		return parsectpm.Endorsement{}, err
	}
	if len(ref) != len(f.PCRSelection.PCRs) {
		return parsectpm.Endorsement{}, fmt.Errorf("contract: endorsement has reference values for PCRs %v, selection %v",
			slices.Sorted(maps.Keys(ref)), f.PCRSelection.PCRs)
	}
	return e, nil
}

func parseECPublicKeyPEM(s string) (*ecdsa.PublicKey, error) {
	blk, _ := pem.Decode([]byte(s))
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("want a PEM PUBLIC KEY block")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	ec, ok := k.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("want an ECDSA P-256 key")
	}
	return ec, nil
}

// TrustedVerifierEntry is one element of ATLS_TRUSTED_VERIFIERS.
type TrustedVerifierEntry struct {
	ID     string `json:"id"`      // verifier identity, hex
	EARKey string `json:"ear_key"` // PEM "PUBLIC KEY" verifying its EARs
}

// MarshalTrustedVerifiers renders the verifiers a relying party accepts.
func MarshalTrustedVerifiers(vs []attest.TrustedVerifier) ([]byte, error) {
	out := []TrustedVerifierEntry{}
	for _, v := range vs {
		spki, err := x509.MarshalPKIXPublicKey(v.Key)
		if err != nil {
			return nil, err
		}
		out = append(out, TrustedVerifierEntry{ID: hex.EncodeToString(v.ID),
			EARKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))})
	}
	return json.MarshalIndent(out, "", "  ")
}

// ParseTrustedVerifiers reads ATLS_TRUSTED_VERIFIERS.
func ParseTrustedVerifiers(b []byte) ([]attest.TrustedVerifier, error) {
	if len(b) > MaxFileSize {
		return nil, errors.New("contract: trusted verifiers file too large")
	}
	var in []TrustedVerifierEntry
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("contract: trusted verifiers: %w", err)
	}
	var out []attest.TrustedVerifier
	for i, e := range in {
		id, err := hex.DecodeString(e.ID)
		if err != nil || len(id) == 0 {
			return nil, fmt.Errorf("contract: trusted verifier %d: id is not hex", i)
		}
		key, err := parseECPublicKeyPEM(e.EARKey)
		if err != nil {
			return nil, fmt.Errorf("contract: trusted verifier %d: ear_key: %w", i, err)
		}
		out = append(out, attest.TrustedVerifier{ID: id, Key: key})
	}
	return out, nil
}

// ParseECPrivateKeyPEM reads a P-256 key in a PEM "PRIVATE KEY" (PKCS #8)
// or "EC PRIVATE KEY" block: ATLS_CA_KEY and ATLS_VERIFIER_KEY.
func ParseECPrivateKeyPEM(b []byte) (*ecdsa.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("contract: no PEM block")
	}
	var k any
	var err error
	switch blk.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("contract: PEM block %q, want PRIVATE KEY", blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("contract: private key: %w", err)
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("contract: want an ECDSA P-256 private key")
	}
	return ec, nil
}

// MarshalPrivateKeyPEM writes a key as a PEM PKCS #8 block.
func MarshalPrivateKeyPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
