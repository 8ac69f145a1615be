package tls13

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// RFC 8448 traces, reproduced byte for byte. Each test runs one side of
// our engine against the other side's records from the RFC, and compares
// every record we send, every handshake message, and every secret.

type rfcTrace struct {
	Inputs   map[string]string `json:"inputs"`
	Messages map[string]string `json:"messages"`
	Secrets  map[string]string `json:"secrets"`
	Records  map[string]string `json:"records"`
	AppData  string            `json:"application_data"`
	dir      string
}

func loadTrace(t *testing.T, name string) *rfcTrace {
	t.Helper()
	dir := filepath.Join("testdata", "rfc8448")
	b, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	tr := &rfcTrace{dir: dir}
	if err := json.Unmarshal(b, tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (tr *rfcTrace) bytes(t *testing.T, m map[string]string, key string) []byte {
	t.Helper()
	v, ok := m[key]
	if !ok {
		t.Fatalf("trace has no %q", key)
	}
	return unhex(t, v)
}

func (tr *rfcTrace) file(t *testing.T, key string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tr.dir, tr.Inputs[key]))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recorder is a Trace that keeps everything.
type recorder struct {
	mu       sync.Mutex
	secrets  map[string][]byte
	sent     [][]byte // handshake messages
	received [][]byte
	// Records as on the wire, in order.
	sentRecords     [][]byte
	receivedRecords [][]byte
}

func newRecorder() *recorder { return &recorder{secrets: map[string][]byte{}} }

func (r *recorder) Message(sent bool, raw []byte) { r.keep(sent, raw, &r.sent, &r.received) }
func (r *recorder) Record(sent bool, raw []byte) {
	r.keep(sent, raw, &r.sentRecords, &r.receivedRecords)
}
func (r *recorder) keep(sent bool, raw []byte, out, in *[][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !sent {
		out = in
	}
	*out = append(*out, clone(raw))
}
func (r *recorder) Secret(name string, v []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets[name] = clone(v)
}

// checkSecrets compares every secret we traced with the RFC's, and
// requires the whole key schedule to be there.
func (r *recorder) checkSecrets(t *testing.T, tr *rfcTrace) {
	t.Helper()
	required := []string{"early_secret", "handshake_secret", "client_handshake_traffic_secret",
		"server_handshake_traffic_secret", "master_secret", "client_application_traffic_secret_0",
		"server_application_traffic_secret_0", "exporter_master_secret", "resumption_master_secret",
		"client_handshake_write_key", "client_handshake_write_iv", "server_handshake_write_key",
		"server_handshake_write_iv", "client_application_write_key", "client_application_write_iv",
		"server_application_write_key", "server_application_write_iv"}
	for _, name := range required {
		want, ok := tr.Secrets[name]
		if !ok {
			continue // the RFC section does not print it
		}
		got, ok := r.secrets[name]
		if !ok {
			t.Errorf("secret %s was never derived", name)
			continue
		}
		if hex.EncodeToString(got) != want {
			t.Errorf("secret %s:\n got %x\nwant %s", name, got, want)
		}
	}
}

// checkMessages compares the handshake messages in order.
func checkMessages(t *testing.T, what string, got [][]byte, want [][]byte) {
	t.Helper()
	if len(got) < len(want) {
		t.Fatalf("%s: %d messages, want %d", what, len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("%s message %d (type %d):\n got %x\nwant %x", what, i, want[i][0], got[i], want[i])
		}
	}
}

// fixedSigner returns the RFC's signature after checking that the engine
// asked it to sign exactly the content the RFC signed: randomized
// signatures cannot be recomputed, and §6's private keys are not published.
type fixedSigner struct {
	t          *testing.T
	pub        crypto.PublicKey
	wantDigest []byte
	sig        []byte
}

func (s *fixedSigner) Public() crypto.PublicKey { return s.pub }
func (s *fixedSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if !bytes.Equal(digest, s.wantDigest) {
		return nil, fmt.Errorf("fixedSigner: asked to sign %x, the RFC signed %x", digest, s.wantDigest)
	}
	return s.sig, nil
}

// signerFor builds a fixedSigner for a CertificateVerify of the trace:
// the digest is SHA-256 of the signed content over the transcript up to
// (excluding) the CertificateVerify.
func signerFor(t *testing.T, certDER []byte, server bool, transcript [][]byte, cv []byte) *fixedSigner {
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, m := range transcript {
		h.Write(m)
	}
	content := SignedContent(server, h.Sum(nil))
	d := sha256.Sum256(content)
	// CertificateVerify: type(1) len(3) scheme(2) siglen(2) sig
	return &fixedSigner{t: t, pub: cert.PublicKey, wantDigest: d[:], sig: cv[8:]}
}

// transcriptWithHRR returns the transcript prefix for §5: message_hash of
// ClientHello1 replaces it (RFC 8446 §4.4.1).
func messageHash(ch1 []byte) []byte {
	h := sha256.Sum256(ch1)
	return append([]byte{typeMessageHash, 0, 0, 32}, h[:]...)
}

// rfcClientHooks adds the extensions RFC 8448's client sends that the
// engine does not (renegotiation_info, session_ticket, psk modes,
// record_size_limit, padding).
type rfcClientHooks struct {
	NoHooks
	extra        []Extension
	extraOnRetry []Extension
}

func (h *rfcClientHooks) WriteClientHello(hs *HookState) ([]Extension, error) {
	if hs.HelloRetried() {
		return append(append([]Extension{}, h.extra...), h.extraOnRetry...), nil
	}
	return h.extra, nil
}

type rfcServerHooks struct {
	NoHooks
	ee []Extension
}

func (h *rfcServerHooks) WriteEncryptedExtensions(*HookState) ([]Extension, error) { return h.ee, nil }

var rfcSchemes = []SignatureScheme{0x0403, 0x0503, 0x0603, 0x0203, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501,
	0x0601, 0x0201, 0x0402, 0x0502, 0x0602, 0x0202}
var rfcGroups = []CurveID{X25519, CurveP256, CurveP384, 0x0019, 0x0100, 0x0101, 0x0102, 0x0103, 0x0104}
var rfcClientOrder = []uint16{0, 0xff01, 10, 0x23, 51, 43, 13, 44, 45, 28, 21}

func rfcClientExtras() []Extension {
	return []Extension{{0xff01, []byte{0}}, {0x23, nil}, {45, []byte{1, 1}}, {28, []byte{0x40, 0x01}}}
}

// readRaw reads one record from a plain socket.
func readRaw(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(c, hdr); err != nil {
		t.Fatalf("reading record: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint16(hdr[3:]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatalf("reading record: %v", err)
	}
	return append(hdr, body...)
}

func expectRecord(t *testing.T, c net.Conn, tr *rfcTrace, name string) {
	t.Helper()
	got, want := readRaw(t, c), tr.bytes(t, tr.Records, name)
	if !bytes.Equal(got, want) {
		t.Fatalf("record %s:\n got %x\nwant %x", name, got, want)
	}
}

func sendRecords(t *testing.T, c net.Conn, tr *rfcTrace, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := c.Write(tr.bytes(t, tr.Records, n)); err != nil {
			t.Fatal(err)
		}
	}
}

func fixedRand(parts ...[]byte) io.Reader { return bytes.NewReader(bytes.Join(parts, nil)) }

func keyShares(t *testing.T, tr *rfcTrace, pairs map[CurveID]string) func(CurveID) []byte {
	return func(g CurveID) []byte {
		if k, ok := pairs[g]; ok {
			return tr.bytes(t, tr.Inputs, k)
		}
		return nil
	}
}

func rfcServerCredential(t *testing.T, tr *rfcTrace, signer crypto.Signer) Credential {
	return Credential{Chain: [][]byte{tr.file(t, "server_certificate_file")}, Signer: signer}
}

func loadRFCServerKey(t *testing.T, tr *rfcTrace) *rsa.PrivateKey {
	block, _ := pem.Decode(tr.file(t, "server_private_key_file"))
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

// step is one move: send the RFC side's record, then act on our Conn, then
// expect our record.
type step struct {
	send, expect string
	// then runs on our Conn after the step (application data, close).
	then func(t *testing.T, c *Conn)
}

// replay runs our conn against the RFC's side of the trace; handshake
// completion is awaited at the step whose name is done.
func replay(t *testing.T, tr *rfcTrace, ours *Conn, theirs net.Conn, steps []step) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- ours.Handshake() }()
	waited := false
	for _, s := range steps {
		if s.send != "" {
			sendRecords(t, theirs, tr, s.send)
		}
		if s.then != nil {
			if !waited {
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				waited = true
			}
			s.then(t, ours)
		}
		if s.expect != "" {
			expectRecord(t, theirs, tr, s.expect)
		}
	}
	if !waited {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func readAppData(tr *rfcTrace) func(t *testing.T, c *Conn) {
	return func(t *testing.T, c *Conn) {
		got := make([]byte, len(tr.AppData)/2)
		if _, err := io.ReadFull(c, got); err != nil || hex.EncodeToString(got) != tr.AppData {
			t.Fatalf("application data %x %v", got, err)
		}
	}
}

func writeAppData(tr *rfcTrace) func(t *testing.T, c *Conn) {
	return func(t *testing.T, c *Conn) {
		if _, err := c.Write(unhex(t, tr.AppData)); err != nil {
			t.Fatal(err)
		}
	}
}

func closeWrite(t *testing.T, c *Conn) { c.CloseWrite() }

func msgs(t *testing.T, tr *rfcTrace, names ...string) [][]byte {
	var out [][]byte
	for _, n := range names {
		if n == "message_hash" {
			out = append(out, messageHash(tr.bytes(t, tr.Messages, "client_hello_1")))
			continue
		}
		out = append(out, tr.bytes(t, tr.Messages, n))
	}
	return out
}

func rfcClientConfig(t *testing.T, tr *rfcTrace, rec *recorder, shares map[CurveID]string, h *rfcClientHooks) *Config {
	return &Config{
		Rand:             fixedRand(tr.bytes(t, tr.Inputs, "client_random")),
		KeySharePrivate:  keyShares(t, tr, shares),
		ServerName:       "server",
		CipherSuites:     []uint16{0x1301, 0x1303, 0x1302},
		Groups:           rfcGroups,
		KeyShareGroups:   []CurveID{X25519},
		SignatureSchemes: rfcSchemes,
		// The RFC's certificates are self-signed; CertificateVerify is still checked.
		InsecureSkipVerify: true,
		ExtensionOrder:     map[uint8][]uint16{typeClientHello: rfcClientOrder},
		NewHooks:           func() Hooks { return h },
		Trace:              rec,
	}
}

func rfcServerConfig(t *testing.T, tr *rfcTrace, rec *recorder, shares map[CurveID]string, cert Credential, ee []Extension) *Config {
	return &Config{
		Rand:             fixedRand(tr.bytes(t, tr.Inputs, "server_random")),
		KeySharePrivate:  keyShares(t, tr, shares),
		Certificates:     []Credential{cert},
		SignatureSchemes: rfcSchemes,
		ExtensionOrder:   map[uint8][]uint16{typeEncryptedExtensions: {10, 28, 0}},
		NewHooks:         func() Hooks { return &rfcServerHooks{ee: ee} },
		Trace:            rec,
	}
}

// eeGroups is the supported_groups extension the RFC's server puts in EncryptedExtensions.
func eeGroups(groups ...uint16) []Extension {
	return []Extension{{10, must(encodeUint16List(groups, false))}, {28, []byte{0x40, 0x01}}}
}

var rfcAllGroups = []uint16{0x1d, 0x17, 0x18, 0x19, 0x100, 0x101, 0x102, 0x103, 0x104}

// TestRFC8448SimpleClient: our client against the RFC §3 server.
func TestRFC8448SimpleClient(t *testing.T) {
	tr, rec := loadTrace(t, "simple_1rtt"), newRecorder()
	cfg := rfcClientConfig(t, tr, rec, map[CurveID]string{X25519: "client_key_share_private"},
		&rfcClientHooks{extra: rfcClientExtras()})
	a, b := pipe(t)
	replay(t, tr, Client(a, cfg), b, []step{
		{expect: "client_hello"},
		{send: "server_hello"}, {send: "server_handshake", expect: "client_finished"},
		{send: "new_session_ticket"}, {send: "server_application_data", then: readAppData(tr)},
		{then: writeAppData(tr), expect: "client_application_data"},
		{then: closeWrite, expect: "client_close_notify"},
	})
	checkMessages(t, "sent", rec.sent, msgs(t, tr, "client_hello", "client_finished"))
	checkMessages(t, "received", rec.received, msgs(t, tr, "server_hello", "encrypted_extensions",
		"server_certificate", "server_certificate_verify", "server_finished", "new_session_ticket"))
	rec.checkSecrets(t, tr)
}

// TestRFC8448SimpleServer: our server against the RFC §3 client.
func TestRFC8448SimpleServer(t *testing.T) {
	tr, rec := loadTrace(t, "simple_1rtt"), newRecorder()
	signer := signerFor(t, tr.file(t, "server_certificate_file"), true,
		msgs(t, tr, "client_hello", "server_hello", "encrypted_extensions", "server_certificate"),
		tr.bytes(t, tr.Messages, "server_certificate_verify"))
	// The injected signature must verify under the RFC's server key.
	if err := verifySignature(&loadRFCServerKey(t, tr).PublicKey, PSSWithSHA256,
		SignedContent(true, sha256Of(msgs(t, tr, "client_hello", "server_hello", "encrypted_extensions", "server_certificate")...)),
		signer.sig); err != nil {
		t.Fatalf("RFC signature does not verify: %v", err)
	}
	cfg := rfcServerConfig(t, tr, rec, map[CurveID]string{X25519: "server_key_share_private"},
		rfcServerCredential(t, tr, signer), eeGroups(rfcAllGroups...))
	var nst newSessionTicketMsg
	if err := nst.unmarshal(tr.bytes(t, tr.Messages, "new_session_ticket")); err != nil {
		t.Fatal(err)
	}
	a, b := pipe(t)
	replay(t, tr, Server(a, cfg), b, []step{
		{send: "client_hello", expect: "server_hello"}, {expect: "server_handshake"},
		{send: "client_finished", then: func(t *testing.T, c *Conn) {
			if err := c.WriteSessionTicket(nst.lifetime, nst.ageAdd, nst.nonce, nst.ticket, nst.exts); err != nil {
				t.Fatal(err)
			}
		}, expect: "new_session_ticket"},
		{then: writeAppData(tr), expect: "server_application_data"},
		{send: "client_application_data", then: readAppData(tr)},
		{then: closeWrite, expect: "server_close_notify"},
	})
	checkMessages(t, "sent", rec.sent, msgs(t, tr, "server_hello", "encrypted_extensions",
		"server_certificate", "server_certificate_verify", "server_finished", "new_session_ticket"))
	checkMessages(t, "received", rec.received, msgs(t, tr, "client_hello", "client_finished"))
	rec.checkSecrets(t, tr)
}

// hrrCookie and hrrPadding are the RFC §5 values a server and a client
// must repeat: the server's opaque cookie and the client's padding.
func hrrExtension(t *testing.T, tr *rfcTrace, msg string, typ uint16) []byte {
	var m handshakeMessage
	if msg == "hello_retry_request" {
		m = new(serverHelloMsg)
	} else {
		m = new(clientHelloMsg)
	}
	if err := m.unmarshal(tr.bytes(t, tr.Messages, msg)); err != nil {
		t.Fatal(err)
	}
	var exts []Extension
	if sh, ok := m.(*serverHelloMsg); ok {
		exts = sh.exts
	} else {
		exts = m.(*clientHelloMsg).exts
	}
	d, ok := FindExtension(exts, typ)
	if !ok {
		t.Fatalf("%s has no extension %d", msg, typ)
	}
	return d
}

// TestRFC8448HelloRetryClient: our client against the RFC §5 server.
func TestRFC8448HelloRetryClient(t *testing.T) {
	tr, rec := loadTrace(t, "hello_retry_request"), newRecorder()
	h := &rfcClientHooks{
		extra:        []Extension{{0xff01, []byte{0}}, {45, []byte{1, 1}}, {28, []byte{0x40, 0x01}}},
		extraOnRetry: []Extension{{21, hrrExtension(t, tr, "client_hello_2", 21)}},
	}
	cfg := rfcClientConfig(t, tr, rec, map[CurveID]string{X25519: "client_key_share_1_private",
		CurveP256: "client_key_share_2_private"}, h)
	cfg.Groups = []CurveID{X25519, CurveP256, CurveP384}
	a, b := pipe(t)
	replay(t, tr, Client(a, cfg), b, []step{
		{expect: "client_hello"}, {send: "hello_retry_request", expect: "client_hello_2"},
		{send: "server_hello"}, {send: "server_handshake", expect: "client_finished"},
		{then: closeWrite, expect: "client_close_notify"},
	})
	checkMessages(t, "sent", rec.sent, msgs(t, tr, "client_hello_1", "client_hello_2", "client_finished"))
	checkMessages(t, "received", rec.received, msgs(t, tr, "hello_retry_request", "server_hello",
		"encrypted_extensions", "server_certificate", "server_certificate_verify", "server_finished"))
	rec.checkSecrets(t, tr)
}

// TestRFC8448HelloRetryServer: our server against the RFC §5 client.
func TestRFC8448HelloRetryServer(t *testing.T) {
	tr, rec := loadTrace(t, "hello_retry_request"), newRecorder()
	signer := signerFor(t, tr.file(t, "server_certificate_file"), true,
		msgs(t, tr, "message_hash", "hello_retry_request", "client_hello_2", "server_hello", "encrypted_extensions", "server_certificate"),
		tr.bytes(t, tr.Messages, "server_certificate_verify"))
	cfg := rfcServerConfig(t, tr, rec, map[CurveID]string{CurveP256: "server_key_share_private"},
		rfcServerCredential(t, tr, signer), eeGroups(0x17, 0x18, 0x1d))
	cfg.Groups = []CurveID{CurveP256} // the RFC's server insists on secp256r1
	cookie := hrrExtension(t, tr, "hello_retry_request", 44)
	cfg.HelloRetryCookie = cookie[2:]
	a, b := pipe(t)
	replay(t, tr, Server(a, cfg), b, []step{
		{send: "client_hello", expect: "hello_retry_request"},
		{send: "client_hello_2", expect: "server_hello"}, {expect: "server_handshake"},
		{send: "client_finished", then: closeWrite, expect: "server_close_notify"},
	})
	checkMessages(t, "sent", rec.sent, msgs(t, tr, "hello_retry_request", "server_hello", "encrypted_extensions",
		"server_certificate", "server_certificate_verify", "server_finished"))
	checkMessages(t, "received", rec.received, msgs(t, tr, "client_hello_1", "client_hello_2", "client_finished"))
	rec.checkSecrets(t, tr)
}

var clientAuthTranscript = []string{"client_hello", "server_hello", "encrypted_extensions",
	"certificate_request", "server_certificate", "server_certificate_verify", "server_finished", "client_certificate"}

// TestRFC8448ClientAuthClient: our client, with the RFC's client
// certificate, against the RFC §6 server.
func TestRFC8448ClientAuthClient(t *testing.T) {
	tr, rec := loadTrace(t, "client_auth"), newRecorder()
	signer := signerFor(t, tr.file(t, "client_certificate_file"), false,
		msgs(t, tr, clientAuthTranscript...), tr.bytes(t, tr.Messages, "client_certificate_verify"))
	h := &rfcClientHooks{extra: []Extension{{0xff01, []byte{0}}, {45, []byte{1, 1}}, {28, []byte{0x40, 0x01}}}}
	cfg := rfcClientConfig(t, tr, rec, map[CurveID]string{X25519: "client_key_share_private"}, h)
	cfg.Certificates = []Credential{{Chain: [][]byte{tr.file(t, "client_certificate_file")}, Signer: signer}}
	a, b := pipe(t)
	replay(t, tr, Client(a, cfg), b, []step{
		{expect: "client_hello"},
		{send: "server_hello"}, {send: "server_handshake", expect: "client_handshake"},
		{then: closeWrite, expect: "client_close_notify"},
	})
	checkMessages(t, "sent", rec.sent, msgs(t, tr, "client_hello", "client_certificate", "client_certificate_verify", "client_finished"))
	checkMessages(t, "received", rec.received, msgs(t, tr, "server_hello", "encrypted_extensions", "certificate_request",
		"server_certificate", "server_certificate_verify", "server_finished"))
	rec.checkSecrets(t, tr)
}

// TestRFC8448ClientAuthServer: our server, requiring a client
// certificate, against the RFC §6 client.
func TestRFC8448ClientAuthServer(t *testing.T) {
	tr, rec := loadTrace(t, "client_auth"), newRecorder()
	signer := signerFor(t, tr.file(t, "server_certificate_file"), true,
		msgs(t, tr, clientAuthTranscript[:5]...), tr.bytes(t, tr.Messages, "server_certificate_verify"))
	cfg := rfcServerConfig(t, tr, rec, map[CurveID]string{X25519: "server_key_share_private"},
		rfcServerCredential(t, tr, signer), eeGroups(rfcAllGroups...))
	cfg.ClientAuth = RequireAnyClientCert // the RFC's client certificate is self-signed; its signature is checked
	a, b := pipe(t)
	srv := Server(a, cfg)
	replay(t, tr, srv, b, []step{
		{send: "client_hello", expect: "server_hello"}, {expect: "server_handshake"},
		{send: "client_handshake", then: closeWrite, expect: "server_close_notify"},
	})
	if pc := srv.ConnectionState().PeerCertificate; pc == nil || len(pc.Chain) != 1 {
		t.Fatal("server did not keep the client certificate")
	}
	checkMessages(t, "sent", rec.sent, msgs(t, tr, "server_hello", "encrypted_extensions", "certificate_request",
		"server_certificate", "server_certificate_verify", "server_finished"))
	checkMessages(t, "received", rec.received, msgs(t, tr, "client_hello", "client_certificate",
		"client_certificate_verify", "client_finished"))
	rec.checkSecrets(t, tr)
}

func sha256Of(msgs ...[]byte) []byte {
	h := sha256.New()
	for _, m := range msgs {
		h.Write(m)
	}
	return h.Sum(nil)
}
