package poc

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"

	"github.com/attested-tls/conformance/impl/tls13"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func isDecodeError(err error) bool {
	ae, ok := tls13.AsAlert(err)
	return ok && ae.Code == tls13.AlertDecodeError
}

type message interface {
	Marshal() ([]byte, error)
	Unmarshal([]byte) error
}

func runDecode(t *testing.T, newT func() message, cases []struct {
	name, data string
	want       message
}) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := unhex(t, tc.data)
			x := newT()
			err := x.Unmarshal(data)
			if tc.want == nil {
				if !isDecodeError(err) {
					t.Fatalf("Unmarshal(%x) = %v, want decode_error", data, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(x, tc.want) {
				t.Fatalf("Unmarshal(%x) = %+v, %v; want %+v", data, x, err, tc.want)
			}
			if enc, err := tc.want.Marshal(); err != nil || !bytes.Equal(enc, data) {
				t.Fatalf("Marshal = %x, %v; want %x", enc, err, data)
			}
			for i := 0; i < len(data); i++ {
				if err := newT().Unmarshal(data[:i]); !isDecodeError(err) {
					t.Fatalf("prefix %x: %v", data[:i], err)
				}
			}
			if err := newT().Unmarshal(append(data, 0)); !isDecodeError(err) {
				t.Fatalf("trailing byte: %v", err)
			}
		})
	}
}

// The fork's client writes exactly this for client_att_type=eat.
const forkCH = "03 00 0001"

// The fork's server writes exactly this (fixed nonce 00..07).
const forkEE = "00 0001 08 0001020304050607"

func TestEvidenceProposalCH(t *testing.T) {
	runDecode(t, func() message { return new(EvidenceProposalCH) }, []struct {
		name, data string
		want       message
	}{
		{"fork client", forkCH, &EvidenceProposalCH{[]uint16{TypeEAT}}},
		{"several, unknown types kept", "09 00 1234 00 0001 00 ffff", &EvidenceProposalCH{[]uint16{0x1234, TypeEAT, 0xffff}}},
		{"empty list", "00", nil},
		{"not whole entries", "04 00 0001 00", nil},
		{"list longer than data", "06 00 0001", nil},
		{"STRING encoding", "03 01 0001", nil},
		{"empty", "", nil},
	})
	ch := EvidenceProposalCH{[]uint16{7, TypeEAT, TypeEAT}}
	if cf, ok := ch.SelectPoC(); !ok || cf != TypeEAT {
		t.Errorf("SelectPoC = %d, %v", cf, ok)
	}
	if _, ok := (EvidenceProposalCH{[]uint16{7}}).SelectPoC(); ok {
		t.Error("SelectPoC found EAT in [7]")
	}
	if _, err := (EvidenceProposalCH{}).Marshal(); err == nil {
		t.Error("empty list marshalled")
	}
	if _, err := (EvidenceProposalCH{make([]uint16, 85)}).Marshal(); err != nil {
		t.Errorf("85 entries (255 bytes): %v", err)
	}
	if _, err := (EvidenceProposalCH{make([]uint16, 86)}).Marshal(); err == nil {
		t.Error("86 entries (258 bytes) marshalled")
	}
}

func TestEvidenceProposalEE(t *testing.T) {
	n255 := strings.Repeat("ab", 255)
	runDecode(t, func() message { return new(EvidenceProposalEE) }, []struct {
		name, data string
		want       message
	}{
		{"fork server", forkEE, &EvidenceProposalEE{TypeEAT, []byte{0, 1, 2, 3, 4, 5, 6, 7}}},
		{"empty nonce", "00 0001 00", &EvidenceProposalEE{TypeEAT, []byte{}}},
		{"nonce 7", "00 0001 07 01020304050607", &EvidenceProposalEE{TypeEAT, []byte{1, 2, 3, 4, 5, 6, 7}}},
		{"nonce 255", "00 0001 ff" + n255, &EvidenceProposalEE{TypeEAT, bytes.Repeat([]byte{0xab}, 255)}},
		{"other type", "00 0002 00", &EvidenceProposalEE{2, []byte{}}},
		{"STRING encoding", "01 0001 00", nil},
		{"nonce past end", "00 0001 09 0001020304050607", nil},
	})
	if _, err := (EvidenceProposalEE{TypeEAT, make([]byte, 256)}).Marshal(); err == nil {
		t.Error("256-byte nonce marshalled")
	}
}

func TestCheckPoC(t *testing.T) {
	for _, tc := range []struct {
		ee EvidenceProposalEE
		ok bool
	}{
		{EvidenceProposalEE{TypeEAT, make([]byte, 8)}, true},
		{EvidenceProposalEE{TypeEAT, nil}, true},
		{EvidenceProposalEE{TypeEAT, make([]byte, 32)}, true},
		{EvidenceProposalEE{TypeEAT, make([]byte, 33)}, false},
		{EvidenceProposalEE{TypeNone, make([]byte, 8)}, false},
		{EvidenceProposalEE{2, make([]byte, 8)}, false},
	} {
		err := tc.ee.CheckPoC()
		if tc.ok != (err == nil) || (err != nil && !isDecodeError(err)) {
			t.Errorf("CheckPoC(%v) = %v", tc.ee, err)
		}
	}
}
