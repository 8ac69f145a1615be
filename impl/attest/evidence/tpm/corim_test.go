package tpm

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"testing"

	"github.com/veraison/corim/comid"
	"github.com/veraison/corim/corim"
	"github.com/veraison/swid"
)

// decodeCoRIM reads the CoRIM back the way Veraison's unsigned-CoRIM
// decoder does (scheme/common/unsignedcorim_decoder.go at v0.0.2501):
// untagged unsigned-corim-map, profile set, every tag a CoMID.
func decodeCoRIM(t *testing.T, data []byte) (profile string, comids []comid.Comid) {
	t.Helper()
	var uc corim.UnsignedCorim
	if err := uc.FromCBOR(data); err != nil {
		t.Fatal(err)
	}
	if err := uc.Valid(); err != nil {
		t.Fatal(err)
	}
	if uc.Profile == nil {
		t.Fatal("no profile")
	}
	p, err := uc.Profile.Get()
	if err != nil {
		t.Fatal(err)
	}
	for i, tag := range uc.Tags {
		if len(tag) < 4 || !bytes.Equal(tag[:3], corim.ComidTag) {
			t.Fatalf("tag %d is not a CoMID", i)
		}
		var c comid.Comid
		if err := c.FromCBOR(tag[3:]); err != nil {
			t.Fatal(err)
		}
		if err := c.Valid(); err != nil {
			t.Fatal(err)
		}
		comids = append(comids, c)
	}
	return p, comids
}

func TestCoRIM(t *testing.T) {
	a := openT(t, Config{Transport: TransportSimulator, PCRs: []int{7, 0, 1}})
	boot(t, a)
	data, err := a.CoRIM()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := a.CoRIM()
	if !bytes.Equal(data, again) {
		t.Fatal("CoRIM export is not deterministic")
	}
	profile, comids := decodeCoRIM(t, data)
	if profile != CoRIMProfile {
		t.Fatalf("profile %q", profile)
	}
	if len(comids) != 2 {
		t.Fatalf("%d CoMIDs", len(comids))
	}
	e := a.Endorsement()
	class := uuidString(a.ClassID())

	// What the PARSEC_TPM CorimExtractor's TaExtractor reads.
	keys := comids[0].Triples.AttestVerifKeys
	if keys == nil || len(*keys) != 1 || comids[0].Triples.ReferenceValues != nil {
		t.Fatal("first CoMID is not one attester-verification-keys triple")
	}
	avk := (*keys)[0]
	if got := avk.Environment.Class.ClassID; got == nil || got.Type() != comid.UUIDType || got.String() != class {
		t.Fatalf("key class %v, want uuid %s", got, class)
	}
	ueid, err := avk.Environment.Instance.GetUEID()
	if err != nil || !bytes.Equal(ueid, e.KeyID) {
		t.Fatalf("instance %x (%v), want kid %x", ueid, err, e.KeyID)
	}
	if len(avk.VerifKeys) != 1 {
		t.Fatalf("%d verification keys", len(avk.VerifKeys))
	}
	if _, ok := avk.VerifKeys[0].Value.(*comid.TaggedPKIXBase64Key); !ok {
		t.Fatalf("key is %T, want a PKIX base64 key", avk.VerifKeys[0].Value)
	}
	blk, _ := pem.Decode([]byte(avk.VerifKeys[0].String()))
	if blk == nil {
		t.Fatal("key is not PEM")
	}
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil || !a.AttestationKey().Equal(pub.(*ecdsa.PublicKey)) {
		t.Fatalf("endorsed key is not the AK (%v)", err)
	}

	// What its RefValExtractor reads: per PCR a uint key and the digest.
	rvs := comids[1].Triples.ReferenceValues
	if rvs == nil || len(rvs.Values) != 1 || comids[1].Triples.AttestVerifKeys != nil {
		t.Fatal("second CoMID is not one reference-values triple")
	}
	rv := rvs.Values[0]
	if got := rv.Environment.Class.ClassID.String(); got != class {
		t.Fatalf("reference class %s, want %s", got, class)
	}
	var pcrs []int
	for _, m := range rv.Measurements.Values {
		pcr, err := m.Key.GetKeyUint()
		if err != nil {
			t.Fatal(err)
		}
		pcrs = append(pcrs, int(pcr))
		if m.Val.Digests == nil || len(*m.Val.Digests) != 1 {
			t.Fatalf("PCR %d: want one digest", pcr)
		}
		d := (*m.Val.Digests)[0]
		if d.HashAlgID != swid.Sha256 || !bytes.Equal(d.HashValue, e.ReferencePCRs[int(pcr)]) {
			t.Fatalf("PCR %d digest %v %x, want sha-256 %x", pcr, d.HashAlgID, d.HashValue, e.ReferencePCRs[int(pcr)])
		}
	}
	if !slices.Equal(pcrs, []int{0, 1, 7}) {
		t.Fatalf("measured PCRs %v", pcrs)
	}

	// New measurements, new reference values (and a new tag identity).
	if err := a.Extend(1, []byte("new config")); err != nil {
		t.Fatal(err)
	}
	after, err := a.CoRIM()
	if err != nil {
		t.Fatal(err)
	}
	_, c2 := decodeCoRIM(t, after)
	d := (*c2[1].Triples.ReferenceValues.Values[0].Measurements.Values[1].Val.Digests)[0]
	if !bytes.Equal(d.HashValue, a.PCR(1)) || bytes.Equal(d.HashValue, e.ReferencePCRs[1]) {
		t.Fatal("reference values did not follow the extend")
	}
	if id1, id2 := comids[1].TagIdentity.TagID.String(), c2[1].TagIdentity.TagID.String(); id1 == id2 {
		t.Fatal("changed reference values kept their tag identity")
	}
}

func TestEndorsementCoRIMRejects(t *testing.T) {
	a := openT(t, Config{Transport: TransportSimulator})
	if _, err := EndorsementCoRIM(a.Endorsement(), make([]byte, 15)); err == nil {
		t.Fatal("15-byte class ID accepted")
	}
	e := a.Endorsement()
	e.ReferencePCRs = nil
	if _, err := EndorsementCoRIM(e, a.ClassID()); err == nil {
		t.Fatal("endorsement without reference values accepted")
	}
}
