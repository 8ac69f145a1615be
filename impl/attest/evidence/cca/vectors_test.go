package cca_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha512"
	"flag"
	"testing"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/cca"
	"github.com/attested-tls/conformance/impl/attest/evidence/internal/evtest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/psa"
	"github.com/fxamacker/cbor/v2"
)

var update = flag.Bool("update", false, "rewrite testdata/parser_vectors.json")

const vectorsPath = "testdata/parser_vectors.json"

// check is the verdict of the decoder and the verifier on one token.
func check(e parsectpm.Endorsement, challenge, token []byte) error {
	ev, err := cca.Decode(token)
	if err != nil {
		return err
	}
	return cca.Verify(ev, e, challenge)
}

// collection is the CBOR collection of a CCA token (tag 399: platform
// token under 44234, realm token under 44241), so vectors can break it.
type collection map[int][]byte

func encodeCollection(t *testing.T, c collection) []byte {
	b, err := cbor.Marshal(cbor.Tag{Number: 399, Content: map[int][]byte(c)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func generateVectors(t *testing.T) evtest.File {
	d := sha512.Sum384([]byte("attested-tls evidence vectors v1: cca rak"))
	rak, err := ecdsa.ParseRawPrivateKey(elliptic.P384(), d[:])
	if err != nil {
		t.Fatal(err)
	}
	inst := append([]byte{0x01}, bytes.Repeat([]byte{0x6c}, 32)...)
	a, err := cca.New(cca.Config{Config: psa.Config{IAK: evtest.Key("cca iak"), IdentityKey: evtest.Key("cca tik"), InstanceID: inst, Components: []int{0}}, RAK: rak})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Extend(0, []byte("firmware")); err != nil {
		t.Fatal(err)
	}
	e := a.Endorsement()
	challenge := bytes.Repeat([]byte{0xc5}, 32)
	ch := attest.Challenge{Nonce: challenge}
	f, err := evtest.New("Arm CCA token (platform and realm tokens in a CBOR collection), as cca.Decode and cca.Verify judge it",
		[]string{
			"Each token is decoded, then verified against the endorsement (instance ID, platform IAK, platform component reference values; the realm's reference values derive from the instance ID, see package cca) and the challenge given here, which the realm token carries zero-padded to 64 bytes.",
			"result valid: every check passes; invalid: reason is the first check that fails (cca.* or attest reason codes).",
		}, e, challenge)
	if err != nil {
		t.Fatal(err)
	}
	token := func(faults parsectpm.Faults) []byte {
		a.SetFaults(faults)
		defer a.SetFaults(parsectpm.Faults{})
		ev, err := a.Evidence(context.Background(), ch)
		if err != nil {
			t.Fatal(err)
		}
		return ev.Data
	}
	valid := token(parsectpm.Faults{})
	var c collection
	var tag cbor.RawTag
	if err := cbor.Unmarshal(valid, &tag); err != nil {
		t.Fatal(err)
	}
	if err := cbor.Unmarshal(tag.Content, &c); err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(valid)
	flipped[len(flipped)-1] ^= 1
	f.Add("a token as the software attester makes it", valid)
	f.Add("the realm token's signature's last byte flipped", flipped)
	f.Add("platform token signed by another IAK", token(parsectpm.Faults{UnendorsedKey: true}))
	f.Add("realm challenge of another handshake", token(parsectpm.Faults{QualifyingData: bytes.Repeat([]byte{1}, 32)}))
	f.Add("platform reports another component", token(parsectpm.Faults{QuotePCRs: []int{1}}))
	f.Add("truncated by one byte", valid[:len(valid)-1])
	f.Add("empty", nil)
	f.Add("the collection without its tag", tag.Content)
	f.Add("no realm token", encodeCollection(t, collection{44234: c[44234]}))
	f.Add("no platform token", encodeCollection(t, collection{44241: c[44241]}))
	f.Add("the tokens swapped", encodeCollection(t, collection{44234: c[44241], 44241: c[44234]}))
	f.Add("the platform token of another realm's collection", encodeCollection(t, collection{44234: c[44234], 44241: mustRealmOf(t)}))
	psaTok, err := psa.New(psa.Config{})
	if err != nil {
		t.Fatal(err)
	}
	pev, err := psaTok.Evidence(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	f.Add("a PSA token", pev.Data)
	if err := f.Judge(func(token []byte) error { return check(e, challenge, token) }); err != nil {
		t.Fatal(err)
	}
	return f
}

// mustRealmOf is the realm token of a fresh attester (another RAK).
func mustRealmOf(t *testing.T) []byte {
	a, err := cca.New(cca.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := a.Evidence(context.Background(), attest.Challenge{Nonce: bytes.Repeat([]byte{0xc5}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	var tag cbor.RawTag
	var c collection
	if err := cbor.Unmarshal(ev.Data, &tag); err != nil {
		t.Fatal(err)
	}
	if err := cbor.Unmarshal(tag.Content, &c); err != nil {
		t.Fatal(err)
	}
	return c[44241]
}

// TestParserVectors holds the decoder to the published verdicts; -update
// regenerates them.
func TestParserVectors(t *testing.T) {
	evtest.Test(t, vectorsPath, cca.MediaType, *update, generateVectors, check)
}

// FuzzDecode: no input makes the decoder or the verifier panic or hang.
func FuzzDecode(f *testing.F) { evtest.Fuzz(f, vectorsPath, cca.MediaType, check) }
