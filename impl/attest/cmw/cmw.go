// Package cmw wraps and unwraps RATS Conceptual Message Wrappers
// (draft-ietf-rats-msg-wrap, "RFC 9999") as the attestation profiles carry
// them in TLS: Evidence or Attestation Results bytes of a media type, as a
// CBOR record, a JSON record, a CBOR tag, or a collection of those.
//
// Encoding of records and tags goes through github.com/veraison/cmw v0.1.1.
// Decoding, collections and the validity checks are our own, because v0.1.1
// has no collections, panics on a JSON record whose value is not a string
// (Value.UnmarshalJSON slices b[1:len(b)-1] unchecked), accepts any CBOR tag
// number and any indicator, and maps application/json and application/cbor to
// the deflate-coded Content-Formats 11050/11060 instead of 50/60.
//
// Decoding errors carry no TLS alert: each profile decides which alert a bad
// CMW earns (ea-07 says attestation_failed). Every decoding error is a *Error
// and matches ErrMalformed with errors.Is.
package cmw

import (
	"strconv"
)

// Format is one of the five serializations a CMW can arrive in.
type Format uint8

const (
	FormatUnknown  Format = iota
	CBORRecord            // [type, value, ?ind] in CBOR
	JSONRecord            // [type, value, ?ind] in JSON
	CBORTag               // #6.TN(cf)(bstr)
	CBORCollection        // {label => cbor-cmw} in CBOR
	JSONCollection        // {label => json-cmw} in JSON
)

func (f Format) String() string {
	switch f {
	case CBORRecord:
		return "cbor-record"
	case JSONRecord:
		return "json-record"
	case CBORTag:
		return "cbor-tag"
	case CBORCollection:
		return "cbor-collection"
	case JSONCollection:
		return "json-collection"
	}
	return "unknown"
}

// IsCBOR reports whether f is one of the CBOR serializations.
func (f Format) IsCBOR() bool { return f == CBORRecord || f == CBORTag || f == CBORCollection }

// Sniff demultiplexes on the first byte as the CMW draft's "Demuxing" section
// does: 0x82/0x83/0x9f CBOR record, 0xda CBOR tag (every TN-range tag number
// needs a 4-byte head), 0x5b JSON record, 0x7b JSON collection, 0xa0–0xbb and
// 0xbf CBOR collection.
func Sniff(b []byte) Format {
	if len(b) == 0 {
		return FormatUnknown
	}
	switch c := b[0]; {
	case c == 0x82 || c == 0x83 || c == 0x9f:
		return CBORRecord
	case c == 0xda:
		return CBORTag
	case c == '[':
		return JSONRecord
	case c == '{':
		return JSONCollection
	case c >= 0xa0 && c <= 0xbb, c == 0xbf:
		return CBORCollection
	}
	return FormatUnknown
}

// Indicator is the record's optional "ind" bitmap (cm-type). Zero means absent.
type Indicator uint32

const (
	ReferenceValues    Indicator = 1 << 0
	Endorsements       Indicator = 1 << 1
	Evidence           Indicator = 1 << 2
	AttestationResults Indicator = 1 << 3
	AppraisalPolicy    Indicator = 1 << 4
)

// Type is a record's or tag's type: a media type string, or a CoAP
// Content-Format number (CBOR record and tag only).
type Type struct {
	MediaType       string
	ContentFormat   uint16
	IsContentFormat bool
}

// MediaType returns a Type carrying the media type s.
func MediaType(s string) Type { return Type{MediaType: s} }

// ContentFormat returns a Type carrying CoAP Content-Format cf.
func ContentFormat(cf uint16) Type { return Type{ContentFormat: cf, IsContentFormat: true} }

func (t Type) String() string {
	if !t.IsContentFormat {
		return t.MediaType
	}
	if mt, ok := mediaTypeOf[t.ContentFormat]; ok {
		return mt
	}
	return "coap-content-format " + strconv.Itoa(int(t.ContentFormat))
}

// Label names an entry of a collection: text, or (CBOR only) an integer.
type Label struct {
	Text  string
	Int   int64
	IsInt bool
}

// TextLabel and IntLabel build labels.
func TextLabel(s string) Label { return Label{Text: s} }
func IntLabel(i int64) Label   { return Label{Int: i, IsInt: true} }

func (l Label) String() string {
	if l.IsInt {
		return strconv.FormatInt(l.Int, 10)
	}
	return strconv.Quote(l.Text)
}

func (l Label) less(o Label) bool {
	if l.IsInt != o.IsInt {
		return l.IsInt
	}
	if l.IsInt {
		return l.Int < o.Int
	}
	return l.Text < o.Text
}

// collectionTypeKey is the reserved "__cmwc_t" key of a collection.
const collectionTypeKey = "__cmwc_t"

// Entry is one labelled member of a collection.
type Entry struct {
	Label   Label
	Message *Message
}

// Message is one CMW node. Records and tags use Type, Value and (records)
// Indicator; collections use CollectionType and Entries (sorted: integer
// labels ascending, then text labels).
type Message struct {
	Format         Format
	Type           Type
	Value          []byte
	Indicator      Indicator
	CollectionType string
	Entries        []Entry
}

// NewRecord builds a record to serialize as f (CBORRecord or JSONRecord).
func NewRecord(f Format, t Type, value []byte, ind Indicator) *Message {
	return &Message{Format: f, Type: t, Value: value, Indicator: ind}
}

// NewTag builds a CBOR tag CMW for Content-Format cf.
func NewTag(cf uint16, value []byte) *Message {
	return &Message{Format: CBORTag, Type: ContentFormat(cf), Value: value}
}

// NewCollection builds a collection to serialize as f (CBORCollection or
// JSONCollection); ctype is the optional "__cmwc_t" (URI or OID).
func NewCollection(f Format, ctype string, entries ...Entry) *Message {
	return &Message{Format: f, CollectionType: ctype, Entries: entries}
}

// Lookup returns the entry with text label s.
func (m *Message) Lookup(s string) (*Message, bool) {
	for _, e := range m.Entries {
		if !e.Label.IsInt && e.Label.Text == s {
			return e.Message, true
		}
	}
	return nil, false
}
