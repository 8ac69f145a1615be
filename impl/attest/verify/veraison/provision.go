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
	"slices"
	"strings"

	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/veraison/apiclient/provisioning"
	"github.com/veraison/corim/comid"
	"github.com/veraison/corim/corim"
)

// The PARSEC_TPM scheme's endorsement profile and media type.
const (
	CoRIMProfile         = "tag:github.com/parallaxsecond,2023-03-03:tpm"
	EndorsementMediaType = `application/corim-unsigned+cbor; profile="` + CoRIMProfile + `"`
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
func EndorsementCoRIM(e parsectpm.Endorsement, class ClassID) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	alg, ok := swidHashName[e.PCRSelection.Hash]
	if !ok {
		return nil, fmt.Errorf("veraison: PCR bank %v has no CoMID name", e.PCRSelection.Hash)
	}
	spki, err := x509.MarshalPKIXPublicKey(e.AttestationKey)
	if err != nil {
		return nil, fmt.Errorf("veraison: attestation key: %w", err)
	}
	akPEM := strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})))

	tagID, err := NewClassID() // any fresh UUID
	if err != nil {
		return nil, err
	}
	type typed struct {
		Type  string `json:"type"`
		Value any    `json:"value"`
	}
	classEnv := map[string]any{"id": typed{"uuid", class.String()}}
	pcrs := slices.Clone(e.PCRSelection.PCRs)
	slices.Sort(pcrs)
	pcrs = slices.Compact(pcrs)
	measurements := make([]any, 0, len(pcrs))
	for _, p := range pcrs {
		measurements = append(measurements, map[string]any{
			"key":   typed{"uint", p},
			"value": map[string]any{"digests": []string{alg + ";" + base64.StdEncoding.EncodeToString(e.ReferencePCRs[p])}},
		})
	}
	doc := map[string]any{
		"tag-identity": map[string]any{"id": tagID.String()},
		"entities": []any{map[string]any{
			"name":  "attested-tls conformance",
			"regid": "https://github.com/attested-tls/conformance",
			"roles": []string{"tagCreator", "creator", "maintainer"},
		}},
		"triples": map[string]any{
			"attester-verification-keys": []any{map[string]any{
				"environment": map[string]any{
					"class":    classEnv,
					"instance": typed{"ueid", base64.StdEncoding.EncodeToString(e.KeyID)},
				},
				"verification-keys": []any{typed{"pkix-base64-key", akPEM}},
			}},
			"reference-values": []any{map[string]any{
				"environment":  map[string]any{"class": classEnv},
				"measurements": measurements,
			}},
		},
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
		uc = uc.SetProfile(CoRIMProfile)
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
	cbor, err := EndorsementCoRIM(e, class)
	if err != nil {
		return class, err
	}
	return class, ProvisionCoRIM(ctx, provisioningURL, cbor, rt)
}

// ProvisionCoRIM submits an unsigned PARSEC_TPM CoRIM built elsewhere
// (e.g. an attester's own export). Veraison reports content errors in a
// 200 body ("status": "failed"), which comes back as an error here.
func ProvisionCoRIM(ctx context.Context, provisioningURL string, cbor []byte, rt http.RoundTripper) error {
	if rt == nil {
		rt = http.DefaultTransport
	}
	_, cancel, client, t := bind(ctx, rt)
	defer cancel()
	sc := provisioning.SubmitConfig{Client: client}
	if err := sc.SetSubmitURI(strings.TrimRight(provisioningURL, "/") + SubmitPath); err != nil {
		return fmt.Errorf("veraison: %w", err)
	}
	if err := sc.Run(cbor, EndorsementMediaType); err != nil {
		return t.wrap("provision", err)
	}
	return nil
}
