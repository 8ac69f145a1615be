package veraison

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/attested-tls/conformance/impl/attest/evidence/cca"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/psa"
	"github.com/veraison/apiclient/provisioning"
	"github.com/veraison/corim/comid"
	"github.com/veraison/corim/corim"
)

// The PARSEC_TPM scheme's endorsement profile and media type.
const (
	CoRIMProfile         = "tag:github.com/parallaxsecond,2023-03-03:tpm"
	EndorsementMediaType = `application/corim-unsigned+cbor; profile="` + CoRIMProfile + `"`
	// PSACoRIMProfile and PSAEndorsementMediaType are the PSA_IOT
	// scheme's.
	PSACoRIMProfile         = "http://arm.com/psa/iot/1"
	PSAEndorsementMediaType = `application/corim-unsigned+cbor; profile="` + PSACoRIMProfile + `"`
	// SubmitPath is the provisioning service's submit endpoint.
	SubmitPath = "/endorsement-provisioning/v1/submit"
)

// ClassID names the attester class an endorsement's reference values are
// filed under. Veraison's stores only append and the scheme takes the
// first reference value it finds per PCR, so every provisioning uses a
// fresh one.
type ClassID [16]byte

// NewClassID returns a random (version 4) UUID.
func NewClassID() (ClassID, error) {
	var c ClassID
	if _, err := rand.Read(c[:]); err != nil {
		return c, err
	}
	c[6] = c[6]&0x0f | 0x40
	c[8] = c[8]&0x3f | 0x80
	return c, nil
}

func (c ClassID) String() string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", c[0:4], c[4:6], c[6:8], c[8:10], c[10:16])
}

// swidHashName names PCR banks as CoMID digests do ("sha-256;<b64>").
var swidHashName = map[crypto.Hash]string{
	crypto.SHA256: "sha-256",
	crypto.SHA384: "sha-384",
	crypto.SHA512: "sha-512",
}

// EndorsementCoRIM encodes e as the unsigned CoRIM (untagged CBOR) the
// PARSEC_TPM scheme provisions from: one CoMID whose
// attester-verification-keys triple binds the class and the instance (a
// UEID, the kid) to the attestation key (PEM SPKI), and whose
// reference-values triple gives, for the class, one digest per selected
// PCR (the scheme keeps only the last digest of a measurement).
//
// A PSA endorsement (e.MediaType psa.MediaType) becomes the PSA_IOT
// scheme's CoRIM instead (PSAEndorsementCoRIM); class is then unused.
func EndorsementCoRIM(e parsectpm.Endorsement, class ClassID) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	switch e.Format() {
	case psa.MediaType:
		return PSAEndorsementCoRIM(e)
	case cca.MediaType:
		return nil, errors.New("veraison: a CCA endorsement is two CoRIMs (CCAEndorsementCoRIMs)")
	}
	if e.Activation != nil {
		return nil, errors.New("veraison: Veraison has no scheme for Parsec credential activation")
	}
	alg, ok := swidHashName[e.PCRSelection.Hash]
	if !ok {
		return nil, fmt.Errorf("veraison: PCR bank %v has no CoMID name", e.PCRSelection.Hash)
	}
	akPEM, err := pemKey(e)
	if err != nil {
		return nil, err
	}
	tagID, err := NewClassID() // any fresh UUID
	if err != nil {
		return nil, err
	}
	classEnv := map[string]any{"id": typed{"uuid", class.String()}}
	pcrs := e.PCRSelection.Indices()
	measurements := make([]any, 0, len(pcrs))
	for _, p := range pcrs {
		measurements = append(measurements, map[string]any{
			"key":   typed{"uint", p},
			"value": map[string]any{"digests": []string{alg + ";" + base64.StdEncoding.EncodeToString(e.ReferencePCRs[p])}},
		})
	}
	return comidCoRIM(tagID, CoRIMProfile, classEnv, e.KeyID, akPEM, measurements)
}

// typed is a CoMID JSON type-value pair.
type typed struct {
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// pemKey is the PEM SPKI of an attestation key, as pkix-base64-key.
func pemKey(e parsectpm.Endorsement) (string, error) {
	spki, err := x509.MarshalPKIXPublicKey(e.AttestationKey)
	if err != nil {
		return "", fmt.Errorf("veraison: attestation key: %w", err)
	}
	return strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))), nil
}

// comidCoRIM is the unsigned CoRIM of one CoMID that binds the class and
// instance to the attestation key and gives the class's reference values.
func comidCoRIM(tagID ClassID, profile string, classEnv map[string]any, instance []byte, akPEM string, measurements []any) ([]byte, error) {
	return corimOf(tagID, profile, map[string]any{
		"attester-verification-keys": []any{map[string]any{
			"environment": map[string]any{
				"class":    classEnv,
				"instance": typed{"ueid", base64.StdEncoding.EncodeToString(instance)},
			},
			"verification-keys": []any{typed{"pkix-base64-key", akPEM}},
		}},
		"reference-values": []any{map[string]any{
			"environment":  map[string]any{"class": classEnv},
			"measurements": measurements,
		}},
	})
}

// corimOf is the unsigned CoRIM (untagged CBOR) of one CoMID with the
// given triples (CoMID JSON), under profile.
func corimOf(tagID ClassID, profile string, triples map[string]any) ([]byte, error) {
	doc := map[string]any{
		"tag-identity": map[string]any{"id": tagID.String()},
		"entities": []any{map[string]any{
			"name":  "attested-tls conformance",
			"regid": "https://github.com/attested-tls/conformance",
			"roles": []string{"tagCreator", "creator", "maintainer"},
		}},
		"triples": triples,
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	var c comid.Comid
	if err := c.FromJSON(js); err != nil {
		return nil, fmt.Errorf("veraison: CoMID: %w", err)
	}
	if err := c.Valid(); err != nil {
		return nil, fmt.Errorf("veraison: CoMID: %w", err)
	}
	// The corim builders return nil on error.
	uc := corim.NewUnsignedCorim().SetID(tagID.String())
	if uc != nil {
		uc = uc.SetProfile(profile)
	}
	if uc != nil {
		uc = uc.AddComid(c)
	}
	if uc == nil {
		return nil, errors.New("veraison: building the unsigned CoRIM failed")
	}
	if err := uc.Valid(); err != nil {
		return nil, fmt.Errorf("veraison: CoRIM: %w", err)
	}
	return uc.ToCBOR()
}

// ProvisionEndorsement submits e to the provisioning service at
// provisioningURL (scheme://host:port) under a fresh class ID, which it
// returns, within ctx's deadline (DefaultTimeout if none). rt nil is
// http.DefaultTransport. A kid provisioned twice is only noticed at
// appraisal (HTTP 500), so use a fresh kid per attester.
func ProvisionEndorsement(ctx context.Context, provisioningURL string, e parsectpm.Endorsement, rt http.RoundTripper) (ClassID, error) {
	class, err := NewClassID()
	if err != nil {
		return class, err
	}
	if e.Format() == cca.MediaType {
		return class, provisionCCA(ctx, provisioningURL, e, rt)
	}
	cbor, err := EndorsementCoRIM(e, class)
	if err != nil {
		return class, err
	}
	mediaType := EndorsementMediaType
	if e.Format() == psa.MediaType {
		mediaType = PSAEndorsementMediaType
	}
	return class, ProvisionCoRIMAs(ctx, provisioningURL, cbor, mediaType, rt)
}

// provisionCCA submits a CCA endorsement's platform and realm CoRIMs.
func provisionCCA(ctx context.Context, provisioningURL string, e parsectpm.Endorsement, rt http.RoundTripper) error {
	p, r, err := CCAEndorsementCoRIMs(e)
	if err != nil {
		return err
	}
	if err := ProvisionCoRIMAs(ctx, provisioningURL, p, CCAPlatformEndorsementMediaType, rt); err != nil {
		return err
	}
	return ProvisionCoRIMAs(ctx, provisioningURL, r, CCARealmEndorsementMediaType, rt)
}

// ProvisionCoRIM submits an unsigned PARSEC_TPM CoRIM built elsewhere
// (e.g. an attester's own export). Veraison reports content errors in a
// 200 body ("status": "failed"), which comes back as an error here.
func ProvisionCoRIM(ctx context.Context, provisioningURL string, cbor []byte, rt http.RoundTripper) error {
	return ProvisionCoRIMAs(ctx, provisioningURL, cbor, EndorsementMediaType, rt)
}

// ProvisionCoRIMAs is ProvisionCoRIM for any scheme's endorsement media
// type.
func ProvisionCoRIMAs(ctx context.Context, provisioningURL string, cbor []byte, mediaType string, rt http.RoundTripper) error {
	if rt == nil {
		rt = http.DefaultTransport
	}
	_, cancel, client, t := bind(ctx, rt)
	defer cancel()
	sc := provisioning.SubmitConfig{Client: client}
	if err := sc.SetSubmitURI(strings.TrimRight(provisioningURL, "/") + SubmitPath); err != nil {
		return fmt.Errorf("veraison: %w", err)
	}
	if err := sc.Run(cbor, mediaType); err != nil {
		return t.wrap("provision", err)
	}
	return nil
}

// PSAEndorsementCoRIM encodes a PSA endorsement as the unsigned CoRIM the
// PSA_IOT scheme provisions from: one CoMID whose class is the
// implementation ID (psa.impl-id, derived from the instance ID, so every
// attester is a class of its own), whose instance is the instance ID
// (a UEID) bound to the IAK, and whose reference values give each
// endorsed software component (psa.refval-id: label and signer ID) its
// SHA-256 measurement. The scheme wants every provisioned component of a
// class found in the token.
func PSAEndorsementCoRIM(e parsectpm.Endorsement) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	if e.PCRSelection.Hash != crypto.SHA256 {
		return nil, fmt.Errorf("veraison: PSA measurements are SHA-256, not %v", e.PCRSelection.Hash)
	}
	akPEM, err := pemKey(e)
	if err != nil {
		return nil, err
	}
	tagID, err := NewClassID()
	if err != nil {
		return nil, err
	}
	classEnv := map[string]any{"id": typed{"psa.impl-id", base64.StdEncoding.EncodeToString(psa.ImplementationID(e.KeyID))}}
	return comidCoRIM(tagID, PSACoRIMProfile, classEnv, e.KeyID, akPEM, componentRefVals(e))
}

// componentRefVals are the reference values of e's software components
// as PSA and CCA platforms report them (psa.Components): psa.refval-id
// (label, signer ID) and a SHA-256 digest.
func componentRefVals(e parsectpm.Endorsement) []any {
	signer := base64.StdEncoding.EncodeToString(psa.SignerID(e.KeyID))
	comps := e.PCRSelection.Indices()
	measurements := make([]any, 0, len(comps))
	for _, i := range comps {
		measurements = append(measurements, map[string]any{
			"key": typed{"psa.refval-id", map[string]any{"label": psa.ComponentLabel(i), "signer-id": signer}},
			"value": map[string]any{"digests": []string{
				"sha-256:" + base64.StdEncoding.EncodeToString(e.ReferencePCRs[i])}},
		})
	}
	return measurements
}

// CCA endorsement profiles and media types: the platform's (IAK,
// components, configuration) and the realm's (reference measurements).
const (
	CCAPlatformCoRIMProfile         = "http://arm.com/cca/ssd/1"
	CCAPlatformEndorsementMediaType = `application/corim-unsigned+cbor; profile="` + CCAPlatformCoRIMProfile + `"`
	CCARealmCoRIMProfile            = "http://arm.com/cca/realm/1"
	CCARealmEndorsementMediaType    = `application/corim-unsigned+cbor; profile="` + CCARealmCoRIMProfile + `"`
)

// CCAEndorsementCoRIMs encodes a CCA endorsement as the two unsigned
// CoRIMs the ARM_CCA scheme provisions from: the platform's (class the
// implementation ID, instance the instance ID bound to the IAK; reference
// values its components and its configuration) and the realm's (class a
// fresh UUID, instance the realm initial measurement; reference values
// the personalization value and the RIM and REMs as integrity
// registers). The realm's values derive from the instance ID (package
// cca).
func CCAEndorsementCoRIMs(e parsectpm.Endorsement) (platformCoRIM, realmCoRIM []byte, err error) {
	if err := e.Validate(); err != nil {
		return nil, nil, err
	}
	akPEM, err := pemKey(e)
	if err != nil {
		return nil, nil, err
	}
	tagID, err := NewClassID()
	if err != nil {
		return nil, nil, err
	}
	b64 := base64.StdEncoding.EncodeToString
	classEnv := map[string]any{"id": typed{"psa.impl-id", b64(cca.ImplementationID(e.KeyID))}}
	measurements := append(componentRefVals(e), map[string]any{
		"key":   typed{"cca.platform-config-id", "cfg"},
		"value": map[string]any{"raw-value": typed{"bytes", b64(cca.PlatformConfig(e.KeyID))}},
	})
	if platformCoRIM, err = comidCoRIM(tagID, CCAPlatformCoRIMProfile, classEnv, e.KeyID, akPEM, measurements); err != nil {
		return nil, nil, err
	}
	realmTag, err := NewClassID()
	if err != nil {
		return nil, nil, err
	}
	registers := map[string]any{"rim": map[string]any{"key-type": "text", "value": []string{"sha-384;" + b64(cca.RIM(e.KeyID))}}}
	for i, rem := range cca.REMs(e.KeyID) {
		registers[fmt.Sprintf("rem%d", i)] = map[string]any{"key-type": "text", "value": []string{"sha-384;" + b64(rem)}}
	}
	realmCoRIM, err = corimOf(realmTag, CCARealmCoRIMProfile, map[string]any{
		"reference-values": []any{map[string]any{
			"environment": map[string]any{
				"class":    map[string]any{"id": typed{"uuid", realmTag.String()}, "vendor": "attested-tls conformance"},
				"instance": typed{"bytes", b64(cca.RIM(e.KeyID))},
			},
			"measurements": []any{map[string]any{"value": map[string]any{
				"raw-value":           typed{"bytes", b64(cca.RPV(e.KeyID))},
				"integrity-registers": registers,
			}}},
		}},
	})
	return platformCoRIM, realmCoRIM, err
}
