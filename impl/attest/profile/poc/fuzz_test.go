package poc

import (
	"bytes"
	"testing"
)

// fuzzCodec: never panic, fail only with decode_error, and anything that
// parses re-encodes to exactly the input (the encoding is canonical).
func fuzzCodec(f *testing.F, newT func() message, seeds ...string) {
	for _, s := range seeds {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		x := newT()
		if err := x.Unmarshal(in); err != nil {
			if !isDecodeError(err) {
				t.Fatalf("Unmarshal(%x) error %v is not decode_error", in, err)
			}
			return
		}
		out, err := x.Marshal()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("round trip: in %x out %x err %v", in, out, err)
		}
	})
}

func FuzzEvidenceProposalCH(f *testing.F) {
	fuzzCodec(f, func() message { return new(EvidenceProposalCH) }, forkCH, "09 00 1234 00 0001 00 ffff", "04 00 0001 00")
}

func FuzzEvidenceProposalEE(f *testing.F) {
	fuzzCodec(f, func() message { return new(EvidenceProposalEE) }, forkEE, "00 0001 00", "01 0001 00")
}
