package ta07

import (
	"bytes"
	"crypto"
	"crypto/hkdf"
	_ "crypto/sha256"
	_ "crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"os"
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

func nonceOf(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func hexNonce(n int) string {
	return hex.EncodeToString([]byte{byte(n)}) + hex.EncodeToString(nonceOf(n))
}

var (
	cfEAT  = EvidenceType{CredentialKind: Attestation, Encoding: ContentFormat, ContentFormat: 0x0107}
	mtCMW  = EvidenceType{CredentialKind: CertAttestation, Encoding: MediaType, MediaType: "a/b"}
	cfHex  = "00 00 0107"
	mtHex  = "01 01 0003 612f62"
	mtNone = EvidenceType{CredentialKind: Attestation, Encoding: MediaType} // media_type<0..2^16-1> may be empty
)

// marshaler is any of the extension forms.
type marshaler interface {
	Marshal() ([]byte, error)
}

type decodeCase struct {
	name  string
	data  string
	want  marshaler // nil: expect an error with alert
	alert tls13.AlertCode
}

func runDecode(t *testing.T, newT func() interface{ Unmarshal([]byte) error }, cases []decodeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := unhex(t, tc.data)
			x := newT()
			err := x.Unmarshal(data)
			if tc.want == nil {
				ae, ok := tls13.AsAlert(err)
				if !ok || ae.Code != tc.alert {
					t.Fatalf("Unmarshal(%x) = %v, want alert %v", data, err, tc.alert)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal(%x) = %v", data, err)
			}
			got := reflect.ValueOf(x).Elem().Interface()
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Unmarshal(%x) = %+v, want %+v", data, got, tc.want)
			}
			enc, err := tc.want.Marshal()
			if err != nil || !bytes.Equal(enc, data) {
				t.Fatalf("Marshal = %x, %v; want %x", enc, err, data)
			}
			// Every proper prefix is truncated; one byte more is trailing.
			for i := 0; i < len(data); i++ {
				if err := newT().Unmarshal(data[:i]); !isAlert(err, tls13.AlertDecodeError) {
					t.Fatalf("prefix %x: %v, want decode_error", data[:i], err)
				}
			}
			if err := newT().Unmarshal(append(data, 0)); !isAlert(err, tls13.AlertDecodeError) {
				t.Fatalf("trailing byte: %v, want decode_error", err)
			}
		})
	}
}

func isAlert(err error, code tls13.AlertCode) bool {
	ae, ok := tls13.AsAlert(err)
	return ok && ae.Code == code
}

const de, ip = tls13.AlertDecodeError, tls13.AlertIllegalParameter

func TestEvidenceRequestCH(t *testing.T) {
	runDecode(t, func() interface{ Unmarshal([]byte) error } { return new(EvidenceRequestCH) }, []decodeCase{
		{name: "one type, nonce 8", data: "04" + cfHex + hexNonce(8),
			want: EvidenceRequestCH{[]EvidenceType{cfEAT}, nonceOf(8)}},
		{name: "two types, nonce 255", data: "0b" + cfHex + mtHex + hexNonce(255),
			want: EvidenceRequestCH{[]EvidenceType{cfEAT, mtCMW}, nonceOf(255)}},
		{name: "empty media type", data: "04 00 01 0000" + hexNonce(8),
			want: EvidenceRequestCH{[]EvidenceType{mtNone}, nonceOf(8)}},
		{name: "nonce 7", data: "04" + cfHex + hexNonce(7), alert: de},
		{name: "nonce 0", data: "04" + cfHex + "00", alert: de},
		{name: "empty list", data: "00" + hexNonce(8), alert: de},
		{name: "list longer than data", data: "05" + cfHex + hexNonce(8)[:2], alert: de},
		{name: "list splits an entry", data: "03" + cfHex + hexNonce(8), alert: de},
		{name: "nonce length past end", data: "04" + cfHex + "09" + hex.EncodeToString(nonceOf(8)), alert: de},
		{name: "unknown type_encoding", data: "04 00 02 0107" + hexNonce(8), alert: de},
		{name: "unknown credential_kind", data: "04 02 00 0107" + hexNonce(8), alert: ip},
		{name: "media_type past list end", data: "05 01 01 0004 612f62" + hexNonce(8), alert: de},
		{name: "missing nonce", data: "04" + cfHex, alert: de},
		{name: "empty", data: "", alert: de},
	})
}

func TestEvidenceRequestEE(t *testing.T) {
	runDecode(t, func() interface{ Unmarshal([]byte) error } { return new(EvidenceRequestEE) }, []decodeCase{
		{name: "content format", data: cfHex, want: EvidenceRequestEE{cfEAT}},
		{name: "media type", data: mtHex, want: EvidenceRequestEE{mtCMW}},
		{name: "two types", data: cfHex + cfHex, alert: de},
		{name: "nonce not allowed here", data: cfHex + hexNonce(8), alert: de},
		{name: "unknown credential_kind", data: "ff 00 0107", alert: ip},
		{name: "unknown type_encoding", data: "00 ff 0107", alert: de},
	})
}

func TestEvidenceProposalCH(t *testing.T) {
	runDecode(t, func() interface{ Unmarshal([]byte) error } { return new(EvidenceProposalCH) }, []decodeCase{
		{name: "one type", data: "04" + cfHex, want: EvidenceProposalCH{[]EvidenceType{cfEAT}}},
		{name: "two types", data: "0b" + mtHex + cfHex, want: EvidenceProposalCH{[]EvidenceType{mtCMW, cfEAT}}},
		{name: "empty list", data: "00", alert: de},
		{name: "nonce not allowed here", data: "04" + cfHex + hexNonce(8), alert: de},
		{name: "entry truncated inside list", data: "03 00 00 01", alert: de},
	})
}

func TestEvidenceProposalEE(t *testing.T) {
	runDecode(t, func() interface{ Unmarshal([]byte) error } { return new(EvidenceProposalEE) }, []decodeCase{
		{name: "nonce 8", data: cfHex + hexNonce(8), want: EvidenceProposalEE{cfEAT, nonceOf(8)}},
		{name: "nonce 255", data: mtHex + hexNonce(255), want: EvidenceProposalEE{mtCMW, nonceOf(255)}},
		{name: "nonce 7", data: cfHex + hexNonce(7), alert: de},
		{name: "nonce 1", data: cfHex + hexNonce(1), alert: de},
		{name: "no nonce", data: cfHex, alert: de},
		{name: "nonce truncated", data: cfHex + "08 0001", alert: de},
	})
}

func TestResults(t *testing.T) {
	runDecode(t, func() interface{ Unmarshal([]byte) error } { return new(ResultsCH) }, []decodeCase{
		{name: "one verifier", data: "05 0003 616263", want: ResultsCH{[]VerifierIdentity{VerifierIdentity("abc")}}},
		{name: "empty identity allowed", data: "02 0000", want: ResultsCH{[]VerifierIdentity{{}}}},
		{name: "two", data: "07 0001 78 0002 7979", want: ResultsCH{[]VerifierIdentity{VerifierIdentity("x"), VerifierIdentity("yy")}}},
		{name: "empty list", data: "00", alert: de},
		{name: "identity past list end", data: "03 0002 7878", alert: de},
		{name: "list past end", data: "06 0003 616263", alert: de},
	})
	runDecode(t, func() interface{ Unmarshal([]byte) error } { return new(ResultsEE) }, []decodeCase{
		{name: "selected", data: "0003 616263", want: ResultsEE{VerifierIdentity("abc")}},
		{name: "empty selected", data: "0000", want: ResultsEE{VerifierIdentity{}}},
		{name: "identity truncated", data: "0004 616263", alert: de},
	})
}

func TestMarshalErrors(t *testing.T) {
	many := make([]EvidenceType, 64) // 64 × 4 bytes = 256 > 2^8-1
	for i := range many {
		many[i] = cfEAT
	}
	manyV := make([]VerifierIdentity, 128) // 128 × 2 bytes = 256
	for name, c := range map[string]marshaler{
		"CH empty list":       EvidenceRequestCH{Nonce: nonceOf(8)},
		"CH nonce 7":          EvidenceRequestCH{[]EvidenceType{cfEAT}, nonceOf(7)},
		"CH nonce 256":        EvidenceRequestCH{[]EvidenceType{cfEAT}, nonceOf(256)},
		"CH list 256 bytes":   EvidenceProposalCH{many},
		"EE nonce nil":        EvidenceProposalEE{SelectedEvidenceType: cfEAT},
		"bad credential_kind": EvidenceRequestEE{EvidenceType{CredentialKind: 2}},
		"bad type_encoding":   EvidenceRequestEE{EvidenceType{Encoding: 7}},
		"media type too long": EvidenceRequestEE{EvidenceType{Encoding: MediaType, MediaType: strings.Repeat("x", 1<<16)}},
		"no verifiers":        ResultsCH{},
		"verifiers 256 bytes": ResultsCH{manyV},
		"verifier too long":   ResultsEE{make(VerifierIdentity, 1<<16)},
	} {
		_, err := c.Marshal()
		if !isAlert(err, tls13.AlertInternalError) {
			t.Errorf("%s: Marshal err = %v, want internal_error", name, err)
		}
	}
	// The limits themselves are fine.
	if _, err := (EvidenceProposalCH{many[:63]}).Marshal(); err != nil {
		t.Errorf("252-byte list: %v", err)
	}
	// Of two faults, the first written is the one reported.
	if _, err := (EvidenceRequestCH{Nonce: nonceOf(7)}).Marshal(); err == nil || !strings.Contains(err.Error(), "supported_evidence_types") {
		t.Errorf("empty list and short nonce: %v, want the list's error", err)
	}
	bad := []EvidenceType{{CredentialKind: 2}, {Encoding: 7}}
	if _, err := (EvidenceProposalCH{bad}).Marshal(); err == nil || !strings.Contains(err.Error(), "credential_kind") {
		t.Errorf("two bad types: %v, want the first's error", err)
	}
}

func TestEvidenceTypeEqual(t *testing.T) {
	a := EvidenceType{Encoding: ContentFormat, ContentFormat: 1, MediaType: "ignored"}
	if !a.Equal(EvidenceType{Encoding: ContentFormat, ContentFormat: 1}) {
		t.Error("unselected MediaType must not matter")
	}
	if a.Equal(EvidenceType{CredentialKind: CertAttestation, Encoding: ContentFormat, ContentFormat: 1}) {
		t.Error("credential_kind must matter")
	}
	if mtCMW.Equal(EvidenceType{CredentialKind: CertAttestation, Encoding: MediaType, MediaType: "a/c"}) {
		t.Error("media type must matter")
	}
}

// hkdfExpandLabel is an independent HKDF-Expand-Label (RFC 8446 §7.1), built
// by hand rather than with cryptobyte, to check the package's wiring.
func hkdfExpandLabel(t testing.TB, h crypto.Hash, secret []byte, label string, ctx []byte, n int) []byte {
	full := "tls13 " + label
	info := []byte{byte(n >> 8), byte(n), byte(len(full))}
	info = append(info, full...)
	info = append(info, byte(len(ctx)))
	info = append(info, ctx...)
	out, err := hkdf.Expand(h.New, secret, string(info), n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func hash(h crypto.Hash, b []byte) []byte {
	hh := h.New()
	hh.Write(b)
	return hh.Sum(nil)
}

func TestHandshakeExporter(t *testing.T) {
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384} {
		hs := bytes.Repeat([]byte{0x11}, h.Size())
		th := hash(h, []byte("ClientHello...ServerHello"))
		hes := HandshakeExporterSecret(h, hs, th)
		if want := hkdfExpandLabel(t, h, hs, "h exp master", th, h.Size()); !bytes.Equal(hes, want) {
			t.Fatalf("%v handshake_exporter_secret = %x, want %x", h, hes, want)
		}
		ctx := []byte("context")
		got := HandshakeExporter(h, hes, "some label", ctx, 40)
		inner := hkdfExpandLabel(t, h, hes, "some label", hash(h, nil), h.Size())
		want := hkdfExpandLabel(t, h, inner, "exporter", hash(h, ctx), 40)
		if !bytes.Equal(got, want) {
			t.Fatalf("%v exporter = %x, want %x", h, got, want)
		}
		nonce := nonceOf(8)
		b, err := ChannelBinder(h, hes, nonce, 8)
		if err != nil {
			t.Fatal(err)
		}
		if want := HandshakeExporter(h, hes, "attestation-binder", nonce, 8); !bytes.Equal(b, want) {
			t.Fatalf("binder %x != exporter(attestation-binder) %x", b, want)
		}
		// Each input moves the output.
		other := [][]byte{
			mustBinder(t, h, hes, nonceOf(9), 8),
			mustBinder(t, h, HandshakeExporterSecret(h, hs, hash(h, []byte("other"))), nonce, 8),
			HandshakeExporter(h, hes, "attestation-binder2", nonce, 8),
		}
		for i, o := range other {
			if bytes.Equal(o, b) {
				t.Errorf("%v variant %d did not change the binder", h, i)
			}
		}
		if long := mustBinder(t, h, hes, nonce, 255); len(long) != 255 {
			t.Errorf("binder length %d, want 255", len(long))
		}
	}
}

func mustBinder(t *testing.T, h crypto.Hash, hes, nonce []byte, n int) []byte {
	t.Helper()
	b, err := ChannelBinder(h, hes, nonce, n)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestChannelBinderSize(t *testing.T) {
	hes := make([]byte, 32)
	for _, n := range []int{0, -1, 255*32 + 1} {
		if _, err := ChannelBinder(crypto.SHA256, hes, nonceOf(8), n); !isAlert(err, tls13.AlertIllegalParameter) {
			t.Errorf("size %d: %v, want illegal_parameter", n, err)
		}
	}
	if b, err := ChannelBinder(crypto.SHA256, hes, nonceOf(8), 255*32); err != nil || len(b) != 255*32 {
		t.Errorf("max size: %d bytes, %v", len(b), err)
	}
}

// RFC 8448 §6 trace: handshake_exporter_secret and channel_binder for the
// nonce 00..07 (the PoC's fixed EE nonce). Expected values were computed
// independently (Python hmac HKDF) from the trace's Handshake Secret and
// CH..SH; the trace's own s hs traffic secret checks the transcript input.
func TestChannelBinderRFC8448(t *testing.T) {
	raw, err := os.ReadFile("../../../tls13/testdata/rfc8448/client_auth.json")
	if err != nil {
		t.Skipf("RFC 8448 data not available: %v", err)
	}
	var trace struct {
		Messages map[string]string `json:"messages"`
		Secrets  map[string]string `json:"secrets"`
	}
	if err := json.Unmarshal(raw, &trace); err != nil {
		t.Fatal(err)
	}
	th := hash(crypto.SHA256, append(unhex(t, trace.Messages["client_hello"]), unhex(t, trace.Messages["server_hello"])...))
	hs := unhex(t, trace.Secrets["handshake_secret"])
	if got := tls13.DeriveSecret(crypto.SHA256, hs, "s hs traffic", th); hex.EncodeToString(got) != trace.Secrets["server_handshake_traffic_secret"] {
		t.Fatalf("transcript input wrong: s hs traffic %x", got)
	}
	hes := HandshakeExporterSecret(crypto.SHA256, hs, th)
	for name, c := range map[string]struct {
		got  []byte
		want string
	}{
		"handshake_exporter_secret": {hes, "46abebd2487f52ae31c310f6b9f10dbe01c5ba6ce4deeb59b7476f4aa4be1f8f"},
		"binder 8":                  {mustBinder(t, crypto.SHA256, hes, nonceOf(8), 8), "4508b3d789587528"},
		"binder 32":                 {mustBinder(t, crypto.SHA256, hes, nonceOf(8), 32), "037f423bedaa7cde4dca67b889a4f757c816850dd854964eaaf8eb56960a3647"},
	} {
		if hex.EncodeToString(c.got) != c.want {
			t.Errorf("%s = %x, want %s", name, c.got, c.want)
		}
	}
}
