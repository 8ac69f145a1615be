package attest

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
)

// keyBoundLabel separates this derivation from any other hash of a nonce.
const keyBoundLabel = "attested-tls key-bound challenge v1\x00"

// KeyBoundChallenge is the challenge an evidence format without a key
// claim (a PSA token, a CCA realm token whose RAK is not the TLS key)
// carries instead of the qualifying data:
//
//	SHA-256(label ‖ uint16(len(qd)) ‖ qd ‖ DER SubjectPublicKeyInfo(tik))
//
// A verifier that finds it in evidence signed by an endorsed key has seen
// the attester's attestation service asked, for this challenge, to name
// this key: the key is bound to the platform by the software that calls
// that service, not by the root of trust holding the key. Results carry
// it as eat_nonce and no attested key; policy accepts that as both the
// nonce and the key binding (Policy.Accept).
func KeyBoundChallenge(qd []byte, tik crypto.PublicKey) ([]byte, error) {
	if len(qd) == 0 {
		return nil, errors.New("attest: key-bound challenge without qualifying data")
	}
	if len(qd) > 0xffff {
		return nil, fmt.Errorf("attest: qualifying data of %d bytes", len(qd))
	}
	if tik == nil {
		return nil, errors.New("attest: key-bound challenge without a TLS identity key")
	}
	spki, err := x509.MarshalPKIXPublicKey(tik)
	if err != nil {
		return nil, fmt.Errorf("attest: key-bound challenge: %w", err)
	}
	h := sha256.New()
	h.Write([]byte(keyBoundLabel))
	h.Write(binary.BigEndian.AppendUint16(nil, uint16(len(qd))))
	h.Write(qd)
	h.Write(spki)
	return h.Sum(nil), nil
}

// BoundTo reports whether a result's eat_nonce is the key-bound challenge
// of qd and tik.
func (r *Result) BoundTo(qd []byte, tik crypto.PublicKey) bool {
	if r == nil || len(r.Nonce) == 0 || tik == nil || len(qd) == 0 {
		return false
	}
	want, err := KeyBoundChallenge(qd, tik)
	return err == nil && string(want) == string(r.Nonce)
}
