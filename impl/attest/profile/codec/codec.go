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

// Finish returns the builder's bytes unless err or the builder failed.
func (e Errors) Finish(b *cryptobyte.Builder, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	out, berr := b.Bytes()
	if berr != nil {
		return nil, e.Build("%v", berr)
	}
	return out, nil
}

// NoTrailing rejects bytes left after a structure.
func (e Errors) NoTrailing(s cryptobyte.String, what string) error {
	if !s.Empty() {
		return e.Decode("%d trailing bytes after %s", len(s), what)
	}
	return nil
}
