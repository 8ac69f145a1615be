package psa_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"flag"
	"math/big"
	"os"
	"testing"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/psa"
	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

var update = flag.Bool("update", false, "rewrite testdata/parser_vectors.json")

const vectorsPath = "testdata/parser_vectors.json"

// vectorFile is the PSA token decoder's parser vectors, in the manner of
// Wycheproof: each token with the verdict Decode then Verify (against the
// file's endorsement and challenge) must reach.
type vectorFile struct {
	Algorithm string   `json:"algorithm"`
	Header    []string `json:"header"`
	// InstanceID, IAK (PEM-less DER SPKI) and Components (index to
	// measurement) are the endorsement; Challenge the expected psa-nonce.
	InstanceID string            `json:"instanceId"`
	IAK        string            `json:"iak"`
	Components map[string]string `json:"components"`
	Challenge  string            `json:"challenge"`
	Tests      []vector          `json:"tests"`
}

type vector struct {
	TcID    int    `json:"tcId"`
	Comment string `json:"comment"`
	Token   string `json:"token"`
	// Result is "valid", or "invalid" with the reason code.
	Result string `json:"result"`
	Reason string `json:"reason,omitempty"`
}

// vectorKey derives a fixed P-256 key from a label, so regenerated
// vectors keep their keys.
func vectorKey(label string) *ecdsa.PrivateKey {
	d := sha256.Sum256([]byte("attested-tls psa vectors v1: " + label))
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		panic(err)
	}
	return k
}

// claims is a PSA profile-2 claims map by CBOR key, so vectors can break
// what psatoken's setters refuse to build.
type claims map[int]any

func goodClaims(inst, nonce, meas []byte) claims {
	return claims{
		265:  psa.Profile,
		2394: psa.ClientID,
		2395: psa.SecuredLifeCycle,
		2396: psa.ImplementationID(inst),
		2399: []map[int]any{{1: psa.ComponentLabel(0), 2: meas, 5: psa.SignerID(inst)}},
		10:   nonce,
		256:  inst,
	}
}

func (c claims) with(k int, v any) claims {
	out := claims{}
	for kk, vv := range c {
		out[kk] = vv
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

func sign1(t *testing.T, key *ecdsa.PrivateKey, payload []byte) []byte {
	t.Helper()
	s, err := cose.NewSigner(cose.AlgorithmES256, key)
	if err != nil {
		t.Fatal(err)
	}
	m := cose.NewSign1Message()
	m.Headers.Protected.SetAlgorithm(cose.AlgorithmES256)
	m.Payload = payload
	if err := m.Sign(rand.Reader, nil, s); err != nil {
		t.Fatal(err)
	}
	b, err := m.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func generateVectors(t *testing.T) vectorFile {
	iak, other := vectorKey("iak"), vectorKey("another iak")
	inst := append([]byte{0x01}, bytes.Repeat([]byte{0x5a}, 32)...)
	nonce := bytes.Repeat([]byte{0xc7}, 32)
	meas := sha256.Sum256([]byte("component 0"))
	good := goodClaims(inst, nonce, meas[:])
	enc := func(c claims) []byte {
		b, err := cbor.Marshal(map[int]any(c))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	valid := sign1(t, iak, enc(good))
	flipped := bytes.Clone(valid)
	flipped[len(flipped)-1] ^= 1
	spki, _ := x509.MarshalPKIXPublicKey(&iak.PublicKey)
	f := vectorFile{
		Algorithm: "PSA initial attestation token (" + psa.Profile + "), COSE_Sign1 ES256, as psa.Decode and psa.Verify judge it",
		Header: []string{
			"Each token is decoded, then verified against the endorsement (instance ID, IAK, component reference values) and the challenge given here.",
			"result valid: every check passes; invalid: reason is the first check that fails (psa.* or attest reason codes).",
		},
		InstanceID: hex.EncodeToString(inst), IAK: hex.EncodeToString(spki),
		Components: map[string]string{"0": hex.EncodeToString(meas[:])},
		Challenge:  hex.EncodeToString(nonce),
	}
	add := func(comment string, token []byte) {
		f.Tests = append(f.Tests, vector{TcID: len(f.Tests) + 1, Comment: comment, Token: hex.EncodeToString(token)})
	}
	add("a token as the software attester makes it", valid)
	add("the signature's last byte flipped", flipped)
	add("signed by another key", sign1(t, other, enc(good)))
	add("truncated by one byte", valid[:len(valid)-1])
	add("empty", nil)
	add("a CBOR map, not a COSE_Sign1", enc(good))
	add("payload not CBOR", sign1(t, iak, []byte{0xff, 0x00}))
	add("profile 1 claim keys", sign1(t, iak, enc(claims{-75000: "PSA_IOT_PROFILE_1", -75008: nonce, -75009: inst})))
	add("another eat_profile", sign1(t, iak, enc(good.with(265, "http://arm.com/psa/1.0.0"))))
	add("a 31-byte nonce", sign1(t, iak, enc(good.with(10, nonce[:31]))))
	add("a 48-byte nonce other than the challenge", sign1(t, iak, enc(good.with(10, bytes.Repeat([]byte{1}, 48)))))
	add("another 32-byte nonce", sign1(t, iak, enc(good.with(10, bytes.Repeat([]byte{1}, 32)))))
	add("no nonce", sign1(t, iak, enc(good.with(10, nil))))
	add("no instance ID", sign1(t, iak, enc(good.with(256, nil))))
	add("an instance ID of another type (0x02)", sign1(t, iak, enc(good.with(256, append([]byte{0x02}, inst[1:]...)))))
	add("another instance", sign1(t, iak, enc(good.with(256, append([]byte{0x01}, bytes.Repeat([]byte{0x5b}, 32)...)))))
	add("another implementation ID", sign1(t, iak, enc(good.with(2396, bytes.Repeat([]byte{3}, 32)))))
	add("lifecycle: non-PSA-RoT debug", sign1(t, iak, enc(good.with(2395, 0x4000))))
	add("lifecycle: decommissioned", sign1(t, iak, enc(good.with(2395, 0x6000))))
	add("no software components", sign1(t, iak, enc(good.with(2399, nil))))
	add("a component measuring something else", sign1(t, iak, enc(good.with(2399,
		[]map[int]any{{1: psa.ComponentLabel(0), 2: bytes.Repeat([]byte{9}, 32), 5: psa.SignerID(inst)}}))))
	add("an extra component", sign1(t, iak, enc(good.with(2399, []map[int]any{
		{1: psa.ComponentLabel(0), 2: meas[:], 5: psa.SignerID(inst)}, {1: psa.ComponentLabel(1), 2: meas[:], 5: psa.SignerID(inst)}}))))
	add("the component reported twice", sign1(t, iak, enc(good.with(2399, []map[int]any{
		{1: psa.ComponentLabel(0), 2: meas[:], 5: psa.SignerID(inst)}, {1: psa.ComponentLabel(0), 2: meas[:], 5: psa.SignerID(inst)}}))))
	add("no client ID", sign1(t, iak, enc(good.with(2394, nil))))
	for i := range f.Tests {
		f.Tests[i].Result, f.Tests[i].Reason = judge(t, f, f.Tests[i])
	}
	return f
}

// judge is what Decode and Verify make of one vector.
func judge(t *testing.T, f vectorFile, v vector) (result, reason string) {
	token, _ := hex.DecodeString(v.Token)
	tok, err := psa.Decode(token)
	if err == nil {
		err = psa.Verify(tok, endorsementOf(t, f), mustHex(t, f.Challenge))
	}
	if err == nil {
		return "valid", ""
	}
	r := attest.ReasonOf(err)
	if r == "" {
		t.Fatalf("tcId %d: %v is not a rejection", v.TcID, err)
	}
	return "invalid", string(r)
}

func mustHex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func endorsementOf(t testing.TB, f vectorFile) parsectpm.Endorsement {
	k, err := x509.ParsePKIXPublicKey(mustHex(t, f.IAK))
	if err != nil {
		t.Fatal(err)
	}
	e := parsectpm.Endorsement{KeyID: mustHex(t, f.InstanceID), AttestationKey: k.(*ecdsa.PublicKey), MediaType: psa.MediaType,
		PCRSelection: parsectpm.PCRSelection{Hash: crypto.SHA256}, ReferencePCRs: map[int][]byte{}}
	for i, m := range f.Components {
		n, _ := new(big.Int).SetString(i, 10)
		e.PCRSelection.PCRs = append(e.PCRSelection.PCRs, int(n.Int64()))
		e.ReferencePCRs[int(n.Int64())] = mustHex(t, m)
	}
	return e
}

// TestParserVectors holds the decoder to the published verdicts; -update
// regenerates them (new signatures, the same verdicts unless the code
// changed).
func TestParserVectors(t *testing.T) {
	if *update {
		b, err := json.MarshalIndent(generateVectors(t), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsPath, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	var f vectorFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Tests) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range f.Tests {
		if res, reason := judge(t, f, v); res != v.Result || reason != v.Reason {
			t.Errorf("tcId %d (%s): %s %s, want %s %s", v.TcID, v.Comment, res, reason, v.Result, v.Reason)
		}
	}
}

// FuzzDecode: no input makes the decoder or the verifier panic or hang,
// and an input that verifies decodes the same way twice.
func FuzzDecode(f *testing.F) {
	b, err := os.ReadFile(vectorsPath)
	if err != nil {
		f.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(b, &vf); err != nil {
		f.Fatal(err)
	}
	for _, v := range vf.Tests {
		tok, _ := hex.DecodeString(v.Token)
		f.Add(tok)
	}
	e, challenge := endorsementOf(f, vf), mustHex(f, vf.Challenge)
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := psa.Decode(data)
		if err != nil {
			if attest.ReasonOf(err) == "" {
				t.Fatalf("decode error without a reason: %v", err)
			}
			return
		}
		if err := psa.Verify(tok, e, challenge); err != nil && attest.ReasonOf(err) == "" {
			t.Fatalf("verify error without a reason: %v", err)
		}
		if _, err := tok.InstanceID(); err != nil && attest.ReasonOf(err) == "" {
			t.Fatal(err)
		}
	})
}
