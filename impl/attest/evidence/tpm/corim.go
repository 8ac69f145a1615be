package tpm

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"slices"

	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/veraison/corim/comid"
	"github.com/veraison/corim/corim"
)

// CoRIMProfile is the profile of the CoRIMs Veraison's PARSEC_TPM scheme
// takes, CoRIMMediaType the media type they are submitted with.
const (
	CoRIMProfile   = "tag:github.com/parallaxsecond,2023-03-03:tpm"
	CoRIMMediaType = `application/corim-unsigned+cbor; profile="` + CoRIMProfile + `"`
)

// CoRIM exports the attester's endorsement (Endorsement()) as an unsigned
// CoRIM for Veraison's PARSEC_TPM scheme.
func (a *Attester) CoRIM() ([]byte, error) {
	return EndorsementCoRIM(a.Endorsement(), a.class)
}

// ClassID is the platform class UUID the CoRIM's environments carry.
func (a *Attester) ClassID() []byte { return slices.Clone(a.class) }

// EndorsementCoRIM encodes an endorsement as the unsigned CoRIM (untagged
// CBOR) Veraison's PARSEC_TPM scheme provisions, shaped as its test
// vectors (scheme/parsec-tpm/test/corim/src/ComidParsecTpm{KeyGood,
// PcrsGood}.json at services v0.0.2501): one CoMID with an
// attester-verification-keys triple (environment = class UUID + instance
// UEID = kid; exactly one pkix-base64-key, the AK as a PEM SPKI) and one
// with a reference-values triple (class UUID; per PCR a uint key and one
// sha-256 digest, since the scheme keeps only the last digest per PCR).
// Veraison matches evidence to the key by kid and to the reference values
// by class.
func EndorsementCoRIM(e parsectpm.Endorsement, classID []byte) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	if len(classID) != 16 {
		return nil, fmt.Errorf("tpm: class ID is %d bytes, want 16", len(classID))
	}
	spki, err := x509.MarshalPKIXPublicKey(e.AttestationKey)
	if err != nil {
		return nil, fmt.Errorf("tpm: corim: %w", err)
	}
	akPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))
	class := uuidString(classID)
	env := func(withInstance bool) map[string]any {
		m := map[string]any{"class": map[string]any{"id": map[string]any{"type": "uuid", "value": class}}}
		if withInstance {
			m["instance"] = map[string]any{"type": "ueid", "value": base64.StdEncoding.EncodeToString(e.KeyID)}
		}
		return m
	}
	pcrs := slices.Clone(e.PCRSelection.PCRs)
	slices.Sort(pcrs)
	pcrs = slices.Compact(pcrs)
	var measurements []any
	refSum := sha256.New()
	for _, p := range pcrs {
		v := e.ReferencePCRs[p]
		refSum.Write(binary.BigEndian.AppendUint32(nil, uint32(p)))
		refSum.Write(v)
		measurements = append(measurements, map[string]any{
			"key":   map[string]any{"type": "uint", "value": p},
			"value": map[string]any{"digests": []string{"sha-256;" + base64.StdEncoding.EncodeToString(v)}},
		})
	}
	keyTag := derivedUUID("key", e.KeyID, spki)
	refTag := derivedUUID("refval", classID, refSum.Sum(nil))
	keyComid, err := comidFromJSON(map[string]any{
		"tag-identity": map[string]any{"id": keyTag},
		"entities":     entities,
		"triples": map[string]any{"attester-verification-keys": []any{map[string]any{
			"environment":       env(true),
			"verification-keys": []any{map[string]any{"type": "pkix-base64-key", "value": akPEM}},
		}}},
	})
	if err != nil {
		return nil, err
	}
	refComid, err := comidFromJSON(map[string]any{
		"tag-identity": map[string]any{"id": refTag},
		"entities":     entities,
		"triples": map[string]any{"reference-values": []any{map[string]any{
			"environment":  env(false),
			"measurements": measurements,
		}}},
	})
	if err != nil {
		return nil, err
	}
	uc := corim.NewUnsignedCorim().SetID(derivedUUID("corim", []byte(keyTag), []byte(refTag)))
	if uc = uc.SetProfile(CoRIMProfile); uc == nil {
		return nil, fmt.Errorf("tpm: corim: bad profile")
	}
	uc = uc.AddComid(*keyComid)
	if uc != nil {
		uc = uc.AddComid(*refComid)
	}
	if uc == nil {
		return nil, fmt.Errorf("tpm: corim: CoMID rejected")
	}
	if err := uc.Valid(); err != nil {
		return nil, fmt.Errorf("tpm: corim: %w", err)
	}
	return uc.ToCBOR()
}

var entities = []any{map[string]any{
	"name":  "attested-tls conformance",
	"regid": "https://github.com/attested-tls/conformance",
	"roles": []string{"tagCreator", "creator"},
}}

// comidFromJSON builds a CoMID through its JSON form, the form Veraison's
// test vectors are written in, and validates it.
func comidFromJSON(m map[string]any) (*comid.Comid, error) {
	j, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("tpm: corim: %w", err)
	}
	c := comid.NewComid()
	if err := c.FromJSON(j); err != nil {
		return nil, fmt.Errorf("tpm: corim: %w", err)
	}
	if err := c.Valid(); err != nil {
		return nil, fmt.Errorf("tpm: corim: %w", err)
	}
	return c, nil
}

// derivedUUID is a name-based UUID (RFC 9562 version 8) so the same
// endorsement always exports the same CoRIM.
func derivedUUID(label string, parts ...[]byte) string {
	h := sha256.New()
	h.Write([]byte("attested-tls corim " + label))
	for _, p := range parts {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(p))))
		h.Write(p)
	}
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x80
	u[8] = u[8]&0x3f | 0x80
	return uuidString(u)
}

func uuidString(u []byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
