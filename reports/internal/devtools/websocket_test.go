package devtools

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 200000} {
		payload := bytes.Repeat([]byte{'x', 0, 0xff}, n/3+1)[:n]
		var buf bytes.Buffer
		if err := writeFrame(&buf, opText, payload); err != nil {
			t.Fatal(err)
		}
		got, err := readMessage(bufio.NewReader(&buf), nil)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("n=%d: payload changed", n)
		}
	}
}

// unmasked builds a server frame.
func unmasked(fin bool, op byte, payload []byte) []byte {
	b := []byte{op}
	if fin {
		b[0] |= 0x80
	}
	if len(payload) < 126 {
		b = append(b, byte(len(payload)))
	} else {
		b = append(b, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(len(payload)))
	}
	return append(b, payload...)
}

func TestFragmentsAndPing(t *testing.T) {
	var in []byte
	in = append(in, unmasked(false, opText, []byte("hel"))...)
	in = append(in, unmasked(true, opPing, []byte("p"))...)
	in = append(in, unmasked(true, opContinuation, []byte("lo"))...)
	var pongs [][]byte
	got, err := readMessage(bufio.NewReader(bytes.NewReader(in)), func(op byte, p []byte) error {
		if op != opPong {
			t.Errorf("reply op %d", op)
		}
		pongs = append(pongs, p)
		return nil
	})
	if err != nil || string(got) != "hello" {
		t.Fatalf("got %q, %v", got, err)
	}
	if len(pongs) != 1 || string(pongs[0]) != "p" {
		t.Errorf("pongs %q", pongs)
	}
	for name, in := range map[string][]byte{
		"close":                 unmasked(true, opClose, nil),
		"orphan continuation":   unmasked(true, opContinuation, []byte("x")),
		"message in a fragment": append(unmasked(false, opText, []byte("a")), unmasked(true, opText, []byte("b"))...),
		"long control frame":    unmasked(true, opPing, bytes.Repeat([]byte{1}, 126)),
		"reserved bits":         {0xf1, 0},
		"unknown opcode":        unmasked(true, 0x3, nil),
		"huge length":           {0x81, 127, 0xff, 0, 0, 0, 0, 0, 0, 0},
		"truncated":             {0x81, 5, 'a'},
	} {
		if _, err := readMessage(bufio.NewReader(bytes.NewReader(in)), nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestWSURL(t *testing.T) {
	if _, err := wsURL("ws://127.0.0.1:9222/devtools/browser/abc"); err != nil {
		t.Error(err)
	}
	for _, s := range []string{"http://127.0.0.1/x", "ws:///x", "::"} {
		if _, err := wsURL(s); err == nil {
			t.Errorf("wsURL(%q) accepted", s)
		}
	}
}

// FuzzReadMessage: arbitrary server bytes never panic the reader, and
// what it returns is never larger than its input.
func FuzzReadMessage(f *testing.F) {
	f.Add(unmasked(true, opText, []byte(`{"id":1,"result":{}}`)))
	f.Add(append(unmasked(false, opText, []byte("a")), unmasked(true, opContinuation, []byte("b"))...))
	f.Add([]byte{0x81, 127, 0, 0, 0, 0, 0, 0, 0, 3, 'a', 'b', 'c'})
	var masked bytes.Buffer
	writeFrame(&masked, opText, []byte("masked"))
	f.Add(masked.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := readMessage(bufio.NewReader(bytes.NewReader(data)), func(byte, []byte) error { return nil })
		if err == nil && len(msg) > len(data) {
			t.Fatalf("message of %d bytes from %d input bytes", len(msg), len(data))
		}
	})
}
