package binder

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/hkdf"
)

func files(t testing.TB) []File {
	t.Helper()
	ea, err := EA07()
	if err != nil {
		t.Fatal(err)
	}
	return []File{TA07(), ea}
}

func TestFilesCheck(t *testing.T) {
	for _, f := range files(t) {
		b, _ := json.Marshal(f)
		var back File
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if err := Check(back); err != nil {
			t.Error(err)
		}
		hashes := map[string]bool{}
		for _, tc := range f.Tests {
			hashes[tc.Hash] = true
		}
		if !hashes["SHA-256"] || !hashes["SHA-384"] {
			t.Errorf("%s: hashes %v", f.Binder, hashes)
		}
	}
}

// expandLabel is HKDF-Expand-Label (RFC 8446 §7.1) written again over
// x/crypto/hkdf, so the vectors are checked by code that shares nothing
// with impl/tls13.
func expandLabel(h crypto.Hash, secret []byte, label string, ctx []byte, n int) []byte {
	info := binary.BigEndian.AppendUint16(nil, uint16(n))
	info = append(info, byte(len("tls13 "+label)))
	info = append(info, "tls13 "+label...)
	info = append(info, byte(len(ctx)))
	info = append(info, ctx...)
	out := make([]byte, n)
	if _, err := io.ReadFull(hkdf.Expand(h.New, secret, info), out); err != nil {
		panic(err)
	}
	return out
}

func sum(h crypto.Hash, b []byte) []byte {
	x := h.New()
	x.Write(b)
	return x.Sum(nil)
}

func val(vs []Value, name string) []byte {
	for _, v := range vs {
		if v.Name == name {
			return v.Hex
		}
	}
	return nil
}

// recomputeTA07 is ta-07's handshake_exporter_secret, exporter secret
// and channel_binder (§6.2.1).
func recomputeTA07(t *testing.T, h crypto.Hash, tc Test, check func(name string, want []byte)) {
	hello := val(tc.Inputs, "hello_transcript_hash")
	hes := expandLabel(h, val(tc.Inputs, "handshake_secret"), "h exp master", hello, h.Size())
	check("handshake_exporter_secret", hes)
	exp := expandLabel(h, hes, "attestation-binder", sum(h, nil), h.Size())
	size := int(binary.BigEndian.Uint16(val(tc.Inputs, "binder_size")))
	check("channel_binder", expandLabel(h, exp, "exporter", sum(h, val(tc.Inputs, "nonce")), size))
	if !bytes.Equal(val(tc.Intermediates, "exporter_secret"), exp) {
		t.Errorf("test %d: exporter_secret", tc.ID)
	}
}

// recomputeEA07 is ea-07's attest_base and attestation binders (§5.1.1).
func recomputeEA07(t *testing.T, h crypto.Hash, tc Test, check func(name string, want []byte)) {
	base := expandLabel(h, make([]byte, h.Size()), "attestation base", val(tc.Inputs, "hello_transcript_hash"), h.Size())
	check("attest_base", base)
	for _, in := range tc.Inputs[1:] {
		check(in.Name[:1]+"_attest_binder", expandLabel(h, base, "attestation", sum(h, in.Hex), h.Size()))
	}
}

// TestIndependentRecomputation recomputes every output from the drafts'
// formulas with an HKDF of its own.
func TestIndependentRecomputation(t *testing.T) {
	ea, err := EA07()
	if err != nil {
		t.Fatal(err)
	}
	recomputations := []struct {
		file      File
		recompute func(t *testing.T, h crypto.Hash, tc Test, check func(name string, want []byte))
	}{{TA07(), recomputeTA07}, {ea, recomputeEA07}}
	if len(recomputations) != len(files(t)) {
		t.Fatalf("%d recomputations for %d files", len(recomputations), len(files(t)))
	}
	for _, r := range recomputations {
		f := r.file
		for _, tc := range f.Tests {
			h, _ := hashByName(tc.Hash)
			r.recompute(t, h, tc, func(name string, want []byte) {
				if got := val(tc.Outputs, name); !bytes.Equal(got, want) {
					t.Errorf("%s test %d: %s = %x, recomputed %x", f.Binder, tc.ID, name, got, want)
				}
			})
		}
	}
}

// TestRFC8448Values: the RFC 8448 inputs (§3 and §6) are those of the
// repository's RFC 8448 test data, the hello hash is the hash of its
// messages, and the first and last tests of each file use them.
func TestRFC8448Values(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "impl", "tls13", "testdata", "rfc8448")
	spki := func(file string) []byte {
		der, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return cert.RawSubjectPublicKeyInfo
	}
	for _, sec := range []struct {
		name, file    string
		secret, hello []byte
		spkis         map[string][]byte
	}{
		{"§3", "simple_1rtt.json", rfc8448HandshakeSecret, rfc8448HelloHash, map[string][]byte{"server_cert_rsa.der": rfc8448ServerSPKI}},
		{"§6", "client_auth.json", rfc8448ClientAuthHandshakeSecret, rfc8448ClientAuthHelloHash,
			map[string][]byte{"server_cert_rsa.der": rfc8448ServerSPKI, "client_cert_rsa.der": rfc8448ClientSPKI}},
	} {
		b, err := os.ReadFile(filepath.Join(dir, sec.file))
		if err != nil {
			t.Fatal(err)
		}
		var tr struct {
			Inputs           map[string]any    `json:"inputs"`
			Messages         map[string]string `json:"messages"`
			Secrets          map[string]string `json:"secrets"`
			TranscriptHashes map[string]string `json:"transcript_hashes"`
		}
		if err := json.Unmarshal(b, &tr); err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(sec.secret) != tr.Secrets["handshake_secret"] {
			t.Errorf("handshake_secret is not RFC 8448 %s's", sec.name)
		}
		ch, _ := hex.DecodeString(tr.Messages["client_hello"])
		sh, _ := hex.DecodeString(tr.Messages["server_hello"])
		if h := sha256.Sum256(append(ch, sh...)); !bytes.Equal(h[:], sec.hello) || hex.EncodeToString(h[:]) != tr.TranscriptHashes["client_hello..server_hello"] {
			t.Errorf("the hello transcript hash is not RFC 8448 %s's", sec.name)
		}
		for file, want := range sec.spkis {
			if !bytes.Equal(spki(file), want) {
				t.Errorf("the SPKI of %s is not RFC 8448 %s's", file, sec.name)
			}
		}
	}
	for _, f := range files(t) {
		if !bytes.Equal(val(f.Tests[0].Inputs, "hello_transcript_hash"), rfc8448HelloHash) {
			t.Errorf("%s: test 1 is not over RFC 8448 §3", f.Binder)
		}
		last := f.Tests[len(f.Tests)-1]
		if !bytes.Equal(val(last.Inputs, "hello_transcript_hash"), rfc8448ClientAuthHelloHash) {
			t.Errorf("%s: the last test is not over RFC 8448 §6", f.Binder)
		}
	}
}

func TestCheckCatchesMutations(t *testing.T) {
	for _, f := range files(t) {
		for _, part := range []string{"inputs", "intermediates", "outputs"} {
			b, _ := json.Marshal(f)
			var bad File
			json.Unmarshal(b, &bad)
			tc := &bad.Tests[len(bad.Tests)-1]
			vs := map[string][]Value{"inputs": tc.Inputs, "intermediates": tc.Intermediates, "outputs": tc.Outputs}[part]
			vs[len(vs)-1].Hex[0] ^= 1
			if err := Check(bad); err == nil {
				t.Errorf("%s: a mutated %s value passes", f.Binder, part)
			}
		}
	}
}

// FuzzCheck: no JSON makes the checker panic.
func FuzzCheck(f *testing.F) {
	for _, file := range files(f) {
		b, _ := json.Marshal(file)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var file File
		if json.Unmarshal(b, &file) != nil {
			return
		}
		Check(file)
	})
}
