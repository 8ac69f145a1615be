package handshake

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/cryptobyte"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/vectors/gen/fixture"
)

var (
	tracesOnce sync.Once
	traces     []*Trace
	tracesErr  error
)

// generated is every trace, generated once and round-tripped through
// JSON, as Check sees a committed file.
func generated(t testing.TB) []*Trace {
	t.Helper()
	tracesOnce.Do(func() {
		for _, c := range Cases() {
			tr, err := Generate(c)
			if err != nil {
				tracesErr = err
				return
			}
			traces = append(traces, roundTrip(t, tr))
		}
	})
	if tracesErr != nil {
		t.Fatal(tracesErr)
	}
	return traces
}

func roundTrip(t testing.TB, tr *Trace) *Trace {
	b, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	var out Trace
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// clone deep-copies a trace, so a mutation touches one test's copy only.
func clone(t testing.TB, tr *Trace) *Trace { return roundTrip(t, tr) }

func TestCasesCoverTheModels(t *testing.T) {
	perProfile := map[string]int{}
	ids := map[string]bool{}
	paths := map[string]bool{}
	for _, c := range Cases() {
		perProfile[c.Profile]++
		if ids[c.ID()] || paths[c.Path()] {
			t.Fatalf("%s repeated", c.ID())
		}
		ids[c.ID()], paths[c.Path()] = true, true
	}
	// ta-07: 3 roles × 2 topologies × 2 credentials + 4 mixed mutual;
	// ea-07: X.509 only, 3 × 2 + 2; poc: the client attests, background
	// check; xp-03 as ea-07.
	for _, w := range []struct {
		profile string
		cases   int
	}{{"ta-07", 16}, {"ea-07", 8}, {"poc", 1}, {"xp-03", 8}} {
		if perProfile[w.profile] != w.cases {
			t.Errorf("%s: %d cases, want %d", w.profile, perProfile[w.profile], w.cases)
		}
	}
	for _, id := range []string{"ta-07/mutual/server=bg+x509,client=passport+x509", "ea-07/server-attests/passport+x509", "poc/client-attests/bg+attestation-only"} {
		if !ids[id] {
			t.Errorf("no case %s", id)
		}
	}
}

// TestGenerateIsDeterministic: two generations give the same trace.
func TestGenerateIsDeterministic(t *testing.T) {
	for _, c := range Cases()[:3] {
		a, err := Generate(c)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Generate(c)
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) {
			t.Fatalf("%s differs between two generations", c.ID())
		}
	}
}

// TestEveryTraceReplays: both sides of every trace reproduce it.
func TestEveryTraceReplays(t *testing.T) {
	for _, tr := range generated(t) {
		if err := Check(tr); err != nil {
			t.Error(err)
		}
	}
}

// TestTracesHoldTheDraftsAdditions: each profile's extra secrets are
// there, with the binders where the model binds one.
func TestTracesHoldTheDraftsAdditions(t *testing.T) {
	// Each profile's secret beyond RFC 8446, and a binder in the models
	// whose ID has one of binds.
	additions := []struct {
		profile, secret, binder string
		binds                   []string
	}{
		{"ta-07", "handshake_exporter_secret", "server_channel_binder", []string{"server-attests/bg+x509", "server=bg+x509"}},
		{"ea-07", "attest_base", "c_attest_binder", []string{"client-attests/bg", "client=bg"}},
	}
	for _, tr := range generated(t) {
		names := map[string]bool{}
		for _, s := range tr.Secrets {
			names[s.Name] = true
		}
		var want []string
		for _, a := range additions {
			if a.profile != tr.Profile {
				continue
			}
			want = append(want, a.secret)
			if slices.ContainsFunc(a.binds, func(b string) bool { return strings.Contains(tr.ID, b) }) {
				want = append(want, a.binder)
			}
		}
		for _, n := range want {
			if !names[n] {
				t.Errorf("%s: no %s", tr.ID, n)
			}
		}
		binds := profile.MustDescribe(tr.Profile).Binds(party.X509).Binder
		for _, a := range tr.Attestations {
			if a.Topology == BackgroundCheck && a.Credential == X509 && len(a.Challenge.Binder) == 0 && binds {
				t.Errorf("%s: the %s's X.509 background check has no binder", tr.ID, a.Attester)
			}
			if a.Topology == Passport && a.CMWType != `application/eat+jwt; eat_profile="tag:github.com,2023:veraison/ear"` {
				t.Errorf("%s: passport CMW of type %q", tr.ID, a.CMWType)
			}
		}
	}
}

func traceByID(t *testing.T, id string) *Trace {
	for _, tr := range generated(t) {
		if tr.ID == id {
			return tr
		}
	}
	t.Fatalf("no trace %s", id)
	return nil
}

// positions picks the bytes of an n-byte message to mutate: the header,
// the first body bytes, the middle, the end, and a few fixed pseudo-random
// places in between.
func positions(label string, n int) []int {
	ps := []int{0, 1, 3, 4, 5, n / 2, n - 1}
	for i, b := range fixture.Bytes(label, 5) {
		ps = append(ps, (int(b)<<8|i*4099)%n)
	}
	slices.Sort(ps)
	return slices.Compact(ps)
}

// TestMutatedMessageFailsCheck: flipping any sampled byte of any message
// of a trace makes both replays (and so the check) fail.
func TestMutatedMessageFailsCheck(t *testing.T) {
	tr := traceByID(t, "ta-07/mutual/server=bg+x509,client=bg+x509")
	if err := Check(tr); err != nil {
		t.Fatal(err)
	}
	tried := 0
	for i, m := range tr.Messages {
		for _, p := range positions(fmt.Sprint(i), len(m.Hex)) {
			bad := clone(t, tr)
			bad.Messages[i].Hex[p] ^= 0x01
			for _, client := range []bool{true, false} {
				if err := Replay(bad, client); err == nil {
					t.Errorf("message %d (%s) byte %d flipped: replaying the %s passes", i, m.Type, p, sideName(client))
				}
			}
			if err := Check(bad); err == nil {
				t.Errorf("message %d (%s) byte %d flipped: the check passes", i, m.Type, p)
			}
			tried++
		}
	}
	if tried < 5*len(tr.Messages) {
		t.Fatalf("only %d mutations", tried)
	}
	t.Logf("%d mutations over %d messages, each failing both replays and the check", tried, len(tr.Messages))
}

// TestMutatedRecordFailsReplay: a flipped byte in any record makes the
// replay of its sender (which writes other bytes) and of its receiver
// (whose decryption fails) fail.
func TestMutatedRecordFailsReplay(t *testing.T) {
	tr := traceByID(t, "ea-07/mutual/server=bg+x509,client=passport+x509")
	for i, r := range tr.Records {
		bad := clone(t, tr)
		bad.Records[i].Hex[len(r.Hex)/2] ^= 0x80
		for _, client := range []bool{true, false} {
			if err := Replay(bad, client); err == nil {
				t.Errorf("record %d (%s %s) mutated: replaying the %s passes", i, r.Sender, r.ContentType, sideName(client))
			}
		}
	}
}

// TestReplayUsesTheInputs: the replayed side is built from the trace's
// inputs, so changing one of its inputs changes what it sends.
func TestReplayUsesTheInputs(t *testing.T) {
	tr := traceByID(t, "ta-07/server-attests/bg+attestation-only")
	cases := []struct {
		what   string
		client bool
		mutate func(*Trace)
	}{
		{"server random", false, func(x *Trace) { x.Inputs.Server.Random[0] ^= 1 }},
		{"client random", true, func(x *Trace) { x.Inputs.Client.Random[31] ^= 1 }},
		{"client key share", true, func(x *Trace) { x.Inputs.Client.KeyShare.PrivateKey[5] ^= 1 }},
		{"client verifier nonce", true, func(x *Trace) { x.Inputs.Client.VerifierNonces[0][0] ^= 1 }},
		{"server attester clock", false, func(x *Trace) { x.Inputs.Server.Attester.Clock.Clock++ }},
		{"a server measurement", false, func(x *Trace) { x.Inputs.Server.Attester.Measurements[0].Data[0] ^= 1 }},
		{"the verifier key", true, func(x *Trace) { x.Inputs.Verifier.PrivateKey[1] ^= 1 }},
		{"the time", true, func(x *Trace) { x.Inputs.Time = "2026-06-01T12:00:01Z" }},
	}
	for _, c := range cases {
		bad := clone(t, tr)
		c.mutate(bad)
		if err := Replay(bad, c.client); err == nil {
			t.Errorf("%s changed: replaying the %s passes", c.what, sideName(c.client))
		}
	}
}

// TestConsistentCatchesEditedFields: fields not on the wire are still
// checked against it.
func TestConsistentCatchesEditedFields(t *testing.T) {
	tr := traceByID(t, "ta-07/mutual/server=passport+x509,client=bg+x509")
	edits := map[string]func(*Trace){
		"transcript hash":   func(x *Trace) { x.TranscriptHashes[1].Hex[0] ^= 1 },
		"record content":    func(x *Trace) { x.Records[2].Content[0] ^= 1 },
		"record protection": func(x *Trace) { x.Records[3].Protection = "application" },
		"application data":  func(x *Trace) { x.ApplicationData[0].Text = "pong" },
		"evidence token":    func(x *Trace) { x.Attestations[0].Evidence.KAT.Sig[9] ^= 1 },
		"EAR claims":        func(x *Trace) { x.Attestations[1].EAR.Claims = json.RawMessage(`{"iat":1}`) },
		"EAR signature": func(x *Trace) {
			x.Attestations[1].EAR.JWT = x.Attestations[1].EAR.JWT[:len(x.Attestations[1].EAR.JWT)-2] + "AA"
		},
		"challenge nonce":    func(x *Trace) { x.Attestations[1].Challenge.QualifyingData[0] ^= 1 },
		"CMW format":         func(x *Trace) { x.Attestations[0].CMWFormat = "json-record" },
		"attestation count":  func(x *Trace) { x.Attestations = x.Attestations[:1] },
		"message type":       func(x *Trace) { x.Messages[2].Type = "certificate" },
		"record sender swap": func(x *Trace) { x.Records[0].Sender = "server" },
	}
	for what, edit := range edits {
		bad := clone(t, tr)
		edit(bad)
		if err := Consistent(bad); err == nil {
			t.Errorf("%s edited: the trace still looks consistent", what)
		}
	}
}

func FuzzParseCertificate(f *testing.F) {
	for _, tr := range generated(f)[:4] {
		for _, m := range tr.Messages {
			if m.Type == "certificate" {
				f.Add([]byte(m.Hex))
			}
		}
	}
	f.Add([]byte{11, 0, 0, 4, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		cert, err := parseCertificate(b)
		if err != nil {
			return
		}
		// An accepted message is exactly its parts, re-encoded.
		var e cryptobyte.Builder
		e.AddUint8(11)
		e.AddUint24LengthPrefixed(func(e *cryptobyte.Builder) {
			e.AddUint8LengthPrefixed(func(e *cryptobyte.Builder) { e.AddBytes(cert.context) })
			e.AddUint24LengthPrefixed(func(e *cryptobyte.Builder) {
				for _, ent := range cert.entries {
					e.AddUint24LengthPrefixed(func(e *cryptobyte.Builder) { e.AddBytes(ent.data) })
					e.AddUint16LengthPrefixed(func(e *cryptobyte.Builder) {
						for _, x := range ent.exts {
							e.AddUint16(x.Type)
							e.AddUint16LengthPrefixed(func(e *cryptobyte.Builder) { e.AddBytes(x.Data) })
						}
					})
				}
			})
		})
		if out, err := e.Bytes(); err != nil || !bytes.Equal(out, b) {
			t.Fatalf("re-encoding gives %x (%v), input %x", out, err, b)
		}
	})
}

// FuzzConsistent: no JSON makes the self-consistency check panic.
func FuzzConsistent(f *testing.F) {
	tr := generated(f)[0]
	b, _ := json.Marshal(tr)
	f.Add(b)
	// Small seeds mutate faster: the messages and records alone, and the
	// attestation alone.
	small := &Trace{CipherSuite: tr.CipherSuite, Messages: tr.Messages[:2], Records: tr.Records[:2], TranscriptHashes: tr.TranscriptHashes}
	b, _ = json.Marshal(small)
	f.Add(b)
	small = &Trace{ID: tr.ID, Profile: tr.Profile, Model: tr.Model, CipherSuite: tr.CipherSuite, Attestations: tr.Attestations, Inputs: tr.Inputs}
	b, _ = json.Marshal(small)
	f.Add(b)
	f.Add([]byte(`{"cipher_suite":"TLS_AES_128_GCM_SHA256","messages":[{"type":"finished","hex":"14"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var tr Trace
		if json.Unmarshal(b, &tr) != nil {
			return
		}
		Consistent(&tr)
	})
}

// FuzzOpen: record decryption rejects what does not authenticate, without
// panicking, whatever the record and keys.
func FuzzOpen(f *testing.F) {
	tr := generated(f)[0]
	key, iv := valueOf(tr.Secrets, "server_handshake_write_key"), valueOf(tr.Secrets, "server_handshake_write_iv")
	for _, r := range tr.Records {
		f.Add([]byte(r.Hex), []byte(key), []byte(iv), uint64(0))
	}
	f.Fuzz(func(t *testing.T, rec, key, iv []byte, seq uint64) {
		if len(rec) < 5 {
			return
		}
		typ, content, err := open(0x1301, key, iv, seq, rec)
		if err == nil && (typ == 0 || len(content) > len(rec)) {
			t.Fatalf("opened to type %d, %d bytes", typ, len(content))
		}
	})
}

// TestPostHandshakeTraces: a post-handshake trace carries, per attesting
// side, a request soliciting the profile's extension empty, an
// authenticator with it in the end-entity entry only, attested from both
// before any application data, and the binding the attester's evidence
// was bound to.
func TestPostHandshakeTraces(t *testing.T) {
	n := 0
	for _, tr := range generated(t) {
		d := profile.MustDescribe(tr.Profile)
		if d.Phase != party.PostHandshake {
			if tr.PostHandshake != nil {
				t.Errorf("%s: post_handshake in an in-handshake trace", tr.ID)
			}
			continue
		}
		n++
		ext := d.Extensions[0].Type
		ph := tr.PostHandshake
		if ph == nil || len(ph.Exchanges) != len(tr.Attestations) {
			t.Fatalf("%s: %d attestations, post_handshake %+v", tr.ID, len(tr.Attestations), ph)
		}
		for _, side := range []string{"client", "server"} {
			var types []string
			for _, f := range ph.Frames {
				if f.Sender == side {
					types = append(types, f.Type)
				}
			}
			if i, j := slices.Index(types, "attested"), slices.Index(types, "application_data"); i < 0 || j < i || types[len(types)-1] != "application_data" {
				t.Errorf("%s: the %s's frames %v: attested must come before the application data", tr.ID, side, types)
			}
		}
		for _, x := range ph.Exchanges {
			exts, err := tls13.AuthenticatorRequestExtensions(x.Request)
			if err != nil {
				t.Fatal(err)
			}
			if v, ok := tls13.FindExtension(exts, ext); !ok || len(v) != 0 {
				t.Errorf("%s: the %s's request has no empty extension %#x", tr.ID, x.Requester, ext)
			}
			cert, err := parseCertificate(x.Certificate)
			if err != nil {
				t.Fatal(err)
			}
			for i, e := range cert.entries {
				if _, ok := tls13.FindExtension(e.exts, ext); ok != (i == 0) {
					t.Errorf("%s: the %s's entry %d carries the extension: %v", tr.ID, x.Attester, i, ok)
				}
			}
			a, ok := attestationBy(tr, x.Attester)
			if !ok {
				t.Fatalf("%s: no attestation by the %s", tr.ID, x.Attester)
			}
			if !bytes.Equal(valueOf(x.Values, "binding"), a.Challenge.Binder) {
				t.Errorf("%s: the %s's binding is not its evidence's binder", tr.ID, x.Attester)
			}
			if h := sha256.Sum256(a.Challenge.TIK); !bytes.Equal(valueOf(x.Values, "aik_pub_hash"), h[:]) {
				t.Errorf("%s: the %s's aik_pub_hash is not the hash of the attested key", tr.ID, x.Attester)
			}
			if a.Topology == BackgroundCheck && !bytes.Equal(a.Challenge.Nonce, x.CertificateRequestContext) {
				t.Errorf("%s: the background check's context is not the verifier's nonce", tr.ID)
			}
		}
	}
	if n != 8 {
		t.Errorf("%d post-handshake traces, want 8", n)
	}
}

// TestPostHandshakeMutationsFail: a flipped byte in a post-handshake
// record fails both replays; an edited post_handshake value fails the
// self-check.
func TestPostHandshakeMutationsFail(t *testing.T) {
	tr := traceByID(t, "xp-03/mutual/server=bg+x509,client=passport+x509")
	if err := Check(tr); err != nil {
		t.Fatal(err)
	}
	first := tr.PostHandshake.Frames[0].Records[0]
	for i := first; i < len(tr.Records); i++ {
		bad := clone(t, tr)
		bad.Records[i].Hex[len(bad.Records[i].Hex)/2] ^= 0x80
		for _, client := range []bool{true, false} {
			if err := Replay(bad, client); err == nil {
				t.Errorf("record %d mutated: replaying the %s passes", i, sideName(client))
			}
		}
	}
	edits := map[string]func(*Trace){
		"frame bytes":    func(x *Trace) { x.PostHandshake.Frames[1].Hex[5] ^= 1 },
		"frame records":  func(x *Trace) { x.PostHandshake.Frames[0].Records[0]++ },
		"finished key":   func(x *Trace) { valueOf(x.PostHandshake.Exchanges[0].Values, "finished_key")[0] ^= 1 },
		"exported value": func(x *Trace) { valueOf(x.PostHandshake.Exchanges[1].Values, "exported_value")[0] ^= 1 },
		"binding":        func(x *Trace) { valueOf(x.PostHandshake.Exchanges[0].Values, "binding")[3] ^= 1 },
		"context":        func(x *Trace) { x.PostHandshake.Exchanges[0].CertificateRequestContext[0] ^= 1 },
		"no section":     func(x *Trace) { x.PostHandshake = nil },
		"ping":           func(x *Trace) { x.ApplicationData[0].Hex[0] ^= 1 },
	}
	for what, edit := range edits {
		bad := clone(t, tr)
		edit(bad)
		if err := Consistent(bad); err == nil {
			t.Errorf("%s edited: the trace still looks consistent", what)
		}
	}
	// The random context of a passport request is an input.
	bad := clone(t, tr)
	bad.Inputs.Server.AuthenticatorContexts[0][0] ^= 1
	if err := Replay(bad, false); err == nil {
		t.Error("the server's authenticator context changed: replaying the server passes")
	}
}

// TestCausalOrder: records go after what their sender had read, the
// client's first where both could go, and a cycle is an error.
func TestCausalOrder(t *testing.T) {
	c := func(after int, b byte) loggedBytes { return loggedBytes{client: true, b: []byte{b}, after: after} }
	s := func(after int, b byte) loggedBytes { return loggedBytes{client: false, b: []byte{b}, after: after} }
	got, err := causalOrder([]loggedBytes{s(1, 2), c(0, 1), s(1, 3), c(0, 4), c(2, 5)})
	if err != nil {
		t.Fatal(err)
	}
	var order []byte
	for _, l := range got {
		order = append(order, l.b[0])
	}
	if !bytes.Equal(order, []byte{1, 4, 2, 3, 5}) {
		t.Errorf("order %v", order)
	}
	if _, err := causalOrder([]loggedBytes{s(1, 1), c(1, 2)}); err == nil {
		t.Error("two records each after the other: no error")
	}
}

// FuzzFramesOf: splitting records into frames never panics, and what it
// accepts re-encodes to the records' application data.
func FuzzFramesOf(f *testing.F) {
	for _, tr := range generated(f) {
		if tr.PostHandshake == nil {
			continue
		}
		var all []byte
		for _, r := range tr.Records {
			if r.Protection == "application" && r.ContentType == "application_data" && r.Sender == "client" {
				all = append(all, r.Content...)
			}
		}
		f.Add(all, uint8(7))
		break
	}
	f.Add([]byte{23, 0, 0, 1}, uint8(2))
	f.Fuzz(func(t *testing.T, b []byte, cut uint8) {
		// Two records, split at cut.
		k := min(int(cut), len(b))
		recs := []Record{{Sender: "client", Protection: "application", ContentType: "application_data", Content: b[:k]},
			{Sender: "client", Protection: "application", ContentType: "application_data", Content: b[k:]}}
		frames, err := framesOf(recs)
		if err != nil {
			return
		}
		var again []byte
		for _, fr := range frames {
			if len(fr.Records) == 0 {
				t.Fatalf("frame %s in no record", fr.Type)
			}
			again = append(again, fr.Hex...)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("frames %x, records %x", again, b)
		}
		if _, err := splitMessages(b); err == nil && len(b) > 0 && len(b) < 4 {
			t.Fatalf("split %x", b)
		}
	})
}
