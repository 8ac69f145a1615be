//go:build unix

// The record-layer cases use socketPair (fuzz_test.go).

package tls13

import (
	"bytes"
	"io"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// Negative tests: each malformed or misplaced input must fail with
// exactly the alert RFC 8446 assigns to it, on the side that detects it
// and, over the wire, on the side that receives it.

// --- Message parsers.

func hsMsg(typ uint8, body []byte) []byte {
	return must(marshalHandshake(typ, func(b *cryptobyte.Builder) { b.AddBytes(body) }))
}

// setLen rewrites the 24-bit length of a handshake message to match its body.
func setLen(m []byte) []byte {
	n := len(m) - 4
	m[1], m[2], m[3] = byte(n>>16), byte(n>>8), byte(n)
	return m
}

// rfcHello returns the RFC 8448 §3 ClientHello, parsed.
func rfcHello(t *testing.T) *clientHelloMsg {
	var m clientHelloMsg
	if err := m.unmarshal(traceHex(t, fuzzTrace(t, "simple_1rtt").Messages, "client_hello")); err != nil {
		t.Fatal(err)
	}
	return &m
}

// helloWith is the RFC §3 ClientHello after edit.
func helloWith(t *testing.T, edit func(m *clientHelloMsg)) []byte {
	m := rfcHello(t)
	m.exts = slices.Clone(m.exts)
	edit(m)
	return must(m.marshal())
}

func setExt(exts []Extension, typ uint16, data []byte) []Extension {
	for i := range exts {
		if exts[i].Type == typ {
			exts[i].Data = data
			return exts
		}
	}
	return append(exts, Extension{typ, data})
}

func serverHelloBytes(random []byte, sid []byte, exts ...Extension) []byte {
	return must((&serverHelloMsg{vers: versionTLS12, random: random, sessionID: sid, cipherSuite: 0x1301, exts: exts}).marshal())
}

func TestParserRejects(t *testing.T) {
	random := bytes.Repeat([]byte{7}, 32)
	sv := Extension{extSupportedVersions, encodeUint16(0x0304)}
	x25519 := bytes.Repeat([]byte{9}, 32)
	sigAlgs := Extension{extSignatureAlgorithms, must(encodeUint16List([]uint16{0x0403}, false))}
	psk := Extension{extPreSharedKey, []byte{0, 6, 0, 1, 0xaa, 0, 0, 0, 0, 0, 0x21, 0x20}}
	for _, tc := range []struct {
		name string
		data []byte
		want AlertCode
	}{
		// ClientHello.
		{"ClientHello: empty cipher_suites", helloWith(t, func(m *clientHelloMsg) { m.cipherSuites = nil }), AlertDecodeError},
		{"ClientHello: odd cipher_suites length", func() []byte {
			m := helloWith(t, func(m *clientHelloMsg) { m.cipherSuites = []uint16{0x1301} })
			// legacy_session_id is empty: suites length is at 4+2+32+1.
			i := 4 + 2 + 32 + 1
			m[i+1] = 3
			return setLen(slices.Insert(m, i+4, 0x13))
		}(), AlertDecodeError},
		{"ClientHello: legacy_session_id of 33 bytes", helloWith(t, func(m *clientHelloMsg) { m.sessionID = make([]byte, 33) }), AlertDecodeError},
		{"ClientHello: empty legacy_compression_methods", helloWith(t, func(m *clientHelloMsg) { m.compressionMethods = nil }), AlertDecodeError},
		{"ClientHello: duplicate supported_versions", helloWith(t, func(m *clientHelloMsg) {
			d, _ := FindExtension(m.exts, extSupportedVersions)
			m.exts = append(m.exts, Extension{extSupportedVersions, d})
		}), AlertIllegalParameter},
		{"ClientHello: duplicate unknown extension", helloWith(t, func(m *clientHelloMsg) {
			m.exts = append(m.exts, Extension{0xfe0d, nil}, Extension{0xfe0d, []byte{1}})
		}), AlertIllegalParameter},
		{"ClientHello: key_share for x25519 twice", helloWith(t, func(m *clientHelloMsg) {
			m.exts = setExt(m.exts, extKeyShare, must(encodeClientKeyShares([]keyShare{{X25519, x25519}, {X25519, x25519}})))
		}), AlertIllegalParameter},
		{"ClientHello: key_share entry with empty key_exchange", helloWith(t, func(m *clientHelloMsg) {
			m.exts = setExt(m.exts, extKeyShare, []byte{0, 4, 0, 0x1d, 0, 0})
		}), AlertDecodeError},
		{"ClientHello: pre_shared_key not last", helloWith(t, func(m *clientHelloMsg) {
			m.exts = append([]Extension{psk}, m.exts...)
		}), AlertIllegalParameter},
		{"ClientHello: two host_names in server_name", helloWith(t, func(m *clientHelloMsg) {
			m.exts = setExt(m.exts, extServerName, []byte{0, 8, 0, 0, 1, 'a', 0, 0, 1, 'b'})
		}), AlertIllegalParameter},
		{"ClientHello: supported_versions of odd length", helloWith(t, func(m *clientHelloMsg) {
			m.exts = setExt(m.exts, extSupportedVersions, []byte{3, 3, 4, 3})
		}), AlertDecodeError},
		{"ClientHello: empty signature_algorithms list", helloWith(t, func(m *clientHelloMsg) {
			m.exts = setExt(m.exts, extSignatureAlgorithms, []byte{0, 0})
		}), AlertDecodeError},
		{"ClientHello: empty signature_algorithms_cert list", helloWith(t, func(m *clientHelloMsg) {
			m.exts = append(m.exts, Extension{extSignatureAlgsCert, []byte{0, 0}})
		}), AlertDecodeError},
		{"ClientHello: empty cookie", helloWith(t, func(m *clientHelloMsg) {
			m.exts = setExt(m.exts, extCookie, []byte{0, 0})
		}), AlertDecodeError},
		{"ClientHello: post_handshake_auth with a body", helloWith(t, func(m *clientHelloMsg) {
			m.exts = setExt(m.exts, extPostHandshakeAuth, []byte{0})
		}), AlertDecodeError},
		{"ClientHello: empty ALPN protocol name", helloWith(t, func(m *clientHelloMsg) {
			m.exts = setExt(m.exts, extALPN, []byte{0, 1, 0})
		}), AlertDecodeError},
		{"ClientHello: extensions block longer than the message", func() []byte {
			m := helloWith(t, func(m *clientHelloMsg) {})
			i := 4 + 2 + 32 + 1 + 2 + 2*len(rfcHello(t).cipherSuites) + 2
			m[i]++ // the block's high length byte
			return m
		}(), AlertDecodeError},

		// ServerHello and HelloRetryRequest.
		{"ServerHello: legacy_session_id_echo of 33 bytes", serverHelloBytes(random, make([]byte, 33), sv), AlertDecodeError},
		{"ServerHello: duplicate key_share", serverHelloBytes(random, nil, sv,
			Extension{extKeyShare, must(encodeServerKeyShare(keyShare{X25519, x25519}))},
			Extension{extKeyShare, must(encodeServerKeyShare(keyShare{X25519, x25519}))}), AlertIllegalParameter},
		{"ServerHello: supported_versions of 3 bytes", serverHelloBytes(random, nil, Extension{extSupportedVersions, []byte{3, 4, 0}}), AlertDecodeError},
		{"ServerHello: key_share with a trailing byte", serverHelloBytes(random, nil, sv,
			Extension{extKeyShare, append(must(encodeServerKeyShare(keyShare{X25519, x25519})), 0)}), AlertDecodeError},
		{"HelloRetryRequest: key_share is a KeyShareEntry, not a NamedGroup", serverHelloBytes(helloRetryRequestRandom, nil, sv,
			Extension{extKeyShare, must(encodeServerKeyShare(keyShare{X25519, x25519}))}), AlertDecodeError},
		{"HelloRetryRequest: empty cookie", serverHelloBytes(helloRetryRequestRandom, nil, sv,
			Extension{extCookie, []byte{0, 0}}), AlertDecodeError},

		// EncryptedExtensions.
		{"EncryptedExtensions: duplicate extension", must((&encryptedExtensionsMsg{exts: []Extension{{0xfe0d, nil}, {0xfe0d, nil}}}).marshal()), AlertIllegalParameter},
		{"EncryptedExtensions: ALPN with two protocols", must((&encryptedExtensionsMsg{exts: []Extension{{extALPN, must(encodeALPN([]string{"a", "b"}))}}}).marshal()), AlertDecodeError},
		{"EncryptedExtensions: server_certificate_type of 2 bytes", must((&encryptedExtensionsMsg{exts: []Extension{{extServerCertType, []byte{1, 2}}}}).marshal()), AlertDecodeError},
		{"EncryptedExtensions: extension header cut", hsMsg(typeEncryptedExtensions, []byte{0, 3, 0, 16, 0}), AlertDecodeError},

		// CertificateRequest.
		{"CertificateRequest: no signature_algorithms", must((&certificateRequestMsg{exts: []Extension{{extCertAuthorities, []byte{0, 0}}}}).marshal()), AlertMissingExtension},
		{"CertificateRequest: no extensions at all", must((&certificateRequestMsg{}).marshal()), AlertMissingExtension},
		{"CertificateRequest: empty signature_algorithms list", must((&certificateRequestMsg{exts: []Extension{{extSignatureAlgorithms, []byte{0, 0}}}}).marshal()), AlertDecodeError},
		{"CertificateRequest: signature_algorithms_cert of odd length", must((&certificateRequestMsg{exts: []Extension{sigAlgs,
			{extSignatureAlgsCert, []byte{0, 3, 4, 3, 8}}}}).marshal()), AlertDecodeError},
		{"CertificateRequest: duplicate signature_algorithms", must((&certificateRequestMsg{exts: []Extension{sigAlgs, sigAlgs}}).marshal()), AlertIllegalParameter},

		// Certificate.
		{"Certificate: entry with empty cert_data", must((&certificateMsg{entries: []CertificateEntry{{Data: []byte{0x30}}, {Data: nil}}}).marshal()), AlertDecodeError},
		{"Certificate: duplicate entry extension", must((&certificateMsg{entries: []CertificateEntry{{Data: []byte{0x30},
			Extensions: []Extension{{5, []byte{1}}, {5, []byte{1}}}}}}).marshal()), AlertIllegalParameter},
		{"Certificate: entry without its extensions block", hsMsg(typeCertificate, []byte{0, 0, 0, 4, 0, 0, 1, 0x30}), AlertDecodeError},

		// CertificateVerify.
		{"CertificateVerify: signature length past the end", hsMsg(typeCertificateVerify, []byte{8, 7, 0, 2, 0}), AlertDecodeError},

		// NewSessionTicket.
		{"NewSessionTicket: empty ticket", must((&newSessionTicketMsg{nonce: []byte{0}}).marshal()), AlertDecodeError},
		{"NewSessionTicket: duplicate extension", must((&newSessionTicketMsg{ticket: []byte{1},
			exts: []Extension{{extEarlyData, []byte{0, 0, 0, 1}}, {extEarlyData, []byte{0, 0, 0, 1}}}}).marshal()), AlertIllegalParameter},

		// KeyUpdate.
		{"KeyUpdate: request_update 2", hsMsg(typeKeyUpdate, []byte{2}), AlertIllegalParameter},
		{"KeyUpdate: request_update 255", hsMsg(typeKeyUpdate, []byte{255}), AlertIllegalParameter},
		{"KeyUpdate: empty", hsMsg(typeKeyUpdate, nil), AlertDecodeError},
		{"KeyUpdate: two bytes", hsMsg(typeKeyUpdate, []byte{0, 0}), AlertDecodeError},

		// Dispatch.
		{"unknown handshake type 3", hsMsg(3, nil), AlertUnexpectedMessage},
		{"end_of_early_data (never negotiated)", hsMsg(typeEndOfEarlyData, nil), AlertUnexpectedMessage},
		{"message_hash on the wire", hsMsg(typeMessageHash, make([]byte, 32)), AlertUnexpectedMessage},
		{"empty input", nil, AlertDecodeError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectParserAlert(t, ParseHandshakeMessage(tc.data), tc.want)
		})
	}
}

func expectParserAlert(t *testing.T, err error, want AlertCode) {
	t.Helper()
	ae, ok := AsAlert(err)
	if !ok {
		t.Fatalf("want alert %s, got %v", want, err)
	}
	if ae.Code != want || ae.Sent {
		t.Fatalf("want alert %s (not yet sent), got %s (sent=%v): %v", want, ae.Code, ae.Sent, err)
	}
}

// TestParserAccepts are the positive controls of TestParserRejects: the
// edits above break only what they name.
func TestParserAccepts(t *testing.T) {
	psk := Extension{extPreSharedKey, []byte{0, 6, 0, 1, 0xaa, 0, 0, 0, 0, 0, 0x21, 0x20}}
	for name, data := range map[string][]byte{
		"RFC ClientHello re-marshalled":        helloWith(t, func(m *clientHelloMsg) {}),
		"ClientHello with pre_shared_key last": helloWith(t, func(m *clientHelloMsg) { m.exts = append(m.exts, psk) }),
		"ClientHello with session id of 32":    helloWith(t, func(m *clientHelloMsg) { m.sessionID = make([]byte, 32) }),
		"KeyUpdate 0":                          hsMsg(typeKeyUpdate, []byte{0}),
		"KeyUpdate 1":                          hsMsg(typeKeyUpdate, []byte{1}),
		"CertificateRequest with signature_algorithms": must((&certificateRequestMsg{exts: []Extension{
			{extSignatureAlgorithms, must(encodeUint16List([]uint16{0x0403}, false))}}}).marshal()),
		"empty Certificate (the parser leaves emptiness to the handshake)": must((&certificateMsg{}).marshal()),
	} {
		if err := ParseHandshakeMessage(data); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, m := range rfcMessages(t) {
		if err := ParseHandshakeMessage(m); err != nil {
			t.Errorf("RFC 8448 message of type %d: %v", m[0], err)
		}
	}
}

// TestParserTruncatedAndTrailing cuts and extends every RFC 8448 message.
func TestParserTruncatedAndTrailing(t *testing.T) {
	msgs := append(rfcMessages(t), hsMsg(typeKeyUpdate, []byte{1}))
	for _, m := range msgs {
		// Cut anywhere, the header's length no longer matches.
		for i := range len(m) {
			if err := ParseHandshakeMessage(m[:i]); err == nil {
				t.Fatalf("type %d cut to %d of %d bytes parsed", m[0], i, len(m))
			} else if ae, _ := AsAlert(err); ae == nil || ae.Code != AlertDecodeError {
				t.Fatalf("type %d cut to %d bytes: want decode_error, got %v", m[0], i, err)
			}
		}
		// A byte after the message.
		expectParserAlert(t, ParseHandshakeMessage(append(slices.Clone(m), 0)), AlertDecodeError)
		if m[0] == typeFinished {
			// verify_data is the whole body: any length parses, and the
			// handshake rejects a wrong one (decode_error, readFinished).
			continue
		}
		// The body's last byte cut and the header fixed: the inner
		// length fields no longer add up.
		expectParserAlert(t, ParseHandshakeMessage(setLen(slices.Clone(m[:len(m)-1]))), AlertDecodeError)
		// A byte added to the body and the header fixed.
		expectParserAlert(t, ParseHandshakeMessage(setLen(append(slices.Clone(m), 0))), AlertDecodeError)
	}
}

func TestParserWrongType(t *testing.T) {
	fin := must((&finishedMsg{verifyData: make([]byte, 32)}).marshal())
	expectParserAlert(t, new(serverHelloMsg).unmarshal(fin), AlertUnexpectedMessage)
	expectParserAlert(t, new(clientHelloMsg).unmarshal(fin), AlertUnexpectedMessage)
	expectParserAlert(t, new(certificateMsg).unmarshal(hsMsg(typeCertificateVerify, []byte{8, 4, 0, 0})), AlertUnexpectedMessage)
}

// --- The record layer and the handshake against scripted bytes.

// wireAlerts returns the alerts in the records of wire: plaintext ones,
// and protected ones that one of keys opens (each keeps its own sequence
// number).
func wireAlerts(t *testing.T, wire []byte, keys ...*halfConn) []AlertCode {
	t.Helper()
	var out []AlertCode
	for len(wire) >= recordHeaderLen {
		n := int(wire[3])<<8 | int(wire[4])
		if len(wire) < recordHeaderLen+n {
			t.Fatalf("truncated record on the wire: %x", wire)
		}
		rec := wire[:recordHeaderLen+n]
		wire = wire[recordHeaderLen+n:]
		if rec[0] == recordAlert && n == 2 {
			out = append(out, AlertCode(rec[6]))
			continue
		}
		if rec[0] != recordApplicationData {
			continue
		}
		for _, k := range keys {
			saved := k.seq
			typ, data, err := k.open(rec)
			if err != nil {
				k.seq = saved
				continue
			}
			if typ == recordAlert && len(data) == 2 {
				out = append(out, AlertCode(data[1]))
			}
			break
		}
	}
	return out
}

// traceKeys returns read keys for the named traffic secrets of a trace.
func traceKeys(t *testing.T, tr *rfcTrace, names ...string) []*halfConn {
	c := &Conn{config: &Config{}}
	var out []*halfConn
	for _, n := range names {
		hc := new(halfConn)
		hc.setTrafficSecret(c, cipherSuiteByID(TLS_AES_128_GCM_SHA256), traceHex(t, tr.Secrets, n), "test")
		out = append(out, hc)
	}
	return out
}

// expectScriptAlert asserts that the engine failed with alert code, sent,
// and that the last alert on the wire is that code.
func expectScriptAlert(t *testing.T, r scriptResult, code AlertCode, keys ...*halfConn) {
	t.Helper()
	if r.hung {
		t.Fatalf("hung: %v", r.err)
	}
	expectAlert(t, r.err, code, true)
	got := wireAlerts(t, r.sent, keys...)
	if len(got) == 0 || got[len(got)-1] != code {
		t.Fatalf("alerts on the wire %v, want %s last", got, code)
	}
}

func bigRecord(typ uint8, n int) []byte {
	return append([]byte{typ, 3, 3, byte(n >> 8), byte(n)}, make([]byte, n)...)
}

// TestClientRecordLayerRejects: our default client against a server that
// answers the ClientHello with the script.
func TestClientRecordLayerRejects(t *testing.T) {
	fin := must((&finishedMsg{verifyData: make([]byte, 32)}).marshal())
	for _, tc := range []struct {
		name   string
		script []byte
		want   AlertCode
	}{
		{"Finished in place of ServerHello", plainRecord(recordHandshake, fin), AlertUnexpectedMessage},
		{"KeyUpdate in place of ServerHello", plainRecord(recordHandshake, hsMsg(typeKeyUpdate, []byte{0})), AlertUnexpectedMessage},
		{"unknown handshake type in place of ServerHello", plainRecord(recordHandshake, hsMsg(99, nil)), AlertUnexpectedMessage},
		{"record longer than 2^14+256", bigRecord(recordHandshake, maxCiphertext+1), AlertRecordOverflow},
		{"plaintext record longer than 2^14", bigRecord(recordHandshake, maxPlaintext+1), AlertRecordOverflow},
		{"unknown content type 24 (heartbeat)", plainRecord(24, []byte{1, 0, 0}), AlertUnexpectedMessage},
		{"unknown content type 0", plainRecord(0, []byte{1}), AlertUnexpectedMessage},
		{"unknown content type 255", plainRecord(255, []byte{1}), AlertUnexpectedMessage},
		{"application data before ServerHello", plainRecord(recordApplicationData, []byte("x")), AlertUnexpectedMessage},
		{"empty handshake record", plainRecord(recordHandshake, nil), AlertUnexpectedMessage},
		{"alert of 3 bytes", plainRecord(recordAlert, []byte{2, 40, 0}), AlertDecodeError},
		{"change_cipher_spec of value 2", plainRecord(recordChangeCipherSpec, []byte{2}), AlertUnexpectedMessage},
		{"change_cipher_spec of two bytes", plainRecord(recordChangeCipherSpec, []byte{1, 1}), AlertUnexpectedMessage},
		{"empty change_cipher_spec", plainRecord(recordChangeCipherSpec, nil), AlertUnexpectedMessage},
		{"truncated record", plainRecord(recordHandshake, fin)[:10], AlertDecodeError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := socketPair(t)
			r := runScript(t, Client(a, getPKI(t).clientConfig()), a, b, true, tc.script)
			expectScriptAlert(t, r, tc.want)
		})
	}
}

// TestClientEncryptedRecordLimits: our RFC 8448 §3 client after the RFC's
// ServerHello, so it holds handshake keys (its alert is protected).
func TestClientEncryptedRecordLimits(t *testing.T) {
	tr := fuzzTrace(t, "simple_1rtt")
	p := clientProfiles(t)[0]
	sh := traceHex(t, tr.Records, "server_hello")
	for _, tc := range []struct {
		name   string
		script []byte
		want   AlertCode
	}{
		{"protected record longer than 2^14+256", append(slices.Clone(sh), bigRecord(recordApplicationData, maxCiphertext+1)...), AlertRecordOverflow},
		{"protected record of 2^14+256 that does not authenticate", append(slices.Clone(sh), bigRecord(recordApplicationData, maxCiphertext)...), AlertBadRecordMAC},
		{"plaintext handshake record after keys changed", append(slices.Clone(sh), plainRecord(recordHandshake, hsMsg(typeEncryptedExtensions, []byte{0, 0}))...), AlertUnexpectedMessage},
		{"unknown content type after keys changed", append(slices.Clone(sh), plainRecord(24, []byte{1})...), AlertUnexpectedMessage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := socketPair(t)
			r := runScript(t, Client(a, p.config()), a, b, true, tc.script)
			expectScriptAlert(t, r, tc.want, traceKeys(t, tr, "client_handshake_traffic_secret")...)
		})
	}
}

// TestServerRecordLayerRejects: our RFC 8448 §3 server fed a scripted
// first flight. The cases marked RFC 8446 §5 / §5.1 found engine bugs.
func TestServerRecordLayerRejects(t *testing.T) {
	tr := fuzzTrace(t, "simple_1rtt")
	p := serverProfiles(t)[0]
	ch := traceHex(t, tr.Messages, "client_hello")
	chRec := traceHex(t, tr.Records, "client_hello")
	fin := traceHex(t, tr.Messages, "client_finished")
	keys := func() []*halfConn {
		return traceKeys(t, tr, "server_handshake_traffic_secret", "server_application_traffic_secret_0")
	}
	// protectedCCS is a change_cipher_spec sealed under the client's
	// handshake key, as the first protected record after the ClientHello.
	protectedCCS := func() []byte {
		hc := traceKeys(t, tr, "client_handshake_traffic_secret")[0]
		return hc.seal(recordChangeCipherSpec, []byte{1})
	}
	for _, tc := range []struct {
		name   string
		script []byte
		want   AlertCode
	}{
		{"record longer than 2^14+256", bigRecord(recordHandshake, maxCiphertext+1), AlertRecordOverflow},
		{"unknown content type", plainRecord(25, []byte{1}), AlertUnexpectedMessage},
		{"ServerHello from a client", plainRecord(recordHandshake, traceHex(t, tr.Messages, "server_hello")), AlertUnexpectedMessage},
		{"Finished in place of ClientHello", plainRecord(recordHandshake, fin), AlertUnexpectedMessage},
		{"application data before ClientHello", plainRecord(recordApplicationData, []byte("x")), AlertUnexpectedMessage},
		// RFC 8446 §5.1: a message preceding a key change must end its
		// record, else unexpected_message. Bug: the server installs the
		// client handshake key with the Finished still buffered, then
		// checks that plaintext Finished as if it had been protected.
		{"ClientHello and Finished in one record", plainRecord(recordHandshake, append(slices.Clone(ch), fin...)), AlertUnexpectedMessage},
		// RFC 8446 §5: a change_cipher_spec "received before the first
		// ClientHello message ... MUST be treated as an unexpected record
		// type". Bug: readRecordInto drops it whenever the handshake is
		// not done, and does not check that no handshake message is
		// half-read (§5.1: no interleaving).
		{"change_cipher_spec before ClientHello", append(plainRecord(recordChangeCipherSpec, []byte{1}), chRec...), AlertUnexpectedMessage},
		{"change_cipher_spec inside a fragmented ClientHello", slices.Concat(plainRecord(recordHandshake, ch[:50]),
			plainRecord(recordChangeCipherSpec, []byte{1}), plainRecord(recordHandshake, ch[50:])), AlertUnexpectedMessage},
		// RFC 8446 §5: a protected change_cipher_spec MUST abort with
		// unexpected_message. Bug: halfConn.open returns the inner type
		// and readRecordInto drops it like a plaintext one.
		{"protected change_cipher_spec", slices.Concat(chRec, protectedCCS(), traceHex(t, tr.Records, "client_finished")), AlertUnexpectedMessage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := socketPair(t)
			r := runScript(t, Server(a, p.config()), a, b, false, tc.script)
			expectScriptAlert(t, r, tc.want, keys()...)
		})
	}
}

// TestServerReceivesPlaintextAlert: a client that cannot process the
// ServerHello has no keys and can only alert in the clear (RFC 8446 A.1:
// clients "may send alerts that derive from post-ServerHello messages in
// the clear"). The server, already holding the client handshake key,
// must report the client's alert, not unexpected_message of its own.
func TestServerReceivesPlaintextAlert(t *testing.T) {
	tr := fuzzTrace(t, "simple_1rtt")
	a, b := socketPair(t)
	script := append(traceHex(t, tr.Records, "client_hello"), plainRecord(recordAlert, []byte{2, byte(AlertIllegalParameter)})...)
	r := runScript(t, Server(a, serverProfiles(t)[0].config()), a, b, false, script)
	expectAlert(t, r.err, AlertIllegalParameter, false)
}

// --- Negative handshakes: our client against our server with Bugs.

func TestBugsNegativeHandshakes(t *testing.T) {
	p := getPKI(t)
	withClientAuth := func(cc, sc *Config) {
		cc.Certificates = []Credential{p.client}
		sc.ClientAuth = RequireAndVerifyClientCert
	}
	early := []byte("early data, must not be read")
	for _, tc := range []struct {
		name  string
		setup func(cc, sc *Config)
		check func(t *testing.T, cli, srv *Conn, cerr, serr error)
	}{
		// The detecting side sends the alert; the other receives it (during
		// its handshake, or on its first Read if its handshake was done).
		{"server CorruptFinished", func(cc, sc *Config) { sc.Bugs.CorruptFinished = true },
			func(t *testing.T, cli, srv *Conn, cerr, serr error) {
				expectAlert(t, cerr, AlertDecryptError, true)
				expectAlert(t, serr, AlertDecryptError, false)
			}},
		{"client CorruptFinished", func(cc, sc *Config) { cc.Bugs.CorruptFinished = true },
			func(t *testing.T, cli, srv *Conn, cerr, serr error) {
				expectAlert(t, serr, AlertDecryptError, true)
				if cerr != nil {
					t.Fatalf("client handshake: %v (it does not wait for the server)", cerr)
				}
				readAlert(t, cli, AlertDecryptError)
			}},
		{"server CorruptCertificateVerify", func(cc, sc *Config) { sc.Bugs.CorruptCertificateVerify = true },
			func(t *testing.T, cli, srv *Conn, cerr, serr error) {
				expectAlert(t, cerr, AlertDecryptError, true)
				expectAlert(t, serr, AlertDecryptError, false)
			}},
		{"client CorruptCertificateVerify", func(cc, sc *Config) { withClientAuth(cc, sc); cc.Bugs.CorruptCertificateVerify = true },
			func(t *testing.T, cli, srv *Conn, cerr, serr error) {
				expectAlert(t, serr, AlertDecryptError, true)
				readAlert(t, cli, AlertDecryptError)
			}},
		{"server SkipMessages CertificateVerify", func(cc, sc *Config) { sc.Bugs.SkipMessages = []uint8{MsgCertificateVerify} },
			func(t *testing.T, cli, srv *Conn, cerr, serr error) {
				expectAlert(t, cerr, AlertUnexpectedMessage, true)
				expectAlert(t, serr, AlertUnexpectedMessage, false)
			}},
		{"client SkipMessages CertificateVerify", func(cc, sc *Config) { withClientAuth(cc, sc); cc.Bugs.SkipMessages = []uint8{MsgCertificateVerify} },
			func(t *testing.T, cli, srv *Conn, cerr, serr error) {
				expectAlert(t, serr, AlertUnexpectedMessage, true)
				readAlert(t, cli, AlertUnexpectedMessage)
			}},
		{"client DuplicateExtensions supported_versions", func(cc, sc *Config) { cc.Bugs.DuplicateExtensions = []uint16{ExtSupportedVersions} },
			func(t *testing.T, cli, srv *Conn, cerr, serr error) {
				expectAlert(t, serr, AlertIllegalParameter, true)
				expectAlert(t, cerr, AlertIllegalParameter, false)
			}},
		// The client answers a bad ServerHello with a plaintext alert; see
		// TestServerReceivesPlaintextAlert for the server side.
		{"server DuplicateExtensions supported_versions", func(cc, sc *Config) { sc.Bugs.DuplicateExtensions = []uint16{ExtSupportedVersions} },
			func(t *testing.T, cli, srv *Conn, cerr, serr error) {
				expectAlert(t, cerr, AlertIllegalParameter, true)
				expectAlert(t, serr, AlertIllegalParameter, false)
			}},
		{"client TruncateExtensions key_share", func(cc, sc *Config) { cc.Bugs.TruncateExtensions = []uint16{ExtKeyShare} },
			func(t *testing.T, cli, srv *Conn, cerr, serr error) {
				expectAlert(t, serr, AlertDecodeError, true)
				expectAlert(t, cerr, AlertDecodeError, false)
			}},
		{"server TruncateExtensions key_share", func(cc, sc *Config) { sc.Bugs.TruncateExtensions = []uint16{ExtKeyShare} },
			func(t *testing.T, cli, srv *Conn, cerr, serr error) {
				expectAlert(t, cerr, AlertDecodeError, true)
				expectAlert(t, serr, AlertDecodeError, false)
			}},
		{"server ExtraExtensions: unknown extension in EncryptedExtensions", func(cc, sc *Config) {
			sc.Bugs.ExtraExtensions = map[uint8][]Extension{MsgEncryptedExtensions: {{0xfe0d, []byte{1}}}}
		}, func(t *testing.T, cli, srv *Conn, cerr, serr error) {
			expectAlert(t, cerr, AlertUnsupportedExtension, true)
			expectAlert(t, serr, AlertUnsupportedExtension, false)
		}},
		{"server ExtraExtensions: ALPN not offered in EncryptedExtensions", func(cc, sc *Config) {
			sc.Bugs.ExtraExtensions = map[uint8][]Extension{MsgEncryptedExtensions: {{ExtALPN, must(encodeALPN([]string{"h2"}))}}}
		}, func(t *testing.T, cli, srv *Conn, cerr, serr error) {
			expectAlert(t, cerr, AlertUnsupportedExtension, true)
			expectAlert(t, serr, AlertUnsupportedExtension, false)
		}},
		// Application data from the client before its Finished is under the
		// client handshake key: the server must refuse it and never hand
		// it to Read.
		{"client EarlyApplicationData before its Finished", func(cc, sc *Config) { cc.Bugs.EarlyApplicationData = early },
			func(t *testing.T, cli, srv *Conn, cerr, serr error) {
				expectAlert(t, serr, AlertUnexpectedMessage, true)
				noData(t, srv)
				readAlert(t, cli, AlertUnexpectedMessage)
			}},
		{"client EarlyApplicationData with client auth", func(cc, sc *Config) { withClientAuth(cc, sc); cc.Bugs.EarlyApplicationData = early },
			func(t *testing.T, cli, srv *Conn, cerr, serr error) {
				expectAlert(t, serr, AlertUnexpectedMessage, true)
				noData(t, srv)
				readAlert(t, cli, AlertUnexpectedMessage)
			}},
		// A fatal alert followed by application data: the receiver reports
		// the alert and never returns the data, before keys and after.
		{"server ApplicationDataAfterAlert, in the clear", func(cc, sc *Config) {
			cc.Bugs.DuplicateExtensions = []uint16{ExtSupportedVersions}
			sc.Bugs.ApplicationDataAfterAlert = early
		}, func(t *testing.T, cli, srv *Conn, cerr, serr error) {
			expectAlert(t, serr, AlertIllegalParameter, true)
			expectAlert(t, cerr, AlertIllegalParameter, false)
			noData(t, cli)
		}},
		{"server ApplicationDataAfterAlert, under application keys", func(cc, sc *Config) {
			cc.Bugs.CorruptFinished = true
			sc.Bugs.ApplicationDataAfterAlert = early
		}, func(t *testing.T, cli, srv *Conn, cerr, serr error) {
			expectAlert(t, serr, AlertDecryptError, true)
			readAlert(t, cli, AlertDecryptError)
		}},
		{"client ApplicationDataAfterAlert", func(cc, sc *Config) {
			sc.Bugs.CorruptFinished = true
			cc.Bugs.ApplicationDataAfterAlert = early
		}, func(t *testing.T, cli, srv *Conn, cerr, serr error) {
			expectAlert(t, cerr, AlertDecryptError, true)
			expectAlert(t, serr, AlertDecryptError, false)
			noData(t, srv)
		}},
		// SendAlert replaces the code: the peer sees the replacement.
		{"server SendAlert access_denied for illegal_parameter", func(cc, sc *Config) {
			cc.Bugs.DuplicateExtensions = []uint16{ExtSupportedVersions}
			sc.Bugs.SendAlert = AlertAccessDenied
		}, func(t *testing.T, cli, srv *Conn, cerr, serr error) {
			expectAlert(t, serr, AlertAccessDenied, true)
			expectAlert(t, cerr, AlertAccessDenied, false)
		}},
		{"client SendAlert bad_certificate for decrypt_error", func(cc, sc *Config) {
			sc.Bugs.CorruptCertificateVerify = true
			cc.Bugs.SendAlert = AlertBadCertificate
		}, func(t *testing.T, cli, srv *Conn, cerr, serr error) {
			expectAlert(t, cerr, AlertBadCertificate, true)
			expectAlert(t, serr, AlertBadCertificate, false)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc, sc := p.clientConfig(), p.serverConfig()
			tc.setup(cc, sc)
			cli, srv, cerr, serr := runPair(t, cc, sc)
			tc.check(t, cli, srv, cerr, serr)
		})
	}
}

// TestServerHalfRTTData: application data a server sends right after its
// flight, before the client's Finished, is 0.5-RTT data, which RFC 8446
// §4.4.4 allows ("Servers MAY send data after sending their first
// flight"). The client may read it only once its handshake is complete:
// Read runs the handshake first, so the server's Finished is verified
// before any byte is released.
func TestServerHalfRTTData(t *testing.T) {
	p := getPKI(t)
	cc, sc := p.clientConfig(), p.serverConfig()
	msg := []byte("half-RTT data")
	sc.Bugs.EarlyApplicationData = msg
	cli, _, cerr, serr := runPair(t, cc, sc)
	if cerr != nil || serr != nil {
		t.Fatalf("client %v, server %v", cerr, serr)
	}
	cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(cli, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("read %q, %v", got, err)
	}
}

// TestServerHalfRTTDataRejectedOnAuthFailure: if the server's
// authentication fails, its 0.5-RTT data is never released.
func TestServerHalfRTTDataRejectedOnAuthFailure(t *testing.T) {
	p := getPKI(t)
	cc, sc := p.clientConfig(), p.serverConfig()
	sc.Bugs.EarlyApplicationData = []byte("must not be read")
	sc.Bugs.CorruptCertificateVerify = true
	cli, _, cerr, serr := runPair(t, cc, sc)
	expectAlert(t, cerr, AlertDecryptError, true)
	expectAlert(t, serr, AlertDecryptError, false)
	noData(t, cli)
}

// recordCounter counts the records its endpoint sent.
type recordCounter struct{ sent atomic.Int32 }

func (r *recordCounter) Message(bool, []byte) {}
func (r *recordCounter) Record(sent bool, _ []byte) {
	if sent {
		r.sent.Add(1)
	}
}
func (r *recordCounter) Secret(string, []byte) {}

// TestApplicationDataAfterAlertReceived: the side that receives a fatal
// alert writes the knob's data once, as one more record; without the knob
// it writes nothing more.
func TestApplicationDataAfterAlertReceived(t *testing.T) {
	p := getPKI(t)
	for _, data := range [][]byte{nil, []byte("still sending")} {
		cc, sc := p.clientConfig(), p.serverConfig()
		cc.Bugs.CorruptFinished = true
		cc.Bugs.ApplicationDataAfterAlertReceived = data
		rc := &recordCounter{}
		cc.Trace = rc
		cli, _, _, serr := runPair(t, cc, sc)
		expectAlert(t, serr, AlertDecryptError, true)
		before := rc.sent.Load()
		readAlert(t, cli, AlertDecryptError)
		want := before
		if data != nil {
			want++
		}
		if got := rc.sent.Load(); got != want {
			t.Errorf("knob %q: %d records sent after the alert arrived, want %d", data, got-before, want-before)
		}
	}
}
