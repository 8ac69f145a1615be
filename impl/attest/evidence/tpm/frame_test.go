package tpm

import (
	"bytes"
	"encoding/binary"
	"testing"
	"testing/iotest"
)

func response(body []byte) []byte {
	r := binary.BigEndian.AppendUint16(nil, 0x8001)
	r = binary.BigEndian.AppendUint32(r, uint32(responseHeaderSize+len(body)))
	r = binary.BigEndian.AppendUint32(r, 0)
	return append(r, body...)
}

func TestReadResponse(t *testing.T) {
	one := response([]byte("body"))
	// Split into one-byte reads, as a stream may deliver it, and followed
	// by the next response: exactly one comes back.
	r := iotest.OneByteReader(bytes.NewReader(append(append([]byte{}, one...), response(nil)...)))
	got, err := readResponse(r)
	if err != nil || !bytes.Equal(got, one) {
		t.Fatalf("got %x, %v", got, err)
	}
	if got, err := readResponse(r); err != nil || len(got) != responseHeaderSize {
		t.Fatalf("second: %x, %v", got, err)
	}
	for name, in := range map[string][]byte{
		"short header": one[:6],
		"short body":   one[:len(one)-1],
		"size < 10":    {0x80, 0x01, 0, 0, 0, 9, 0, 0, 0, 0},
		"size > 64k":   {0x80, 0x01, 0, 1, 0, 1, 0, 0, 0, 0},
	} {
		if _, err := readResponse(bytes.NewReader(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzReadResponse: any stream gives an error or one response whose size
// field is its length and which is a prefix of the stream.
func FuzzReadResponse(f *testing.F) {
	f.Add(response(nil))
	f.Add(response([]byte{1, 2, 3}))
	f.Add([]byte{0x80, 0x01, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		got, err := readResponse(r)
		if err != nil {
			if got != nil {
				t.Fatal("data with an error")
			}
			return
		}
		if int(binary.BigEndian.Uint32(got[2:6])) != len(got) || !bytes.HasPrefix(in, got) {
			t.Fatalf("response %x from %x", got, in)
		}
		// What follows is left for the next read.
		if r.Len() != len(in)-len(got) {
			t.Fatalf("consumed %d bytes for a %d-byte response", len(in)-r.Len(), len(got))
		}
	})
}
