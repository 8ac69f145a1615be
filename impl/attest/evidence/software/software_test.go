package software_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"slices"
	"testing"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/software"
	"github.com/google/go-tpm/tpm2"
)

var nonce = bytes.Repeat([]byte{0xab}, 32)

func newAttester(t testing.TB, cfg software.Config) *software.Attester {
	t.Helper()
	a, err := software.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func evidence(t testing.TB, a *software.Attester, ch attest.Challenge) *parsectpm.Evidence {
	t.Helper()
	ev, err := a.Evidence(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	if ev.MediaType != parsectpm.MediaType || ev.ContentFormat != 0 {
		t.Fatalf("evidence type %q/%d", ev.MediaType, ev.ContentFormat)
	}
	p, err := parsectpm.Decode(ev.Data)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEvidenceVerifies(t *testing.T) {
	a := newAttester(t, software.Config{})
	if got := a.MediaTypes(); !slices.Equal(got, []string{parsectpm.MediaType}) {
		t.Fatalf("MediaTypes = %v", got)
	}
	e := a.Endorsement()
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	if e.KeyID[0] != 0x01 || len(e.KeyID) != 33 {
		t.Fatalf("kid %x is not a 32-byte RAND UEID", e.KeyID)
	}
	if !slices.Equal(e.PCRSelection.PCRs, software.DefaultPCRs) || e.PCRSelection.Hash != crypto.SHA256 {
		t.Fatalf("selection %v", e.PCRSelection)
	}
	ev := evidence(t, a, attest.Challenge{Nonce: nonce})
	if err := parsectpm.Verify(ev, e, nonce, a.Identity().Public()); err != nil {
		t.Fatal(err)
	}
	// The identity key signs like any crypto.Signer.
	d := sha256.Sum256([]byte("transcript"))
	sig, err := a.Identity().Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil || !ecdsa.VerifyASN1(a.Identity().Public().(*ecdsa.PublicKey), d[:], sig) {
		t.Fatalf("identity signature: %v", err)
	}
}

// TestTPMShapes checks the structures carry what a TPM would put there.
func TestTPMShapes(t *testing.T) {
	a := newAttester(t, software.Config{})
	ev := evidence(t, a, attest.Challenge{Nonce: nonce})
	// go-tpm's decoder, not the format's own, so the encoder is checked
	// against an independent reading.
	pub, err := tpm2.Unmarshal[tpm2.TPMTPublic](ev.KAT.PubArea)
	if err != nil {
		t.Fatal(err)
	}
	at := pub.ObjectAttributes
	if pub.NameAlg != tpm2.TPMAlgSHA256 || !at.FixedTPM || !at.FixedParent || !at.SensitiveDataOrigin || !at.SignEncrypt || at.Restricted || at.Decrypt {
		t.Fatalf("pubArea nameAlg %v attributes %+v", pub.NameAlg, at)
	}
	cert, err := tpm2.Unmarshal[tpm2.TPMSAttest](ev.KAT.CertInfo)
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.QualifiedSigner.Buffer) != 34 || !bytes.Equal(cert.QualifiedSigner.Buffer[:2], []byte{0x00, 0x0b}) {
		t.Fatalf("qualified signer %x is not a sha256 name", cert.QualifiedSigner.Buffer)
	}
	sig, err := tpm2.Unmarshal[tpm2.TPMTSignature](ev.KAT.Sig)
	if err != nil {
		t.Fatal(err)
	}
	ecc, err := sig.Signature.ECDSA()
	if err != nil || len(ecc.SignatureR.Buffer) != 32 || len(ecc.SignatureS.Buffer) != 32 {
		t.Fatalf("signature r/s not 32 bytes: %v", err)
	}
}

func TestBinderIsQualifyingData(t *testing.T) {
	a := newAttester(t, software.Config{})
	binder := bytes.Repeat([]byte{0x42}, 32)
	ev := evidence(t, a, attest.Challenge{Nonce: nonce, Binder: binder})
	if err := parsectpm.Verify(ev, a.Endorsement(), binder, nil); err != nil {
		t.Fatalf("binder not used: %v", err)
	}
	if err := parsectpm.Verify(ev, a.Endorsement(), nonce, nil); attest.ReasonOf(err) != parsectpm.ReasonQualifyingData {
		t.Fatalf("nonce accepted in place of the binder: %v", err)
	}
}

func TestExtendIsPCREvent(t *testing.T) {
	a := newAttester(t, software.Config{})
	if err := a.Extend(3, []byte("kernel")); err != nil {
		t.Fatal(err)
	}
	m := sha256.Sum256([]byte("kernel"))
	want := sha256.Sum256(append(make([]byte, 32), m[:]...))
	if !bytes.Equal(a.PCR(3), want[:]) {
		t.Fatalf("PCR3 = %x, want %x", a.PCR(3), want)
	}
	if err := a.Extend(24, nil); err == nil {
		t.Fatal("PCR 24 accepted")
	}
	if a.PCR(-1) != nil {
		t.Fatal("PCR(-1) returned a value")
	}
}

func TestSelectChangesQuote(t *testing.T) {
	a := newAttester(t, software.Config{PCRs: []int{4, 2, 2}})
	e := a.Endorsement()
	if !slices.Equal(e.PCRSelection.PCRs, []int{2, 4}) {
		t.Fatalf("selection %v, want sorted unique", e.PCRSelection.PCRs)
	}
	if err := a.Select(10, 11); err != nil {
		t.Fatal(err)
	}
	ev := evidence(t, a, attest.Challenge{Nonce: nonce})
	if err := parsectpm.Verify(ev, e, nonce, nil); attest.ReasonOf(err) != parsectpm.ReasonPCRSelection {
		t.Fatalf("old endorsement: %v", err)
	}
	if err := parsectpm.Verify(ev, a.Endorsement(), nonce, nil); err != nil {
		t.Fatalf("new endorsement: %v", err)
	}
	for _, bad := range [][]int{nil, {-1}, {24}} {
		if err := a.Select(bad...); err == nil {
			t.Errorf("Select(%v) accepted", bad)
		}
	}
}

// TestFaults: each fault is caught by the check it targets, and the zero
// value is correct.
func TestFaults(t *testing.T) {
	cases := []struct {
		faults parsectpm.Faults
		reason attest.Reason
	}{
		{parsectpm.Faults{}, ""},
		{parsectpm.Faults{UnendorsedKey: true}, parsectpm.ReasonKATSignature},
		{parsectpm.Faults{CertifyOtherKey: true}, parsectpm.ReasonTIKMismatch},
		{parsectpm.Faults{NotFixedTPM: true}, parsectpm.ReasonNotFixedTPM},
		{parsectpm.Faults{NotSensitiveDataOrigin: true}, parsectpm.ReasonNotSensitiveDataOrigin},
		{parsectpm.Faults{QualifyingData: []byte("old nonce")}, parsectpm.ReasonQualifyingData},
		{parsectpm.Faults{QualifyingData: []byte{}}, parsectpm.ReasonQualifyingData},
	}
	for _, c := range cases {
		a := newAttester(t, software.Config{Faults: c.faults})
		ev := evidence(t, a, attest.Challenge{Nonce: nonce})
		err := parsectpm.Verify(ev, a.Endorsement(), nonce, a.Identity().Public())
		if got := attest.ReasonOf(err); got != c.reason || (c.reason == "") != (err == nil) {
			t.Errorf("%+v: got %v, want reason %q", c.faults, err, c.reason)
		}
	}
	// SetFaults switches an existing attester.
	a := newAttester(t, software.Config{})
	a.SetFaults(parsectpm.Faults{NotFixedTPM: true})
	ev := evidence(t, a, attest.Challenge{Nonce: nonce})
	if err := parsectpm.Verify(ev, a.Endorsement(), nonce, nil); attest.ReasonOf(err) != parsectpm.ReasonNotFixedTPM {
		t.Fatalf("SetFaults ignored: %v", err)
	}
}

func TestEvidenceRefuses(t *testing.T) {
	a := newAttester(t, software.Config{})
	if _, err := a.Evidence(context.Background(), attest.Challenge{Nonce: make([]byte, 65)}); err == nil {
		t.Error("65-byte qualifying data accepted; a TPM refuses it")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.Evidence(ctx, attest.Challenge{Nonce: nonce}); err == nil {
		t.Error("cancelled context ignored")
	}
	if _, err := software.New(software.Config{PCRs: []int{99}}); err == nil {
		t.Error("PCR 99 accepted")
	}
}

func BenchmarkSoftwareEvidence(b *testing.B) {
	a := newAttester(b, software.Config{})
	ch := attest.Challenge{Nonce: nonce}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Evidence(ctx, ch); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDeterministic: with fixed keys, kid, clock and RFC 6979 signing,
// two attesters produce the same evidence byte for byte; without
// Deterministic the signatures differ but still verify.
func TestDeterministic(t *testing.T) {
	ak, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tik, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	clock := software.ClockInfo{Clock: 123456, ResetCount: 3, RestartCount: 7, Safe: false}
	cfg := software.Config{AttestationKey: ak, IdentityKey: tik, KeyID: append([]byte{1}, bytes.Repeat([]byte{9}, 32)...),
		Clock: func() software.ClockInfo { return clock }, Deterministic: true}
	raw := func(cfg software.Config) []byte {
		a := newAttester(t, cfg)
		ev, err := a.Evidence(context.Background(), attest.Challenge{Nonce: nonce})
		if err != nil {
			t.Fatal(err)
		}
		if err := parsectpm.Verify(mustDecode(t, ev.Data), a.Endorsement(), nonce, tik.Public()); err != nil {
			t.Fatal(err)
		}
		return ev.Data
	}
	first, second := raw(cfg), raw(cfg)
	if !bytes.Equal(first, second) {
		t.Fatal("deterministic evidence differs between runs")
	}
	ev := mustDecode(t, first)
	for _, b := range [][]byte{ev.KAT.CertInfo, ev.PAT.AttestInfo} {
		a, err := parsectpm.ParseAttest(b)
		if err != nil {
			t.Fatal(err)
		}
		ci := a.ClockInfo
		if ci.Clock != clock.Clock || ci.ResetCount != clock.ResetCount || ci.RestartCount != clock.RestartCount || ci.Safe != clock.Safe {
			t.Fatalf("clock info %+v, want %+v", ci, clock)
		}
	}
	cfg.Deterministic = false
	if bytes.Equal(raw(cfg), first) {
		t.Fatal("randomized signing reproduced the RFC 6979 evidence")
	}
	// SignDeterministic is a function of key and message alone.
	s1, _ := software.SignDeterministic(ak, []byte("x"))
	s2, _ := software.SignDeterministic(ak, []byte("x"))
	s3, _ := software.SignDeterministic(ak, []byte("y"))
	if !bytes.Equal(s1, s2) || bytes.Equal(s1, s3) {
		t.Fatal("SignDeterministic is not deterministic per message")
	}
}

func mustDecode(t *testing.T, b []byte) *parsectpm.Evidence {
	t.Helper()
	ev, err := parsectpm.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}
