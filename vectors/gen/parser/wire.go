package parser

import (
	"bytes"
	"encoding/hex"

	"github.com/attested-tls/conformance/impl/tls13"
)

// Byte builders for authoring inputs by hand, malformed ones included:
// lengths are whatever the caller writes.

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func u8(v int) []byte  { return []byte{byte(v)} }
func u16(v int) []byte { return []byte{byte(v >> 8), byte(v)} }
func u24(v int) []byte { return []byte{byte(v >> 16), byte(v >> 8), byte(v)} }

// v8, v16 and v24 prefix the concatenation of parts with its length.
func v8(parts ...[]byte) []byte {
	b := cat(parts...)
	return cat(u8(len(b)), b)
}

func v16(parts ...[]byte) []byte {
	b := cat(parts...)
	return cat(u16(len(b)), b)
}

func v24(parts ...[]byte) []byte {
	b := cat(parts...)
	return cat(u24(len(b)), b)
}

func str(s string) []byte { return []byte(s) }

// rep is n copies of b.
func rep(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// seq is n bytes 00 01 02 ...
func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// drop removes the last n bytes (a truncation).
func drop(b []byte, n int) []byte { return b[:len(b)-n] }

func valid(comment string, input []byte, flags ...string) tcase {
	return tcase{comment: comment, input: input, result: Valid, flags: flags}
}

func invalid(comment string, input []byte, alert tls13.AlertCode, flags ...string) tcase {
	return tcase{comment: comment, input: input, result: Invalid, flags: flags, alert: alert}
}

func acceptable(comment string, input []byte, alert tls13.AlertCode, flags ...string) tcase {
	return tcase{comment: comment, input: input, result: Acceptable, flags: flags, alert: alert}
}
