package contract

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/software"
)

func TestEndorsementRoundTrip(t *testing.T) {
	a, err := software.New(software.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Extend(7, []byte("boot")); err != nil {
		t.Fatal(err)
	}
	want := a.Endorsement()
	b, err := MarshalEndorsement(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseEndorsement(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.KeyID, want.KeyID) || !got.AttestationKey.Equal(want.AttestationKey) ||
		!reflect.DeepEqual(got.PCRSelection, want.PCRSelection) || !reflect.DeepEqual(got.ReferencePCRs, want.ReferencePCRs) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	// The file is the documented shape.
	var f map[string]any
	json.Unmarshal(b, &f)
	for _, k := range []string{"attestation_key", "key_id", "pcr_selection", "reference_pcrs"} {
		if _, ok := f[k]; !ok {
			t.Errorf("no %s in %s", k, b)
		}
	}
}

func TestParseEndorsementRejects(t *testing.T) {
	a, _ := software.New(software.Config{})
	good, _ := MarshalEndorsement(a.Endorsement())
	mutate := func(f func(m map[string]any)) []byte {
		var m map[string]any
		json.Unmarshal(good, &m)
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	for name, b := range map[string][]byte{
		"not json": []byte("{"),
		"bad key": mutate(func(m map[string]any) {
			m["attestation_key"] = "-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n"
		}),
		"odd hex kid":   mutate(func(m map[string]any) { m["key_id"] = "abc" }),
		"sha1 bank":     mutate(func(m map[string]any) { m["pcr_selection"].(map[string]any)["hash"] = "sha1" }),
		"missing value": mutate(func(m map[string]any) { delete(m["reference_pcrs"].(map[string]any), "7") }),
		"extra value":   mutate(func(m map[string]any) { m["reference_pcrs"].(map[string]any)["9"] = strings.Repeat("00", 32) }),
		"index 07":      mutate(func(m map[string]any) { r := m["reference_pcrs"].(map[string]any); r["07"] = r["7"]; delete(r, "7") }),
		"short pcr":     mutate(func(m map[string]any) { m["reference_pcrs"].(map[string]any)["0"] = "00" }),
	} {
		if _, err := ParseEndorsement(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestTrustedVerifiersRoundTrip(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	id, _ := attest.VerifierIdentity(&k.PublicKey)
	b, err := MarshalTrustedVerifiers([]attest.TrustedVerifier{{ID: id, Key: &k.PublicKey}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseTrustedVerifiers(b)
	if err != nil || len(got) != 1 || !bytes.Equal(got[0].ID, id) || !k.PublicKey.Equal(got[0].Key) {
		t.Fatalf("%v %+v", err, got)
	}
	if _, err := ParseTrustedVerifiers([]byte(`[{"id":"zz","ear_key":""}]`)); err == nil {
		t.Fatal("bad id accepted")
	}
}

func TestPrivateKeyPEM(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b, err := MarshalPrivateKeyPEM(k)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseECPrivateKeyPEM(b)
	if err != nil || !got.Equal(k) {
		t.Fatalf("%v", err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	b, _ = MarshalPrivateKeyPEM(p384)
	if _, err := ParseECPrivateKeyPEM(b); err == nil {
		t.Fatal("P-384 accepted")
	}
}

// The peer folders in the repository parse.
func TestPeerFolders(t *testing.T) {
	dirs, _ := filepath.Glob("../*/manifest.json")
	if len(dirs) == 0 {
		t.Fatal("no peers/*/manifest.json")
	}
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ParseManifest(b)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		eb, err := os.ReadFile(filepath.Join(filepath.Dir(p), "expected.json"))
		if err != nil {
			t.Errorf("%s: %v", m.Name, err)
			continue
		}
		if _, err := ParseExpected(eb); err != nil {
			t.Errorf("%s: %v", m.Name, err)
		}
	}
}

func TestManifestSupports(t *testing.T) {
	m, err := ParseManifest([]byte(`{"name":"x","version":"1","contract":1,"command":["x"],"profiles":["ta-07"],
		"roles":["server"],"topologies":["bg"],"credentials":["x509"],"tpms":["software"],"verifiers":["local"],
		"misbehaviours":["decline"]}`))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := FromEnv(lookup(serverEnv()))
	if err := m.Supports(c); err != nil {
		t.Fatal(err)
	}
	for _, mod := range []func(*Config){
		func(c *Config) { c.Profile = "poc" },
		func(c *Config) { c.Role = Client },
		func(c *Config) { c.TPM = "swtpm:tpm:2321" },
		func(c *Config) { c.ServerAttests = AttestsPassport },
		func(c *Config) { c.ServerCredential = AttestationOnly },
		func(c *Config) { c.Misbehave = "select-unoffered" },
		func(c *Config) { c.Verifier = "veraison:http://v" },
	} {
		cc := c
		mod(&cc)
		if err := m.Supports(cc); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%+v: %v", cc, err)
		}
	}
	for _, bad := range []string{`{"name":"x","contract":1}`, `{"name":"x","contract":2,"image":"i"}`,
		`{"name":"","contract":1,"image":"i"}`, `{"name":"x","contract":1,"image":"i","roles":["both"]}`,
		`{"name":"x","contract":1,"image":"i","color":"red"}`} {
		if _, err := ParseManifest([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestExpected(t *testing.T) {
	e, err := ParseExpected([]byte(`{"failures":[{"case":"poc/*/*","reason":"no such model"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := e.Lookup("poc/server-attests/bg+x509"); !ok || r != "no such model" {
		t.Fatal(r, ok)
	}
	if _, ok := e.Lookup("ta-07/server-attests/bg+x509"); ok {
		t.Fatal("matched another profile")
	}
	for _, bad := range []string{`{"failures":[{"case":"x"}]}`, `{"failures":[{"case":"[","reason":"r"}]}`, `[]`} {
		if _, err := ParseExpected([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestExpectedMatchAndMarshal(t *testing.T) {
	e, err := ParseExpected([]byte(`{"failures":[
		{"case":"ta-07/mutual/*","reason":"not yet"},
		{"case":"poc/client-attests/bg+attestation-only@server","reason":"no server side","outcome":"unsupported"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if i := e.Match("ta-07/mutual/server=bg+x509,client=bg+x509/go→mbedtls", "ta-07/mutual/server=bg+x509,client=bg+x509"); i != 0 {
		t.Errorf("mutual case matched entry %d", i)
	}
	if i := e.Match("poc/client-attests/bg+attestation-only", "poc/client-attests/bg+attestation-only@client"); i != -1 {
		t.Errorf("the client role matched the server-only entry %d", i)
	}
	if i := e.Match("poc/client-attests/bg+attestation-only@server"); i != 1 || e.Failures[i].Expects() != ExpectUnsupported {
		t.Errorf("role entry: %d", i)
	}
	if e.Failures[0].Expects() != ExpectFail {
		t.Errorf("default outcome %q", e.Failures[0].Expects())
	}
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseExpected(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if !reflect.DeepEqual(back, e) {
		t.Errorf("round trip: %+v != %+v", back, e)
	}
	empty, _ := (&Expected{}).Marshal()
	if _, err := ParseExpected(empty); err != nil {
		t.Errorf("%s: %v", empty, err)
	}
	if _, err := ParseExpected([]byte(`{"failures":[{"case":"x","reason":"r","outcome":"pass"}]}`)); err == nil {
		t.Error("outcome pass accepted")
	}
	if _, err := ParseManifest([]byte(`{"name":"x","contract":1,"image":"i","env":["NOEQUALS"]}`)); err == nil {
		t.Error("env entry without = accepted")
	}
}
