package xp03

import (
	"crypto"
	"crypto/x509"
	"fmt"
)

// Exporter labels (catalog XP03-I-1): §5.1 "Attestation Binder" says
// "Attestation"; §4's validation step for the background check says
// "Attestation Binding". LabelBinder is the default; an endpoint whose
// party reads ReadingValidationLabel uses LabelValidation.
const (
	LabelBinder     = "Attestation"
	LabelValidation = "Attestation Binding"
	// ExportedLength is the exporter's key_length (§5.1: 256 bits).
	ExportedLength = 32
	// ReadingValidationLabel is the catalog interpretation whose other
	// reading selects LabelValidation.
	ReadingValidationLabel = "XP03-I-1"
)

// Binding is §5.1's binding value, Hash(public_key || exported_value),
// where Hash is the cipher suite's hash and public_key the end-entity
// certificate's SubjectPublicKeyInfo in DER (the draft does not say which
// encoding; catalog XP03-I-2).
func Binding(h crypto.Hash, spkiDER, exported []byte) []byte {
	d := h.New()
	d.Write(spkiDER)
	d.Write(exported)
	return d.Sum(nil)
}

// AIKPubHash is §5.2's AIK_pub_hash: the AIK public key (its DER
// SubjectPublicKeyInfo) hashed with the cipher suite's hash.
func AIKPubHash(h crypto.Hash, key crypto.PublicKey) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return nil, fmt.Errorf("%s: AIK public key: %w", Name, err)
	}
	d := h.New()
	d.Write(spki)
	return d.Sum(nil), nil
}
