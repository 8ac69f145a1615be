package wire

import (
	"bytes"
	"testing"
)

// Leading takes the first message off a run of them, and gives a short
// or overlong one back whole rather than panicking.
func TestLeading(t *testing.T) {
	first := []byte{11, 0, 0, 2, 0xaa, 0xbb}
	run := append(append([]byte(nil), first...), 20, 0, 0, 1, 0xcc)
	for _, c := range []struct{ in, want []byte }{
		{run, first},
		{first, first},
		{[]byte{11, 0, 0, 9, 1}, []byte{11, 0, 0, 9, 1}},
		{[]byte{11, 0}, []byte{11, 0}},
		{nil, nil},
	} {
		if got := Leading(c.in); !bytes.Equal(got, c.want) {
			t.Errorf("Leading(%x) = %x, want %x", c.in, got, c.want)
		}
	}
}
