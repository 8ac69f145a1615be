//go:build unix

// The record-layer targets run the engine over a Unix socketpair (see
// socketPair), hence the build constraint.

package tls13

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// Fuzz targets for every message parser, the extension body decoders and
// both sides of the record layer. Seeds are the RFC 8448 messages and
// records, messages our own engine sends with its optional features on,
// and hand-built messages for what neither covers.

// parserAlerts are the only alerts a message parser may return: anything
// else, or an error with no alert, means a parser lost track of its input.
var parserAlerts = []AlertCode{AlertDecodeError, AlertIllegalParameter, AlertUnexpectedMessage, AlertMissingExtension}

func checkParserError(t *testing.T, err error) {
	t.Helper()
	ae, ok := AsAlert(err)
	if !ok {
		t.Fatalf("parser error carries no alert: %v", err)
	}
	if !slices.Contains(parserAlerts, ae.Code) {
		t.Fatalf("parser returned alert %s, want one of %v: %v", ae.Code, parserAlerts, err)
	}
	if ae.Sent {
		t.Fatalf("parser error claims it was sent: %v", err)
	}
}

// --- RFC 8448 traces, loaded for a testing.TB (loadTrace wants a *testing.T).

func fuzzTrace(tb testing.TB, name string) *rfcTrace {
	tb.Helper()
	dir := filepath.Join("testdata", "rfc8448")
	b, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		tb.Fatal(err)
	}
	tr := &rfcTrace{dir: dir}
	if err := json.Unmarshal(b, tr); err != nil {
		tb.Fatal(err)
	}
	return tr
}

func traceHex(tb testing.TB, m map[string]string, key string) []byte {
	tb.Helper()
	v, ok := m[key]
	if !ok {
		tb.Fatalf("trace has no %q", key)
	}
	b, err := hex.DecodeString(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func traceFile(tb testing.TB, tr *rfcTrace, key string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(tr.dir, tr.Inputs[key]))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

var traceNames = []string{"simple_1rtt", "hello_retry_request", "client_auth"}

// rfcMessages returns every handshake message of every RFC 8448 trace.
func rfcMessages(tb testing.TB) [][]byte {
	var out [][]byte
	for _, name := range traceNames {
		tr := fuzzTrace(tb, name)
		keys := make([]string, 0, len(tr.Messages))
		for k := range tr.Messages {
			keys = append(keys, k)
		}
		slices.Sort(keys) // map order would make the seed order vary
		for _, k := range keys {
			out = append(out, traceHex(tb, tr.Messages, k))
		}
	}
	return out
}

// --- Seeds from our own engine: handshakes with the optional features on.

var (
	engineSeedsOnce sync.Once
	engineSeeds     [][]byte
)

// engineMessages returns every handshake message of a few handshakes
// between our client and our server (as the client's trace saw them).
func engineMessages(tb testing.TB) [][]byte {
	engineSeedsOnce.Do(func() {
		p := getPKI(tb)
		runs := []struct {
			name string
			mk   func() (*Config, *Config)
		}{
			{"client auth, ALPN, SNI, post_handshake_auth", func() (*Config, *Config) {
				cc, sc := p.clientConfig(), p.serverConfig()
				cc.Certificates, cc.NextProtos, cc.PostHandshakeAuth = []Credential{p.client}, []string{"h2", "http/1.1"}, true
				sc.ClientAuth, sc.NextProtos = RequireAndVerifyClientCert, []string{"http/1.1"}
				return cc, sc
			}},
			{"raw public keys both ways", func() (*Config, *Config) {
				cc, sc := p.clientConfig(), p.serverConfig()
				cc.ServerCertificateTypes, cc.TrustedRawPublicKeys = []CertificateType{CertTypeRawPublicKey}, []crypto.PublicKey{p.serverKey.Public()}
				cc.ClientCertificateTypes, cc.Certificates = []CertificateType{CertTypeRawPublicKey}, []Credential{p.client}
				sc.ServerCertificateTypes = []CertificateType{CertTypeRawPublicKey, CertTypeX509}
				sc.ClientCertificateTypes, sc.ClientAuth = []CertificateType{CertTypeRawPublicKey}, RequireAnyClientCert
				return cc, sc
			}},
			{"HelloRetryRequest with cookie", func() (*Config, *Config) {
				cc, sc := p.clientConfig(), p.serverConfig()
				cc.Groups, cc.KeyShareGroups = []CurveID{X25519, CurveP256}, []CurveID{X25519}
				sc.Groups, sc.HelloRetryCookie = []CurveID{CurveP256}, []byte("cookie!")
				return cc, sc
			}},
			{"compatibility mode, signature_algorithms_cert both ways", func() (*Config, *Config) {
				cc, sc := p.clientConfig(), p.serverConfig()
				cc.CompatibilityMode, cc.Certificates = true, []Credential{p.client}
				cc.SignatureSchemesCert = []SignatureScheme{ECDSAWithP256AndSHA256, PKCS1WithSHA256}
				sc.ClientAuth, sc.SignatureSchemesCert = RequireAndVerifyClientCert, []SignatureScheme{ECDSAWithP256AndSHA256, Ed25519}
				return cc, sc
			}},
			{"X25519MLKEM768, Ed25519, AES-256", func() (*Config, *Config) {
				cc, sc := p.clientConfig(), p.serverConfig()
				cc.Groups, cc.CipherSuites = []CurveID{X25519MLKEM768}, []uint16{TLS_AES_256_GCM_SHA384}
				sc.Certificates = []Credential{p.serverEd}
				return cc, sc
			}},
		}
		for _, r := range runs {
			cc, sc := r.mk()
			rec := newRecorder()
			cc.Trace = rec
			a, b := pipe(tb)
			cli, srv := Client(a, cc), Server(b, sc)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			errc := make(chan error, 1)
			go func() { errc <- srv.HandshakeContext(ctx) }()
			cerr := cli.HandshakeContext(ctx)
			serr := <-errc
			cancel()
			if cerr != nil || serr != nil {
				tb.Fatalf("seed handshake %q: client %v, server %v", r.name, cerr, serr)
			}
			engineSeeds = append(engineSeeds, rec.sent...)
			engineSeeds = append(engineSeeds, rec.received...)
		}
	})
	return engineSeeds
}

// builtMessages are hand-built messages for encodings the handshakes above
// never produce: a PSK offer, a ClientHello with no extensions block,
// a post-handshake CertificateRequest, tickets, KeyUpdate.
func builtMessages() [][]byte {
	random := bytes.Repeat([]byte{0x5a}, 32)
	ks := must(encodeClientKeyShares([]keyShare{{X25519, bytes.Repeat([]byte{9}, 32)}, {CurveP256, bytes.Repeat([]byte{4}, 65)}}))
	full := []Extension{
		{extServerName, must(encodeServerName("example.test"))},
		{extSupportedGroups, must(encodeUint16List([]uint16{0x1d, 0x17}, false))},
		{extSignatureAlgorithms, must(encodeUint16List([]uint16{0x0403, 0x0804}, false))},
		{extSignatureAlgsCert, must(encodeUint16List([]uint16{0x0403}, false))},
		{extSupportedVersions, must(encodeUint16List([]uint16{0x0304, 0x0303}, true))},
		{extKeyShare, ks},
		{extPSKModes, must(encodeUint8List([]uint8{1}))},
		{extCookie, must(encodeOpaque16([]byte("cookie")))},
		{extClientCertType, must(encodeUint8List([]uint8{0, 2}))},
		{extServerCertType, must(encodeUint8List([]uint8{2}))},
		{extPostHandshakeAuth, nil},
		{extALPN, must(encodeALPN([]string{"h2", "http/1.1"}))},
		{0xfe0d, []byte{1, 2, 3}}, // an extension the engine does not know
		{extPreSharedKey, []byte{0, 6, 0, 1, 0xaa, 0, 0, 0, 0, 0, 0x21, 0x20}},
	}
	ch := func(exts []Extension) []byte {
		return must((&clientHelloMsg{vers: versionTLS12, random: random, sessionID: bytes.Repeat([]byte{1}, 32),
			cipherSuites: []uint16{0x1301, 0x1302, 0x1303}, compressionMethods: []uint8{0}, exts: exts}).marshal())
	}
	sh := func(rnd []byte, exts []Extension) []byte {
		return must((&serverHelloMsg{vers: versionTLS12, random: rnd, cipherSuite: 0x1301, exts: exts}).marshal())
	}
	noExts := func(m []byte) []byte { // drop the trailing empty extensions block
		m = m[:len(m)-2]
		n := len(m) - 4
		m[1], m[2], m[3] = byte(n>>16), byte(n>>8), byte(n)
		return m
	}
	return [][]byte{
		ch(full),
		ch(nil),
		noExts(ch(nil)),
		sh(random, []Extension{{extSupportedVersions, encodeUint16(0x0304)}, {extKeyShare, must(encodeServerKeyShare(keyShare{X25519, bytes.Repeat([]byte{9}, 32)}))}}),
		sh(helloRetryRequestRandom, []Extension{{extKeyShare, encodeUint16(0x17)}, {extCookie, must(encodeOpaque16([]byte("c")))}, {extSupportedVersions, encodeUint16(0x0304)}}),
		noExts(sh(random, nil)),
		must((&encryptedExtensionsMsg{}).marshal()),
		must((&encryptedExtensionsMsg{exts: []Extension{{extALPN, must(encodeALPN([]string{"h2"}))}, {extClientCertType, []byte{2}}, {extServerCertType, []byte{0}}, {extServerName, nil}}}).marshal()),
		must((&certificateRequestMsg{context: []byte("12345678"), exts: []Extension{{extSignatureAlgorithms, must(encodeUint16List([]uint16{0x0807}, false))},
			{extSignatureAlgsCert, must(encodeUint16List([]uint16{0x0401, 0x0807}, false))}, {extCertAuthorities, []byte{0, 0}}}}).marshal()),
		must((&certificateMsg{}).marshal()),
		must((&certificateMsg{context: []byte{7}, entries: []CertificateEntry{{Data: []byte{0x30, 0}, Extensions: []Extension{{5, []byte{1}}, {18, nil}}}, {Data: []byte{1}}}}).marshal()),
		must((&certificateVerifyMsg{scheme: Ed25519}).marshal()),
		must((&finishedMsg{}).marshal()),
		must((&finishedMsg{verifyData: bytes.Repeat([]byte{0xf1}, 48)}).marshal()),
		must((&newSessionTicketMsg{lifetime: 604800, ageAdd: 7, nonce: []byte{0}, ticket: []byte("ticket"), exts: []Extension{{extEarlyData, []byte{0, 0, 0x40, 0}}}}).marshal()),
		must((&keyUpdateMsg{}).marshal()),
		must((&keyUpdateMsg{updateRequested: true}).marshal()),
	}
}

func allSeedMessages(tb testing.TB) [][]byte {
	out := rfcMessages(tb)
	out = append(out, engineMessages(tb)...)
	return append(out, builtMessages()...)
}

// --- Message parser targets.

// withEmptyExtensions is data with an empty extensions block appended, as
// marshal writes a hello that arrived with none.
func withEmptyExtensions(data []byte) []byte {
	out := append(slices.Clone(data), 0, 0)
	n := len(out) - 4
	out[1], out[2], out[3] = byte(n>>16), byte(n>>8), byte(n)
	return out
}

// checkMessage parses data as message m of type typ and checks the
// parser's contract: alerts only from parserAlerts, ParseHandshakeMessage
// agrees, and what parses marshals back to the same bytes.
func checkMessage(t *testing.T, typ uint8, m handshakeMessage, data []byte) {
	err := m.unmarshal(data)
	perr := ParseHandshakeMessage(data)
	if perr != nil {
		checkParserError(t, perr)
	}
	if len(data) > 0 && data[0] == typ {
		pa, _ := AsAlert(perr)
		ma, _ := AsAlert(err)
		if (perr == nil) != (err == nil) || (pa != nil && ma != nil && pa.Code != ma.Code) {
			t.Fatalf("ParseHandshakeMessage says %v, unmarshal says %v", perr, err)
		}
	}
	if err != nil {
		checkParserError(t, err)
		return
	}
	if !bytes.Equal(rawOf(m), data) {
		t.Fatalf("raw is %x, input was %x", rawOf(m), data)
	}
	got := must(m.marshal())
	if bytes.Equal(got, data) {
		return
	}
	// Skip: a ClientHello or ServerHello may end after its compression
	// method (RFC 8446 §4.1.2 lets a hello carry no extensions block at
	// all: pre-TLS 1.2 style); the parser accepts it so the handshake can
	// answer protocol_version, and marshal always writes the block.
	if (typ == typeClientHello || typ == typeServerHello) && bytes.Equal(got, withEmptyExtensions(data)) {
		return
	}
	t.Fatalf("round trip:\n  in  %x\n  out %x", data, got)
}

func fuzzMessage(f *testing.F, typ uint8, newMsg func() handshakeMessage) {
	n := 0
	for _, m := range allSeedMessages(f) {
		if m[0] == typ {
			f.Add(m)
			n++
		}
	}
	if n == 0 {
		f.Fatalf("no seed messages of type %d", typ)
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkMessage(t, typ, newMsg(), data) })
}

func FuzzClientHello(f *testing.F) {
	fuzzMessage(f, typeClientHello, func() handshakeMessage { return new(clientHelloMsg) })
}

func FuzzServerHello(f *testing.F) {
	fuzzMessage(f, typeServerHello, func() handshakeMessage { return new(serverHelloMsg) })
}

func FuzzEncryptedExtensions(f *testing.F) {
	fuzzMessage(f, typeEncryptedExtensions, func() handshakeMessage { return new(encryptedExtensionsMsg) })
}

func FuzzCertificateRequest(f *testing.F) {
	fuzzMessage(f, typeCertificateRequest, func() handshakeMessage { return new(certificateRequestMsg) })
}

func FuzzCertificate(f *testing.F) {
	fuzzMessage(f, typeCertificate, func() handshakeMessage { return new(certificateMsg) })
}

func FuzzCertificateVerify(f *testing.F) {
	fuzzMessage(f, typeCertificateVerify, func() handshakeMessage { return new(certificateVerifyMsg) })
}

func FuzzNewSessionTicket(f *testing.F) {
	fuzzMessage(f, typeNewSessionTicket, func() handshakeMessage { return new(newSessionTicketMsg) })
}

func FuzzKeyUpdate(f *testing.F) {
	fuzzMessage(f, typeKeyUpdate, func() handshakeMessage { return new(keyUpdateMsg) })
}

func FuzzFinished(f *testing.F) {
	fuzzMessage(f, typeFinished, func() handshakeMessage { return new(finishedMsg) })
}

// --- Extension bodies (msg_extensions.go), one decoder per selector.

// extDecoders decode an extension body and re-encode what they decoded;
// canonical says whether the re-encoding must equal the body.
var extDecoders = []struct {
	name string
	run  func(body []byte) (out []byte, canonical bool, err error)
}{
	{"uint16 list, 16-bit length", func(b []byte) ([]byte, bool, error) {
		v, err := decodeUint16List(b, false, "list")
		return must(encodeUint16List(v, false)), true, err
	}},
	{"uint16 list, 8-bit length", func(b []byte) ([]byte, bool, error) {
		v, err := decodeUint16List(b, true, "list")
		return must(encodeUint16List(v, true)), true, err
	}},
	{"server_name", func(b []byte) ([]byte, bool, error) {
		name, err := decodeServerName(b)
		// Only a list of exactly one host_name re-encodes to itself: the
		// decoder skips other name types, which encodeServerName never writes.
		return must(encodeServerName(name)), name != "" && len(b) == 5+len(name), err
	}},
	{"client key_share", func(b []byte) ([]byte, bool, error) {
		v, err := decodeClientKeyShares(b)
		return must(encodeClientKeyShares(v)), true, err
	}},
	{"server key_share", func(b []byte) ([]byte, bool, error) {
		v, err := decodeServerKeyShare(b)
		return must(encodeServerKeyShare(v)), true, err
	}},
	{"opaque16 (cookie)", func(b []byte) ([]byte, bool, error) {
		v, err := decodeOpaque16(b, "cookie")
		return must(encodeOpaque16(v)), true, err
	}},
	{"uint8 list", func(b []byte) ([]byte, bool, error) {
		v, err := decodeUint8List(b, "list")
		return must(encodeUint8List(v)), true, err
	}},
	{"ALPN", func(b []byte) ([]byte, bool, error) {
		v, err := decodeALPN(b)
		return must(encodeALPN(v)), true, err
	}},
	{"uint16", func(b []byte) ([]byte, bool, error) {
		v, err := decodeUint16(b, "uint16")
		return encodeUint16(v), true, err
	}},
	{"extensions block", func(b []byte) ([]byte, bool, error) {
		s := cryptobyte.String(b)
		exts, err := readExtensions(&s)
		if err != nil {
			return nil, false, err
		}
		// readExtensions reads one block and leaves the rest; compare the
		// re-encoding with the part it consumed.
		consumed := b[:len(b)-len(s)]
		out := must(build(func(bb *cryptobyte.Builder) { addExtensions(bb, exts) }))
		if !bytes.Equal(out, consumed) {
			return out, true, nil // reported as a round-trip failure against b
		}
		return b, true, nil
	}},
}

// extSelector maps the extensions the seeds carry to their decoder.
var extSelector = map[uint16]int{
	extSupportedGroups: 0, extSignatureAlgorithms: 0, extSignatureAlgsCert: 0,
	extServerName: 2, extKeyShare: 3, extCookie: 5, extPSKModes: 6,
	extClientCertType: 6, extServerCertType: 6, extALPN: 7,
}

// FuzzExtensionBodies: data[0] picks the decoder, the rest is the body.
func FuzzExtensionBodies(f *testing.F) {
	for _, raw := range allSeedMessages(f) {
		var exts []Extension
		switch raw[0] {
		case typeClientHello:
			var m clientHelloMsg
			if m.unmarshal(raw) == nil {
				exts = m.exts
				f.Add(append([]byte{9}, raw[4+2+32+1+len(m.sessionID)+2+2*len(m.cipherSuites)+1+len(m.compressionMethods):]...))
			}
		case typeServerHello:
			var m serverHelloMsg
			if m.unmarshal(raw) == nil {
				for _, e := range m.exts {
					switch e.Type {
					case extSupportedVersions:
						f.Add(append([]byte{8}, e.Data...))
					case extKeyShare:
						f.Add(append([]byte{4}, e.Data...))
					case extCookie:
						f.Add(append([]byte{5}, e.Data...))
					}
				}
			}
		case typeEncryptedExtensions:
			var m encryptedExtensionsMsg
			if m.unmarshal(raw) == nil {
				exts = m.exts
			}
		case typeCertificateRequest:
			var m certificateRequestMsg
			if m.unmarshal(raw) == nil {
				exts = m.exts
			}
		}
		for _, e := range exts {
			if sel, ok := extSelector[e.Type]; ok {
				f.Add(append([]byte{byte(sel)}, e.Data...))
			}
			if e.Type == extSupportedVersions && len(e.Data)%2 == 1 {
				f.Add(append([]byte{1}, e.Data...))
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		d := extDecoders[int(data[0])%len(extDecoders)]
		body := data[1:]
		out, canonical, err := d.run(body)
		if err != nil {
			checkParserError(t, err)
			return
		}
		if canonical && !bytes.Equal(out, body) {
			t.Fatalf("%s round trip:\n  in  %x\n  out %x", d.name, body, out)
		}
	})
}

// --- Record layer: the engine against scripted peer bytes.

// socketPair returns a connected pair of Unix stream sockets. Unlike
// net.Pipe they buffer, so a flight written before it is read does not
// block, and they half-close, so the engine sees EOF after the script while
// its alert can still be written. Unlike loopback TCP they use no ports,
// which millions of fuzz iterations would exhaust (TIME_WAIT).
func socketPair(tb testing.TB) (*net.UnixConn, *net.UnixConn) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	conv := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close() // FileConn holds its own descriptor
		c, err := net.FileConn(f)
		if err != nil {
			tb.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	return conv(fds[0]), conv(fds[1])
}

// readOneRecord reads one record (header and body) from c.
func readOneRecord(c net.Conn) ([]byte, error) {
	hdr := make([]byte, recordHeaderLen)
	if _, err := io.ReadFull(c, hdr); err != nil {
		return hdr, err
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	_, err := io.ReadFull(c, body)
	return append(hdr, body...), err
}

// scriptResult is how the engine fared against a script.
type scriptResult struct {
	err  error  // what HandshakeContext returned
	hung bool   // the handshake ran into the deadline: it waited with the peer's input exhausted
	sent []byte // every byte the engine wrote
}

const scriptTimeout = 2 * time.Second

// runScript runs the handshake of eng (a Client or Server over a) against
// a peer on b that, if readFirst, reads one record (the ClientHello) and
// then writes script, half-closes, and reads whatever the engine sends.
func runScript(tb testing.TB, eng *Conn, a, b *net.UnixConn, readFirst bool, script []byte) scriptResult {
	peer := make(chan []byte, 1)
	go func() {
		var seen []byte
		if readFirst {
			rec, err := readOneRecord(b)
			seen = rec
			if err != nil {
				rest, _ := io.ReadAll(b)
				peer <- append(seen, rest...)
				return
			}
		}
		// Written beside the reads, so an engine that stops reading
		// cannot block the peer; closing a below ends a stuck Write.
		go func() {
			b.Write(script)
			b.CloseWrite()
		}()
		rest, _ := io.ReadAll(b)
		peer <- append(seen, rest...)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- eng.HandshakeContext(ctx) }()
	var res scriptResult
	select {
	case res.err = <-done:
	case <-time.After(scriptTimeout + 5*time.Second):
		tb.Fatalf("handshake ignored its context: still running %v after the deadline", 5*time.Second)
	}
	res.hung = ctx.Err() != nil
	a.Close()
	res.sent = <-peer
	b.Close()
	return res
}

func isTransportError(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.As(err, &ne)
}

// checkScriptResult asserts the record-layer contract: no hang, and any
// error is an alert or a transport error. internal_error is accepted only
// where a signer may legitimately fail (allowInternal).
func checkScriptResult(t *testing.T, r scriptResult, allowInternal bool) {
	t.Helper()
	if r.hung {
		t.Fatalf("handshake did not end within %v of the peer's EOF: %v", scriptTimeout, r.err)
	}
	if r.err == nil {
		return
	}
	if ae, ok := AsAlert(r.err); ok {
		if ae.Code == AlertInternalError && ae.Sent && !allowInternal {
			t.Fatalf("engine sent internal_error: %v", r.err)
		}
		return
	}
	if !isTransportError(r.err) {
		t.Fatalf("handshake error is neither an alert nor a transport error: %v (%T)", r.err, r.err)
	}
}

// plainRecord builds an unprotected record.
func plainRecord(typ uint8, payload []byte) []byte {
	return append([]byte{typ, 3, 3, byte(len(payload) >> 8), byte(len(payload))}, payload...)
}

// replaySigner returns the RFC's signature when asked to sign exactly what
// the RFC signed (signatures are randomized, so only this reproduces the
// trace); for any other transcript it signs with key, or fails when the
// RFC did not publish the key (§6).
type replaySigner struct {
	pub         crypto.PublicKey
	digest, sig []byte
	key         crypto.Signer
}

func (s *replaySigner) Public() crypto.PublicKey { return s.pub }
func (s *replaySigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	if bytes.Equal(d, s.digest) {
		return s.sig, nil
	}
	if s.key != nil {
		return s.key.Sign(r, d, o)
	}
	return nil, errors.New("replaySigner: the RFC's key is not published")
}

func newReplaySigner(tb testing.TB, certDER []byte, server bool, transcript [][]byte, cv []byte, key crypto.Signer) *replaySigner {
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		tb.Fatal(err)
	}
	h := sha256.New()
	for _, m := range transcript {
		h.Write(m)
	}
	d := sha256.Sum256(SignedContent(server, h.Sum(nil)))
	return &replaySigner{pub: cert.PublicKey, digest: d[:], sig: cv[8:], key: key}
}

func traceMsgs(tb testing.TB, tr *rfcTrace, names ...string) [][]byte {
	var out [][]byte
	for _, n := range names {
		if n == "message_hash" {
			out = append(out, messageHash(traceHex(tb, tr.Messages, "client_hello_1")))
			continue
		}
		out = append(out, traceHex(tb, tr.Messages, n))
	}
	return out
}

func traceKeyShares(tb testing.TB, tr *rfcTrace, pairs map[CurveID]string) func(CurveID) []byte {
	keys := map[CurveID][]byte{}
	for g, k := range pairs {
		keys[g] = traceHex(tb, tr.Inputs, k)
	}
	return func(g CurveID) []byte { return keys[g] }
}

// randAfter is a Config.Rand that yields the RFC's random first, then
// real randomness (fuzzed paths may draw more, e.g. an ML-KEM seed after a
// HelloRetryRequest, and must not fail for want of it).
func randAfter(first []byte) io.Reader { return io.MultiReader(bytes.NewReader(first), rand.Reader) }

// scriptProfile is one side of the engine set up for a record-layer run:
// a fresh Config each time (Rand is consumed), the records the peer sends
// before the fuzz bytes, and the RFC records that complete a handshake.
type scriptProfile struct {
	name          string
	config        func() *Config
	prefix        []byte
	seeds         [][]byte
	allowInternal bool
}

func withRand(tmpl *Config, random []byte) func() *Config {
	return func() *Config {
		c := *tmpl
		c.Rand = randAfter(random)
		return &c
	}
}

func joinRecords(tb testing.TB, tr *rfcTrace, names ...string) []byte {
	var out []byte
	for _, n := range names {
		out = append(out, traceHex(tb, tr.Records, n)...)
	}
	return out
}

// clientProfiles: our client as in RFC 8448 §3, §5 and §6 (so the RFC's
// server records complete the handshake), and our default client.
func clientProfiles(tb testing.TB) []scriptProfile {
	rfcClient := func(tr *rfcTrace, shares map[CurveID]string, h *rfcClientHooks) *Config {
		return &Config{
			KeySharePrivate: traceKeyShares(tb, tr, shares), ServerName: "server",
			CipherSuites: []uint16{0x1301, 0x1303, 0x1302}, Groups: rfcGroups, KeyShareGroups: []CurveID{X25519},
			SignatureSchemes: rfcSchemes, InsecureSkipVerify: true,
			ExtensionOrder: map[uint8][]uint16{typeClientHello: rfcClientOrder},
			NewHooks:       func() Hooks { return h },
		}
	}
	simple := fuzzTrace(tb, "simple_1rtt")
	c3 := rfcClient(simple, map[CurveID]string{X25519: "client_key_share_private"}, &rfcClientHooks{extra: rfcClientExtras()})

	hrr := fuzzTrace(tb, "hello_retry_request")
	var ch2 clientHelloMsg
	if err := ch2.unmarshal(traceHex(tb, hrr.Messages, "client_hello_2")); err != nil {
		tb.Fatal(err)
	}
	padding, _ := FindExtension(ch2.exts, 21)
	c5 := rfcClient(hrr, map[CurveID]string{X25519: "client_key_share_1_private", CurveP256: "client_key_share_2_private"},
		&rfcClientHooks{
			extra:        []Extension{{0xff01, []byte{0}}, {45, []byte{1, 1}}, {28, []byte{0x40, 0x01}}},
			extraOnRetry: []Extension{{21, padding}},
		})
	c5.Groups = []CurveID{X25519, CurveP256, CurveP384}

	auth := fuzzTrace(tb, "client_auth")
	c6 := rfcClient(auth, map[CurveID]string{X25519: "client_key_share_private"},
		&rfcClientHooks{extra: []Extension{{0xff01, []byte{0}}, {45, []byte{1, 1}}, {28, []byte{0x40, 0x01}}}})
	clientCert := traceFile(tb, auth, "client_certificate_file")
	c6.Certificates = []Credential{{Chain: [][]byte{clientCert},
		Signer: newReplaySigner(tb, clientCert, false, traceMsgs(tb, auth, clientAuthTranscript...),
			traceHex(tb, auth.Messages, "client_certificate_verify"), nil)}}

	def := getPKI(tb).clientConfig()
	def.Groups = []CurveID{X25519, CurveP256, CurveP384, X25519MLKEM768}

	random := bytes.Repeat([]byte{0x5a}, 32)
	sh := func(rnd []byte, exts ...Extension) []byte {
		return plainRecord(recordHandshake, must((&serverHelloMsg{vers: versionTLS12, random: rnd, cipherSuite: 0x1301, exts: exts}).marshal()))
	}
	sv := Extension{extSupportedVersions, encodeUint16(0x0304)}
	return []scriptProfile{
		{name: "RFC 8448 §3 client", config: withRand(c3, traceHex(tb, simple.Inputs, "client_random")),
			seeds: [][]byte{joinRecords(tb, simple, "server_hello", "server_handshake"), joinRecords(tb, simple, "server_hello"),
				joinRecords(tb, simple, "server_hello", "new_session_ticket")}},
		{name: "RFC 8448 §5 client", config: withRand(c5, traceHex(tb, hrr.Inputs, "client_random")),
			seeds: [][]byte{joinRecords(tb, hrr, "hello_retry_request", "server_hello", "server_handshake"),
				joinRecords(tb, hrr, "hello_retry_request")}},
		{name: "RFC 8448 §6 client", config: withRand(c6, traceHex(tb, auth.Inputs, "client_random")),
			seeds: [][]byte{joinRecords(tb, auth, "server_hello", "server_handshake")}, allowInternal: true},
		{name: "default client", config: func() *Config { c := *def; return &c },
			seeds: [][]byte{
				sh(helloRetryRequestRandom, Extension{extKeyShare, encodeUint16(0x17)}, Extension{extCookie, must(encodeOpaque16([]byte("c")))}, sv),
				sh(helloRetryRequestRandom, Extension{extKeyShare, encodeUint16(uint16(X25519MLKEM768))}, sv),
				sh(random, sv, Extension{extKeyShare, must(encodeServerKeyShare(keyShare{X25519, bytes.Repeat([]byte{9}, 32)}))}),
				append(plainRecord(recordChangeCipherSpec, []byte{1}), plainRecord(recordAlert, []byte{2, 40})...),
				plainRecord(recordHandshake, must((&finishedMsg{verifyData: make([]byte, 32)}).marshal())),
				{recordApplicationData, 3, 3, 0x41, 0x01},
			}},
	}
}

// serverProfiles: our server as in RFC 8448 §3 fed raw bytes, and as in
// §3, §5 and §6 fed the RFC's ClientHello and then the fuzz bytes.
func serverProfiles(tb testing.TB) []scriptProfile {
	rfcServer := func(tr *rfcTrace, shares map[CurveID]string, signer crypto.Signer, ee []Extension) *Config {
		return &Config{
			KeySharePrivate:  traceKeyShares(tb, tr, shares),
			Certificates:     []Credential{{Chain: [][]byte{traceFile(tb, tr, "server_certificate_file")}, Signer: signer}},
			SignatureSchemes: rfcSchemes,
			ExtensionOrder:   map[uint8][]uint16{typeEncryptedExtensions: {10, 28, 0}},
			NewHooks:         func() Hooks { return &rfcServerHooks{ee: ee} },
		}
	}
	rsaKey := func(tr *rfcTrace) crypto.Signer {
		block, _ := pem.Decode(traceFile(tb, tr, "server_private_key_file"))
		if block == nil {
			tb.Fatal("server_private_key_file is not PEM")
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			tb.Fatal(err)
		}
		return k.(crypto.Signer)
	}

	simple := fuzzTrace(tb, "simple_1rtt")
	s3 := rfcServer(simple, map[CurveID]string{X25519: "server_key_share_private"},
		newReplaySigner(tb, traceFile(tb, simple, "server_certificate_file"), true,
			traceMsgs(tb, simple, "client_hello", "server_hello", "encrypted_extensions", "server_certificate"),
			traceHex(tb, simple.Messages, "server_certificate_verify"), rsaKey(simple)),
		eeGroups(rfcAllGroups...))

	hrr := fuzzTrace(tb, "hello_retry_request")
	s5 := rfcServer(hrr, map[CurveID]string{CurveP256: "server_key_share_private"},
		newReplaySigner(tb, traceFile(tb, hrr, "server_certificate_file"), true,
			traceMsgs(tb, hrr, "message_hash", "hello_retry_request", "client_hello_2", "server_hello", "encrypted_extensions", "server_certificate"),
			traceHex(tb, hrr.Messages, "server_certificate_verify"), rsaKey(hrr)),
		eeGroups(0x17, 0x18, 0x1d))
	s5.Groups = []CurveID{CurveP256}
	var hrrMsg serverHelloMsg
	if err := hrrMsg.unmarshal(traceHex(tb, hrr.Messages, "hello_retry_request")); err != nil {
		tb.Fatal(err)
	}
	s5.HelloRetryCookie = hrrMsg.cookie

	auth := fuzzTrace(tb, "client_auth")
	s6 := rfcServer(auth, map[CurveID]string{X25519: "server_key_share_private"},
		newReplaySigner(tb, traceFile(tb, auth, "server_certificate_file"), true,
			traceMsgs(tb, auth, clientAuthTranscript[:5]...), traceHex(tb, auth.Messages, "server_certificate_verify"), nil),
		eeGroups(rfcAllGroups...))
	s6.ClientAuth = RequireAnyClientCert

	ch3 := traceHex(tb, simple.Records, "client_hello")
	var engineCH [][]byte
	for _, m := range engineMessages(tb) {
		if m[0] == typeClientHello {
			engineCH = append(engineCH, plainRecord(recordHandshake, m))
		}
	}
	chMsg := traceHex(tb, simple.Messages, "client_hello")
	rawSeeds := [][]byte{
		joinRecords(tb, simple, "client_hello", "client_finished"),
		joinRecords(tb, hrr, "client_hello"),
		joinRecords(tb, auth, "client_hello"),
		// ClientHello split over two records, and with a CCS before it.
		append(plainRecord(recordHandshake, chMsg[:50]), plainRecord(recordHandshake, chMsg[50:])...),
		append(plainRecord(recordChangeCipherSpec, []byte{1}), ch3...),
		// ClientHello and a Finished in one record.
		plainRecord(recordHandshake, append(slices.Clone(chMsg), must((&finishedMsg{verifyData: make([]byte, 32)}).marshal())...)),
	}
	rawSeeds = append(rawSeeds, engineCH...)
	return []scriptProfile{
		{name: "RFC 8448 §3 server, raw input", config: withRand(s3, traceHex(tb, simple.Inputs, "server_random")), seeds: rawSeeds},
		{name: "RFC 8448 §3 server after the RFC ClientHello", config: withRand(s3, traceHex(tb, simple.Inputs, "server_random")),
			prefix: ch3, seeds: [][]byte{joinRecords(tb, simple, "client_finished"),
				append(plainRecord(recordChangeCipherSpec, []byte{1}), joinRecords(tb, simple, "client_finished")...),
				plainRecord(recordAlert, []byte{2, 80}), joinRecords(tb, simple, "client_application_data")}},
		{name: "RFC 8448 §5 server after the RFC ClientHello", config: withRand(s5, traceHex(tb, hrr.Inputs, "server_random")),
			prefix: traceHex(tb, hrr.Records, "client_hello"),
			seeds:  [][]byte{joinRecords(tb, hrr, "client_hello_2", "client_finished"), joinRecords(tb, hrr, "client_hello_2")}},
		{name: "RFC 8448 §6 server after the RFC ClientHello", config: withRand(s6, traceHex(tb, auth.Inputs, "server_random")),
			prefix: traceHex(tb, auth.Records, "client_hello"), seeds: [][]byte{joinRecords(tb, auth, "client_handshake")},
			allowInternal: true},
	}
}

// FuzzRecordLayer: our client against a server that, after reading the
// ClientHello, writes the fuzz bytes and closes. data[0] picks the client
// profile; the rest is what the server writes.
func FuzzRecordLayer(f *testing.F) {
	profiles := clientProfiles(f)
	for i, p := range profiles {
		for _, s := range p.seeds {
			f.Add(append([]byte{byte(i)}, s...))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		p := profiles[int(data[0])%len(profiles)]
		a, b := socketPair(t)
		r := runScript(t, Client(a, p.config()), a, b, true, data[1:])
		checkScriptResult(t, r, p.allowInternal)
	})
}

// FuzzServerRecordLayer: our server fed the fuzz bytes as the client's
// first flight, raw or after a valid RFC 8448 ClientHello record. data[0]
// picks the profile; the rest follows the profile's prefix.
func FuzzServerRecordLayer(f *testing.F) {
	profiles := serverProfiles(f)
	for i, p := range profiles {
		for _, s := range p.seeds {
			f.Add(append([]byte{byte(i)}, s...))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		p := profiles[int(data[0])%len(profiles)]
		a, b := socketPair(t)
		script := append(slices.Clone(p.prefix), data[1:]...)
		r := runScript(t, Server(a, p.config()), a, b, false, script)
		checkScriptResult(t, r, p.allowInternal)
	})
}

// TestRecordLayerSeedsComplete checks that the fuzz profiles are what they
// claim: each RFC seed completes the handshake, so the fuzzer starts from
// the far end of the state machine and not from an early failure.
func TestRecordLayerSeedsComplete(t *testing.T) {
	for _, tc := range []struct {
		client  bool
		profile int
		seed    int
	}{{true, 0, 0}, {true, 1, 0}, {true, 2, 0}, {false, 0, 0}, {false, 1, 0}, {false, 2, 0}, {false, 3, 0}} {
		var p scriptProfile
		if tc.client {
			p = clientProfiles(t)[tc.profile]
		} else {
			p = serverProfiles(t)[tc.profile]
		}
		t.Run(p.name, func(t *testing.T) {
			a, b := socketPair(t)
			var r scriptResult
			if tc.client {
				r = runScript(t, Client(a, p.config()), a, b, true, p.seeds[tc.seed])
			} else {
				r = runScript(t, Server(a, p.config()), a, b, false, append(slices.Clone(p.prefix), p.seeds[tc.seed]...))
			}
			if r.err != nil || r.hung {
				t.Fatalf("seed does not complete the handshake: %v (hung %v)", r.err, r.hung)
			}
		})
	}
}

// --- RFC 9261 exported authenticators.

// eaFuzzSetup returns the known-answer requests and authenticators of
// testdata/rfc9261 with what validating them needs: RFC 8448 §3's
// exporter_master_secret and a config trusting its server certificate.
type eaFuzzSetup struct {
	ems, reqC, reqS, auth, empty []byte
	cfg                          *Config
}

func loadEAFuzz(tb testing.TB) *eaFuzzSetup {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "rfc9261", eaVectorsFile))
	if err != nil {
		tb.Fatal(err)
	}
	var v eaVectorsJSON
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatal(err)
	}
	h := func(s string) []byte {
		out, err := hex.DecodeString(s)
		if err != nil {
			tb.Fatal(err)
		}
		return out
	}
	tr := fuzzTrace(tb, "simple_1rtt")
	cert, err := x509.ParseCertificate(traceFile(tb, tr, "server_certificate_file"))
	if err != nil {
		tb.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return &eaFuzzSetup{
		ems: h(v.ExporterMasterSecret), reqC: h(v.ServerAuthenticator.Request), reqS: h(v.ClientEmptyAuthenticator.Request),
		auth: h(v.ServerAuthenticator.Authenticator), empty: h(v.ClientEmptyAuthenticator.Authenticator),
		cfg: &Config{RootCAs: roots, Time: func() time.Time { return time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) }},
	}
}

func FuzzAuthenticatorRequest(f *testing.F) {
	s := loadEAFuzz(f)
	f.Add(s.reqC)
	f.Add(s.reqS)
	f.Fuzz(func(t *testing.T, data []byte) {
		cr, typ, err := parseAuthenticatorRequest(data)
		if err != nil {
			checkParserError(t, err)
			return
		}
		if re, err := cr.marshalAs(typ); err != nil || !bytes.Equal(re, data) {
			t.Fatalf("request %x re-encoded as %x, %v", data, re, err)
		}
	})
}

// FuzzAuthenticator parses and validates the input as an answer to both
// known-answer requests: the outcome is an alert, or acceptance of the
// known authenticator itself; never a panic.
func FuzzAuthenticator(f *testing.F) {
	s := loadEAFuzz(f)
	f.Add(s.auth)
	f.Add(s.empty)
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := ParseAuthenticator(data); err != nil {
			checkParserError(t, err)
		}
		for _, side := range []struct {
			client bool
			req    []byte
			valid  []byte
		}{{true, s.reqC, s.auth}, {false, s.reqS, nil}} {
			c := eaKATConn(side.client, s.cfg, s.ems)
			_, err := c.ValidateAuthenticator(side.req, data)
			if err == nil {
				if side.valid == nil || !bytes.Equal(data, side.valid) {
					t.Fatalf("accepted %x", data)
				}
				continue
			}
			if _, ok := AsAlert(err); !ok {
				t.Fatalf("error without an alert: %v", err)
			}
		}
	})
}
