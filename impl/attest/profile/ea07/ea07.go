// Package ea07 holds the wire types of draft-fossati-seat-early-attestation-07
// (profile "ea-07"): the one remoteAttestation extension in its four forms
// (ClientHello, EncryptedExtensions, CertificateRequest, Certificate entry),
// and the attestation binders of §5.1.1.
//
// Source: the editor's copy (yaronf/draft-fossati-seat-early-attestation,
// draft-fossati-seat-early-attestation.md at 0108ee6, post -06), §4.1
// "Remote Attestation Extension" and §5.1.1 "Attestation Binder Definition".
// The -07 text itself was not available; third-party notes quoting -07 say
// §5.1.1 is unchanged. The structures here are therefore those of the
// editor's copy and unconfirmed for -07.
//
// Parsers return tls13.Alertf(tls13.AlertDecodeError, ...) for anything the
// syntax rejects. Semantic rules (both lists empty → unsupported_attestation_schemes,
// a chosen scheme not offered, the extension outside the first CertificateEntry
// → illegal_parameter) belong to the caller.
package ea07

import (
	"bytes"
	"crypto"
	"fmt"
	"github.com/attested-tls/conformance/impl/attest/profile/codec"

	"golang.org/x/crypto/cryptobyte"

	"github.com/attested-tls/conformance/impl/tls13"
)

// errs names this profile in codec errors.
const errs = codec.Errors("ea-07")

// TypeEncoding selects how an EvidenceType names its type.
type TypeEncoding uint8

const (
	ContentFormat TypeEncoding = 0 // CONTENT_FORMAT: uint16 CoAP Content-Format
	MediaType     TypeEncoding = 1 // MEDIA_TYPE: opaque media_type<0..2^16-1>
)

// EvidenceType is ta-07's EvidenceType without credential_kind: ea-07 always
// pairs attestation with an X.509 certificate.
type EvidenceType struct {
	Encoding      TypeEncoding
	ContentFormat uint16
	MediaType     string
}

// VerifierIdentity is VerifierIdentityType.verifier_identity<0..2^16-1>.
type VerifierIdentity []byte

// AttestationMechanism is enum { evidence(0), result(1), (255) }.
type AttestationMechanism uint8

const (
	MechanismEvidence AttestationMechanism = 0 // background check: Evidence, bound by the attestation binder
	MechanismResult   AttestationMechanism = 1 // passport: Attestation Results from a Verifier
)

func (m AttestationMechanism) String() string {
	switch m {
	case MechanismEvidence:
		return "evidence"
	case MechanismResult:
		return "result"
	}
	return fmt.Sprintf("AttestationMechanism(%d)", uint8(m))
}

// AttestationScheme is a mechanism plus its argument: Evidence for
// MechanismEvidence, Verifier for MechanismResult. Marshal writes only the
// argument the mechanism selects.
type AttestationScheme struct {
	Mechanism AttestationMechanism
	Evidence  EvidenceType
	Verifier  VerifierIdentity
}

// Equal compares what the wire carries, so "chosen scheme was offered" (§7)
// can be checked.
func (s AttestationScheme) Equal(o AttestationScheme) bool {
	if s.Mechanism != o.Mechanism {
		return false
	}
	switch s.Mechanism {
	case MechanismEvidence:
		if s.Evidence.Encoding != o.Evidence.Encoding {
			return false
		}
		if s.Evidence.Encoding == ContentFormat {
			return s.Evidence.ContentFormat == o.Evidence.ContentFormat
		}
		return s.Evidence.MediaType == o.Evidence.MediaType
	case MechanismResult:
		return bytes.Equal(s.Verifier, o.Verifier)
	}
	return false
}

// In reports whether list holds a scheme Equal to s.
func (s AttestationScheme) In(list []AttestationScheme) bool {
	for _, o := range list {
		if s.Equal(o) {
			return true
		}
	}
	return false
}

func (s AttestationScheme) String() string {
	if s.Mechanism == MechanismResult {
		return fmt.Sprintf("result/verifier=%x", []byte(s.Verifier))
	}
	if s.Evidence.Encoding == ContentFormat {
		return fmt.Sprintf("evidence/content_format=%d", s.Evidence.ContentFormat)
	}
	return fmt.Sprintf("evidence/media_type=%q", s.Evidence.MediaType)
}

// Marshal writes s; AttestationScheme is a cryptobyte.MarshalingValue.
func (s AttestationScheme) Marshal(b *cryptobyte.Builder) error {
	b.AddUint8(uint8(s.Mechanism))
	switch s.Mechanism {
	case MechanismEvidence:
		b.AddUint8(uint8(s.Evidence.Encoding))
		switch s.Evidence.Encoding {
		case ContentFormat:
			b.AddUint16(s.Evidence.ContentFormat)
		case MediaType:
			if len(s.Evidence.MediaType) > 0xffff {
				return errs.Build("media_type of %d bytes exceeds 2^16-1", len(s.Evidence.MediaType))
			}
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(s.Evidence.MediaType)) })
		default:
			return errs.Build("type_encoding %d undefined", s.Evidence.Encoding)
		}
	case MechanismResult:
		if len(s.Verifier) > 0xffff {
			return errs.Build("verifier_identity of %d bytes exceeds 2^16-1", len(s.Verifier))
		}
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(s.Verifier) })
	default:
		return errs.Build("mechanism %d undefined", s.Mechanism)
	}
	return nil
}

func readScheme(s *cryptobyte.String, out *AttestationScheme) error {
	var mech uint8
	if !s.ReadUint8(&mech) {
		return errs.Decode("truncated AttestationScheme")
	}
	*out = AttestationScheme{Mechanism: AttestationMechanism(mech)}
	switch out.Mechanism {
	case MechanismEvidence:
		var enc uint8
		if !s.ReadUint8(&enc) {
			return errs.Decode("truncated EvidenceType")
		}
		out.Evidence.Encoding = TypeEncoding(enc)
		switch out.Evidence.Encoding {
		case ContentFormat:
			if !s.ReadUint16(&out.Evidence.ContentFormat) {
				return errs.Decode("truncated content_format")
			}
		case MediaType:
			var mt cryptobyte.String
			if !s.ReadUint16LengthPrefixed(&mt) {
				return errs.Decode("truncated media_type")
			}
			out.Evidence.MediaType = string(mt)
		default:
			return errs.Decode("unknown type_encoding %d", enc)
		}
	case MechanismResult:
		var v cryptobyte.String
		if !s.ReadUint16LengthPrefixed(&v) {
			return errs.Decode("truncated verifier_identity")
		}
		out.Verifier = append(VerifierIdentity{}, v...)
	default:
		// No select arm: the argument's length is unknown, so nothing after
		// it can be parsed either.
		return errs.Decode("unknown AttestationMechanism %d", mech)
	}
	return nil
}

func addSchemes(b *cryptobyte.Builder, list []AttestationScheme) {
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, s := range list {
			codec.AddValue(b, s)
		}
	})
}

func readSchemes(s *cryptobyte.String, what string) ([]AttestationScheme, error) {
	var list cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&list) {
		return nil, errs.Decode("truncated %s", what)
	}
	var out []AttestationScheme
	for !list.Empty() {
		var sc AttestationScheme
		if err := readScheme(&list, &sc); err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, nil
}

// RemoteAttestationCH is remoteAttestation in ClientHello. Either list may be
// empty on the wire (<0..2^16-1>); §7.1 asks the client to populate at least
// one scheme, which is the caller's check.
type RemoteAttestationCH struct {
	ServerAttesterSchemes []AttestationScheme
	ClientAttesterSchemes []AttestationScheme
}

func (x RemoteAttestationCH) Marshal() ([]byte, error) {
	var b cryptobyte.Builder
	addSchemes(&b, x.ServerAttesterSchemes)
	addSchemes(&b, x.ClientAttesterSchemes)
	return errs.Finish(&b)
}

func (x *RemoteAttestationCH) Unmarshal(data []byte) error {
	s := cryptobyte.String(data)
	srv, err := readSchemes(&s, "server_attester_schemes")
	if err != nil {
		return err
	}
	cli, err := readSchemes(&s, "client_attester_schemes")
	if err != nil {
		return err
	}
	if err := errs.NoTrailing(s, "client_attester_schemes"); err != nil {
		return err
	}
	*x = RemoteAttestationCH{ServerAttesterSchemes: srv, ClientAttesterSchemes: cli}
	return nil
}

// RemoteAttestationEE is remoteAttestation in EncryptedExtensions: the scheme
// the server will attest with.
type RemoteAttestationEE struct {
	ChosenServerScheme AttestationScheme
}

func (x RemoteAttestationEE) Marshal() ([]byte, error) {
	var b cryptobyte.Builder
	codec.AddValue(&b, x.ChosenServerScheme)
	return errs.Finish(&b)
}

func (x *RemoteAttestationEE) Unmarshal(data []byte) error {
	sc, err := readOneScheme(data, "chosen_server_scheme")
	if err != nil {
		return err
	}
	x.ChosenServerScheme = sc
	return nil
}

// RemoteAttestationCR is remoteAttestation in CertificateRequest: the scheme
// the client must attest with.
type RemoteAttestationCR struct {
	ChosenClientScheme AttestationScheme
}

func (x RemoteAttestationCR) Marshal() ([]byte, error) {
	var b cryptobyte.Builder
	codec.AddValue(&b, x.ChosenClientScheme)
	return errs.Finish(&b)
}

func (x *RemoteAttestationCR) Unmarshal(data []byte) error {
	sc, err := readOneScheme(data, "chosen_client_scheme")
	if err != nil {
		return err
	}
	x.ChosenClientScheme = sc
	return nil
}

func readOneScheme(data []byte, what string) (AttestationScheme, error) {
	s := cryptobyte.String(data)
	var sc AttestationScheme
	if err := readScheme(&s, &sc); err != nil {
		return sc, err
	}
	return sc, errs.NoTrailing(s, what)
}

// MaxCMWPayloadInExtension is the largest cmw_payload that fits: the struct
// allows <1..2^24-1>, but it sits in Extension.extension_data<0..2^16-1>, so
// 3 bytes of length prefix leave 65532. The draft does not address this.
const MaxCMWPayloadInExtension = 0xffff - 3

// RemoteAttestationCertificate is remoteAttestation in the first
// CertificateEntry: the CMW with Evidence or Attestation Results.
type RemoteAttestationCertificate struct {
	CMWPayload []byte
}

func (x RemoteAttestationCertificate) Marshal() ([]byte, error) {
	if len(x.CMWPayload) == 0 {
		return nil, errs.Build("empty cmw_payload<1..2^24-1>")
	}
	if len(x.CMWPayload) > MaxCMWPayloadInExtension {
		return nil, errs.Build("cmw_payload of %d bytes does not fit extension_data<0..2^16-1> (max %d)",
			len(x.CMWPayload), MaxCMWPayloadInExtension)
	}
	var b cryptobyte.Builder
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(x.CMWPayload) })
	return errs.Finish(&b)
}

// Unmarshal accepts any length the struct allows; the CMW inside is not
// parsed here (package cmw does that, and a bad CMW is attestation_failed,
// not decode_error, per §5.1.2).
func (x *RemoteAttestationCertificate) Unmarshal(data []byte) error {
	s := cryptobyte.String(data)
	var p cryptobyte.String
	if !s.ReadUint24LengthPrefixed(&p) {
		return errs.Decode("truncated cmw_payload")
	}
	if p.Empty() {
		return errs.Decode("empty cmw_payload<1..2^24-1>")
	}
	if err := errs.NoTrailing(s, "cmw_payload"); err != nil {
		return err
	}
	x.CMWPayload = append([]byte(nil), p...)
	return nil
}

// Binders (§5.1.1): no nonce, no key-schedule change.
//
//	attest_base     = HKDF-Expand-Label(0, "attestation base", Hash(ClientHello...ServerHello), Hash.length)
//	c_attest_binder = HKDF-Expand-Label(attest_base, "attestation", Hash(TLS_Client_Public_Key), Hash.length)
//	s_attest_binder = HKDF-Expand-Label(attest_base, "attestation", Hash(TLS_Server_Public_Key), Hash.length)
//
// "0" is Hash.length zero bytes; the public keys are the DER
// SubjectPublicKeyInfo of the end-entity certificate; Hash is the cipher
// suite's hash.
const (
	AttestBaseLabel   = "attestation base"
	AttestBinderLabel = "attestation"
)

// AttestBase derives attest_base from Transcript-Hash(ClientHello...ServerHello).
// Which transcript that is after a HelloRetryRequest the draft does not say;
// the caller decides.
func AttestBase(h crypto.Hash, helloTranscriptHash []byte) []byte {
	return tls13.ExpandLabel(h, make([]byte, h.Size()), AttestBaseLabel, helloTranscriptHash, h.Size())
}

// AttestBinder derives c_attest_binder or s_attest_binder for the peer whose
// end-entity SubjectPublicKeyInfo is spkiDER.
func AttestBinder(h crypto.Hash, attestBase, spkiDER []byte) []byte {
	hh := h.New()
	hh.Write(spkiDER)
	return tls13.ExpandLabel(h, attestBase, AttestBinderLabel, hh.Sum(nil), h.Size())
}
