package ea07

import (
	"bytes"
	"testing"

	"github.com/attested-tls/conformance/impl/tls13"
)

// fuzzCodec: parsing never panics and fails only with decode_error; the TLS
// encoding is canonical, so whatever parses re-encodes to exactly the input
// (except a cmw_payload too big for an extension, which Marshal refuses).
func fuzzCodec(f *testing.F, newT func() message, seeds ...string) {
	for _, s := range seeds {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		x := newT()
		if err := x.Unmarshal(in); err != nil {
			if ae, ok := tls13.AsAlert(err); !ok || ae.Code != tls13.AlertDecodeError {
				t.Fatalf("Unmarshal(%x) error %v is not decode_error", in, err)
			}
			return
		}
		out, err := x.Marshal()
		if err != nil {
			if c, ok := x.(*RemoteAttestationCertificate); ok && len(c.CMWPayload) > MaxCMWPayloadInExtension {
				return
			}
			t.Fatalf("parsed %x but Marshal failed: %v", in, err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("round trip: in %x out %x", in, out)
		}
	})
}

func FuzzRemoteAttestationCH(f *testing.F) {
	fuzzCodec(f, func() message { return new(RemoteAttestationCH) },
		"000b"+evCFx+evMTx+"000c"+resVx, "0000 0000", "0003 020000 0000")
}

func FuzzRemoteAttestationEE(f *testing.F) {
	fuzzCodec(f, func() message { return new(RemoteAttestationEE) }, evCFx, evMTx, resVx)
}

func FuzzRemoteAttestationCR(f *testing.F) {
	fuzzCodec(f, func() message { return new(RemoteAttestationCR) }, evCFx, evMTx, resVx)
}

func FuzzRemoteAttestationCertificate(f *testing.F) {
	fuzzCodec(f, func() message { return new(RemoteAttestationCertificate) }, "000001 82", "000000", "000006 8263612f6240")
}
