package xp03

import (
	"golang.org/x/crypto/cryptobyte"

	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/profile/codec"
	"github.com/attested-tls/conformance/impl/tls13"
)

// errs names this profile in codec errors.
const errs = codec.Errors(Name)

// MaxCMWData is the largest cmw_data that fits: <1..2^16-1> with its own
// 2-byte length inside Extension.extension_data<0..2^16-1> leaves 65533.
const MaxCMWData = 0xffff - 2

// CMWAttestation is cmw_attestation in an authenticator's end-entity
// CertificateEntry: struct { opaque cmw_data<1..2^16-1>; }. In a request
// the extension is empty instead (§3.1), which is not this struct.
type CMWAttestation struct {
	CMWData []byte
}

func (x CMWAttestation) Marshal() ([]byte, error) {
	if len(x.CMWData) == 0 {
		return nil, errs.Build("empty cmw_data<1..2^16-1>")
	}
	if len(x.CMWData) > MaxCMWData {
		return nil, errs.Build("cmw_data of %d bytes does not fit extension_data<0..2^16-1> (max %d)", len(x.CMWData), MaxCMWData)
	}
	var b cryptobyte.Builder
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(x.CMWData) })
	return errs.Finish(&b)
}

// Unmarshal accepts what the struct allows; the CMW inside is package
// cmw's to parse (a bad CMW is a rejected attestation, not decode_error).
func (x *CMWAttestation) Unmarshal(data []byte) error {
	s := cryptobyte.String(data)
	var d cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&d) {
		return errs.Decode("truncated cmw_data")
	}
	if d.Empty() {
		return errs.Decode("empty cmw_data<1..2^16-1>")
	}
	if err := errs.NoTrailing(s, "cmw_data"); err != nil {
		return err
	}
	x.CMWData = append([]byte(nil), d...)
	return nil
}

// Extensions is where cmw_attestation may appear (§3, IANA "CT"): empty in
// an authenticator request, with the CMW in an authenticator's first
// CertificateEntry, and nowhere in the handshake ("only included in the
// Certificate message during Exported Authenticator-based post-handshake
// authentication"): there the engine refuses it with illegal_parameter
// (RFC 8446 §4.2), as it does in any entry but the first (§3: "MUST
// appear only in the first CertificateEntry").
func Extensions(t codepoint.Table) []codec.Extension {
	return []codec.Extension{{Name: "cmw_attestation", Type: t.XP03CMWAttestation,
		Allowed: tls13.InAuthenticatorRequest | tls13.InAuthenticatorFirstEntry}}
}
