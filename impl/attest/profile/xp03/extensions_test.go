package xp03

import (
	"bytes"
	"crypto"
	_ "crypto/sha256"
	"testing"

	"github.com/attested-tls/conformance/impl/tls13"
)

func TestCMWAttestationCodec(t *testing.T) {
	in := CMWAttestation{CMWData: []byte{0x82, 0x01, 0x41, 0x00}}
	b, err := in.Marshal()
	if err != nil || !bytes.Equal(b, []byte{0, 4, 0x82, 0x01, 0x41, 0x00}) {
		t.Fatalf("%x, %v", b, err)
	}
	var out CMWAttestation
	if err := out.Unmarshal(b); err != nil || !bytes.Equal(out.CMWData, in.CMWData) {
		t.Fatalf("%x, %v", out.CMWData, err)
	}
	for _, bad := range [][]byte{nil, {0}, {0, 0}, {0, 2, 1}, {0, 1, 1, 9}} {
		err := out.Unmarshal(bad)
		if ae, ok := tls13.AsAlert(err); !ok || ae.Code != tls13.AlertDecodeError {
			t.Errorf("%x: %v, want decode_error", bad, err)
		}
	}
	for _, n := range []int{0, MaxCMWData + 1} {
		if _, err := (CMWAttestation{CMWData: make([]byte, n)}).Marshal(); err == nil {
			t.Errorf("cmw_data of %d bytes marshalled", n)
		}
	}
	if _, err := (CMWAttestation{CMWData: make([]byte, MaxCMWData)}).Marshal(); err != nil {
		t.Errorf("the largest cmw_data: %v", err)
	}
}

func TestBinding(t *testing.T) {
	spki, exported := []byte("spki"), bytes.Repeat([]byte{7}, 32)
	h := crypto.SHA256.New()
	h.Write(append(append([]byte{}, spki...), exported...))
	if got := Binding(crypto.SHA256, spki, exported); !bytes.Equal(got, h.Sum(nil)) {
		t.Fatalf("binding %x", got)
	}
	if len(Binding(crypto.SHA384, spki, exported)) != 48 {
		t.Fatal("SHA-384 binding is not 48 bytes")
	}
}
