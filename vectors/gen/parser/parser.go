// Package parser holds the parser vectors, in the shape of Wycheproof
// (C2SP/wycheproof): for every new extension and structure of each
// profile, test groups of inputs with the verdict a receiver must reach
// (valid, invalid or acceptable), flags naming the property tested, the
// alert an invalid input earns, and for valid inputs what they decode to.
//
// The verdicts are written here, from the drafts; Generate refuses to
// write a file our parsers disagree with, and Check runs a file's inputs
// through our parsers again.
package parser

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/vectors/gen/fixture"
)

// Hex is bytes that travel as lowercase hex in JSON.
type Hex = fixture.Hex

// Results, as Wycheproof spells them. "acceptable" inputs are well-formed
// but a receiver may reject them; one that does sends the test's alert.
const (
	Valid      = "valid"
	Invalid    = "invalid"
	Acceptable = "acceptable"
)

// File is one parser vector file (Wycheproof's top level).
type File struct {
	Algorithm        string          `json:"algorithm"`
	Schema           string          `json:"schema"`
	GeneratorVersion string          `json:"generatorVersion"`
	Profile          string          `json:"profile"`
	Draft            string          `json:"draft"`
	Structure        string          `json:"structure"`
	NumberOfTests    int             `json:"numberOfTests"`
	Header           []string        `json:"header"`
	Notes            map[string]Note `json:"notes"`
	TestGroups       []Group         `json:"testGroups"`
}

// Note explains a flag.
type Note struct {
	BugType     string `json:"bugType"`
	Description string `json:"description"`
}

// Group is a set of tests of one input kind.
type Group struct {
	// Type is ExtensionData (an extension's extension_data),
	// HandshakeMessage (a whole handshake message with its header) or
	// CMW (a Conceptual Message Wrapper where the profile carries one) or
	// Frame (one frame of the post-handshake framing on the application
	// stream).
	Type string `json:"type"`
	// Message is the handshake message the input belongs to.
	Message string `json:"message"`
	// Extension names the extension (and its codepoint) whose data the
	// input is, for ExtensionData and CMW groups.
	Extension *Extension `json:"extension,omitempty"`
	Comment   string     `json:"comment"`
	Tests     []Test     `json:"tests"`
}

// Extension is an extension name and the codepoint the vectors assume
// (the drafts leave them TBD; see codepoint.Default).
type Extension struct {
	Name      string `json:"name"`
	Codepoint int    `json:"codepoint"`
}

// Test is one input and its verdict.
type Test struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Input   Hex      `json:"input"`
	Result  string   `json:"result"`
	Flags   []string `json:"flags"`
	// Alert is what a receiver that rejects the input sends; absent for
	// valid inputs.
	Alert *Alert `json:"alert,omitempty"`
	// Decoded is what a valid input decodes to, field names as in the draft.
	Decoded json.RawMessage `json:"decoded,omitempty"`
}

// Alert is a TLS alert by name and code.
type Alert struct {
	Name string `json:"name"`
	Code int    `json:"code"`
}

// GeneratorVersion changes when the files' shape or derivation does.
const GeneratorVersion = "1"

// structure is one vector file as we author it.
type structure struct {
	profile, name, algorithm, draft string
	header                          []string
	groups                          []group
}

// group is a Group with the parser that judges its inputs.
type group struct {
	typ, message, comment string
	ext                   *Extension
	parse                 func([]byte) (any, error)
	cases                 []tcase
}

// tcase is an authored test: the verdict comes from the draft.
type tcase struct {
	comment string
	input   []byte
	result  string
	flags   []string
	alert   tls13.AlertCode
}

func (s structure) path() string { return "parsers/" + s.profile + "/" + s.name + ".json" }

// notes explains every flag the files use.
var notes = map[string]Note{
	"Basic":         {"BASIC", "A well-formed input of the kind the reference implementation sends."},
	"ContentFormat": {"BASIC", "EvidenceType in its CONTENT_FORMAT encoding (uint16 CoAP Content-Format)."},
	"MediaType":     {"BASIC", "EvidenceType in its MEDIA_TYPE encoding (opaque media_type<0..2^16-1>)."},
	"NonceBounds":   {"EDGE_CASE", "A nonce at or just beyond its bounds (ta-07: nonce<8..2^8-1>)."},
	"ListBounds":    {"EDGE_CASE", "A list at or beyond the bounds of its length field."},
	"EmptyValue":    {"EDGE_CASE", "A zero-length value where the syntax allows one; it matches nothing a peer offers."},
	"UnusualValue":  {"EDGE_CASE", "A value the syntax allows but no peer is likely to send."},
	"Truncated":     {"MALFORMED", "A length field promises more bytes than follow."},
	"TrailingData":  {"MALFORMED", "Bytes after the end of the structure."},
	"EmptyList":     {"MALFORMED", "An empty list where the syntax requires at least one element."},
	"UnknownEncoding": {"MALFORMED", "A select selector with no arm: nothing after it can be parsed, so the structure cannot be " +
		"decoded: decode_error (RFC 8446 §6.2: a message could not be decoded because some field was out of the specified range)."},
	"UnknownCredentialKind": {"MALFORMED", "A well-formed EvidenceType whose credential_kind is undefined: the structure decodes, " +
		"but a field holds a value the peer cannot accept: illegal_parameter (RFC 8446 §6.2: a field in the handshake was incorrect " +
		"or inconsistent with other fields)."},
	"UnknownType":          {"MALFORMED", "A frame type the suite's post-handshake framing does not define: unexpected_message (peers/CONTRACT.md)."},
	"UnknownMechanism":     {"MALFORMED", "An AttestationMechanism with no select arm: nothing after it can be parsed."},
	"SemanticCheck":        {"MISSING_STEP", "The input parses, but the draft requires the receiver to reject it; the alert is the draft's."},
	"VerifierIdentity":     {"BASIC", "VerifierIdentityType.verifier_identity<0..2^16-1>."},
	"CertificateType":      {"BASIC", "RFC 7250 certificate type negotiation with ta-07's \"attestation\" certificate type."},
	"CMWRecord":            {"BASIC", "A CMW record: [type, value, ?ind] in CBOR or JSON."},
	"CMWTag":               {"BASIC", "A CMW CBOR tag: #6.TN(cf)(bstr)."},
	"CMWCollection":        {"FUNCTIONALITY", "A CMW collection. The profiles carry one attestation per slot; a receiver may accept a collection holding it or reject the collection."},
	"CMWMalformed":         {"MALFORMED", "Not a CMW: the receiver cannot find the attestation in it."},
	"NonPreferredEncoding": {"EDGE_CASE", "Valid CBOR that is not in preferred serialization; the CMW draft's first-byte demultiplexing does not recognise it."},
	"IndefiniteLength":     {"EDGE_CASE", "A CBOR record as an indefinite-length array, which the CMW draft's demultiplexing (0x9f) admits."},
	"PoCLimit":             {"LEGACY", "A limit of the CCC PoC's mbedTLS fork (nonce ≤ 32 bytes, type EAT only), enforced by its client with decode_error."},
	"PoCLax":               {"LEGACY", "An input the PoC's fork accepts although a strict parser rejects it, or the reverse; the comment says which."},
}

// alertOf names an alert the way the vectors do.
func alertOf(code tls13.AlertCode) *Alert {
	return &Alert{Name: code.String(), Code: int(code)}
}

// Generate builds every parser vector file, keyed by path under vectors/.
// It fails if one of our parsers disagrees with an authored verdict.
func Generate() (map[string]File, error) {
	codepoint.RegisterAlertNames(codepoint.Default())
	out := map[string]File{}
	for _, s := range structures() {
		f, err := s.file()
		if err != nil {
			return nil, err
		}
		out[s.path()] = f
	}
	return out, nil
}

// Paths lists the files Generate writes.
func Paths() []string {
	var out []string
	for _, s := range structures() {
		out = append(out, s.path())
	}
	sort.Strings(out)
	return out
}

func (s structure) file() (File, error) {
	f := File{Algorithm: s.algorithm, Schema: "parser.schema.json", GeneratorVersion: GeneratorVersion,
		Profile: s.profile, Draft: s.draft, Structure: s.name, Header: s.header, Notes: map[string]Note{}}
	id := 0
	for _, g := range s.groups {
		G := Group{Type: g.typ, Message: g.message, Extension: g.ext, Comment: g.comment}
		for _, c := range g.cases {
			id++
			t := Test{TcID: id, Comment: c.comment, Input: c.input, Result: c.result, Flags: c.flags}
			if t.Flags == nil {
				t.Flags = []string{}
			}
			for _, fl := range t.Flags {
				n, ok := notes[fl]
				if !ok {
					return f, fmt.Errorf("%s tc %d: flag %q has no note", s.path(), id, fl)
				}
				f.Notes[fl] = n
			}
			if c.result != Valid {
				if c.alert == 0 {
					return f, fmt.Errorf("%s tc %d: %s without an alert", s.path(), id, c.result)
				}
				t.Alert = alertOf(c.alert)
			}
			decoded, err := judge(g.parse, t)
			if err != nil {
				return f, fmt.Errorf("%s tc %d (%s): %w", s.path(), id, c.comment, err)
			}
			if decoded != nil {
				if t.Decoded, err = json.Marshal(decoded); err != nil {
					return f, err
				}
			}
			G.Tests = append(G.Tests, t)
		}
		f.TestGroups = append(f.TestGroups, G)
	}
	f.NumberOfTests = id
	return f, nil
}

// judge runs t's input through parse and compares the outcome with t's
// verdict; it returns the decoded value of an accepted input.
func judge(parse func([]byte) (any, error), t Test) (any, error) {
	decoded, err := parse(t.Input)
	switch {
	case err == nil && t.Result == Invalid:
		return nil, fmt.Errorf("our parser accepts an input the vector says is invalid")
	case err != nil && t.Result == Valid:
		return nil, fmt.Errorf("our parser rejects a valid input: %v", err)
	case err != nil:
		ae, ok := tls13.AsAlert(err)
		if !ok {
			return nil, fmt.Errorf("our parser rejects with no alert: %v", err)
		}
		if t.Alert == nil || int(ae.Code) != t.Alert.Code {
			return nil, fmt.Errorf("our parser sends %v, the vector says %+v (%v)", ae.Code, t.Alert, err)
		}
		return nil, nil
	}
	if t.Result == Valid {
		return decoded, nil
	}
	return nil, nil // acceptable and accepted: nothing to compare
}

// Check runs every test of f through our parser for it: the verdict, the
// alert and, for valid inputs, the decoded value must match.
func Check(f File) error {
	var s *structure
	for _, c := range structures() {
		if c.profile == f.Profile && c.name == f.Structure {
			s = &c
			break
		}
	}
	if s == nil {
		return fmt.Errorf("no parser for %s structure %q", f.Profile, f.Structure)
	}
	if len(f.TestGroups) != len(s.groups) {
		return fmt.Errorf("%s: %d test groups, we parse %d", s.path(), len(f.TestGroups), len(s.groups))
	}
	n := 0
	seen := map[int]bool{}
	for i, G := range f.TestGroups {
		g := s.groups[i]
		if G.Type != g.typ || G.Message != g.message {
			return fmt.Errorf("%s: group %d is %s/%s, we parse %s/%s", s.path(), i, G.Type, G.Message, g.typ, g.message)
		}
		for _, t := range G.Tests {
			n++
			if seen[t.TcID] {
				return fmt.Errorf("%s: tcId %d repeated", s.path(), t.TcID)
			}
			seen[t.TcID] = true
			if t.Result != Valid && t.Result != Invalid && t.Result != Acceptable {
				return fmt.Errorf("%s tc %d: result %q", s.path(), t.TcID, t.Result)
			}
			decoded, err := judge(g.parse, t)
			if err != nil {
				return fmt.Errorf("%s tc %d (%s): %w", s.path(), t.TcID, t.Comment, err)
			}
			if t.Result == Valid && (decoded != nil || len(t.Decoded) > 0) {
				got, err := json.Marshal(decoded)
				if err != nil {
					return err
				}
				if !sameJSON(got, t.Decoded) {
					return fmt.Errorf("%s tc %d: decodes to %s, the vector says %s", s.path(), t.TcID, got, t.Decoded)
				}
			}
		}
	}
	if n != f.NumberOfTests {
		return fmt.Errorf("%s: numberOfTests %d, found %d", s.path(), f.NumberOfTests, n)
	}
	return nil
}

func sameJSON(a, b []byte) bool {
	norm := func(x []byte) []byte {
		dec := json.NewDecoder(bytes.NewReader(x))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil
		}
		out, _ := json.Marshal(v)
		return out
	}
	na, nb := norm(a), norm(b)
	return na != nil && bytes.Equal(na, nb)
}
