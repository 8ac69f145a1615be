package contract

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"reflect"
	"strings"
	"testing"

	"github.com/attested-tls/conformance/impl/attest"
)

// FuzzParseOutcome: no panic; an accepted outcome prints and parses back
// to itself.
func FuzzParseOutcome(f *testing.F) {
	var buf bytes.Buffer
	sample().Print(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte("log line\n" + buf.String()))
	f.Add([]byte(`{"contract":1,"role":"server","handshake":"none","app_data":"none","error":"unsupported"}`))
	f.Add([]byte(`{"contract":1,"role":"client","handshake":"failed","app_data":"none","alert_received":{"code":42,"name":"bad_certificate"},"verdict":null}`))
	f.Add([]byte("\x00\xff{"))
	f.Fuzz(func(t *testing.T, in []byte) {
		o, err := ParseOutcome(in)
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := o.Print(&out); err != nil {
			t.Fatal(err)
		}
		back, err := ParseOutcome(out.Bytes())
		if err != nil {
			t.Fatalf("reprinted outcome does not parse: %v\n%s", err, out.Bytes())
		}
		if !reflect.DeepEqual(back, o) {
			t.Fatalf("round trip:\n%+v\n%+v", o, back)
		}
	})
}

// FuzzFromEnv: no panic; an accepted configuration renders and parses
// back to itself. The fuzzer varies every variable through one string of
// NAME=value lines laid over a valid server or client environment.
func FuzzFromEnv(f *testing.F) {
	f.Add("", false)
	f.Add("ATLS_ROLE=client\nATLS_CONNECT=server:4433\nATLS_LISTEN=", true)
	f.Add("ATLS_TIMEOUT=0.000000001\nATLS_CODEPOINTS=ta-07.evidence_request=0xff00", false)
	f.Add("ATLS_SERVER_ATTESTS=passport\nATLS_VERIFIER=veraison:http://v:8080", false)
	f.Add("ATLS_TESTCASE=conformance-probe-00", false)
	f.Add("ATLS_CLIENT_ATTESTS=bg\nATLS_CLIENT_CREDENTIAL=attestation-only\nATLS_TPM=swtpm:tpm:2321", true)
	f.Fuzz(func(t *testing.T, overlay string, client bool) {
		env := serverEnv()
		if client {
			env[EnvRole], env[EnvConnect], env[EnvListen] = "client", "server:4433", ""
			env[EnvServerAttests], env[EnvServerCredential], env[EnvVerifier] = "bg", "x509", "local"
			env[EnvTPM] = ""
		}
		for _, line := range strings.Split(overlay, "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				env[k] = v
			}
		}
		c, err := FromEnv(lookup(env))
		if err != nil {
			if ExitFor(err) != ExitConfig && ExitFor(err) != ExitUnsupported {
				t.Fatalf("error %v maps to exit %d", err, ExitFor(err))
			}
			return
		}
		back, err := FromEnv(Getenv(c.Env()))
		if err != nil {
			t.Fatalf("rendered configuration rejected: %v\n%q", err, c.Env())
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("round trip:\n%+v\n%+v", c, back)
		}
	})
}

// FuzzParseEndorsement: no panic; an accepted endorsement marshals and
// parses back to the same values.
func FuzzParseEndorsement(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"attestation_key":"","key_id":"01","pcr_selection":{"hash":"sha256","pcrs":[0]},"reference_pcrs":{"0":"00"}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := ParseEndorsement(in)
		if err != nil {
			return
		}
		b, err := MarshalEndorsement(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseEndorsement(b)
		if err != nil || !reflect.DeepEqual(back.ReferencePCRs, e.ReferencePCRs) || !bytes.Equal(back.KeyID, e.KeyID) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzParseManifest: manifests and expected-results files never panic.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"name":"x","contract":1,"image":"i","roles":["client"]}`))
	f.Add([]byte(`{"failures":[{"case":"ta-07/*/*","reason":"r"}]}`))
	f.Add([]byte(`{"failures":[{"case":"a@server","reason":"<&>","outcome":"unsupported"}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		if m, err := ParseManifest(in); err == nil && m.Name == "" {
			t.Fatal("manifest without a name accepted")
		}
		if e, err := ParseExpected(in); err == nil && len(e.Failures) > 0 {
			// Every accepted pattern matches its own text when it has no
			// metacharacters.
			first := e.Failures[0].Case
			if _, ok := e.Lookup(first); !ok && !strings.ContainsAny(first, `*?[\`) {
				t.Fatalf("pattern %q does not match itself", first)
			}
			// What --update-baseline writes reads back the same.
			out, err := e.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseExpected(out)
			if err != nil || len(back.Failures) != len(e.Failures) {
				t.Fatalf("re-parse: %v\n%s", err, out)
			}
		}
	})
}

// FuzzParseTrustedVerifiers: no panic; accepted verifiers marshal and
// parse back to the same identities and keys.
func FuzzParseTrustedVerifiers(f *testing.F) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	good, err := MarshalTrustedVerifiers([]attest.TrustedVerifier{{ID: []byte{1, 2}, Key: &k.PublicKey}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"id":"zz","ear_key":""}]`))
	f.Add([]byte(`[{"id":"01","ear_key":"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}]`))
	f.Fuzz(func(t *testing.T, in []byte) {
		vs, err := ParseTrustedVerifiers(in)
		if err != nil {
			return
		}
		out, err := MarshalTrustedVerifiers(vs)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseTrustedVerifiers(out)
		if err != nil || len(back) != len(vs) {
			t.Fatalf("re-parse: %v\n%s", err, out)
		}
		for i := range vs {
			eq, ok := back[i].Key.(interface{ Equal(crypto.PublicKey) bool })
			if !bytes.Equal(back[i].ID, vs[i].ID) || !ok || !eq.Equal(vs[i].Key) {
				t.Fatalf("verifier %d changed in a round trip", i)
			}
		}
	})
}

// FuzzParseECPrivateKeyPEM: no panic; an accepted key is a P-256 key whose
// public point is on the curve (it signs and verifies).
func FuzzParseECPrivateKeyPEM(f *testing.F) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		f.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}))
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		key, err := ParseECPrivateKeyPEM(in)
		if err != nil {
			return
		}
		if key.Curve != elliptic.P256() {
			t.Fatalf("accepted a key on %s", key.Curve.Params().Name)
		}
		d := sha256.Sum256(in)
		sig, err := ecdsa.SignASN1(rand.Reader, key, d[:])
		if err != nil {
			t.Fatalf("accepted a key that cannot sign: %v", err)
		}
		if !ecdsa.VerifyASN1(&key.PublicKey, d[:], sig) {
			t.Fatal("accepted a key whose public part does not verify its signatures")
		}
	})
}
