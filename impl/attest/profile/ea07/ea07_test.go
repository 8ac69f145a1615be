package ea07

import (
	"bytes"
	"crypto"
	"crypto/hkdf"
	"crypto/sha256"
	_ "crypto/sha512"
	"crypto/x509"
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

var (
	evCF   = AttestationScheme{Mechanism: MechanismEvidence, Evidence: EvidenceType{Encoding: ContentFormat, ContentFormat: 273}}
	evMT   = AttestationScheme{Mechanism: MechanismEvidence, Evidence: EvidenceType{Encoding: MediaType, MediaType: "a/b"}}
	resV   = AttestationScheme{Mechanism: MechanismResult, Verifier: VerifierIdentity("v.example")}
	evCFx  = "00 00 0111"
	evMTx  = "00 01 0003 612f62"
	resVx  = "01 0009 762e6578616d706c65"
	resNil = AttestationScheme{Mechanism: MechanismResult, Verifier: VerifierIdentity{}}
)

type message interface {
	Marshal() ([]byte, error)
	Unmarshal([]byte) error
}

type decodeCase struct {
	name string
	data string
	want message // nil: expect decode_error
}

func isAlert(err error, code tls13.AlertCode) bool {
	ae, ok := tls13.AsAlert(err)
	return ok && ae.Code == code
}

func runDecode(t *testing.T, newT func() message, cases []decodeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := unhex(t, tc.data)
			x := newT()
			err := x.Unmarshal(data)
			if tc.want == nil {
				if !isAlert(err, tls13.AlertDecodeError) {
					t.Fatalf("Unmarshal(%x) = %v, want decode_error", data, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal(%x) = %v", data, err)
			}
			if !reflect.DeepEqual(x, tc.want) {
				t.Fatalf("Unmarshal(%x) = %+v, want %+v", data, x, tc.want)
			}
			enc, err := tc.want.Marshal()
			if err != nil || !bytes.Equal(enc, data) {
				t.Fatalf("Marshal = %x, %v; want %x", enc, err, data)
			}
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

func TestRemoteAttestationCH(t *testing.T) {
	runDecode(t, func() message { return new(RemoteAttestationCH) }, []decodeCase{
		{name: "both lists", data: "000b" + evCFx + evMTx + "000c" + resVx,
			want: &RemoteAttestationCH{[]AttestationScheme{evCF, evMT}, []AttestationScheme{resV}}},
		{name: "server only", data: "0004" + evCFx + "0000",
			want: &RemoteAttestationCH{ServerAttesterSchemes: []AttestationScheme{evCF}}},
		{name: "client only", data: "0000 0004" + evCFx,
			want: &RemoteAttestationCH{ClientAttesterSchemes: []AttestationScheme{evCF}}},
		// Both empty is well-formed; §7.2 makes it unsupported_attestation_schemes, the caller's rule.
		{name: "both empty", data: "0000 0000", want: &RemoteAttestationCH{}},
		{name: "empty verifier identity", data: "0003 010000 0000",
			want: &RemoteAttestationCH{ServerAttesterSchemes: []AttestationScheme{resNil}}},
		{name: "missing client list", data: "0004" + evCFx, want: nil},
		{name: "list splits a scheme", data: "0003" + evCFx + "0000", want: nil},
		{name: "list past end", data: "0005" + evCFx + "0000", want: nil},
		{name: "unknown mechanism", data: "0003 020000 0000", want: nil},
		{name: "mechanism 255", data: "0001 ff 0000", want: nil},
		{name: "unknown type_encoding", data: "0004 00020111 0000", want: nil},
		{name: "media type past end", data: "0006 0001 0004 612f62 0000", want: nil},
		{name: "verifier past end", data: "0004 01 0002 78 0000", want: nil},
		{name: "empty", data: "", want: nil},
	})
}

func TestChosenSchemes(t *testing.T) {
	for _, form := range []struct {
		name string
		newT func() message
		wrap func(AttestationScheme) message
	}{
		{"EE", func() message { return new(RemoteAttestationEE) }, func(s AttestationScheme) message { return &RemoteAttestationEE{s} }},
		{"CR", func() message { return new(RemoteAttestationCR) }, func(s AttestationScheme) message { return &RemoteAttestationCR{s} }},
	} {
		t.Run(form.name, func(t *testing.T) {
			runDecode(t, form.newT, []decodeCase{
				{name: "evidence cf", data: evCFx, want: form.wrap(evCF)},
				{name: "evidence mt", data: evMTx, want: form.wrap(evMT)},
				{name: "result", data: resVx, want: form.wrap(resV)},
				{name: "two schemes", data: evCFx + evCFx, want: nil},
				{name: "a list, not a scheme", data: "0004" + evCFx, want: nil},
				{name: "unknown mechanism", data: "07 0000", want: nil},
			})
		})
	}
}

func TestRemoteAttestationCertificate(t *testing.T) {
	runDecode(t, func() message { return new(RemoteAttestationCertificate) }, []decodeCase{
		{name: "one byte", data: "000001 82", want: &RemoteAttestationCertificate{[]byte{0x82}}},
		{name: "cbor record", data: "000006 82 63612f62 40", want: &RemoteAttestationCertificate{unhex(t, "8263612f6240")}},
		{name: "empty", data: "000000", want: nil},
		{name: "length past end", data: "000002 82", want: nil},
	})
	big := bytes.Repeat([]byte{1}, MaxCMWPayloadInExtension)
	enc, err := RemoteAttestationCertificate{big}.Marshal()
	if err != nil || len(enc) != 0xffff {
		t.Fatalf("largest payload: %d bytes, %v", len(enc), err)
	}
	var back RemoteAttestationCertificate
	if err := back.Unmarshal(enc); err != nil || !bytes.Equal(back.CMWPayload, big) {
		t.Fatalf("largest payload round trip: %v", err)
	}
	// The struct allows more than an extension can carry: parse it, refuse to build it.
	huge := append([]byte{0x01, 0x00, 0x00}, make([]byte, 0x10000)...)
	huge[3] = 0x82
	if err := back.Unmarshal(huge); err != nil {
		t.Fatalf("65536-byte payload: %v", err)
	}
	if _, err := (RemoteAttestationCertificate{append(big, 1)}).Marshal(); !isAlert(err, tls13.AlertInternalError) {
		t.Fatalf("oversize Marshal: %v", err)
	}
}

func TestMarshalErrors(t *testing.T) {
	for name, m := range map[string]message{
		"bad mechanism":      &RemoteAttestationEE{AttestationScheme{Mechanism: 2}},
		"bad encoding":       &RemoteAttestationCR{AttestationScheme{Evidence: EvidenceType{Encoding: 2}}},
		"long media type":    &RemoteAttestationEE{AttestationScheme{Evidence: EvidenceType{Encoding: MediaType, MediaType: strings.Repeat("x", 1<<16)}}},
		"long verifier":      &RemoteAttestationEE{AttestationScheme{Mechanism: MechanismResult, Verifier: make([]byte, 1<<16)}},
		"bad scheme in list": &RemoteAttestationCH{ClientAttesterSchemes: []AttestationScheme{evCF, {Mechanism: 9}}},
		"list over 2^16-1":   &RemoteAttestationCH{ServerAttesterSchemes: manySchemes(16384)}, // 16384 × 4 bytes
		"empty cmw_payload":  &RemoteAttestationCertificate{},
	} {
		if _, err := m.Marshal(); !isAlert(err, tls13.AlertInternalError) {
			t.Errorf("%s: %v, want internal_error", name, err)
		}
	}
	if _, err := (&RemoteAttestationCH{ServerAttesterSchemes: manySchemes(16383)}).Marshal(); err != nil {
		t.Errorf("65532-byte list: %v", err)
	}
}

func manySchemes(n int) []AttestationScheme {
	out := make([]AttestationScheme, n)
	for i := range out {
		out[i] = evCF
	}
	return out
}

func TestSchemeEqual(t *testing.T) {
	offered := []AttestationScheme{evCF, evMT, resV}
	for _, s := range offered {
		if !s.In(offered) {
			t.Errorf("%v not found in its own list", s)
		}
	}
	notOffered := []AttestationScheme{
		{Mechanism: MechanismEvidence, Evidence: EvidenceType{Encoding: ContentFormat, ContentFormat: 274}},
		{Mechanism: MechanismEvidence, Evidence: EvidenceType{Encoding: MediaType, MediaType: "a/c"}},
		{Mechanism: MechanismResult, Verifier: VerifierIdentity("w.example")},
		{Mechanism: MechanismEvidence, Evidence: EvidenceType{Encoding: MediaType, MediaType: "v.example"}},
		{Mechanism: 7},
	}
	for _, s := range notOffered {
		if s.In(offered) {
			t.Errorf("%v matched the offer", s)
		}
	}
	// Fields the mechanism does not select are ignored.
	noisy := evCF
	noisy.Verifier, noisy.Evidence.MediaType = VerifierIdentity("x"), "y/z"
	if !noisy.Equal(evCF) {
		t.Error("unselected fields changed equality")
	}
}

// expandLabel is an independent HKDF-Expand-Label (RFC 8446 §7.1).
func expandLabel(t testing.TB, h crypto.Hash, secret []byte, label string, ctx []byte, n int) []byte {
	full := "tls13 " + label
	info := append([]byte{byte(n >> 8), byte(n), byte(len(full))}, full...)
	info = append(append(info, byte(len(ctx))), ctx...)
	out, err := hkdf.Expand(h.New, secret, string(info), n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBindersIndependent(t *testing.T) {
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384} {
		hh := h.New()
		hh.Write([]byte("ClientHello...ServerHello"))
		th := hh.Sum(nil)
		base := AttestBase(h, th)
		if want := expandLabel(t, h, make([]byte, h.Size()), "attestation base", th, h.Size()); !bytes.Equal(base, want) {
			t.Fatalf("%v attest_base %x, want %x", h, base, want)
		}
		spki := []byte("not really DER, the binder only hashes it")
		hk := h.New()
		hk.Write(spki)
		if got, want := AttestBinder(h, base, spki), expandLabel(t, h, base, "attestation", hk.Sum(nil), h.Size()); !bytes.Equal(got, want) {
			t.Fatalf("%v binder %x, want %x", h, got, want)
		}
		if len(base) != h.Size() {
			t.Fatalf("attest_base length %d", len(base))
		}
	}
}

// RFC 8448 §6 (client authentication): the client and server certificates
// give c_attest_binder and s_attest_binder over the trace's CH..SH. The
// expected values were computed independently (Python hmac HKDF over
// OpenSSL-extracted SPKIs) and agree with this package.
func TestBindersRFC8448(t *testing.T) {
	dir := "../../../tls13/testdata/rfc8448/"
	raw, err := os.ReadFile(dir + "client_auth.json")
	if err != nil {
		t.Skipf("RFC 8448 data not available: %v", err)
	}
	var trace struct {
		Messages         map[string]string `json:"messages"`
		TranscriptHashes map[string]string `json:"transcript_hashes"`
	}
	if err := json.Unmarshal(raw, &trace); err != nil {
		t.Fatal(err)
	}
	th := sha256.Sum256(append(unhex(t, trace.Messages["client_hello"]), unhex(t, trace.Messages["server_hello"])...))
	if want := trace.TranscriptHashes["client_hello..server_hello"]; hex.EncodeToString(th[:]) != want {
		t.Fatalf("CH..SH hash %x, RFC 8448 says %s", th, want)
	}
	spki := func(file string) []byte {
		der, err := os.ReadFile(dir + file)
		if err != nil {
			t.Skipf("%s: %v", file, err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c.RawSubjectPublicKeyInfo
	}
	base := AttestBase(crypto.SHA256, th[:])
	s := AttestBinder(crypto.SHA256, base, spki("server_cert_ecdsa_p256.der"))
	c := AttestBinder(crypto.SHA256, base, spki("client_cert_rsa.der"))
	if bytes.Equal(s, c) {
		t.Fatal("client and server binders are equal")
	}
	for name, got := range map[string][]byte{"attest_base": base, "s_attest_binder": s, "c_attest_binder": c} {
		if want := pinned[name]; hex.EncodeToString(got) != want {
			t.Errorf("%s = %x, pinned %s", name, got, want)
		}
	}
}

var pinned = map[string]string{
	"attest_base":     "cc7c97823cc4ff51dfaccbbee374484b1252a9133d9d8fcb42787d3cadcb0bb3",
	"s_attest_binder": "8ed6c89062344461630b51f27aaa7619a87b4f98861535e887994416f2349370",
	"c_attest_binder": "7a67310b028eaa3974eafea027dc3f41b624cd302463eab9d3e5e9d803f138be",
}
