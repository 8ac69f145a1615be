package parsectpm_test

import (
	"bytes"
	"slices"
	"testing"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/google/go-tpm/tpm2"
)

// FuzzDecode: Decode never panics, and whatever it accepts re-encodes to
// canonical bytes that decode to the same evidence.
func FuzzDecode(f *testing.F) {
	fx := newFixture(f)
	raw := fx.raw(f)
	f.Add(raw)
	f.Add(raw[:len(raw)/2])
	f.Add([]byte{0xa2, 0x63, 'k', 'a', 't', 0xa0, 0x63, 'p', 'a', 't', 0xa0})
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := parsectpm.Decode(data)
		if err != nil {
			if attest.ReasonOf(err) != parsectpm.ReasonMalformed {
				t.Fatalf("decode error without the malformed reason: %v", err)
			}
			return
		}
		enc, err := parsectpm.Encode(ev)
		if err != nil {
			t.Fatalf("accepted evidence does not encode: %v", err)
		}
		again, err := parsectpm.Decode(enc)
		if err != nil {
			t.Fatalf("canonical form does not decode: %v", err)
		}
		if !ev.Equal(again) {
			t.Fatal("round trip changed the evidence")
		}
		enc2, err := parsectpm.Encode(again)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatal("canonical encoding is not stable")
		}
	})
}

// FuzzVerify: Verify never panics on any decodable input, rejects only with
// this package's reasons, and what it accepts stays accepted in canonical
// form. (The seed is built afresh in each fuzz worker, with its own clock
// and signature, so "accepted" cannot be compared with one genuine token.)
func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	f.Add(fx.raw(f))
	tik := fx.att.Identity().Public()
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := parsectpm.Decode(data)
		if err != nil {
			return
		}
		err = parsectpm.Verify(ev, fx.e, fx.qd, tik)
		if err == nil {
			enc, err := parsectpm.Encode(ev)
			if err != nil {
				t.Fatal(err)
			}
			again, err := parsectpm.Decode(enc)
			if err != nil {
				t.Fatal(err)
			}
			if err := parsectpm.Verify(again, fx.e, fx.qd, tik); err != nil {
				t.Fatalf("canonical form of accepted evidence rejected: %v", err)
			}
			return
		}
		if r := attest.ReasonOf(err); !slices.Contains(parsectpm.Reasons, r) {
			t.Fatalf("rejection without a known reason: %v", err)
		}
	})
}

// FuzzParseTPM: the TPM structure parsers never panic, accept only input
// that re-encodes at its own length (no trailing bytes) to a stable
// encoding, and agree with go-tpm's reflective decoder on what they accept.
func FuzzParseTPM(f *testing.F) {
	ev := newFixture(f).evidence(f)
	for _, b := range [][]byte{ev.KAT.CertInfo, ev.PAT.AttestInfo, ev.KAT.PubArea, ev.KAT.Sig} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if a, err := parsectpm.ParseAttest(data); err == nil {
			stable(t, "TPMS_ATTEST", data, a, parsectpm.ParseAttest)
			g, err := tpm2.Unmarshal[tpm2.TPMSAttest](data)
			if err != nil {
				t.Fatalf("TPMS_ATTEST accepted here, refused by go-tpm: %v", err)
			}
			if uint16(g.Type) != a.Type || !bytes.Equal(g.ExtraData.Buffer, a.ExtraData) || !bytes.Equal(g.QualifiedSigner.Buffer, a.QualifiedSigner) ||
				g.ClockInfo.Safe != a.ClockInfo.Safe || g.ClockInfo.Clock != a.ClockInfo.Clock || g.FirmwareVersion != a.FirmwareVersion {
				t.Fatalf("TPMS_ATTEST read differently: %+v, go-tpm %+v", a, g)
			}
		}
		if p, err := parsectpm.ParsePublic(data); err == nil {
			stable(t, "TPMT_PUBLIC", data, p, parsectpm.ParsePublic)
			if _, err := parsectpm.Name(data); err != nil && p.NameAlg == parsectpm.AlgSHA256 {
				t.Fatalf("no Name for a sha256 object: %v", err)
			}
			g, err := tpm2.Unmarshal[tpm2.TPMTPublic](data)
			if err != nil {
				t.Fatalf("TPMT_PUBLIC accepted here, refused by go-tpm: %v", err)
			}
			if uint16(g.NameAlg) != p.NameAlg || g.ObjectAttributes.FixedTPM != (p.Attributes&parsectpm.AttrFixedTPM != 0) ||
				g.ObjectAttributes.SensitiveDataOrigin != (p.Attributes&parsectpm.AttrSensitiveDataOrigin != 0) {
				t.Fatalf("TPMT_PUBLIC read differently: %+v, go-tpm %+v", p, g)
			}
		}
		if s, err := parsectpm.ParseSignature(data); err == nil {
			stable(t, "TPMT_SIGNATURE", data, s, parsectpm.ParseSignature)
			g, err := tpm2.Unmarshal[tpm2.TPMTSignature](data)
			if err != nil {
				t.Fatalf("TPMT_SIGNATURE accepted here, refused by go-tpm: %v", err)
			}
			if uint16(g.SigAlg) != s.Alg {
				t.Fatalf("TPMT_SIGNATURE algorithm %#x, go-tpm %#x", s.Alg, g.SigAlg)
			}
		}
	})
}

func stable[T interface{ Marshal() ([]byte, error) }](t *testing.T, what string, in []byte, v T, parse func([]byte) (T, error)) {
	t.Helper()
	out, err := v.Marshal()
	if err != nil {
		t.Fatalf("%s: accepted but does not re-encode: %v", what, err)
	}
	if len(out) != len(in) {
		t.Fatalf("%s: %d bytes accepted, %d re-encoded", what, len(in), len(out))
	}
	again, err := parse(out)
	if err != nil {
		t.Fatalf("%s: re-encoding does not parse: %v", what, err)
	}
	if b, err := again.Marshal(); err != nil || !bytes.Equal(b, out) {
		t.Fatalf("%s: re-encoding is not stable", what)
	}
}
