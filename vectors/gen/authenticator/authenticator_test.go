package authenticator

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/hkdf"
)

func file(t testing.TB) File {
	t.Helper()
	f, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func val(vs []Value, name string) []byte {
	for _, v := range vs {
		if v.Name == name {
			return v.Hex
		}
	}
	return nil
}

func TestFileChecks(t *testing.T) {
	f := file(t)
	b, _ := json.Marshal(f)
	var back File
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if err := Check(back); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, tc := range f.Tests {
		if tc.ID != i+1 {
			t.Errorf("test %d has id %d", i+1, tc.ID)
		}
		kind := "empty"
		if val(tc.Inputs, "certificate") != nil {
			kind = "certificate"
		}
		seen[tc.Hash+"/"+tc.Sender+"/"+kind] = true
	}
	for _, want := range []string{"SHA-256/server/certificate", "SHA-256/client/empty", "SHA-384/client/certificate", "SHA-384/server/empty"} {
		if !seen[want] {
			t.Errorf("no %s test", want)
		}
	}
}

// TestRFC8448KnownAnswers: tests 1 and 2 are the known answers of
// impl/tls13/testdata/rfc9261, value for value.
func TestRFC8448KnownAnswers(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "impl", "tls13", "testdata", "rfc9261", "rfc8448_simple_1rtt.json"))
	if err != nil {
		t.Fatal(err)
	}
	var kat struct {
		EMS    string            `json:"exporter_master_secret"`
		Client map[string]string `json:"client"`
		Server map[string]string `json:"server"`
		SA     map[string]string `json:"server_authenticator"`
		CE     map[string]string `json:"client_empty_authenticator"`
	}
	if err := json.Unmarshal(b, &kat); err != nil {
		t.Fatal(err)
	}
	f := file(t)
	for _, c := range []struct {
		test  Test
		keys  map[string]string
		names map[string]string // our name -> testdata name
		msgs  map[string]string
	}{
		{f.Tests[0], kat.Server, map[string]string{"request": "request", "certificate": "certificate", "certificate_verify": "certificate_verify",
			"certificate_transcript_hash": "certificate_transcript_hash", "finished_transcript_hash": "finished_transcript_hash",
			"finished": "finished", "authenticator": "authenticator"}, kat.SA},
		{f.Tests[1], kat.Client, map[string]string{"request": "request", "empty_certificate": "empty_certificate",
			"finished_transcript_hash": "finished_transcript_hash", "finished": "finished", "authenticator": "authenticator"}, kat.CE},
	} {
		all := append(append(append([]Value{}, c.test.Inputs...), c.test.Intermediates...), c.test.Outputs...)
		if hex.EncodeToString(val(all, "exporter_master_secret")) != kat.EMS {
			t.Errorf("test %d: exporter_master_secret", c.test.ID)
		}
		for _, k := range []string{"handshake_context", "finished_mac_key"} {
			if hex.EncodeToString(val(all, k)) != c.keys[k] {
				t.Errorf("test %d: %s", c.test.ID, k)
			}
		}
		for ours, theirs := range c.names {
			if hex.EncodeToString(val(all, ours)) != c.msgs[theirs] {
				t.Errorf("test %d: %s is not the testdata's %s", c.test.ID, ours, theirs)
			}
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

// TestIndependentRecomputation recomputes the exporter values and the
// Finished from RFC 9261's formulas with an HKDF and HMAC of its own.
func TestIndependentRecomputation(t *testing.T) {
	for _, tc := range file(t).Tests {
		h := hashes[tc.Hash]
		ems := val(tc.Inputs, "exporter_master_secret")
		empty := sum(h)
		exporter := func(label string) []byte {
			return expandLabel(h, expandLabel(h, ems, label, empty, h.Size()), "exporter", empty, h.Size())
		}
		hc := exporter("EXPORTER-" + tc.Sender + " authenticator handshake context")
		fk := exporter("EXPORTER-" + tc.Sender + " authenticator finished key")
		if !bytes.Equal(hc, val(tc.Intermediates, "handshake_context")) || !bytes.Equal(fk, val(tc.Intermediates, "finished_mac_key")) {
			t.Errorf("test %d: exporter values", tc.ID)
		}
		req := val(tc.Inputs, "request")
		var th []byte
		if cert := val(tc.Inputs, "certificate"); cert != nil {
			th = sum(h, hc, req, cert, val(tc.Inputs, "certificate_verify"))
		} else {
			ctx := req[5 : 5+int(req[4])]
			emptyCert := append(append([]byte{11, 0, 0, byte(len(ctx) + 4), byte(len(ctx))}, ctx...), 0, 0, 0)
			th = sum(h, hc, req, emptyCert)
		}
		m := hmac.New(h.New, fk)
		m.Write(th)
		fin := append([]byte{20, 0, 0, byte(h.Size())}, m.Sum(nil)...)
		if !bytes.Equal(fin, val(tc.Outputs, "finished")) {
			t.Errorf("test %d: finished %x, recomputed %x", tc.ID, val(tc.Outputs, "finished"), fin)
		}
		if !bytes.HasSuffix(val(tc.Outputs, "authenticator"), fin) {
			t.Errorf("test %d: the authenticator does not end in the Finished", tc.ID)
		}
	}
}

func TestCheckCatchesMutations(t *testing.T) {
	f := file(t)
	for i := range f.Tests {
		for _, part := range []string{"inputs", "intermediates", "outputs"} {
			b, _ := json.Marshal(f)
			var bad File
			json.Unmarshal(b, &bad)
			tc := &bad.Tests[i]
			vs := map[string][]Value{"inputs": tc.Inputs, "intermediates": tc.Intermediates, "outputs": tc.Outputs}[part]
			for j := range vs {
				v := vs[j].Hex
				v[len(v)-1] ^= 1
				if err := Check(bad); err == nil {
					t.Errorf("test %d: a mutated %s %s passes", tc.ID, part, vs[j].Name)
				}
				v[len(v)-1] ^= 1
			}
		}
	}
	// A signature that no longer verifies fails even with every other
	// value recomputed to match.
	tc := f.Tests[0]
	cv := bytes.Clone(val(tc.Inputs, "certificate_verify"))
	cv[len(cv)-1] ^= 0x80
	got := Test{Hash: tc.Hash, Sender: tc.Sender, Inputs: []Value{tc.Inputs[0], tc.Inputs[1], tc.Inputs[2], {"certificate_verify", cv}}}
	if err := compute(&got); err == nil {
		t.Error("a corrupt RSA-PSS signature verifies")
	}
}

// FuzzCheck: no JSON makes the checker panic.
func FuzzCheck(f *testing.F) {
	b, _ := json.Marshal(file(f))
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var file File
		if json.Unmarshal(b, &file) != nil {
			return
		}
		Check(file)
	})
}
