package parsectpm_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"errors"
	"testing"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/fxamacker/cbor/v2"
	"github.com/google/go-tpm/tpm2"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	f := newFixture(t)
	raw := f.raw(t)
	ev, err := parsectpm.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	again, err := parsectpm.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, again) {
		t.Fatal("re-encoding changed the bytes")
	}
}

// TestCTAP2Order checks the canonical key order: shorter keys first, then
// bytewise, as CTAP2 canonical CBOR requires.
func TestCTAP2Order(t *testing.T) {
	raw := newFixture(t).raw(t)
	var m map[string]cbor.RawMessage
	if err := cbor.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	checkOrder := func(b []byte, keys ...string) {
		t.Helper()
		last := -1
		for _, k := range keys {
			i := bytes.Index(b, append([]byte{byte(0x60 + len(k))}, k...))
			if i <= last {
				t.Fatalf("key %q at %d, previous at %d", k, i, last)
			}
			last = i
		}
	}
	checkOrder(raw, "kat", "pat")
	checkOrder(m["kat"], "kid", "sig", "tpmVer", "pubArea", "certInfo")
	checkOrder(m["pat"], "kid", "sig", "tpmVer", "attestInfo")
}

func TestVerifyAccepts(t *testing.T) {
	f := newFixture(t)
	ev := f.evidence(t)
	if err := parsectpm.Verify(ev, f.e, f.qd, nil); err != nil {
		t.Fatalf("without TIK: %v", err)
	}
	if err := parsectpm.Verify(ev, f.e, f.qd, f.att.Identity().Public()); err != nil {
		t.Fatalf("with TIK: %v", err)
	}
	k, err := ev.PublicKey()
	if err != nil || !k.Equal(f.att.Identity().Public()) {
		t.Fatalf("PublicKey = %v, %v", k, err)
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	f := newFixture(t)
	good := f.evidence(t)
	enc := func(mut func(*parsectpm.Evidence)) []byte {
		ev := *good
		k, p := *good.KAT, *good.PAT
		ev.KAT, ev.PAT = &k, &p
		mut(&ev)
		b, err := cbor.Marshal(ev) // not Encode: it would refuse
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	dup := []byte{0xa2, 0x63, 'k', 'a', 't', 0xa0, 0x63, 'k', 'a', 't', 0xa0}
	for name, b := range map[string][]byte{
		"empty":         nil,
		"not a map":     {0x01},
		"truncated":     f.raw(t)[:40],
		"trailing":      append(f.raw(t), 0x00),
		"duplicate key": dup,
		"no kat":        enc(func(e *parsectpm.Evidence) { e.KAT = nil }),
		"no pat":        enc(func(e *parsectpm.Evidence) { e.PAT = nil }),
		"empty tpmVer":  enc(func(e *parsectpm.Evidence) { e.KAT.TPMVer = "" }),
		"no certInfo":   enc(func(e *parsectpm.Evidence) { e.KAT.CertInfo = nil }),
		"no attestInfo": enc(func(e *parsectpm.Evidence) { e.PAT.AttestInfo = nil }),
		"kid not UEID":  enc(func(e *parsectpm.Evidence) { e.PAT.KID = []byte{0x01, 0x02} }),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parsectpm.Decode(b)
			if got := attest.ReasonOf(err); got != parsectpm.ReasonMalformed {
				t.Fatalf("reason %q (%v), want %q", got, err, parsectpm.ReasonMalformed)
			}
		})
	}
}

// TestVerifyRejects produces one failure per check and asserts its reason.
func TestVerifyRejects(t *testing.T) {
	type tc struct {
		reason attest.Reason
		// mutate changes the fixture, the evidence or what is expected.
		mutate func(t *testing.T, f *fixture, ev *parsectpm.Evidence, tik *crypto.PublicKey)
	}
	cases := map[string]tc{
		"garbage pubArea": {parsectpm.ReasonMalformed, func(t *testing.T, f *fixture, ev *parsectpm.Evidence, _ *crypto.PublicKey) {
			ev.KAT.PubArea = []byte{0x00, 0x23, 0x00, 0x0b, 0xff}
		}},
		"truncated signature": {parsectpm.ReasonMalformed, func(t *testing.T, f *fixture, ev *parsectpm.Evidence, _ *crypto.PublicKey) {
			ev.PAT.Sig = ev.PAT.Sig[:10]
		}},
		"kid not endorsed": {parsectpm.ReasonKIDMismatch, func(t *testing.T, f *fixture, _ *parsectpm.Evidence, _ *crypto.PublicKey) {
			f.e.KeyID = append([]byte{0x01}, bytes.Repeat([]byte{7}, 32)...)
		}},
		"sha384 signature": {parsectpm.ReasonSignatureScheme, func(t *testing.T, f *fixture, ev *parsectpm.Evidence, _ *crypto.PublicKey) {
			s, err := parsectpm.ParseSignature(ev.KAT.Sig)
			if err != nil {
				t.Fatal(err)
			}
			s.Hash = parsectpm.AlgSHA384
			if ev.KAT.Sig, err = s.Marshal(); err != nil {
				t.Fatal(err)
			}
		}},
		"unendorsed key": {parsectpm.ReasonKATSignature, func(t *testing.T, f *fixture, ev *parsectpm.Evidence, _ *crypto.PublicKey) {
			f.att.SetFaults(faultsUnendorsed)
			*ev = *f.evidence(t)
		}},
		"pat signature": {parsectpm.ReasonPATSignature, func(t *testing.T, f *fixture, ev *parsectpm.Evidence, _ *crypto.PublicKey) {
			ev.PAT.Sig = bytes.Clone(ev.PAT.Sig)
			ev.PAT.Sig[len(ev.PAT.Sig)-1] ^= 1
		}},
		"bad magic": {parsectpm.ReasonBadMagic, func(t *testing.T, f *fixture, ev *parsectpm.Evidence, _ *crypto.PublicKey) {
			b := bytes.Clone(ev.KAT.CertInfo)
			b[0] = 0x00
			ev.KAT.CertInfo, ev.KAT.Sig = f.sign(t, b)
		}},
		"quote as certify": {parsectpm.ReasonBadType, func(t *testing.T, f *fixture, ev *parsectpm.Evidence, _ *crypto.PublicKey) {
			ev.KAT.CertInfo, ev.KAT.Sig = ev.PAT.AttestInfo, ev.PAT.Sig
		}},
		"certify as quote": {parsectpm.ReasonBadType, func(t *testing.T, f *fixture, ev *parsectpm.Evidence, _ *crypto.PublicKey) {
			ev.PAT.AttestInfo, ev.PAT.Sig = ev.KAT.CertInfo, ev.KAT.Sig
		}},
		"stale nonce": {parsectpm.ReasonQualifyingData, func(t *testing.T, f *fixture, ev *parsectpm.Evidence, _ *crypto.PublicKey) {
			f.att.SetFaults(faultsStale)
			*ev = *f.evidence(t)
		}},
		"quote with other nonce": {parsectpm.ReasonQualifyingData, func(t *testing.T, f *fixture, ev *parsectpm.Evidence, _ *crypto.PublicKey) {
			ev.PAT.AttestInfo, ev.PAT.Sig = f.resign(t, ev.PAT.AttestInfo, func(a *parsectpm.Attest) {
				a.ExtraData = []byte("other nonce")
			})
		}},
		"pubArea swapped": {parsectpm.ReasonCertifiedName, func(t *testing.T, f *fixture, ev *parsectpm.Evidence, _ *crypto.PublicKey) {
			f.att.SetFaults(faultsOtherKey)
			ev.KAT.PubArea = f.evidence(t).KAT.PubArea
		}},
		"rsa key": {parsectpm.ReasonKeyType, func(t *testing.T, f *fixture, ev *parsectpm.Evidence, _ *crypto.PublicKey) {
			tmpl := tpm2.RSASRKTemplate
			tmpl.ObjectAttributes.SensitiveDataOrigin = true
			ev.KAT.PubArea = tpm2.Marshal(&tmpl)
			name, err := parsectpm.Name(ev.KAT.PubArea)
			if err != nil {
				t.Fatal(err)
			}
			ev.KAT.CertInfo, ev.KAT.Sig = f.resign(t, ev.KAT.CertInfo, func(a *parsectpm.Attest) {
				a.Certify.Name = name
			})
		}},
		"not fixedTPM": {parsectpm.ReasonNotFixedTPM, func(t *testing.T, f *fixture, ev *parsectpm.Evidence, _ *crypto.PublicKey) {
			f.att.SetFaults(faultsNotFixed)
			*ev = *f.evidence(t)
		}},
		"not sensitiveDataOrigin": {parsectpm.ReasonNotSensitiveDataOrigin, func(t *testing.T, f *fixture, ev *parsectpm.Evidence, _ *crypto.PublicKey) {
			f.att.SetFaults(faultsImported)
			*ev = *f.evidence(t)
		}},
		"other key certified": {parsectpm.ReasonTIKMismatch, func(t *testing.T, f *fixture, ev *parsectpm.Evidence, tik *crypto.PublicKey) {
			f.att.SetFaults(faultsOtherKey)
			*ev = *f.evidence(t)
			*tik = f.att.Identity().Public()
		}},
		"tik of wrong type": {parsectpm.ReasonTIKMismatch, func(t *testing.T, f *fixture, ev *parsectpm.Evidence, tik *crypto.PublicKey) {
			*tik = "not a key"
		}},
		"selection differs": {parsectpm.ReasonPCRSelection, func(t *testing.T, f *fixture, ev *parsectpm.Evidence, _ *crypto.PublicKey) {
			f.e.PCRSelection.PCRs = []int{0, 1}
		}},
		"two banks": {parsectpm.ReasonPCRSelection, func(t *testing.T, f *fixture, ev *parsectpm.Evidence, _ *crypto.PublicKey) {
			ev.PAT.AttestInfo, ev.PAT.Sig = f.resign(t, ev.PAT.AttestInfo, func(a *parsectpm.Attest) {
				a.Quote.PCRSelect = append(a.Quote.PCRSelect, a.Quote.PCRSelect[0])
			})
		}},
		"measured boot changed": {parsectpm.ReasonPCRDigest, func(t *testing.T, f *fixture, ev *parsectpm.Evidence, _ *crypto.PublicKey) {
			if err := f.att.Extend(1, []byte("unexpected driver")); err != nil {
				t.Fatal(err)
			}
			*ev = *f.evidence(t)
		}},
	}
	seen := map[attest.Reason]bool{}
	for name, c := range cases {
		seen[c.reason] = true
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			ev := f.evidence(t)
			var tik crypto.PublicKey
			c.mutate(t, f, ev, &tik)
			err := parsectpm.Verify(ev, f.e, f.qd, tik)
			var rej *attest.Rejection
			if !errors.As(err, &rej) || rej.Reason != c.reason {
				t.Fatalf("got %v, want reason %q", err, c.reason)
			}
		})
	}
	for _, r := range parsectpm.Reasons {
		if !seen[r] {
			t.Errorf("no case for reason %q", r)
		}
	}
}

func TestVerifyRefusesBadEndorsement(t *testing.T) {
	f := newFixture(t)
	ev := f.evidence(t)
	for name, mut := range map[string]func(e *parsectpm.Endorsement){
		"no key":            func(e *parsectpm.Endorsement) { e.AttestationKey = nil },
		"no PCRs":           func(e *parsectpm.Endorsement) { e.PCRSelection.PCRs = nil },
		"missing ref":       func(e *parsectpm.Endorsement) { e.ReferencePCRs = map[int][]byte{} },
		"sha1 bank":         func(e *parsectpm.Endorsement) { e.PCRSelection.Hash = crypto.SHA1 },
		"PCR 24":            func(e *parsectpm.Endorsement) { e.PCRSelection.PCRs = []int{24} },
		"kid not a UEID":    func(e *parsectpm.Endorsement) { e.KeyID = []byte{9} },
		"key without curve": func(e *parsectpm.Endorsement) { e.AttestationKey = &ecdsa.PublicKey{} },
	} {
		e := f.att.Endorsement()
		mut(&e)
		err := parsectpm.Verify(ev, e, f.qd, nil)
		if err == nil || attest.ReasonOf(err) != "" {
			t.Errorf("%s: got %v, want a plain error", name, err)
		}
	}
}

// TestNonCanonicalYesNo: veraison/parsec's encoder writes clockInfo.safe =
// 6; Veraison reads it, so must we. Trailing bytes stay refused.
func TestNonCanonicalYesNo(t *testing.T) {
	f := newFixture(t)
	ev := f.evidence(t)
	a, err := parsectpm.ParseAttest(ev.KAT.CertInfo)
	if err != nil {
		t.Fatal(err)
	}
	safe := 4 + 2 + 2 + len(a.QualifiedSigner) + 2 + len(a.ExtraData) + 8 + 4 + 4
	b := bytes.Clone(ev.KAT.CertInfo)
	if b[safe] != 1 {
		t.Fatalf("safe byte at %d is %d", safe, b[safe])
	}
	b[safe] = 6
	ev.KAT.CertInfo, ev.KAT.Sig = f.sign(t, b)
	if err := parsectpm.Verify(ev, f.e, f.qd, nil); err != nil {
		t.Fatalf("safe = 6 refused: %v", err)
	}
	ev.KAT.CertInfo, ev.KAT.Sig = f.sign(t, append(b, 0))
	if err := parsectpm.Verify(ev, f.e, f.qd, nil); attest.ReasonOf(err) != parsectpm.ReasonMalformed {
		t.Fatalf("trailing byte: %v", err)
	}
	if _, err := parsectpm.ParsePublic(append(bytes.Clone(ev.KAT.PubArea), 0)); err == nil {
		t.Error("TPMT_PUBLIC with a trailing byte accepted")
	}
	if _, err := parsectpm.ParseSignature(append(bytes.Clone(ev.KAT.Sig), 0)); err == nil {
		t.Error("TPMT_SIGNATURE with a trailing byte accepted")
	}
}
