// Package codepoint is the one table of the codepoints the attestation drafts
// leave TBD: extension types, alert codes and a certificate type. Every value
// has a documented default and can be overridden by configuration, so a run
// can match whatever numbers a peer under test was built with.
//
// Defaults come from space IANA has not assigned, checked against these
// registries (copies seen 2026, registry pages updated 2026-08-11 and
// 2026-02-13):
//
//   - TLS ExtensionType Values (https://www.iana.org/assignments/tls-extensiontype-values):
//     0–62 are assigned up to tls_flags(62); 65280 and 65282–65535 are
//     "Reserved for Private Use" (65281 is renegotiation_info). Our draft
//     extensions take 0xFFA0… from that private-use block, away from the
//     0xFF02–0xFF08 values early ECH drafts used experimentally.
//   - TLS Alerts (https://www.iana.org/assignments/tls-parameters, "TLS Alerts"):
//     Standards Action, with no private-use range (RFC 8446 §11); assigned
//     values stop at ech_required(121). We take 224–228, far above the
//     assigned block, so a future assignment is unlikely to land on them.
//   - TLS Certificate Types (tls-extensiontype-values, "TLS Certificate Types"):
//     0 X509, 1 OpenPGP (reserved), 2 RawPublicKey, 3 1609Dot2; 224–255 are
//     "Reserved for Private Use". The ta-07 "attestation" type takes 224.
//
// The PoC extension keeps 100, the number the CCC mbedTLS fork hard-coded
// (MBEDTLS_TLS_EXT_EVIDENCE_PROPOSAL, "experimental"); 100 is unassigned in
// the registry copies seen.
package codepoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/attested-tls/conformance/impl/tls13"
)

// DraftTextAttestationEvidence is the value draft-fossati-tls-attestation-07
// §6.2 writes for the attestation_evidence CertificateEntry extension. IANA has
// 60 as sequence_number_encryption_algorithms
// (draft-pismenny-tls-dtls-plaintext-sequence-number), so it is not our
// default; set "ta-07.attestation_evidence=60" to reproduce the draft text
// literally. Validate allows it because the engine never uses extension 60.
const DraftTextAttestationEvidence uint16 = 60

// Table holds every TBD codepoint of the three profiles. The JSON names are
// the names Override accepts.
type Table struct {
	// draft-fossati-tls-attestation-07 (ta-07): ClientHello/EncryptedExtensions
	// extensions, the CertificateEntry extension, the certificate type and alerts.
	TA07EvidenceRequest      uint16          `json:"ta-07.evidence_request"`
	TA07EvidenceProposal     uint16          `json:"ta-07.evidence_proposal"`
	TA07ResultsRequest       uint16          `json:"ta-07.results_request"`
	TA07ResultsProposal      uint16          `json:"ta-07.results_proposal"`
	TA07AttestationEvidence  uint16          `json:"ta-07.attestation_evidence"`
	TA07AttestationCertType  uint8           `json:"ta-07.attestation"`
	TA07UnsupportedEvidence  tls13.AlertCode `json:"ta-07.unsupported_evidence"`
	TA07UnsupportedVerifiers tls13.AlertCode `json:"ta-07.unsupported_verifiers"`

	// draft-fossati-seat-early-attestation-07 (ea-07).
	EA07RemoteAttestation             uint16          `json:"ea-07.remoteAttestation"`
	EA07UnsupportedAttestationSchemes tls13.AlertCode `json:"ea-07.unsupported_attestation_schemes"`
	EA07AttestationRequired           tls13.AlertCode `json:"ea-07.attestation_required"`
	EA07AttestationFailed             tls13.AlertCode `json:"ea-07.attestation_failed"`

	// CCC attested-tls-poc (poc): its single evidence_proposal extension.
	PoCEvidenceProposal uint16 `json:"poc.evidence_proposal"`

	// draft-fossati-seat-expat, editor's copy after -02 (xp-03): the
	// cmw_attestation extension of exported authenticators.
	XP03CMWAttestation uint16 `json:"xp-03.cmw_attestation"`
}

// Default returns the table described in the package comment.
func Default() Table {
	return Table{
		TA07EvidenceRequest:      0xFFA0,
		TA07EvidenceProposal:     0xFFA1,
		TA07ResultsRequest:       0xFFA2,
		TA07ResultsProposal:      0xFFA3,
		TA07AttestationEvidence:  0xFFA4,
		TA07AttestationCertType:  224,
		TA07UnsupportedEvidence:  224,
		TA07UnsupportedVerifiers: 225,

		EA07RemoteAttestation:             0xFFB0,
		EA07UnsupportedAttestationSchemes: 226,
		EA07AttestationRequired:           227,
		EA07AttestationFailed:             228,

		PoCEvidenceProposal: 100,

		XP03CMWAttestation: 0xFFD0,
	}
}

type space int

const (
	extensionSpace space = iota
	alertSpace
	certTypeSpace
)

func (s space) String() string {
	switch s {
	case extensionSpace:
		return "extension type"
	case alertSpace:
		return "alert"
	default:
		return "certificate type"
	}
}

// field names one entry of the table; exactly one of u16 and u8 is set.
type field struct {
	name  string
	space space
	u16   *uint16
	u8    *uint8
}

func (f field) value() uint64 {
	if f.u16 != nil {
		return uint64(*f.u16)
	}
	return uint64(*f.u8)
}

// fields lists the table's entries in a fixed order; the names match the JSON
// tags (a test keeps them in step).
func (t *Table) fields() []field {
	ext := func(n string, p *uint16) field { return field{name: n, space: extensionSpace, u16: p} }
	alert := func(n string, p *tls13.AlertCode) field {
		return field{name: n, space: alertSpace, u8: (*uint8)(p)}
	}
	return []field{
		ext("ta-07.evidence_request", &t.TA07EvidenceRequest),
		ext("ta-07.evidence_proposal", &t.TA07EvidenceProposal),
		ext("ta-07.results_request", &t.TA07ResultsRequest),
		ext("ta-07.results_proposal", &t.TA07ResultsProposal),
		ext("ta-07.attestation_evidence", &t.TA07AttestationEvidence),
		{name: "ta-07.attestation", space: certTypeSpace, u8: &t.TA07AttestationCertType},
		alert("ta-07.unsupported_evidence", &t.TA07UnsupportedEvidence),
		alert("ta-07.unsupported_verifiers", &t.TA07UnsupportedVerifiers),
		ext("ea-07.remoteAttestation", &t.EA07RemoteAttestation),
		alert("ea-07.unsupported_attestation_schemes", &t.EA07UnsupportedAttestationSchemes),
		alert("ea-07.attestation_required", &t.EA07AttestationRequired),
		alert("ea-07.attestation_failed", &t.EA07AttestationFailed),
		ext("poc.evidence_proposal", &t.PoCEvidenceProposal),
		ext("xp-03.cmw_attestation", &t.XP03CMWAttestation),
	}
}

// Names lists the names Override accepts, in table order.
func Names() []string {
	var t Table
	fs := t.fields()
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.name
	}
	return out
}

// Override returns a copy of t with the values in spec applied, then
// validated. spec is either "name=value,name=value" with decimal or 0x-hex
// values, or a JSON object with the same names (numbers only). An empty spec
// returns t unchanged (after validation). Unknown names, repeated names and
// values out of range for the field are errors.
func (t Table) Override(spec string) (Table, error) {
	spec = strings.TrimSpace(spec)
	out := t
	var err error
	if strings.HasPrefix(spec, "{") {
		err = out.overrideJSON(spec)
	} else if spec != "" {
		err = out.overrideList(spec)
	}
	if err != nil {
		return t, err
	}
	if err := out.Validate(); err != nil {
		return t, err
	}
	return out, nil
}

func (t *Table) overrideJSON(spec string) error {
	// encoding/json matches keys case-insensitively; names here are exact.
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(spec), &keys); err != nil {
		return fmt.Errorf("codepoint: JSON override: %w", err)
	}
	known := map[string]bool{}
	for _, n := range Names() {
		known[n] = true
	}
	for k := range keys {
		if !known[k] {
			return fmt.Errorf("codepoint: unknown name %q (known: %s)", k, strings.Join(Names(), ", "))
		}
	}
	dec := json.NewDecoder(strings.NewReader(spec))
	dec.DisallowUnknownFields()
	if err := dec.Decode(t); err != nil {
		return fmt.Errorf("codepoint: JSON override: %w", err)
	}
	if dec.More() {
		return errors.New("codepoint: JSON override: trailing data after the object")
	}
	return nil
}

func (t *Table) overrideList(spec string) error {
	byName := map[string]field{}
	for _, f := range t.fields() {
		byName[f.name] = f
	}
	seen := map[string]bool{}
	for _, item := range strings.Split(spec, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		if !ok || name == "" || val == "" {
			return fmt.Errorf("codepoint: %q is not name=value", item)
		}
		f, known := byName[name]
		if !known {
			return fmt.Errorf("codepoint: unknown name %q (known: %s)", name, strings.Join(Names(), ", "))
		}
		if seen[name] {
			return fmt.Errorf("codepoint: %q given twice", name)
		}
		seen[name] = true
		bits := 8
		if f.u16 != nil {
			bits = 16
		}
		v, err := parseValue(val, bits)
		if err != nil {
			return fmt.Errorf("codepoint: %s: %w", name, err)
		}
		if f.u16 != nil {
			*f.u16 = uint16(v)
		} else {
			*f.u8 = uint8(v)
		}
	}
	return nil
}

// parseValue reads decimal or 0x-hex. A leading zero is decimal, not octal:
// strconv's base 0 would read "010" as 8, which nobody writing a codepoint means.
func parseValue(s string, bits int) (uint64, error) {
	base := 10
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		s, base = s[2:], 16
	}
	v, err := strconv.ParseUint(s, base, bits)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return 0, fmt.Errorf("value out of range for a %d-bit codepoint", bits)
		}
		return 0, fmt.Errorf("%q is not a decimal or 0x-hex number", s)
	}
	return v, nil
}

// Spec renders t in the name=value form Override reads, in table order.
func (t Table) Spec() string {
	var b strings.Builder
	for i, f := range t.fields() {
		if i > 0 {
			b.WriteByte(',')
		}
		if f.space == extensionSpace {
			fmt.Fprintf(&b, "%s=0x%04x", f.name, f.value())
		} else {
			fmt.Fprintf(&b, "%s=%d", f.name, f.value())
		}
	}
	return b.String()
}

// engineExtensions are the IANA extension types a TLS 1.3 engine in the
// crypto/tls mould sends or parses (RFC 8446 §4.2 and the RFCs it lists, plus
// renegotiation_info which TLS 1.3 peers still see). A draft codepoint equal to
// one of these would be misparsed by the engine.
var engineExtensions = map[uint16]string{
	0:     "server_name",
	1:     "max_fragment_length",
	5:     "status_request",
	10:    "supported_groups",
	13:    "signature_algorithms",
	14:    "use_srtp",
	15:    "heartbeat",
	16:    "application_layer_protocol_negotiation",
	18:    "signed_certificate_timestamp",
	19:    "client_certificate_type",
	20:    "server_certificate_type",
	21:    "padding",
	41:    "pre_shared_key",
	42:    "early_data",
	43:    "supported_versions",
	44:    "cookie",
	45:    "psk_key_exchange_modes",
	47:    "certificate_authorities",
	48:    "oid_filters",
	49:    "post_handshake_auth",
	50:    "signature_algorithms_cert",
	51:    "key_share",
	65281: "renegotiation_info",
}

// isGREASE reports the RFC 8701 reserved values 0x0A0A, 0x1A1A, … 0xFAFA,
// which an engine may send and must ignore.
func isGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// ianaAlerts are the assigned (or retired, still not free) TLS Alerts values.
var ianaAlerts = map[uint8]string{
	0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac",
	21: "decryption_failed_RESERVED", 22: "record_overflow", 30: "decompression_failure_RESERVED",
	40: "handshake_failure", 41: "no_certificate_RESERVED", 42: "bad_certificate",
	43: "unsupported_certificate", 44: "certificate_revoked", 45: "certificate_expired",
	46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca",
	49: "access_denied", 50: "decode_error", 51: "decrypt_error",
	52: "too_many_cids_requested", 60: "export_restriction_RESERVED", 70: "protocol_version",
	71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback",
	90: "user_canceled", 100: "no_renegotiation_RESERVED", 109: "missing_extension",
	110: "unsupported_extension", 111: "certificate_unobtainable_RESERVED", 112: "unrecognized_name",
	113: "bad_certificate_status_response", 114: "bad_certificate_hash_value_RESERVED",
	115: "unknown_psk_identity", 116: "certificate_required", 120: "no_application_protocol",
	121: "ech_required",
}

// ianaCertTypes are the assigned TLS Certificate Types values.
var ianaCertTypes = map[uint8]string{0: "X509", 1: "OpenPGP_RESERVED", 2: "RawPublicKey", 3: "1609Dot2"}

// Validate rejects a table whose codepoints collide with each other (within
// one space: extension types, alerts, certificate types) or with the IANA
// values listed above.
func (t Table) Validate() error {
	var errs []error
	owner := map[space]map[uint64]string{}
	for _, f := range t.fields() {
		v := f.value()
		if owner[f.space] == nil {
			owner[f.space] = map[uint64]string{}
		}
		if prev, dup := owner[f.space][v]; dup {
			errs = append(errs, fmt.Errorf("codepoint: %s and %s are both %s %d", prev, f.name, f.space, v))
		} else {
			owner[f.space][v] = f.name
		}
		switch f.space {
		case extensionSpace:
			if n, ok := engineExtensions[uint16(v)]; ok {
				errs = append(errs, fmt.Errorf("codepoint: %s=%d is IANA extension %s, used by the engine", f.name, v, n))
			} else if isGREASE(uint16(v)) {
				errs = append(errs, fmt.Errorf("codepoint: %s=0x%04x is a GREASE value (RFC 8701)", f.name, v))
			}
		case alertSpace:
			if n, ok := ianaAlerts[uint8(v)]; ok {
				errs = append(errs, fmt.Errorf("codepoint: %s=%d is IANA alert %s", f.name, v, n))
			}
		case certTypeSpace:
			if n, ok := ianaCertTypes[uint8(v)]; ok {
				errs = append(errs, fmt.Errorf("codepoint: %s=%d is IANA certificate type %s", f.name, v, n))
			}
		}
	}
	return errors.Join(errs...)
}

// AlertNames names the table's alert codes by their draft names, for a
// connection's tls13.Config.AlertNames.
func AlertNames(t Table) map[tls13.AlertCode]string {
	out := map[tls13.AlertCode]string{}
	for _, f := range t.fields() {
		if f.space != alertSpace {
			continue
		}
		_, name, _ := strings.Cut(f.name, ".")
		out[tls13.AlertCode(*f.u8)] = name
	}
	return out
}

// RegisterAlertNames names the table's alert codes in package tls13, so errors
// and traces print them by their draft names. tls13 keeps the names in a plain
// map: call this while configuring, before handshakes run.
func RegisterAlertNames(t Table) {
	for code, name := range AlertNames(t) {
		tls13.RegisterAlertName(code, name)
	}
}

// MarshalJSON writes every entry, in table order, under the names Override reads.
func (t Table) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	fs := t.fields()
	for i, f := range fs {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%d", f.name, f.value())
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
