package psa_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"flag"
	"testing"

	"github.com/attested-tls/conformance/impl/attest/evidence/internal/evtest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/psa"
	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

var update = flag.Bool("update", false, "rewrite testdata/parser_vectors.json")

const vectorsPath = "testdata/parser_vectors.json"

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

func generateVectors(t *testing.T) evtest.File {
	iak, other := evtest.Key("psa iak"), evtest.Key("psa another iak")
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
	e := parsectpm.Endorsement{KeyID: inst, AttestationKey: &iak.PublicKey, MediaType: psa.MediaType,
		PCRSelection: parsectpm.PCRSelection{Hash: crypto.SHA256, PCRs: []int{0}}, ReferencePCRs: map[int][]byte{0: meas[:]}}
	f, err := evtest.New("PSA initial attestation token ("+psa.Profile+"), COSE_Sign1 ES256, as psa.Decode and psa.Verify judge it",
		[]string{
			"Each token is decoded, then verified against the endorsement (instance ID, IAK, component reference values) and the challenge given here.",
			"result valid: every check passes; invalid: reason is the first check that fails (psa.* or attest reason codes).",
		}, e, nonce)
	if err != nil {
		t.Fatal(err)
	}
	add := f.Add
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
	if err := f.Judge(func(token []byte) error { return check(e, nonce, token) }); err != nil {
		t.Fatal(err)
	}
	return f
}

// check is the verdict of the decoder and the verifier on one token.
func check(e parsectpm.Endorsement, challenge, token []byte) error {
	tok, err := psa.Decode(token)
	if err != nil {
		return err
	}
	return psa.Verify(tok, e, challenge)
}

// TestParserVectors holds the decoder to the published verdicts; -update
// regenerates them.
func TestParserVectors(t *testing.T) {
	evtest.Test(t, vectorsPath, psa.MediaType, *update, generateVectors, check)
}

// FuzzDecode: no input makes the decoder or the verifier panic or hang.
func FuzzDecode(f *testing.F) { evtest.Fuzz(f, vectorsPath, psa.MediaType, check) }
