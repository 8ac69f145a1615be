package parsecac_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"flag"
	"math/big"
	"testing"

	"github.com/attested-tls/conformance/impl/attest/evidence/internal/evtest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsecac"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/fxamacker/cbor/v2"
	"github.com/google/go-tpm/tpm2"
)

var update = flag.Bool("update", false, "rewrite testdata/parser_vectors.json")

const vectorsPath = "testdata/parser_vectors.json"

// Attributes Parsec's TPM provider gives a signing key, and the ones the
// format requires.
const (
	goodAttrs = parsectpm.AttrFixedTPM | parsectpm.AttrFixedParent | parsectpm.AttrSensitiveDataOrigin |
		parsectpm.AttrUserWithAuth | parsectpm.AttrSign
)

// public is a P-256 signing key's TPMT_PUBLIC with attributes attrs.
func public(t *testing.T, k *ecdsa.PublicKey, attrs uint32, curve uint16) []byte {
	t.Helper()
	pt, err := k.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	p := parsectpm.Public{NameAlg: parsectpm.AlgSHA256, Attributes: attrs, Symmetric: parsectpm.AlgNull,
		Scheme: parsectpm.AlgECDSA, SchemeHash: parsectpm.AlgSHA256, CurveID: curve, KDF: parsectpm.AlgNull,
		X: pt[1:33], Y: pt[33:]}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func name(t *testing.T, pub []byte) []byte {
	t.Helper()
	n, err := parsectpm.Name(pub)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// fakeEK is an RSA public key made from a label: the format compares EKs
// byte for byte and never uses them.
func fakeEK(label string) []byte {
	var n []byte
	for i := byte(0); len(n) < 256; i++ {
		d := sha256.Sum256(append([]byte(label), i))
		n = append(n, d[:]...)
	}
	n[0] |= 0x80
	n[255] |= 1
	return x509.MarshalPKCS1PublicKey(&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537})
}

func sign(t *testing.T, k *ecdsa.PrivateKey, qd []byte) []byte {
	t.Helper()
	d, err := parsecac.SignedDigest(qd)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ecdsa.SignASN1(rand.Reader, k, d)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func generateVectors(t *testing.T) evtest.File {
	tik, other := evtest.Key("parsec identity key"), evtest.Key("parsec another key")
	ek := fakeEK("parsec EK")
	second := evtest.Key("parsec second activated key")
	pub := public(t, &tik.PublicKey, goodAttrs, parsectpm.CurveNISTP256)
	nm := name(t, pub)
	secondPub := public(t, &second.PublicKey, goodAttrs, parsectpm.CurveNISTP256)
	challenge := bytes.Repeat([]byte{0xa5}, 32)
	e := parsecac.Endorse(ek, nm, name(t, secondPub))
	f, err := evtest.New("Parsec credential-activation evidence ("+parsecac.MediaType+"), as parsecac.Decode and parsecac.Verify judge it",
		[]string{
			"Each token is decoded, then verified against the endorsement (key names activated under an EK) when the token names its kid, and the challenge given here; no TLS identity key is given.",
			"result valid: every check passes; invalid: reason is the first check that fails (parsec-activation.* or attest reason codes).",
		}, e, challenge)
	if err != nil {
		t.Fatal(err)
	}
	good := map[string]any{"kid": e.KeyID, "name": nm, "pubArea": pub, "ek": ek, "qd": challenge, "sig": sign(t, tik, challenge)}
	with := func(k string, v any) map[string]any {
		out := map[string]any{}
		for kk, vv := range good {
			out[kk] = vv
		}
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
		return out
	}
	enc := func(m any) []byte {
		b, err := cbor.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// key is evidence for another public area, named and signed by its key.
	key := func(k *ecdsa.PrivateKey, p []byte) []byte {
		m := with("pubArea", p)
		m["name"] = name(t, p)
		m["sig"] = sign(t, k, challenge)
		return enc(m)
	}
	valid, err := parsecac.Encode(&parsecac.Evidence{KID: e.KeyID, Name: nm, Public: pub, EK: ek, QualifyingData: challenge, Sig: good["sig"].([]byte)})
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good["sig"].([]byte))
	flipped[len(flipped)-1] ^= 1
	otherName := bytes.Clone(nm)
	otherName[5] ^= 1
	rsaPub, err := tpm2.Marshal(tpm2.TPMTPublic{Type: tpm2.TPMAlgRSA, NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{FixedTPM: true, FixedParent: true, SensitiveDataOrigin: true, SignEncrypt: true},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgRSA, &tpm2.TPMSRSAParms{
			Symmetric: tpm2.TPMTSymDefObject{Algorithm: tpm2.TPMAlgNull}, Scheme: tpm2.TPMTRSAScheme{Scheme: tpm2.TPMAlgNull}, KeyBits: 2048}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgRSA, &tpm2.TPM2BPublicKeyRSA{Buffer: bytes.Repeat([]byte{0xc3}, 256)})}), nil
	if err != nil {
		t.Fatal(err)
	}
	badNameAlg := bytes.Clone(pub)
	badNameAlg[2], badNameAlg[3] = 0x00, 0x99
	truncated := pub[:len(pub)-1]

	add := f.Add
	add("evidence as the attester makes it (CTAP2 canonical CBOR)", valid)
	add("map keys in another order", enc(good))
	add("an unknown key is ignored", enc(with("extra", []byte{1})))
	add("the signature's last byte flipped", enc(with("sig", flipped)))
	add("signed by another key", enc(with("sig", sign(t, other, challenge))))
	add("the signature is not DER", enc(with("sig", bytes.Repeat([]byte{1}, 64))))
	add("signed over the challenge, carrying another", enc(with("qd", bytes.Repeat([]byte{1}, 32))))
	qdOther := with("qd", []byte("a nonce from another handshake"))
	qdOther["sig"] = sign(t, tik, qdOther["qd"].([]byte))
	add("bound to another challenge", enc(qdOther))
	add("a name that is not the public area's", enc(with("name", otherName)))
	add("a public area with an unknown nameAlg", enc(with("pubArea", badNameAlg)))
	add("an RSA key", key(tik, rsaPub))
	add("a key on an unsupported curve", key(tik, public(t, &tik.PublicKey, goodAttrs, 0x0020)))
	add("a truncated public area", key(tik, truncated))
	add("a key that may leave the TPM (no fixedTPM)", key(tik, public(t, &tik.PublicKey, goodAttrs&^parsectpm.AttrFixedTPM, parsectpm.CurveNISTP256)))
	add("a key whose parent may change (no fixedParent)", key(tik, public(t, &tik.PublicKey, goodAttrs&^parsectpm.AttrFixedParent, parsectpm.CurveNISTP256)))
	add("a key imported into the TPM (no sensitiveDataOrigin)", key(tik, public(t, &tik.PublicKey, goodAttrs&^parsectpm.AttrSensitiveDataOrigin, parsectpm.CurveNISTP256)))
	add("a key that does not sign", key(tik, public(t, &tik.PublicKey, goodAttrs&^parsectpm.AttrSign, parsectpm.CurveNISTP256)))
	add("the second activated key", key(second, secondPub))
	add("another kid", enc(with("kid", parsecac.KeyID(ek, secondPub))))
	add("another TPM key, never activated", key(other, public(t, &other.PublicKey, goodAttrs, parsectpm.CurveNISTP256)))
	add("under an EK nobody endorsed", enc(with("ek", fakeEK("another EK"))))
	for _, k := range []string{"kid", "name", "pubArea", "ek", "qd", "sig"} {
		add("no "+k, enc(with(k, nil)))
		add("an empty "+k, enc(with(k, []byte{})))
	}
	add("qd as a text string", enc(with("qd", "a5a5")))
	add("truncated by one byte", valid[:len(valid)-1])
	add("empty", nil)
	add("a CBOR array", enc([]any{nm, pub, ek}))
	add("a duplicate key", append(append(append([]byte{valid[0] + 1}, valid[1:]...), enc("sig")...), enc(flipped)...))
	if err := f.Judge(func(token []byte) error { return check(e, challenge, token) }); err != nil {
		t.Fatal(err)
	}
	return f
}

// check is the verdict of the decoder and the verifier on one token: the
// endorsement is the token's when it names its kid, as a verifier finds
// it.
func check(e parsectpm.Endorsement, challenge, token []byte) error {
	ev, err := parsecac.Decode(token)
	if err != nil {
		return err
	}
	var found *parsectpm.Endorsement
	if bytes.Equal(ev.KID, e.KeyID) {
		found = &e
	}
	return parsecac.Verify(ev, found, challenge, nil)
}

// TestParserVectors holds the decoder to the published verdicts; -update
// regenerates them.
func TestParserVectors(t *testing.T) {
	evtest.Test(t, vectorsPath, parsecac.MediaType, *update, generateVectors, check)
}

// FuzzDecode: no input makes the decoder or the verifier panic or hang.
func FuzzDecode(f *testing.F) { evtest.Fuzz(f, vectorsPath, parsecac.MediaType, check) }
