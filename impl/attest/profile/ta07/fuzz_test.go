package ta07

import (
	"bytes"
	"testing"

	"github.com/attested-tls/conformance/impl/tls13"
)

type message interface {
	Marshal() ([]byte, error)
	Unmarshal([]byte) error
}

// fuzzCodec: parsing never panics and fails only with decode_error or
// illegal_parameter; the TLS encoding is canonical, so whatever parses
// re-encodes to exactly the input.
func fuzzCodec(f *testing.F, newT func() message, seeds ...string) {
	for _, s := range seeds {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		x := newT()
		if err := x.Unmarshal(in); err != nil {
			ae, ok := tls13.AsAlert(err)
			if !ok || (ae.Code != tls13.AlertDecodeError && ae.Code != tls13.AlertIllegalParameter) {
				t.Fatalf("Unmarshal(%x) error %v carries no decode_error/illegal_parameter alert", in, err)
			}
			return
		}
		out, err := x.Marshal()
		if err != nil {
			t.Fatalf("parsed %x but Marshal failed: %v", in, err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("round trip: in %x out %x", in, out)
		}
	})
}

func FuzzEvidenceRequestCH(f *testing.F) {
	fuzzCodec(f, func() message { return new(EvidenceRequestCH) },
		"04"+cfHex+hexNonce(8), "0b"+cfHex+mtHex+hexNonce(255), "04"+cfHex+hexNonce(7), "00"+hexNonce(8))
}

func FuzzEvidenceRequestEE(f *testing.F) {
	fuzzCodec(f, func() message { return new(EvidenceRequestEE) }, cfHex, mtHex, "02 00 0107")
}

func FuzzEvidenceProposalCH(f *testing.F) {
	fuzzCodec(f, func() message { return new(EvidenceProposalCH) }, "04"+cfHex, "0b"+mtHex+cfHex, "00")
}

func FuzzEvidenceProposalEE(f *testing.F) {
	fuzzCodec(f, func() message { return new(EvidenceProposalEE) }, cfHex+hexNonce(8), mtHex+hexNonce(255), cfHex+hexNonce(7))
}

func FuzzResultsCH(f *testing.F) {
	fuzzCodec(f, func() message { return new(ResultsCH) }, "05 0003 616263", "02 0000", "00")
}

func FuzzResultsEE(f *testing.F) {
	fuzzCodec(f, func() message { return new(ResultsEE) }, "0003 616263", "0000")
}
