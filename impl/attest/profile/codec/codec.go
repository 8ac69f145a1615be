// Package codec holds what the profiles' wire codecs share: errors that
// carry the right alert and name the profile, and the finishing checks of
// every Marshal and Unmarshal.
package codec

import (
	"golang.org/x/crypto/cryptobyte"

	"github.com/attested-tls/conformance/impl/tls13"
)

// Errors makes a profile's codec errors; its value prefixes the messages.
type Errors string

// Decode is malformed input from the peer: decode_error.
func (e Errors) Decode(format string, args ...any) error {
	return tls13.Alertf(tls13.AlertDecodeError, string(e)+": "+format, args...)
}

// Build is a Marshal failure, our own bug: internal_error.
func (e Errors) Build(format string, args ...any) error {
	return tls13.Alertf(tls13.AlertInternalError, string(e)+": "+format, args...)
}

// Finish returns the builder's bytes, or its error: a codec's own (Fail,
// or a MarshalingValue's) as it is, cryptobyte's (a value too long for
// its length prefix) as internal_error.
func (e Errors) Finish(b *cryptobyte.Builder) ([]byte, error) {
	out, err := b.Bytes()
	if err == nil {
		return out, nil
	}
	if _, ok := tls13.AsAlert(err); ok {
		return nil, err
	}
	return nil, e.Build("%v", err)
}

// Fail sets err (from Build) on b unless b failed already: cryptobyte's
// SetError replaces an earlier error, and the codecs report the first.
// Writes after it are ignored.
func Fail(b *cryptobyte.Builder, err error) {
	if !failed(b) {
		b.SetError(err)
	}
}

// AddValue is b.AddValue unless b failed already (cryptobyte's would
// replace the first error with v's).
func AddValue(b *cryptobyte.Builder, v cryptobyte.MarshalingValue) {
	if !failed(b) {
		b.AddValue(v)
	}
}

// failed reports whether b (or, for a builder in a continuation, its
// part) has an error; Bytes only reads.
func failed(b *cryptobyte.Builder) bool {
	_, err := b.Bytes()
	return err != nil
}

// NoTrailing rejects bytes left after a structure.
func (e Errors) NoTrailing(s cryptobyte.String, what string) error {
	if !s.Empty() {
		return e.Decode("%d trailing bytes after %s", len(s), what)
	}
	return nil
}
