package veraison_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/attested-tls/conformance/impl/attest/verify/veraison"
)

func discoverySeed(t testing.TB, curve elliptic.Curve, crv string) []byte {
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := k.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	pt := ek.Bytes()
	n := (len(pt) - 1) / 2
	b64 := base64.RawURLEncoding.EncodeToString
	doc, _ := json.Marshal(map[string]any{
		"ear-verification-key": map[string]string{"kty": "EC", "crv": crv, "alg": "ES256", "x": b64(pt[1 : 1+n]), "y": b64(pt[1+n:])},
		"media-types":          []string{"application/vnd.parallaxsecond.key-attestation.tpm"},
		"version":              "commit-cb11fa0",
		"service-state":        "READY",
		"api-endpoints":        map[string]string{"newChallengeResponseSession": "/challenge-response/v1/newSession"},
	})
	return doc
}

func TestParseDiscovery(t *testing.T) {
	d, err := veraison.ParseDiscovery(discoverySeed(t, elliptic.P256(), "P-256"))
	if err != nil {
		t.Fatal(err)
	}
	if d.State != "READY" || len(d.MediaTypes) != 1 || d.Endpoints["newChallengeResponseSession"] == "" {
		t.Errorf("parsed %+v", d)
	}
	for name, doc := range map[string][]byte{
		"P-384 key":  discoverySeed(t, elliptic.P384(), "P-384"),
		"no key":     []byte(`{"service-state":"READY"}`),
		"RSA-shaped": []byte(`{"ear-verification-key":{"kty":"RSA","n":"AQAB","e":"AQAB"}}`),
		"not JSON":   []byte(`ear`),
	} {
		if _, err := veraison.ParseDiscovery(doc); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzParseDiscovery: never panics; whatever it accepts has a P-256 key.
func FuzzParseDiscovery(f *testing.F) {
	f.Add(discoverySeed(f, elliptic.P256(), "P-256"))
	f.Add(discoverySeed(f, elliptic.P384(), "P-384"))
	f.Add([]byte(`{"ear-verification-key":{"kty":"EC","crv":"P-256","x":"","y":""}}`))
	f.Add([]byte(`{"ear-verification-key":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		d, err := veraison.ParseDiscovery(doc)
		if err != nil {
			return
		}
		if d.Key == nil || d.Key.Curve != elliptic.P256() {
			t.Fatalf("accepted a discovery document without a P-256 key: %s", doc)
		}
		if _, err := d.Key.ECDH(); err != nil {
			t.Fatalf("accepted an invalid P-256 key (%v): %s", err, doc)
		}
	})
}
