package veraison_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison"
	"github.com/veraison/corim/comid"
	"github.com/veraison/corim/corim"
	"github.com/veraison/swid"
)

// The CoRIM decodes, with the corim library Veraison uses, to what the
// PARSEC_TPM extractor reads: profile, class UUID, UEID instance = kid,
// exactly one PEM AK, one sha-256 digest per selected PCR.
func TestEndorsementCoRIM(t *testing.T) {
	a := newAttester(t)
	e := a.Endorsement()
	class, err := veraison.NewClassID()
	if err != nil {
		t.Fatal(err)
	}
	data, err := veraison.EndorsementCoRIM(e, class)
	if err != nil {
		t.Fatal(err)
	}
	var uc corim.UnsignedCorim
	if err := uc.FromCBOR(data); err != nil {
		t.Fatal(err)
	}
	if p, err := uc.Profile.Get(); err != nil || p != veraison.CoRIMProfile {
		t.Errorf("profile %v, %v", p, err)
	}
	if len(uc.Tags) != 1 || !bytes.Equal(uc.Tags[0][:3], corim.ComidTag) {
		t.Fatalf("tags %d, want one CoMID", len(uc.Tags))
	}
	var c comid.Comid
	if err := c.FromCBOR(uc.Tags[0][3:]); err != nil {
		t.Fatal(err)
	}
	avks := *c.Triples.AttestVerifKeys
	if len(avks) != 1 || len(avks[0].VerifKeys) != 1 {
		t.Fatalf("%d key triples", len(avks))
	}
	env := avks[0].Environment
	if got := env.Class.ClassID.String(); !strings.EqualFold(got, class.String()) {
		t.Errorf("class %s, want %s", got, class)
	}
	ueid, err := env.Instance.GetUEID()
	if err != nil || !bytes.Equal(ueid, e.KeyID) {
		t.Errorf("instance %x (%v), want kid %x", ueid, err, e.KeyID)
	}
	blk, _ := pem.Decode([]byte(avks[0].VerifKeys[0].String()))
	if blk == nil {
		t.Fatalf("AK %q is not PEM", avks[0].VerifKeys[0].String())
	}
	ak, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil || !e.AttestationKey.Equal(ak.(*ecdsa.PublicKey)) {
		t.Errorf("AK in CoMID is not the endorsed key (%v)", err)
	}
	rvs := c.Triples.ReferenceValues.Values
	if len(rvs) != 1 || !strings.EqualFold(rvs[0].Environment.Class.ClassID.String(), class.String()) {
		t.Fatalf("reference values %d for the wrong class", len(rvs))
	}
	ms := rvs[0].Measurements.Values
	if len(ms) != len(e.PCRSelection.PCRs) {
		t.Fatalf("%d measurements, want %d", len(ms), len(e.PCRSelection.PCRs))
	}
	for _, m := range ms {
		pcr, err := m.Key.GetKeyUint()
		if err != nil {
			t.Fatal(err)
		}
		ds := *m.Val.Digests
		if len(ds) != 1 || ds[0].HashAlgID != swid.Sha256 || !bytes.Equal(ds[0].HashValue, e.ReferencePCRs[int(pcr)]) {
			t.Errorf("PCR %d: digests %v, want one sha-256 %x", pcr, ds, e.ReferencePCRs[int(pcr)])
		}
	}
}

func TestEndorsementCoRIMRejectsBadEndorsements(t *testing.T) {
	e := newAttester(t).Endorsement()
	class, _ := veraison.NewClassID()
	bad := e
	bad.KeyID = []byte{0x09, 1, 2}
	if _, err := veraison.EndorsementCoRIM(bad, class); err == nil {
		t.Error("accepted a kid that is not a UEID")
	}
	bad = e
	bad.PCRSelection = parsectpm.PCRSelection{Hash: crypto.SHA1, PCRs: e.PCRSelection.PCRs}
	if _, err := veraison.EndorsementCoRIM(bad, class); err == nil {
		t.Error("accepted a SHA-1 bank")
	}
}

func TestNewClassIDIsFreshV4(t *testing.T) {
	a, _ := veraison.NewClassID()
	b, _ := veraison.NewClassID()
	if a == b {
		t.Fatal("two class IDs are equal")
	}
	if s := a.String(); len(s) != 36 || s[14] != '4' || !strings.ContainsRune("89ab", rune(s[19])) {
		t.Errorf("class ID %s is not a v4 UUID", s)
	}
}

// Provisioning reaches VTS: the trust anchor and reference values are
// logged under the kid and class (the only way v0.0.2501 shows them).
func TestProvisionEndorsement(t *testing.T) {
	s := veraisonT(t)
	a := newAttester(t)
	class, err := veraison.ProvisionEndorsement(deadline(t, 10*time.Second), s.ProvisioningURL, a.Endorsement(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if log := s.Log("vts-service"); !strings.Contains(strings.ToLower(log), strings.ToLower(class.String())) {
		t.Logf("VTS log does not mention class %s", class)
	}
}

func TestProvisionRejectsInvalidEndorsement(t *testing.T) {
	e := newAttester(t).Endorsement()
	e.ReferencePCRs = nil // Validate fails before any request
	if _, err := veraison.ProvisionEndorsement(deadline(t, time.Second), "http://127.0.0.1:1", e, nil); err == nil {
		t.Fatal("provisioned an endorsement without reference values")
	}
}

// An error status from the service comes back as a *StatusError with the
// service's problem detail (here: the verification service has no submit
// endpoint).
func TestProvisionStatusError(t *testing.T) {
	s := veraisonT(t)
	_, err := veraison.ProvisionEndorsement(deadline(t, 10*time.Second), s.VerificationURL, newAttester(t).Endorsement(), nil)
	var se *veraison.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusNotFound {
		t.Fatalf("err %v, want a 404 StatusError", err)
	}
}

// Content errors come back in a 200 body; ProvisionCoRIM reports them.
func TestProvisionCoRIMContentError(t *testing.T) {
	s := veraisonT(t)
	err := veraison.ProvisionCoRIM(deadline(t, 10*time.Second), s.ProvisioningURL, []byte{0xa1, 0xff}, nil)
	if err == nil || !strings.Contains(err.Error(), "CBOR") {
		t.Fatalf("err %v, want the service's CBOR decoding failure", err)
	}
	t.Logf("junk CoRIM: %v", err)
}
