// Package wire records the handshake messages an endpoint sends and reads
// the parts of them the attestation drafts constrain: the extensions of
// ClientHello, EncryptedExtensions and CertificateRequest, and the entries
// of Certificate. Specs use it to check MUSTs about what goes on the wire
// ("the server MUST include …", "MUST omit …") rather than only whether the
// handshake succeeded.
package wire

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/attested-tls/conformance/impl/tls13"
	"golang.org/x/crypto/cryptobyte"
)

// Handshake message types (RFC 8446 §4).
const (
	ClientHello         uint8 = 1
	ServerHello         uint8 = 2
	EncryptedExtensions uint8 = 8
	Certificate         uint8 = 11
	CertificateRequest  uint8 = 13
	CertificateVerify   uint8 = 15
	Finished            uint8 = 20
)

// names are the message types' names in RFC 8446.
var names = map[uint8]string{
	ClientHello: "ClientHello", ServerHello: "ServerHello", EncryptedExtensions: "EncryptedExtensions",
	Certificate: "Certificate", CertificateRequest: "CertificateRequest",
	CertificateVerify: "CertificateVerify", Finished: "Finished",
}

// Name is a handshake message type's name, or "type N" for one not above.
func Name(t uint8) string {
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("type %d", t)
}

// Message is one complete handshake message, header included.
type Message []byte

// Leading is the first handshake message of b, which holds several in
// a row (an RFC 9261 authenticator: Certificate, CertificateVerify,
// Finished); b itself if its header promises more than b holds.
func Leading(b []byte) Message {
	if len(b) < 4 {
		return Message(b)
	}
	return Message(b[:min(len(b), 4+(int(b[1])<<16|int(b[2])<<8|int(b[3])))])
}

// Type is the message's msg_type, 0 for a message too short to have one.
func (m Message) Type() uint8 {
	if len(m) == 0 {
		return 0
	}
	return m[0]
}

// Flight is the handshake messages one endpoint sent, in order.
type Flight []Message

// Find returns the first message of type t.
func (f Flight) Find(t uint8) (Message, bool) {
	for _, m := range f {
		if m.Type() == t {
			return m, true
		}
	}
	return nil, false
}

// Has reports whether a message of type t was sent.
func (f Flight) Has(t uint8) bool {
	_, ok := f.Find(t)
	return ok
}

var errMalformed = errors.New("wire: malformed handshake message")

func malformed(what string) error { return fmt.Errorf("%w: %s", errMalformed, what) }

// body checks the header of m against t and returns the body.
func (m Message) body(t uint8) (cryptobyte.String, error) {
	s := cryptobyte.String(m)
	var typ uint8
	var body cryptobyte.String
	if !s.ReadUint8(&typ) || !s.ReadUint24LengthPrefixed(&body) || !s.Empty() {
		return nil, malformed("handshake header")
	}
	if typ != t {
		return nil, fmt.Errorf("wire: message type %d, want %d", typ, t)
	}
	return body, nil
}

func readExtensions(s *cryptobyte.String) ([]tls13.Extension, error) {
	var list cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&list) {
		return nil, malformed("extensions")
	}
	var out []tls13.Extension
	for !list.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !list.ReadUint16(&typ) || !list.ReadUint16LengthPrefixed(&data) {
			return nil, malformed("extension")
		}
		out = append(out, tls13.Extension{Type: typ, Data: slices.Clone([]byte(data))})
	}
	return out, nil
}

// Extensions returns the extensions of a ClientHello, EncryptedExtensions or
// CertificateRequest, in wire order.
func (m Message) Extensions() ([]tls13.Extension, error) {
	switch m.Type() {
	case ClientHello:
		s, err := m.body(ClientHello)
		if err != nil {
			return nil, err
		}
		var version uint16
		var sessionID, suites, compression cryptobyte.String
		if !s.ReadUint16(&version) || !s.Skip(32) ||
			!s.ReadUint8LengthPrefixed(&sessionID) || !s.ReadUint16LengthPrefixed(&suites) ||
			!s.ReadUint8LengthPrefixed(&compression) {
			return nil, malformed("ClientHello")
		}
		return lastExtensions(s)
	case EncryptedExtensions:
		s, err := m.body(EncryptedExtensions)
		if err != nil {
			return nil, err
		}
		return lastExtensions(s)
	case CertificateRequest:
		s, err := m.body(CertificateRequest)
		if err != nil {
			return nil, err
		}
		var context cryptobyte.String
		if !s.ReadUint8LengthPrefixed(&context) {
			return nil, malformed("certificate_request_context")
		}
		return lastExtensions(s)
	}
	return nil, fmt.Errorf("wire: message type %d carries no extension list this package reads", m.Type())
}

// lastExtensions reads the extension list that ends a message body.
func lastExtensions(s cryptobyte.String) ([]tls13.Extension, error) {
	exts, err := readExtensions(&s)
	if err != nil {
		return nil, err
	}
	if !s.Empty() {
		return nil, malformed("trailing bytes")
	}
	return exts, nil
}

// Extension returns the data of extension t in a message that has an
// extension list; ok is false when the message has none or cannot be read.
func (m Message) Extension(t uint16) (data []byte, ok bool) {
	exts, err := m.Extensions()
	if err != nil {
		return nil, false
	}
	return tls13.FindExtension(exts, t)
}

// CertificateMsg is a Certificate message (RFC 8446 §4.4.2). Every
// certificate type, including the drafts' attestation type, carries its
// cert_data as opaque<1..2^24-1>, so one reader serves them all.
type CertificateMsg struct {
	Context []byte
	Entries []tls13.CertificateEntry
}

// Certificate reads a Certificate message.
func (m Message) Certificate() (*CertificateMsg, error) {
	s, err := m.body(Certificate)
	if err != nil {
		return nil, err
	}
	var context, list cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&context) || !s.ReadUint24LengthPrefixed(&list) || !s.Empty() {
		return nil, malformed("Certificate")
	}
	c := &CertificateMsg{Context: slices.Clone([]byte(context))}
	for !list.Empty() {
		var data cryptobyte.String
		if !list.ReadUint24LengthPrefixed(&data) || data.Empty() {
			return nil, malformed("cert_data")
		}
		exts, err := readExtensions(&list)
		if err != nil {
			return nil, err
		}
		c.Entries = append(c.Entries, tls13.CertificateEntry{Data: slices.Clone([]byte(data)), Extensions: exts})
	}
	return c, nil
}

// EntriesWith returns the indexes of the entries that carry extension t.
func (c *CertificateMsg) EntriesWith(t uint16) []int {
	var out []int
	for i, e := range c.Entries {
		if _, ok := tls13.FindExtension(e.Extensions, t); ok {
			out = append(out, i)
		}
	}
	return out
}

// Recorder is a tls13.Trace that keeps the handshake messages its endpoint
// sends. It is safe for concurrent use.
type Recorder struct {
	// Next, if set, also receives every call.
	Next tls13.Trace

	mu   sync.Mutex
	sent Flight
}

var _ tls13.Trace = (*Recorder)(nil)

func (r *Recorder) Message(sent bool, raw []byte) {
	if sent {
		r.mu.Lock()
		r.sent = append(r.sent, Message(slices.Clone(raw)))
		r.mu.Unlock()
	}
	if r.Next != nil {
		r.Next.Message(sent, raw)
	}
}

func (r *Recorder) Record(sent bool, raw []byte) {
	if r.Next != nil {
		r.Next.Record(sent, raw)
	}
}

func (r *Recorder) Secret(name string, value []byte) {
	if r.Next != nil {
		r.Next.Secret(name, value)
	}
}

// Sent returns the messages sent so far.
func (r *Recorder) Sent() Flight {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sent)
}
