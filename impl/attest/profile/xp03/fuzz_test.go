package xp03

import (
	"bytes"
	"testing"

	"github.com/attested-tls/conformance/impl/tls13"
)

// FuzzCMWAttestation: cmw_attestation's parser never panics, fails only
// with decode_error, and what it accepts re-marshals to the same bytes.
func FuzzCMWAttestation(f *testing.F) {
	f.Add([]byte{0, 4, 0x82, 0x01, 0x41, 0x00})
	f.Add([]byte{0, 0})
	f.Add([]byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		var x CMWAttestation
		if err := x.Unmarshal(in); err != nil {
			if ae, ok := tls13.AsAlert(err); !ok || ae.Code != tls13.AlertDecodeError {
				t.Fatalf("%v, want decode_error", err)
			}
			return
		}
		out, err := x.Marshal()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("re-marshal %x, %v; want %x", out, err, in)
		}
	})
}
