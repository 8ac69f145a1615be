package attest_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"testing"

	"github.com/attested-tls/conformance/impl/attest"
)

func TestQualifyingData(t *testing.T) {
	n, b := []byte("nonce-nonce"), []byte("binder-binder")
	for _, c := range []struct {
		ch   attest.Challenge
		want []byte
	}{
		{attest.Challenge{Nonce: n}, n},
		{attest.Challenge{Binder: b}, b},
		{attest.Challenge{Nonce: n, Binder: b}, b},
		{attest.Challenge{Nonce: n, Binder: []byte{}}, n},
		{attest.Challenge{}, nil},
	} {
		if got := c.ch.QualifyingData(); !bytes.Equal(got, c.want) {
			t.Errorf("%+v: got %q, want %q", c.ch, got, c.want)
		}
	}
}

func TestRejection(t *testing.T) {
	err := fmt.Errorf("appraising: %w", attest.Reject(attest.ReasonStale, "iat %d", 5))
	if got := attest.ReasonOf(err); got != attest.ReasonStale {
		t.Fatalf("ReasonOf = %q", got)
	}
	if !errors.Is(err, &attest.Rejection{Reason: attest.ReasonStale}) {
		t.Fatal("errors.Is misses the same reason")
	}
	if errors.Is(err, &attest.Rejection{Reason: attest.ReasonExpired}) {
		t.Fatal("errors.Is matches another reason")
	}
	if got := err.Error(); got != "appraising: result.stale: iat 5" {
		t.Fatalf("Error() = %q", got)
	}
	if attest.ReasonOf(errors.New("plain")) != "" || attest.ReasonOf(nil) != "" {
		t.Fatal("reason from a plain error")
	}
	if (&attest.Rejection{Reason: attest.ReasonExpired}).Error() != "result.expired" {
		t.Fatal("Error() without detail")
	}
}

func TestVerifierIdentity(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := attest.VerifierIdentity(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if want := sha256.Sum256(spki); !bytes.Equal(id, want[:]) {
		t.Fatal("identity is not SHA-256 of the SPKI")
	}
	if _, err := attest.VerifierIdentity("not a key"); err == nil {
		t.Fatal("identity of a non-key")
	}
}
