// Package ta07 holds the wire types of draft-fossati-tls-attestation-07
// (profile "ta-07"), as written in the -07 source
// (tls-attestation/draft-tls-attestation, commit 3643364, §6–§8), and the
// Handshake Exporter channel binder of its §6.2.1.
//
// Each extension has a ClientHello form and a form for the server's answer.
// The draft's select says "server_hello", but its §8 puts the answer in
// EncryptedExtensions; the types are named CH and EE accordingly. The
// extension codepoints are TBD in the draft and live in package codepoint.
//
// Parsers take extension_data and return errors built with tls13.Alertf:
// decode_error for anything the syntax rejects (short or long vectors,
// nonce shorter than 8, empty lists, trailing bytes, unknown type_encoding),
// illegal_parameter for a well-formed but undefined credential_kind.
package ta07

import (
	"crypto"
	"errors"
	"fmt"

	"github.com/attested-tls/conformance/impl/attest/profile/codec"

	"golang.org/x/crypto/cryptobyte"

	"github.com/attested-tls/conformance/impl/tls13"
)

// errs names this profile in codec errors.
const errs = codec.Errors("ta-07")

// CredentialKind says what the Certificate message will carry (§6, from -05).
type CredentialKind uint8

const (
	Attestation     CredentialKind = 0 // ATTESTATION: evidence alone, certificate type "attestation" (§6.1)
	CertAttestation CredentialKind = 1 // CERT_ATTESTATION: X.509 plus evidence in attestation_evidence (§6.2)
)

func (k CredentialKind) String() string {
	switch k {
	case Attestation:
		return "ATTESTATION"
	case CertAttestation:
		return "CERT_ATTESTATION"
	}
	return fmt.Sprintf("credentialKind(%d)", uint8(k))
}

// TypeEncoding selects how an EvidenceType names its type.
type TypeEncoding uint8

const (
	ContentFormat TypeEncoding = 0 // CONTENT_FORMAT: uint16 CoAP Content-Format
	MediaType     TypeEncoding = 1 // MEDIA_TYPE: opaque media_type<0..2^16-1>
)

func (e TypeEncoding) String() string {
	switch e {
	case ContentFormat:
		return "CONTENT_FORMAT"
	case MediaType:
		return "MEDIA_TYPE"
	}
	return fmt.Sprintf("typeEncoding(%d)", uint8(e))
}

// EvidenceType is the draft's EvidenceType. ContentFormat is meaningful when
// Encoding is ContentFormat, MediaType when Encoding is MediaType; Marshal
// writes only the selected one.
type EvidenceType struct {
	CredentialKind CredentialKind
	Encoding       TypeEncoding
	ContentFormat  uint16
	MediaType      string
}

// Equal compares the fields the wire carries, so a server can check that its
// selection came from the client's list.
func (t EvidenceType) Equal(o EvidenceType) bool {
	if t.CredentialKind != o.CredentialKind || t.Encoding != o.Encoding {
		return false
	}
	if t.Encoding == ContentFormat {
		return t.ContentFormat == o.ContentFormat
	}
	return t.MediaType == o.MediaType
}

func (t EvidenceType) String() string {
	if t.Encoding == ContentFormat {
		return fmt.Sprintf("%v/content_format=%d", t.CredentialKind, t.ContentFormat)
	}
	return fmt.Sprintf("%v/media_type=%q", t.CredentialKind, t.MediaType)
}

// VerifierIdentity is VerifierIdentityType.verifier_identity<0..2^16-1>.
type VerifierIdentity []byte

// Nonce bounds: opaque nonce<8..2^8-1> since -05.
const (
	MinNonceLen = 8
	MaxNonceLen = 255
)

// Marshal writes t; EvidenceType is a cryptobyte.MarshalingValue.
func (t EvidenceType) Marshal(b *cryptobyte.Builder) error {
	if t.CredentialKind > CertAttestation {
		return errs.Build("credential_kind %d undefined", t.CredentialKind)
	}
	b.AddUint8(uint8(t.CredentialKind))
	b.AddUint8(uint8(t.Encoding))
	switch t.Encoding {
	case ContentFormat:
		b.AddUint16(t.ContentFormat)
	case MediaType:
		if len(t.MediaType) > 0xffff {
			return errs.Build("media_type of %d bytes exceeds 2^16-1", len(t.MediaType))
		}
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(t.MediaType)) })
	default:
		return errs.Build("type_encoding %d undefined", t.Encoding)
	}
	return nil
}

func readEvidenceType(s *cryptobyte.String, t *EvidenceType) error {
	var kind, enc uint8
	if !s.ReadUint8(&kind) || !s.ReadUint8(&enc) {
		return errs.Decode("truncated EvidenceType")
	}
	*t = EvidenceType{CredentialKind: CredentialKind(kind), Encoding: TypeEncoding(enc)}
	switch t.Encoding {
	case ContentFormat:
		if !s.ReadUint16(&t.ContentFormat) {
			return errs.Decode("truncated content_format")
		}
	case MediaType:
		var mt cryptobyte.String
		if !s.ReadUint16LengthPrefixed(&mt) {
			return errs.Decode("truncated media_type")
		}
		t.MediaType = string(mt)
	default:
		// The select has no arm for it: the rest cannot be parsed.
		return errs.Decode("unknown type_encoding %d", enc)
	}
	if t.CredentialKind > CertAttestation {
		return tls13.Alertf(tls13.AlertIllegalParameter, "ta-07: unknown credential_kind %d", kind)
	}
	return nil
}

func addEvidenceTypes(b *cryptobyte.Builder, ts []EvidenceType) {
	if len(ts) == 0 {
		codec.Fail(b, errs.Build("supported_evidence_types<1..2^8-1> is empty"))
		return
	}
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, t := range ts {
			codec.AddValue(b, t)
		}
	})
}

func readEvidenceTypes(s *cryptobyte.String) ([]EvidenceType, error) {
	var list cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&list) {
		return nil, errs.Decode("truncated supported_evidence_types")
	}
	if list.Empty() {
		return nil, errs.Decode("empty supported_evidence_types<1..2^8-1>")
	}
	var out []EvidenceType
	for !list.Empty() {
		var t EvidenceType
		if err := readEvidenceType(&list, &t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func addNonce(b *cryptobyte.Builder, n []byte) {
	if len(n) < MinNonceLen || len(n) > MaxNonceLen {
		codec.Fail(b, errs.Build("nonce of %d bytes outside <8..2^8-1>", len(n)))
		return
	}
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(n) })
}

func readNonce(s *cryptobyte.String) ([]byte, error) {
	var n cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&n) {
		return nil, errs.Decode("truncated nonce")
	}
	if len(n) < MinNonceLen {
		return nil, errs.Decode("nonce of %d bytes, minimum %d", len(n), MinNonceLen)
	}
	return append([]byte(nil), n...), nil
}

// EvidenceRequestCH is evidence_request in ClientHello: the client is the
// relying party and challenges the server (§6, §8.1).
type EvidenceRequestCH struct {
	SupportedEvidenceTypes []EvidenceType
	Nonce                  []byte
}

func (x EvidenceRequestCH) Marshal() ([]byte, error) {
	var b cryptobyte.Builder
	addEvidenceTypes(&b, x.SupportedEvidenceTypes)
	addNonce(&b, x.Nonce)
	return errs.Finish(&b)
}

func (x *EvidenceRequestCH) Unmarshal(data []byte) error {
	s := cryptobyte.String(data)
	ts, err := readEvidenceTypes(&s)
	if err != nil {
		return err
	}
	n, err := readNonce(&s)
	if err != nil {
		return err
	}
	if err := errs.NoTrailing(s, "evidence_request"); err != nil {
		return err
	}
	*x = EvidenceRequestCH{SupportedEvidenceTypes: ts, Nonce: n}
	return nil
}

// EvidenceRequestEE is evidence_request in EncryptedExtensions: the type the
// server's Certificate will carry.
type EvidenceRequestEE struct {
	SelectedEvidenceType EvidenceType
}

func (x EvidenceRequestEE) Marshal() ([]byte, error) {
	var b cryptobyte.Builder
	codec.AddValue(&b, x.SelectedEvidenceType)
	return errs.Finish(&b)
}

func (x *EvidenceRequestEE) Unmarshal(data []byte) error {
	s := cryptobyte.String(data)
	var t EvidenceType
	if err := readEvidenceType(&s, &t); err != nil {
		return err
	}
	if err := errs.NoTrailing(s, "evidence_request"); err != nil {
		return err
	}
	x.SelectedEvidenceType = t
	return nil
}

// EvidenceProposalCH is evidence_proposal in ClientHello: the types the client
// can present if the server asks (§8.1.1).
type EvidenceProposalCH struct {
	SupportedEvidenceTypes []EvidenceType
}

func (x EvidenceProposalCH) Marshal() ([]byte, error) {
	var b cryptobyte.Builder
	addEvidenceTypes(&b, x.SupportedEvidenceTypes)
	return errs.Finish(&b)
}

func (x *EvidenceProposalCH) Unmarshal(data []byte) error {
	s := cryptobyte.String(data)
	ts, err := readEvidenceTypes(&s)
	if err != nil {
		return err
	}
	if err := errs.NoTrailing(s, "evidence_proposal"); err != nil {
		return err
	}
	x.SupportedEvidenceTypes = ts
	return nil
}

// EvidenceProposalEE is evidence_proposal in EncryptedExtensions: the type the
// client must present and the server's nonce (§8.1.2).
type EvidenceProposalEE struct {
	SelectedEvidenceType EvidenceType
	Nonce                []byte
}

func (x EvidenceProposalEE) Marshal() ([]byte, error) {
	var b cryptobyte.Builder
	codec.AddValue(&b, x.SelectedEvidenceType)
	addNonce(&b, x.Nonce)
	return errs.Finish(&b)
}

func (x *EvidenceProposalEE) Unmarshal(data []byte) error {
	s := cryptobyte.String(data)
	var t EvidenceType
	if err := readEvidenceType(&s, &t); err != nil {
		return err
	}
	n, err := readNonce(&s)
	if err != nil {
		return err
	}
	if err := errs.NoTrailing(s, "evidence_proposal"); err != nil {
		return err
	}
	*x = EvidenceProposalEE{SelectedEvidenceType: t, Nonce: n}
	return nil
}

// ResultsCH is the ClientHello form shared by results_request and
// results_proposal: trusted_verifiers<1..2^8-1> (§7).
type ResultsCH struct {
	TrustedVerifiers []VerifierIdentity
}

func (x ResultsCH) Marshal() ([]byte, error) {
	if len(x.TrustedVerifiers) == 0 {
		return nil, errs.Build("trusted_verifiers<1..2^8-1> is empty")
	}
	var b cryptobyte.Builder
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, v := range x.TrustedVerifiers {
			codec.AddValue(b, v)
		}
	})
	return errs.Finish(&b)
}

func (x *ResultsCH) Unmarshal(data []byte) error {
	s := cryptobyte.String(data)
	var list cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&list) {
		return errs.Decode("truncated trusted_verifiers")
	}
	if list.Empty() {
		return errs.Decode("empty trusted_verifiers<1..2^8-1>")
	}
	var vs []VerifierIdentity
	for !list.Empty() {
		v, err := readVerifier(&list)
		if err != nil {
			return err
		}
		vs = append(vs, v)
	}
	if err := errs.NoTrailing(s, "trusted_verifiers"); err != nil {
		return err
	}
	x.TrustedVerifiers = vs
	return nil
}

// ResultsEE is the EncryptedExtensions form shared by results_request and
// results_proposal: selected_verifier.
type ResultsEE struct {
	SelectedVerifier VerifierIdentity
}

func (x ResultsEE) Marshal() ([]byte, error) {
	var b cryptobyte.Builder
	codec.AddValue(&b, x.SelectedVerifier)
	return errs.Finish(&b)
}

func (x *ResultsEE) Unmarshal(data []byte) error {
	s := cryptobyte.String(data)
	v, err := readVerifier(&s)
	if err != nil {
		return err
	}
	if err := errs.NoTrailing(s, "selected_verifier"); err != nil {
		return err
	}
	x.SelectedVerifier = v
	return nil
}

// Marshal writes v; VerifierIdentity is a cryptobyte.MarshalingValue.
func (v VerifierIdentity) Marshal(b *cryptobyte.Builder) error {
	if len(v) > 0xffff {
		return errs.Build("verifier_identity of %d bytes exceeds 2^16-1", len(v))
	}
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(v) })
	return nil
}

func readVerifier(s *cryptobyte.String) (VerifierIdentity, error) {
	var v cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&v) {
		return nil, errs.Decode("truncated verifier_identity")
	}
	return append(VerifierIdentity{}, v...), nil
}

// Channel binder (§6.2.1). ta-07 adds a secret to the key schedule:
//
//	handshake_exporter_secret = Derive-Secret(Handshake Secret, "h exp master", ClientHello...ServerHello)
//	TLS-Handshake-Exporter(label, context_value, key_length) =
//	    HKDF-Expand-Label(Derive-Secret(handshake_exporter_secret, label, ""),
//	                      "exporter", Hash(context_value), key_length)
//	channel_binder = TLS-Handshake-Exporter("attestation-binder", nonce-seed, nonce-size)
const (
	HandshakeExporterSecretLabel = "h exp master"
	ChannelBinderLabel           = "attestation-binder"
)

// HandshakeExporterSecret derives handshake_exporter_secret from the Handshake
// Secret and Transcript-Hash(ClientHello...ServerHello).
func HandshakeExporterSecret(h crypto.Hash, handshakeSecret, helloTranscriptHash []byte) []byte {
	return tls13.DeriveSecret(h, handshakeSecret, HandshakeExporterSecretLabel, helloTranscriptHash)
}

// HandshakeExporter is TLS-Handshake-Exporter. Like tls13.ExpandLabel it
// panics on impossible arguments (label over 249 bytes, length over
// 255*Hash.length), which are caller bugs.
func HandshakeExporter(h crypto.Hash, handshakeExporterSecret []byte, label string, context []byte, length int) []byte {
	empty := h.New().Sum(nil) // Derive-Secret(., label, "") hashes the empty transcript
	secret := tls13.DeriveSecret(h, handshakeExporterSecret, label, empty)
	hc := h.New()
	hc.Write(context)
	return tls13.ExpandLabel(h, secret, "exporter", hc.Sum(nil), length)
}

// ChannelBinder computes channel_binder from the negotiated nonce and the size
// the attester advertised. size comes off the wire, so a bad one is an error
// (illegal_parameter), not a panic.
func ChannelBinder(h crypto.Hash, handshakeExporterSecret, nonce []byte, size int) ([]byte, error) {
	if !h.Available() {
		return nil, errors.New("ta-07: channel binder hash unavailable")
	}
	if size < 1 || size > 255*h.Size() {
		return nil, tls13.Alertf(tls13.AlertIllegalParameter, "ta-07: channel binder size %d outside 1..%d", size, 255*h.Size())
	}
	return HandshakeExporter(h, handshakeExporterSecret, ChannelBinderLabel, nonce, size), nil
}
