// Package binder holds the binder vectors: the inputs, intermediate values
// and outputs of each profile's binding computation, per hash (SHA-256,
// SHA-384). ta-07 binds evidence to the handshake through the handshake
// exporter secret ("h exp master") and its channel binder; ea-07 through
// attest_base and the per-key attestation binders. One test of each is
// computed over the RFC 8448 §3 handshake, so an implementation that
// already reproduces RFC 8448 can check its binder code against known
// key-schedule values.
package binder

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/impl/attest/profile/ea07"
	"github.com/attested-tls/conformance/impl/attest/profile/ta07"
	"github.com/attested-tls/conformance/impl/attest/profile/xp03"
	"github.com/attested-tls/conformance/vectors/gen/fixture"
)

// Hex is bytes that travel as lowercase hex in JSON.
type Hex = fixture.Hex

// File is one binder vector file.
type File struct {
	Binder  string `json:"binder"`
	Profile string `json:"profile"`
	Draft   string `json:"draft"`
	// Definition is the computation in the draft's notation.
	Definition []string `json:"definition"`
	Tests      []Test   `json:"tests"`
}

// Test is one computation.
type Test struct {
	ID      int    `json:"id"`
	Comment string `json:"comment"`
	// Hash is the cipher suite's hash: "SHA-256" or "SHA-384".
	Hash          string  `json:"hash"`
	Inputs        []Value `json:"inputs"`
	Intermediates []Value `json:"intermediates"`
	Outputs       []Value `json:"outputs"`
}

// Value is a named byte string. Numbers (sizes) are big-endian bytes only
// where the draft says so; otherwise they appear in the name's unit.
type Value struct {
	Name string `json:"name"`
	Hex  Hex    `json:"hex"`
}

// Paths of the binder files under vectors/.
const (
	TA07Path = "binders/ta-07.json"
	EA07Path = "binders/ea-07.json"
	XP03Path = "binders/xp-03.json"
)

var hashes = []struct {
	name string
	h    crypto.Hash
}{{"SHA-256", crypto.SHA256}, {"SHA-384", crypto.SHA384}}

func hashByName(n string) (crypto.Hash, error) {
	for _, h := range hashes {
		if h.name == n {
			return h.h, nil
		}
	}
	return 0, fmt.Errorf("unknown hash %q", n)
}

// RFC 8448 §3 (Simple 1-RTT) values, as in
// impl/tls13/testdata/rfc8448/simple_1rtt.json: the Handshake Secret,
// Transcript-Hash(ClientHello, ServerHello), and the SubjectPublicKeyInfo
// of the server's RSA certificate.
var (
	rfc8448HandshakeSecret = mustHex("1dc826e93606aa6fdc0aadc12f741b01046aa6b99f691ed221a9f0ca043fbeac")
	rfc8448HelloHash       = mustHex("860c06edc07858ee8e78f0e7428c58edd6b43f2ca3e6e95f02ed063cf0e1cad8")
	rfc8448ServerSPKI      = mustHex("30819f300d06092a864886f70d010101050003818d0030818902818100b4bb498f8279303d980836399b36c6988c0c68de55e1bdb826d3901a2461eafd2de49a91d015abbc9a95137ace6c1af19eaa6af98c7ced43120998e187a80ee0ccb0524b1b018c3e0b63264d449a6d38e22a5fda430846748030530ef0461c8ca9d9efbfae8ea6d1d03e2bd193eff0ab9a8002c47428a6d35a8d88d79f7f1e3f0203010001")
)

// RFC 8448 §6 (Client Authentication) values, as in
// impl/tls13/testdata/rfc8448/client_auth.json: the Handshake Secret,
// Transcript-Hash(ClientHello, ServerHello), and the SubjectPublicKeyInfo
// of the client's RSA certificate (the server's is §3's). Both sides
// present a certificate here, so both ea-07 binders have RFC inputs.
var (
	rfc8448ClientAuthHandshakeSecret = mustHex("d995243674fb6400d7d37bc0e9861bdbd9ed095601dcf2994874f2803de22e39")
	rfc8448ClientAuthHelloHash       = mustHex("88ebc042bd0d5a643b22fca7a47defd4007dfe184949a6261c596c4e002a74a2")
	rfc8448ClientSPKI                = mustHex("30819f300d06092a864886f70d010101050003818d0030818902818100c38175e004a68d093f823b9c379d201fbc0bb7a1c791905e3fbf76847e44e751ebbcd360bd945c81e5222bcc8846d3a8a0f93e9bf5bebabd92edf1de1ff19021703e7ab6c0901513f97e39b111f09c9348971c7b211984a754cd45fe095af0ea4236829bccf7a7fe9b2888e78ab477690a5b9e1ccbe91c6a4a0f97a7e02842010203010001")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func sizeBytes(n int) []byte { return []byte{byte(n >> 8), byte(n)} }

// TA07 is the ta-07 file: handshake_exporter_secret and channel_binder.
func TA07() File {
	f := File{Binder: "ta-07 handshake exporter secret and channel binder", Profile: ta07.Name,
		Draft: "draft-fossati-tls-attestation-07 §6.2.1",
		Definition: []string{
			`handshake_exporter_secret = Derive-Secret(Handshake Secret, "h exp master", ClientHello...ServerHello)`,
			`TLS-Handshake-Exporter(label, context_value, key_length) = HKDF-Expand-Label(Derive-Secret(handshake_exporter_secret, label, ""), "exporter", Hash(context_value), key_length)`,
			`channel_binder = TLS-Handshake-Exporter("attestation-binder", nonce, binder_size)`,
			`exporter_secret below is Derive-Secret(handshake_exporter_secret, "attestation-binder", ""); binder_size is a 2-byte big-endian integer; the reference implementation uses binder_size = len(nonce)`,
		}}
	d := profile.MustDescribe(ta07.Name)
	id := 0
	add := func(comment string, h crypto.Hash, hname string, hs, hello, nonce []byte, size int) {
		id++
		t, err := test(d, id, comment, hname, h, []Value{{"handshake_secret", hs}, {"hello_transcript_hash", hello}, {"nonce", nonce}, {"binder_size", sizeBytes(size)}})
		if err != nil {
			panic(err) // sizes above are within 1..255*Hash.length
		}
		f.Tests = append(f.Tests, t)
	}
	add("RFC 8448 §3 Handshake Secret and ClientHello...ServerHello transcript, a 32-byte nonce", crypto.SHA256, "SHA-256",
		rfc8448HandshakeSecret, rfc8448HelloHash, fixture.Bytes("binder/ta-07/rfc8448/nonce", 32), 32)
	for _, hh := range hashes {
		hs := fixture.Bytes("binder/ta-07/"+hh.name+"/handshake_secret", hh.h.Size())
		hello := fixture.Bytes("binder/ta-07/"+hh.name+"/hello_hash", hh.h.Size())
		for _, n := range []struct {
			len, size int
			comment   string
		}{
			{8, 8, "the shortest nonce ta-07 allows (nonce<8..2^8-1>)"},
			{32, 32, "a 32-byte nonce, the reference verifier's size"},
			{64, 64, "a 64-byte nonce, the largest a TPM's qualifyingData takes"},
			{255, 255, "the longest nonce ta-07 allows"},
			{32, 16, "a binder shorter than its nonce"},
		} {
			add(fmt.Sprintf("%s: %s, binder_size %d", hh.name, n.comment, n.size), hh.h, hh.name, hs, hello,
				fixture.Bytes(fmt.Sprintf("binder/ta-07/%s/nonce/%d", hh.name, n.len), n.len), n.size)
		}
	}
	add("RFC 8448 §6 (client authentication) Handshake Secret and ClientHello...ServerHello transcript, a 32-byte nonce", crypto.SHA256, "SHA-256",
		rfc8448ClientAuthHandshakeSecret, rfc8448ClientAuthHelloHash, fixture.Bytes("binder/ta-07/rfc8448-6/nonce", 32), 32)
	return f
}

// test computes one test with the profile's binder
// (party.Descriptor.Binder).
func test(d party.Descriptor, id int, comment, hname string, h crypto.Hash, inputs []Value) (Test, error) {
	inter, out, err := d.Binder(h, toParty(inputs))
	if err != nil {
		return Test{}, err
	}
	return Test{ID: id, Comment: comment, Hash: hname, Inputs: inputs, Intermediates: fromParty(inter), Outputs: fromParty(out)}, nil
}

func toParty(vs []Value) []party.Value {
	out := make([]party.Value, len(vs))
	for i, v := range vs {
		out[i] = party.Value{Name: v.Name, Bytes: v.Hex}
	}
	return out
}

func fromParty(vs []party.Value) []Value {
	var out []Value
	for _, v := range vs {
		out = append(out, Value{v.Name, v.Bytes})
	}
	return out
}

// EA07 is the ea-07 file: attest_base and the attestation binders.
// rfc8448ExporterMasterSecret is RFC 8448 §3's exporter_master_secret.
var rfc8448ExporterMasterSecret = mustHex("fe22f881176eda18eb8f44529e6792c50c9a3f89452f68d8ae311b4309d3cf50")

// XP03 is the binding value of draft-fossati-seat-expat §5.1 and the
// AIK_pub_hash of §5.2, under both readings of the exporter label
// (catalog XP03-I-1).
func XP03() (File, error) {
	f := File{Binder: "xp-03 binding value and AIK_pub_hash", Profile: xp03.Name,
		Draft: "draft-fossati-seat-expat (editor's copy, -03) §5.1, §5.2",
		Definition: []string{
			`exported_value = TLS-Exporter(label, certificate_request_context, 32), RFC 8446 §7.5 over exporter_master_secret`,
			`binding = Hash(public_key || exported_value), Hash the cipher suite's hash, public_key the end-entity certificate's DER SubjectPublicKeyInfo (catalog XP03-I-2)`,
			`aik_pub_hash = Hash(public_key)`,
			`label is "Attestation" (§5.1, the default) or "Attestation Binding" (§4; catalog XP03-I-1)`,
		}}
	d := profile.MustDescribe(xp03.Name)
	id := 0
	add := func(comment string, h crypto.Hash, hname string, ems []byte, label string, ctx, spki []byte) error {
		id++
		t, err := test(d, id, comment, hname, h, []Value{{"exporter_master_secret", ems}, {"label", []byte(label)},
			{"certificate_request_context", ctx}, {"spki", spki}})
		f.Tests = append(f.Tests, t)
		return err
	}
	for _, label := range []string{xp03.LabelBinder, xp03.LabelValidation} {
		if err := add(fmt.Sprintf("RFC 8448 §3 exporter_master_secret and server certificate, label %q, a 32-byte context", label),
			crypto.SHA256, "SHA-256", rfc8448ExporterMasterSecret, label, fixture.Bytes("binder/xp-03/rfc8448/context", 32), rfc8448ServerSPKI); err != nil {
			return f, err
		}
	}
	for _, hh := range hashes {
		ems := fixture.Bytes("binder/xp-03/"+hh.name+"/exporter_master_secret", hh.h.Size())
		for _, n := range []int{8, 32, 64, 255} {
			if err := add(fmt.Sprintf("%s: a %d-byte certificate_request_context (a verifier's nonce)", hh.name, n), hh.h, hh.name, ems,
				xp03.LabelBinder, fixture.Bytes(fmt.Sprintf("binder/xp-03/%s/context/%d", hh.name, n), n), rfc8448ClientSPKI); err != nil {
				return f, err
			}
		}
	}
	return f, nil
}

func EA07() (File, error) {
	f := File{Binder: "ea-07 attest_base and attestation binders", Profile: ea07.Name,
		Draft: "draft-fossati-seat-early-attestation-07 §5.1.1",
		Definition: []string{
			`attest_base = HKDF-Expand-Label(0, "attestation base", Hash(ClientHello...ServerHello), Hash.length)`,
			`c_attest_binder = HKDF-Expand-Label(attest_base, "attestation", Hash(TLS_Client_Public_Key), Hash.length)`,
			`s_attest_binder = HKDF-Expand-Label(attest_base, "attestation", Hash(TLS_Server_Public_Key), Hash.length)`,
			`0 is Hash.length zero octets; a public key is the DER SubjectPublicKeyInfo of the end-entity certificate; Hash(ClientHello...ServerHello) is the transcript hash at ServerHello`,
		}}
	d := profile.MustDescribe(ea07.Name)
	id := 0
	var err error
	add := func(comment, hname string, h crypto.Hash, hello []byte, keys []Value) {
		id++
		t, terr := test(d, id, comment, hname, h, append([]Value{{"hello_transcript_hash", hello}}, keys...))
		err = errors.Join(err, terr)
		f.Tests = append(f.Tests, t)
	}
	add("RFC 8448 §3 ClientHello...ServerHello transcript and server certificate (RSA-1024)", "SHA-256", crypto.SHA256,
		rfc8448HelloHash, []Value{{"server_spki", rfc8448ServerSPKI}})
	var spkis []Value
	for _, who := range []string{"server", "client"} {
		k, err := fixture.Key(fixture.Scalar(who + "/attester/identity"))
		if err != nil {
			return f, err
		}
		der, err := x509.MarshalPKIXPublicKey(k.Public())
		if err != nil {
			return f, err
		}
		spkis = append(spkis, Value{who + "_spki", der})
	}
	for _, hh := range hashes {
		hello := fixture.Bytes("binder/ea-07/"+hh.name+"/hello_hash", hh.h.Size())
		add(hh.name+": the P-256 server and client identity keys of the handshake traces", hh.name, hh.h, hello, spkis)
	}
	add("RFC 8448 §6 (client authentication) ClientHello...ServerHello transcript, server and client certificates (RSA-1024)", "SHA-256", crypto.SHA256,
		rfc8448ClientAuthHelloHash, []Value{{"server_spki", rfc8448ServerSPKI}, {"client_spki", rfc8448ClientSPKI}})
	return f, err
}

// Check recomputes every test of f from its inputs with its profile's
// binder (party.Descriptor.Binder) and compares the intermediates and
// outputs.
func Check(f File) error {
	d, err := profile.Describe(f.Profile)
	if err != nil || d.Binder == nil {
		return fmt.Errorf("binder file of profile %q", f.Profile)
	}
	fresh := func(t Test) (Test, error) {
		h, err := hashByName(t.Hash)
		if err != nil {
			return t, err
		}
		return test(d, t.ID, t.Comment, t.Hash, h, t.Inputs)
	}
	if len(f.Tests) == 0 {
		return fmt.Errorf("%s: no tests", f.Binder)
	}
	for _, t := range f.Tests {
		got, err := fresh(t)
		if err != nil {
			return fmt.Errorf("%s test %d: %w", f.Binder, t.ID, err)
		}
		for _, c := range []struct {
			what      string
			got, want []Value
		}{{"intermediate", got.Intermediates, t.Intermediates}, {"output", got.Outputs, t.Outputs}} {
			if len(c.got) != len(c.want) {
				return fmt.Errorf("%s test %d: %d %ss, want %d", f.Binder, t.ID, len(c.want), c.what, len(c.got))
			}
			for i := range c.got {
				if c.got[i].Name != c.want[i].Name || !bytes.Equal(c.got[i].Hex, c.want[i].Hex) {
					return fmt.Errorf("%s test %d: %s %s is %x, recomputed %s %x", f.Binder, t.ID, c.what,
						c.want[i].Name, []byte(c.want[i].Hex), c.got[i].Name, []byte(c.got[i].Hex))
				}
			}
		}
	}
	return nil
}
