package tls13

import (
	"crypto"
	"crypto/hkdf"

	"golang.org/x/crypto/cryptobyte"
)

// ExpandLabel is HKDF-Expand-Label (RFC 8446 §7.1). Exported because the
// attestation drafts define their binders with it over the engine's hash.
func ExpandLabel(h crypto.Hash, secret []byte, label string, context []byte, length int) []byte {
	var b cryptobyte.Builder
	b.AddUint16(uint16(length))
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddBytes([]byte("tls13 "))
		b.AddBytes([]byte(label))
	})
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(context) })
	info, err := b.Bytes()
	if err != nil {
		panic("tls13: HkdfLabel too long: " + err.Error()) // only reachable with labels or contexts > 255 bytes, a caller bug
	}
	out, err := hkdf.Expand(h.New, secret, string(info), length)
	if err != nil {
		panic("tls13: HKDF-Expand: " + err.Error()) // length > 255*Hash.length, a caller bug
	}
	return out
}

// Extract is HKDF-Extract, with a nil secret meaning Hash.length zero bytes.
func Extract(h crypto.Hash, secret, salt []byte) []byte {
	if secret == nil {
		secret = make([]byte, h.Size())
	}
	out, err := hkdf.Extract(h.New, secret, salt)
	if err != nil {
		panic("tls13: HKDF-Extract: " + err.Error())
	}
	return out
}

// DeriveSecret is Derive-Secret(Secret, Label, Messages) of RFC 8446 §7.1,
// given Transcript-Hash(Messages).
func DeriveSecret(h crypto.Hash, secret []byte, label string, transcriptHash []byte) []byte {
	return ExpandLabel(h, secret, label, transcriptHash, h.Size())
}
