//go:build unix

// The scripted cases use socketPair (fuzz_test.go).

package tls13

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
)

// RFC 8446 Appendix D.4 middlebox compatibility mode and the
// change_cipher_spec rules of §5, in both directions.

// sessionIDs returns the legacy_session_id of the ClientHello a client
// sent and the echo in the ServerHello (the last one) it received.
func sessionIDs(t *testing.T, cli *recorder) (sent, echoed []byte) {
	t.Helper()
	var ch clientHelloMsg
	var sh serverHelloMsg
	lastMessage(t, cli.sent, typeClientHello, &ch)
	lastMessage(t, cli.received, typeServerHello, &sh)
	return ch.sessionID, sh.sessionID
}

// helloRetry makes our server ask our client for another key share.
func helloRetry(cc, sc *Config) {
	cc.Groups, cc.KeyShareGroups = []CurveID{X25519, CurveP256}, []CurveID{X25519}
	sc.Groups = []CurveID{CurveP256}
}

func TestCompatibilityMode(t *testing.T) {
	p := getPKI(t)
	for _, tc := range []struct {
		name                 string
		client, server, hrr  bool // CompatibilityMode on each side; a HelloRetryRequest
		clientCCS, serverCCS bool // who must send the D.4 change_cipher_spec
	}{
		{name: "off (the default): no session ID, no change_cipher_spec"},
		{name: "client", client: true, clientCCS: true, serverCCS: true},
		// D.4: the client's may go "before its second ClientHello", the
		// server's "after a ServerHello or a HelloRetryRequest".
		{name: "client with HelloRetryRequest", client: true, hrr: true, clientCCS: true, serverCCS: true},
		// D.4: "Either side can send change_cipher_spec at any time during
		// the handshake, as they must be ignored by the peer".
		{name: "server only: the client drops it", server: true, serverCCS: true},
		{name: "server only with HelloRetryRequest", server: true, hrr: true, serverCCS: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc, sc := p.clientConfig(), p.serverConfig()
			crec, srec := newRecorder(), newRecorder()
			cc.Trace, sc.Trace = crec, srec
			cc.CompatibilityMode, sc.CompatibilityMode = tc.client, tc.server
			if tc.hrr {
				helloRetry(cc, sc)
			}
			cli, srv, cerr, serr := runPair(t, cc, sc)
			if cerr != nil || serr != nil {
				t.Fatalf("client %v, server %v", cerr, serr)
			}
			echo(t, cli, srv)
			if cli.ConnectionState().HelloRetried != tc.hrr {
				t.Fatalf("HelloRetried %v, want %v", cli.ConnectionState().HelloRetried, tc.hrr)
			}
			sid, echoed := sessionIDs(t, crec)
			if wantLen := map[bool]int{true: 32, false: 0}[tc.client]; len(sid) != wantLen || !bytes.Equal(sid, echoed) {
				t.Fatalf("legacy_session_id %x (echo %x), want %d bytes echoed", sid, echoed, wantLen)
			}
			for _, side := range []struct {
				rec  *recorder
				want bool
			}{{crec, tc.clientCCS}, {srec, tc.serverCCS}} {
				if side.want {
					expectCompatCCS(t, side.rec.records(true), tc.hrr)
				} else {
					expectNoCCS(t, side.rec.records(true))
				}
			}
		})
	}
}

// TestChangeCipherSpecBugs: our client and server facing each
// change_cipher_spec knob of the other.
func TestChangeCipherSpecBugs(t *testing.T) {
	p := getPKI(t)
	compat := func(cc, sc *Config) { cc.CompatibilityMode = true }
	withHRR := func(cc, sc *Config) { compat(cc, sc); helloRetry(cc, sc) }
	for _, tc := range []struct {
		name   string
		setup  func(cc, sc *Config)
		server bool // the server is the misbehaving side
		// ccs is how many change_cipher_spec records in the clear the
		// misbehaving side must have sent: proof the knob acted.
		ccs int
		// reason is what the peer must reject with unexpected_message;
		// empty means the peer must carry on.
		reason string
	}{
		// The D.4 record is only a "SHOULD"-strength aid for middleboxes,
		// and §5 has the peer drop it: nothing can require its presence.
		{name: "client SkipChangeCipherSpec", setup: func(cc, sc *Config) { compat(cc, sc); cc.Bugs.SkipChangeCipherSpec = true }},
		{name: "server SkipChangeCipherSpec", server: true, setup: func(cc, sc *Config) { compat(cc, sc); sc.Bugs.SkipChangeCipherSpec = true }},
		// RFC 8446 §5: a plaintext 0x01 "at any time after the first
		// ClientHello message has been sent or received and before the
		// peer's Finished message has been received" is dropped, so a
		// second one in that window is dropped too.
		{name: "client DuplicateChangeCipherSpec", ccs: 2, setup: func(cc, sc *Config) { compat(cc, sc); cc.Bugs.DuplicateChangeCipherSpec = true }},
		{name: "client DuplicateChangeCipherSpec before the second ClientHello", ccs: 2,
			setup: func(cc, sc *Config) { withHRR(cc, sc); cc.Bugs.DuplicateChangeCipherSpec = true }},
		{name: "server DuplicateChangeCipherSpec", server: true, ccs: 2,
			setup: func(cc, sc *Config) { compat(cc, sc); sc.Bugs.DuplicateChangeCipherSpec = true }},
		{name: "server DuplicateChangeCipherSpec after HelloRetryRequest", server: true, ccs: 2,
			setup: func(cc, sc *Config) { withHRR(cc, sc); sc.Bugs.DuplicateChangeCipherSpec = true }},
		// §5: "An implementation which receives any other change_cipher_spec
		// value or which receives a protected change_cipher_spec record
		// MUST abort the handshake with an "unexpected_message" alert."
		{name: "client ChangeCipherSpecValue 2", ccs: 1, reason: "change_cipher_spec of value 02",
			setup: func(cc, sc *Config) { compat(cc, sc); cc.Bugs.ChangeCipherSpecValue = 2 }},
		{name: "client ChangeCipherSpecValue 2 before the second ClientHello", ccs: 1, reason: "change_cipher_spec of value 02",
			setup: func(cc, sc *Config) { withHRR(cc, sc); cc.Bugs.ChangeCipherSpecValue = 2 }},
		{name: "server ChangeCipherSpecValue 0xff", server: true, ccs: 1, reason: "change_cipher_spec of value ff",
			setup: func(cc, sc *Config) { compat(cc, sc); sc.Bugs.ChangeCipherSpecValue = 0xff }},
		{name: "client ProtectedChangeCipherSpec", reason: "protected change_cipher_spec",
			setup: func(cc, sc *Config) { cc.Bugs.ProtectedChangeCipherSpec = true }},
		{name: "server ProtectedChangeCipherSpec", server: true, reason: "protected change_cipher_spec",
			setup: func(cc, sc *Config) { sc.Bugs.ProtectedChangeCipherSpec = true }},
		// §5: one "after the peer's Finished message ... MUST be treated as
		// an unexpected record type". The peer's handshake is over by then;
		// its next Read finds it.
		{name: "client ChangeCipherSpecAfterFinished", ccs: 1, reason: "change_cipher_spec after the peer's Finished",
			setup: func(cc, sc *Config) { cc.Bugs.ChangeCipherSpecAfterFinished = true }},
		{name: "server ChangeCipherSpecAfterFinished", server: true, ccs: 1, reason: "change_cipher_spec after the peer's Finished",
			setup: func(cc, sc *Config) { sc.Bugs.ChangeCipherSpecAfterFinished = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc, sc := p.clientConfig(), p.serverConfig()
			crec, srec := newRecorder(), newRecorder()
			cc.Trace, sc.Trace = crec, srec
			tc.setup(cc, sc)
			cli, srv, cerr, serr := runPair(t, cc, sc)
			bad, badRec, peer, peerErr, badErr := cli, crec, srv, serr, cerr
			if tc.server {
				bad, badRec, peer, peerErr, badErr = srv, srec, cli, cerr, serr
			}
			if tc.reason == "" {
				if cerr != nil || serr != nil {
					t.Fatalf("client %v, server %v", cerr, serr)
				}
				echo(t, cli, srv)
			} else {
				if peerErr == nil { // the peer's handshake was over: Read finds it
					peer.SetReadDeadline(time.Now().Add(5 * time.Second))
					_, peerErr = peer.Read(make([]byte, 10))
				}
				expectAlert(t, peerErr, AlertUnexpectedMessage, true)
				if !strings.Contains(peerErr.Error(), tc.reason) {
					t.Fatalf("peer rejected with %v, want %q", peerErr, tc.reason)
				}
				if badErr != nil {
					expectAlert(t, badErr, AlertUnexpectedMessage, false)
				} else {
					readAlert(t, bad, AlertUnexpectedMessage)
				}
			}
			if n := countCCS(badRec.records(true)); n != tc.ccs {
				t.Fatalf("misbehaving side sent %d change_cipher_spec records in the clear, want %d", n, tc.ccs)
			}
		})
	}
}

// TestChangeCipherSpecDroppedInTheClear: change_cipher_spec records where
// the engine expects protected records, or before the peer's first
// message, are dropped (RFC 8446 §5: "this record may appear at a point at
// the handshake where the implementation is expecting protected records").
// The RFC 8448 §3 peers' records complete the handshake around them.
func TestChangeCipherSpecDroppedInTheClear(t *testing.T) {
	tr := fuzzTrace(t, "simple_1rtt")
	ccs := plainCCS(1)
	rec := func(names ...string) []byte { return joinRecords(t, tr, names...) }
	for _, tc := range []struct {
		name   string
		client bool
		script []byte
	}{
		{"client: before ServerHello", true, slices.Concat(ccs, rec("server_hello", "server_handshake"))},
		{"client: two between ServerHello and the encrypted flight", true, slices.Concat(rec("server_hello"), ccs, ccs, rec("server_handshake"))},
		{"server: two before the client's Finished", false, slices.Concat(ccs, ccs, rec("client_finished"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := socketPair(t)
			var r scriptResult
			if tc.client {
				r = runScript(t, Client(a, clientProfiles(t)[0].config()), a, b, true, tc.script)
			} else {
				p := serverProfiles(t)[1]
				r = runScript(t, Server(a, p.config()), a, b, false, append(slices.Clone(p.prefix), tc.script...))
			}
			if r.err != nil || r.hung {
				t.Fatalf("handshake did not complete: %v (hung %v)", r.err, r.hung)
			}
		})
	}
}
