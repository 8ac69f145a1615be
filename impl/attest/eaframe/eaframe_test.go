package eaframe

import (
	"bytes"
	"errors"
	"testing"

	"github.com/attested-tls/conformance/impl/tls13"
)

func TestRoundTrip(t *testing.T) {
	for _, f := range []Frame{{Type: Attested}, {Type: AuthenticatorRequest, Body: []byte{13, 0, 0, 0}}, {Type: ApplicationData, Body: bytes.Repeat([]byte{1}, 70000)}} {
		b, err := f.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Parse(b)
		if err != nil || got.Type != f.Type || !bytes.Equal(got.Body, f.Body) {
			t.Fatalf("%s: got %v, %v", f.Type, got.Type, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
		want tls13.AlertCode
	}{
		{"empty", nil, tls13.AlertDecodeError},
		{"short header", []byte{3, 0}, tls13.AlertDecodeError},
		{"short body", []byte{23, 0, 0, 2, 'x'}, tls13.AlertDecodeError},
		{"trailing", []byte{3, 0, 0, 0, 0}, tls13.AlertDecodeError},
		{"unknown type", []byte{9, 0, 0, 0}, tls13.AlertUnexpectedMessage},
		{"too long", []byte{2, 0x10, 0, 1}, tls13.AlertDecodeError},
	} {
		_, err := Parse(c.in)
		ae, ok := tls13.AsAlert(err)
		if !ok || ae.Code != c.want {
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte{3, 0, 0, 0})
	f.Add([]byte{23, 0, 0, 4, 'p', 'i', 'n', 'g'})
	f.Add([]byte{1, 0, 0, 5, 13, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		fr, err := Parse(in)
		if err != nil {
			if _, ok := tls13.AsAlert(err); !ok {
				t.Fatalf("error without an alert: %v", err)
			}
			return
		}
		out, err := fr.Marshal()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("re-marshal %x, want %x (%v)", out, in, err)
		}
	})
}

// FuzzNext: splitting a buffer with Next yields the frames, and stops at
// the error, that Read yields on the same bytes as a stream.
func FuzzNext(f *testing.F) {
	f.Add([]byte{3, 0, 0, 0, 23, 0, 0, 4, 'p', 'i', 'n', 'g'})
	f.Add([]byte{1, 0, 0, 5, 13, 0, 0, 1, 0, 9, 0, 0, 0})
	f.Add([]byte{2, 0x10, 0, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		rest := in
		for {
			got, next, err := Next(rest)
			want, rerr := Read(r)
			if errors.Is(err, ErrShort) {
				if rerr == nil {
					t.Fatalf("Next wants more of %x; Read took %s", rest, want.Type)
				}
				if !bytes.Equal(next, rest) {
					t.Fatal("Next consumed a partial frame")
				}
				return
			}
			if (err == nil) != (rerr == nil) {
				t.Fatalf("Next: %v; Read: %v", err, rerr)
			}
			if err != nil {
				ae, ok := tls13.AsAlert(err)
				re, rok := tls13.AsAlert(rerr)
				if !ok || !rok || ae.Code != re.Code {
					t.Fatalf("Next: %v; Read: %v", err, rerr)
				}
				return
			}
			if got.Type != want.Type || !bytes.Equal(got.Body, want.Body) {
				t.Fatalf("Next %s %x; Read %s %x", got.Type, got.Body, want.Type, want.Body)
			}
			rest = next
		}
	})
}
