// Package poc holds the wire format of the CCC attested-tls-poc (profile
// "poc"): its single evidence_proposal extension. The whole format is
// historical: it is what the patched mbedTLS of the PoC (paulhowardarm/mbedtls
// ph-tls-attestation, HEAD 01d71917e; repository archived and declared
// defunct in 2026) put on the wire, a -02-era background-check flow in which
// only the client attests. We keep it to talk to that peer and to record how
// it behaves, not as a design to follow.
//
// Extension 100 (MBEDTLS_TLS_EXT_EVIDENCE_PROPOSAL, "experimental"; the value
// is in package codepoint) carries, in the fork's own words:
//
//	ClientHello:          list_len(1) | { 0x00 (NUMERIC) | uint16 content_format }*
//	EncryptedExtensions:  0x00 (NUMERIC) | uint16 content_format | nonce_len(1) | nonce
//
// list_len counts bytes. The decoders here are general and strict: any
// content_format is returned (the caller decides what it supports), every
// length must add up, and trailing bytes are decode_error. The fork is
// laxer and stricter in places; CheckPoC and the comments say where.
package poc

import (
	"fmt"
	"github.com/attested-tls/conformance/impl/attest/profile/codec"

	"golang.org/x/crypto/cryptobyte"
)

// errs names this profile in codec errors.
const errs = codec.Errors("poc")

// Attestation types the fork knows: MBEDTLS_TLS_ATTESTATION_TYPE_EAT, and
// _NONE, its list terminator and "no match" answer.
const (
	TypeNone uint16 = 0
	TypeEAT  uint16 = 1
)

// NonceLenMax is the fork's MBEDTLS_SSL_ATTESTATION_NONCE_LEN_MAX default; its
// client rejects a longer EE nonce with decode_error. Its server always sends
// the fixed 8-byte nonce 00 01 .. 07.
const NonceLenMax = 32

// encodingNumeric is the -02 draft's NUMERIC(0) encodingType; the fork never
// implemented STRING(1).
const encodingNumeric = 0

// EvidenceProposalCH is the client's list of content formats it can attest with.
type EvidenceProposalCH struct {
	ContentFormats []uint16
}

func (x EvidenceProposalCH) Marshal() ([]byte, error) {
	if len(x.ContentFormats) == 0 {
		// The fork's client returns an internal error rather than send an empty list.
		return nil, errs.Build("empty content format list")
	}
	if 3*len(x.ContentFormats) > 0xff {
		return nil, errs.Build("%d content formats exceed the 1-byte list length", len(x.ContentFormats))
	}
	var b cryptobyte.Builder
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, cf := range x.ContentFormats {
			b.AddUint8(encodingNumeric)
			b.AddUint16(cf)
		}
	})
	return b.Bytes()
}

// Unmarshal parses the ClientHello form. The fork's server is looser: it walks
// 3-byte entries without checking list_len against the extension length,
// skips non-NUMERIC entries and ones other than EAT, and falls back to "no
// attestation" instead of failing. We reject what it would misread.
func (x *EvidenceProposalCH) Unmarshal(data []byte) error {
	s := cryptobyte.String(data)
	var list cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&list) {
		return errs.Decode("truncated evidence type list")
	}
	if list.Empty() {
		return errs.Decode("empty evidence type list")
	}
	if len(list)%3 != 0 {
		return errs.Decode("list of %d bytes is not a whole number of 3-byte entries", len(list))
	}
	var cfs []uint16
	for !list.Empty() {
		var enc uint8
		var cf uint16
		list.ReadUint8(&enc)
		list.ReadUint16(&cf)
		if enc != encodingNumeric {
			return errs.Decode("encoding type %d (only NUMERIC(0) has a known length)", enc)
		}
		cfs = append(cfs, cf)
	}
	if !s.Empty() {
		return errs.Decode("%d trailing bytes", len(s))
	}
	x.ContentFormats = cfs
	return nil
}

// EvidenceProposalEE is the server's choice and its nonce.
type EvidenceProposalEE struct {
	ContentFormat uint16
	Nonce         []byte
}

func (x EvidenceProposalEE) Marshal() ([]byte, error) {
	if len(x.Nonce) > 0xff {
		return nil, errs.Build("nonce of %d bytes exceeds the 1-byte length", len(x.Nonce))
	}
	var b cryptobyte.Builder
	b.AddUint8(encodingNumeric)
	b.AddUint16(x.ContentFormat)
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(x.Nonce) })
	return b.Bytes()
}

// Unmarshal parses the EncryptedExtensions form: any content_format, nonce of
// 0..255 bytes (the fork's client takes an empty nonce too). Trailing bytes are
// decode_error here; the fork's client ignores them.
func (x *EvidenceProposalEE) Unmarshal(data []byte) error {
	s := cryptobyte.String(data)
	var enc uint8
	var cf uint16
	var nonce cryptobyte.String
	if !s.ReadUint8(&enc) || !s.ReadUint16(&cf) || !s.ReadUint8LengthPrefixed(&nonce) {
		return errs.Decode("truncated evidence_proposal")
	}
	if enc != encodingNumeric {
		return errs.Decode("encoding type %d, only NUMERIC(0)", enc)
	}
	if !s.Empty() {
		return errs.Decode("%d trailing bytes", len(s))
	}
	*x = EvidenceProposalEE{ContentFormat: cf, Nonce: append([]byte{}, nonce...)}
	return nil
}

// CheckPoC applies the fork's client-side rules to a parsed EE: a type other
// than EAT, or a nonce longer than NonceLenMax, is decode_error there.
func (x EvidenceProposalEE) CheckPoC() error {
	if x.ContentFormat != TypeEAT {
		return errs.Decode("attestation type %d, the PoC knows only EAT(%d)", x.ContentFormat, TypeEAT)
	}
	if len(x.Nonce) > NonceLenMax {
		return errs.Decode("nonce of %d bytes, the PoC allows %d", len(x.Nonce), NonceLenMax)
	}
	return nil
}

// SelectPoC is the fork server's choice from a ClientHello list: the first
// EAT entry, or ok=false. The fork does not fail then, nor omit its answer:
// its EncryptedExtensions always carries evidence_proposal, with type
// NONE(0) when nothing matched (or the client never asked, an unsolicited
// extension RFC 8446 §4.2 forbids).
func (x EvidenceProposalCH) SelectPoC() (cf uint16, ok bool) {
	for _, c := range x.ContentFormats {
		if c == TypeEAT {
			return c, true
		}
	}
	return 0, false
}

func (x EvidenceProposalEE) String() string {
	return fmt.Sprintf("poc evidence_proposal{type=%d nonce=%x}", x.ContentFormat, x.Nonce)
}
