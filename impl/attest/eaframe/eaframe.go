// Package eaframe is the suite's framing of RFC 9261 exported
// authenticators on the TLS application stream (peers/CONTRACT.md,
// "Post-handshake attestation framing"). draft-fossati-seat-expat leaves
// transport to the application; draft-reddy-seat-expat-transport defines
// a "shim mode" directly over TLS, whose wire format we could not read, so
// this is our own, as simple as it gets: every unit on the stream is
//
//	struct {
//	    FrameType type;
//	    opaque body<0..2^24-1>;
//	} Frame;
//
//	enum {
//	    authenticator_request(1),  // body: CertificateRequest or ClientCertificateRequest
//	    authenticator(2),          // body: Certificate, CertificateVerify, Finished (or a lone Finished)
//	    attested(3),               // body empty: the sender needs no more attestation from its peer
//	    application_data(23),      // body: application bytes
//	    (255)
//	} FrameType;
//
// A frame of another type is unexpected_message; a body longer than
// MaxBody or a truncated frame is decode_error.
package eaframe

import (
	"errors"
	"fmt"
	"io"

	"github.com/attested-tls/conformance/impl/tls13"
)

// Type is a FrameType.
type Type uint8

const (
	AuthenticatorRequest Type = 1
	Authenticator        Type = 2
	Attested             Type = 3
	ApplicationData      Type = 23
)

func (t Type) String() string {
	switch t {
	case AuthenticatorRequest:
		return "authenticator_request"
	case Authenticator:
		return "authenticator"
	case Attested:
		return "attested"
	case ApplicationData:
		return "application_data"
	}
	return fmt.Sprintf("FrameType(%d)", uint8(t))
}

// MaxBody bounds what a reader accepts: an authenticator with a chain
// and a 64 KiB CMW fits many times over, and a peer cannot make us
// allocate 16 MiB.
const MaxBody = 1 << 20

// Frame is one unit on the stream.
type Frame struct {
	Type Type
	Body []byte
}

// Marshal encodes f.
func (f Frame) Marshal() ([]byte, error) {
	if len(f.Body) > 1<<24-1 {
		return nil, fmt.Errorf("eaframe: %s body of %d bytes exceeds 2^24-1", f.Type, len(f.Body))
	}
	n := len(f.Body)
	return append([]byte{byte(f.Type), byte(n >> 16), byte(n >> 8), byte(n)}, f.Body...), nil
}

// Write writes f to w in one call, so it leaves in one TLS record where
// it fits.
func Write(w io.Writer, f Frame) error {
	b, err := f.Marshal()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Read reads one frame. A clean end of the stream before a frame is
// io.EOF; an alert or transport error from r is returned as it is.
func Read(r io.Reader) (Frame, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:1]); err != nil {
		return Frame{}, err
	}
	if _, err := io.ReadFull(r, h[1:]); err != nil {
		return Frame{}, truncated(err)
	}
	t, n, err := header(h[:])
	if err != nil {
		return Frame{}, err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return Frame{}, truncated(err)
	}
	return Frame{Type: t, Body: body}, nil
}

// ErrShort says a buffer holds no whole frame yet.
var ErrShort = errors.New("eaframe: no whole frame yet")

// Next splits the first frame off b, with the checks Read makes: for a
// reader of a stream that arrives in pieces (a wire recorder). It returns
// ErrShort while b holds no whole frame.
func Next(b []byte) (f Frame, rest []byte, err error) {
	if len(b) < 4 {
		return Frame{}, b, ErrShort
	}
	t, n, err := header(b[:4])
	if err != nil {
		return Frame{}, b, err
	}
	if len(b) < 4+n {
		return Frame{}, b, ErrShort
	}
	return Frame{Type: t, Body: append([]byte(nil), b[4:4+n]...)}, b[4+n:], nil
}

// header checks a frame's type and length.
func header(h []byte) (Type, int, error) {
	t, n := Type(h[0]), int(h[1])<<16|int(h[2])<<8|int(h[3])
	if !known(t) {
		return 0, 0, tls13.Alertf(tls13.AlertUnexpectedMessage, "eaframe: unknown frame type %d", h[0])
	}
	if n > MaxBody {
		return 0, 0, tls13.Alertf(tls13.AlertDecodeError, "eaframe: %s body of %d bytes exceeds %d", t, n, MaxBody)
	}
	return t, n, nil
}

// Parse decodes exactly one frame from b, as Read would (for fuzzing and
// parser vectors).
func Parse(b []byte) (Frame, error) {
	if len(b) == 0 {
		return Frame{}, tls13.Alertf(tls13.AlertDecodeError, "eaframe: empty input")
	}
	f, rest, err := Next(b)
	switch {
	case errors.Is(err, ErrShort):
		return Frame{}, tls13.Alertf(tls13.AlertDecodeError, "eaframe: truncated frame")
	case err != nil:
		return Frame{}, err
	case len(rest) > 0:
		return Frame{}, tls13.Alertf(tls13.AlertDecodeError, "eaframe: %d bytes after the frame", len(rest))
	}
	return f, nil
}

func known(t Type) bool {
	return t == AuthenticatorRequest || t == Authenticator || t == Attested || t == ApplicationData
}

// truncated turns an end of stream inside a frame into decode_error.
func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return tls13.Alertf(tls13.AlertDecodeError, "eaframe: truncated frame")
	}
	return err
}
