package parsectpm_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"slices"
	"testing"

	legacy "github.com/google/go-tpm/legacy/tpm2"
)

// TestLegacyDecoderAgrees reads our evidence with go-tpm's legacy tpm2 API,
// the one veraison/parsec (go-tpm v0.3.3) decodes with, and repeats the
// checks its KAT/PAT Validate and Verify make, so Veraison's PARSEC_TPM
// scheme reads the same thing we do.
func TestLegacyDecoderAgrees(t *testing.T) {
	f := newFixture(t)
	ev := f.evidence(t)

	for name, tok := range map[string]struct{ signed, sig []byte }{
		"kat": {ev.KAT.CertInfo, ev.KAT.Sig},
		"pat": {ev.PAT.AttestInfo, ev.PAT.Sig},
	} {
		s, err := legacy.DecodeSignature(bytes.NewBuffer(tok.sig))
		if err != nil {
			t.Fatalf("%s sig: %v", name, err)
		}
		if s.Alg != legacy.AlgECDSA || s.ECC.HashAlg != legacy.AlgSHA256 {
			t.Fatalf("%s sig alg %v hash %v", name, s.Alg, s.ECC.HashAlg)
		}
		d := sha256.Sum256(tok.signed)
		if !ecdsa.Verify(&f.ak.PublicKey, d[:], s.ECC.R, s.ECC.S) {
			t.Fatalf("%s signature does not verify through the legacy decoder", name)
		}
	}

	cert, err := legacy.DecodeAttestationData(ev.KAT.CertInfo)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Type != legacy.TagAttestCertify || cert.AttestedCertifyInfo == nil {
		t.Fatalf("certInfo type %v", cert.Type)
	}
	if !bytes.Equal(cert.ExtraData, f.qd) {
		t.Fatal("certInfo extraData differs")
	}
	name := cert.AttestedCertifyInfo.Name
	if name.Handle != nil || name.Digest == nil {
		t.Fatal("certified name is not a digest")
	}
	pub, err := legacy.DecodePublic(ev.KAT.PubArea)
	if err != nil {
		t.Fatal(err)
	}
	if pub.Type != legacy.AlgECC || pub.NameAlg != name.Digest.Alg {
		t.Fatalf("pubArea type %v nameAlg %v, name alg %v", pub.Type, pub.NameAlg, name.Digest.Alg)
	}
	if pub.Attributes&legacy.FlagFixedTPM == 0 || pub.Attributes&legacy.FlagSensitiveDataOrigin == 0 {
		t.Fatalf("attributes %#x", pub.Attributes)
	}
	if d := sha256.Sum256(ev.KAT.PubArea); !bytes.Equal(d[:], name.Digest.Value) {
		t.Fatal("certified name is not the hash of pubArea")
	}
	k, err := pub.Key()
	if err != nil {
		t.Fatal(err)
	}
	if !f.att.Identity().Public().(*ecdsa.PublicKey).Equal(k) {
		t.Fatal("legacy pubArea key differs from the identity key")
	}

	quote, err := legacy.DecodeAttestationData(ev.PAT.AttestInfo)
	if err != nil {
		t.Fatal(err)
	}
	if quote.Type != legacy.TagAttestQuote || quote.AttestedQuoteInfo == nil {
		t.Fatalf("attestInfo type %v", quote.Type)
	}
	sel := quote.AttestedQuoteInfo.PCRSelection
	if sel.Hash != legacy.AlgSHA256 || !slices.Equal(sel.PCRs, f.e.PCRSelection.PCRs) {
		t.Fatalf("quoted %v %v", sel.Hash, sel.PCRs)
	}
	want, err := f.e.PCRSelection.Digest(f.e.ReferencePCRs)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(quote.AttestedQuoteInfo.PCRDigest, want) {
		t.Fatal("legacy pcrDigest differs")
	}
}
