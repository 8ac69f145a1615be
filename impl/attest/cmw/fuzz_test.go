package cmw

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzUnwrap: Unwrap never panics and fails only with *Error; whatever it
// accepts re-encodes, and the re-encoding is a fixed point (decode(encode(m))
// == m, encode of that == the same bytes). For canonical input the first
// encoding already equals the input.
func FuzzUnwrap(f *testing.F) {
	seeds := [][]byte{
		[]byte(`["application/eat+cwt","AQID",4]`),
		[]byte(`{"__cmwc_t":"tag:ietf.org,2024-02-29:rats/kat","kat":["a/b","AQID"],"pat":["a/b","BAUG",8]}`),
		unhex(f, "82 63612f62 43010203"),
		unhex(f, "83 183d 43010203 04"),
		unhex(f, "9f 63612f62 5f4101ff ff"),
		unhex(f, "da63740213 43010203"),
		unhex(f, "a2 01 82 63612f62 4101 6161 da63740213 4101"),
		unhex(f, "a1 685f5f636d77635f74 6161"),
		[]byte(`["a/b",1]`),
		{0xbf, 0xff},
	}
	for _, m := range []*Message{cab(f, CBORCollection), cab(f, JSONCollection)} {
		b, err := m.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := Unwrap(in)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("Unwrap error %T %v is not a *cmw.Error matching ErrMalformed", err, err)
			}
			return
		}
		enc, err := m.Marshal()
		if err != nil {
			t.Fatalf("accepted %x but cannot re-encode %+v: %v", in, m, err)
		}
		m2, err := Unwrap(enc)
		if err != nil {
			t.Fatalf("re-encoding %x of %x does not decode: %v", enc, in, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("decode(encode(m)) != m for %x:\n%+v\n%+v", in, m, m2)
		}
		enc2, err := m2.Marshal()
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not a fixed point: %x vs %x (%v)", enc, enc2, err)
		}
	})
}
