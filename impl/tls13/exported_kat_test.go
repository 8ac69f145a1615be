package tls13

import (
	"bytes"
	"crypto"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Known-answer values for RFC 9261 over RFC 8448 §3 (simple 1-RTT,
// TLS_AES_128_GCM_SHA256). Every value is computed here a second way,
// straight from the RFC formulas with crypto/hkdf, crypto/hmac and bytes
// laid out by hand (none of the engine's encoders or key schedule), checked
// against testdata/rfc9261/rfc8448_simple_1rtt.json, and then the engine's
// functions must give the same bytes. The only value not recomputable is
// the RSA-PSS signature (random salt): it is stored, verified against the
// RFC 8448 server certificate, and fed to the engine by a canned signer.

var updateEAVectors = flag.Bool("update-ea-vectors", false,
	"rewrite testdata/rfc9261/rfc8448_simple_1rtt.json (signs anew with the RFC 8448 server key)")

const eaVectorsFile = "rfc8448_simple_1rtt.json"

type eaKeysJSON struct {
	HandshakeContext string `json:"handshake_context"`
	FinishedMACKey   string `json:"finished_mac_key"`
}

type eaVectorsJSON struct {
	Source               string     `json:"source"`
	Notes                []string   `json:"notes"`
	CipherSuite          string     `json:"cipher_suite"`
	ExporterMasterSecret string     `json:"exporter_master_secret"`
	Client               eaKeysJSON `json:"client"`
	Server               eaKeysJSON `json:"server"`
	ServerAuthenticator  struct {
		Request               string `json:"request"`
		Certificate           string `json:"certificate"`
		CertificateTranscript string `json:"certificate_transcript_hash"`
		CertificateVerify     string `json:"certificate_verify"`
		FinishedTranscript    string `json:"finished_transcript_hash"`
		Finished              string `json:"finished"`
		Authenticator         string `json:"authenticator"`
	} `json:"server_authenticator"`
	ClientEmptyAuthenticator struct {
		Request            string `json:"request"`
		EmptyCertificate   string `json:"empty_certificate"`
		FinishedTranscript string `json:"finished_transcript_hash"`
		Finished           string `json:"finished"`
		Authenticator      string `json:"authenticator"`
	} `json:"client_empty_authenticator"`
}

// --- The RFC formulas, by hand.

// handExpandLabel is HKDF-Expand-Label of RFC 8446 §7.1, HkdfLabel laid
// out byte by byte.
func handExpandLabel(t testing.TB, secret []byte, label string, context []byte, length int) []byte {
	full := "tls13 " + label
	info := []byte{byte(length >> 8), byte(length), byte(len(full))}
	info = append(info, full...)
	info = append(info, byte(len(context)))
	info = append(info, context...)
	out, err := hkdf.Expand(sha256.New, secret, string(info), length)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// handExporter is TLS-Exporter(label, "", 32) of RFC 8446 §7.5:
// HKDF-Expand-Label(Derive-Secret(exporter_master_secret, label, ""),
// "exporter", Hash(""), 32), where Derive-Secret over no messages uses
// Hash("") too.
func handExporter(t testing.TB, ems []byte, label string) []byte {
	empty := sha256.Sum256(nil)
	return handExpandLabel(t, handExpandLabel(t, ems, label, empty[:], 32), "exporter", empty[:], 32)
}

func u24(n int) []byte { return []byte{byte(n >> 16), byte(n >> 8), byte(n)} }

// handMessage is a handshake message: type, uint24 length, body.
func handMessage(typ byte, body []byte) []byte {
	return append(append([]byte{typ}, u24(len(body))...), body...)
}

// handRequest is a (Client)CertificateRequest with context and a
// signature_algorithms extension listing one scheme.
func handRequest(typ byte, ctx []byte, scheme uint16) []byte {
	body := append([]byte{byte(len(ctx))}, ctx...)
	body = append(body, 0, 8, 0, 13, 0, 4, 0, 2, byte(scheme>>8), byte(scheme))
	return handMessage(typ, body)
}

// handCertificate is a Certificate with context and one entry without
// extensions, or no entry when der is nil.
func handCertificate(ctx, der []byte) []byte {
	body := append([]byte{byte(len(ctx))}, ctx...)
	var list []byte
	if der != nil {
		list = append(append(u24(len(der)), der...), 0, 0)
	}
	body = append(append(body, u24(len(list))...), list...)
	return handMessage(11, body)
}

func handCertificateVerify(scheme uint16, sig []byte) []byte {
	body := []byte{byte(scheme >> 8), byte(scheme), byte(len(sig) >> 8), byte(len(sig))}
	return handMessage(15, append(body, sig...))
}

func handSHA256(parts ...[]byte) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

func handHMAC(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

// handSignedContent is RFC 9261 §5.2.2: 64 spaces, "Exported
// Authenticator", a 0 byte, the transcript hash.
func handSignedContent(th []byte) []byte {
	m := bytes.Repeat([]byte{0x20}, 64)
	m = append(m, "Exported Authenticator"...)
	m = append(m, 0)
	return append(m, th...)
}

// canned signs by returning a stored signature, after checking it is
// asked to sign the expected digest.
type canned struct {
	pub    crypto.PublicKey
	digest []byte
	sig    []byte
}

func (s *canned) Public() crypto.PublicKey { return s.pub }
func (s *canned) Sign(_ io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	if !bytes.Equal(digest, s.digest) {
		return nil, fmt.Errorf("canned signer: asked to sign %x, want %x", digest, s.digest)
	}
	return s.sig, nil
}

// eaKATConn is a Conn whose handshake is taken as done, with RFC 8448
// §3's suite and exporter_master_secret.
func eaKATConn(client bool, cfg *Config, ems []byte) *Conn {
	c := &Conn{config: cfg, isClient: client, suite: cipherSuiteByID(TLS_AES_128_GCM_SHA256), exporterSecret: ems}
	c.handshakeDone.Store(true)
	return c
}

func TestRFC9261KnownAnswers(t *testing.T) {
	tr := loadTrace(t, "simple_1rtt")
	ems := tr.bytes(t, tr.Secrets, "exporter_master_secret")
	der := tr.file(t, "server_certificate_file")
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pub := cert.PublicKey.(*rsa.PublicKey)
	path := filepath.Join("testdata", "rfc9261", eaVectorsFile)

	// The formulas, by hand.
	chc := handExporter(t, ems, "EXPORTER-client authenticator handshake context")
	cfk := handExporter(t, ems, "EXPORTER-client authenticator finished key")
	shc := handExporter(t, ems, "EXPORTER-server authenticator handshake context")
	sfk := handExporter(t, ems, "EXPORTER-server authenticator finished key")
	ctxC, ctxS := make([]byte, 32), make([]byte, 32)
	for i := range 32 {
		ctxC[i], ctxS[i] = byte(i), byte(0x20+i)
	}
	const pss256 = 0x0804
	// The client asks the server (ClientCertificateRequest, type 17); the
	// server answers with the RFC 8448 RSA certificate.
	reqC := handRequest(17, ctxC, pss256)
	certMsg := handCertificate(ctxC, der)
	th1 := handSHA256(shc, reqC, certMsg)
	// The server asks the client (CertificateRequest, type 13); the client
	// refuses with an empty authenticator.
	reqS := handRequest(13, ctxS, pss256)
	emptyCert := handCertificate(ctxS, nil)
	thEmpty := handSHA256(chc, reqS, emptyCert)
	finEmpty := handHMAC(cfk, thEmpty)

	var sig []byte
	if *updateEAVectors {
		key := loadRFCServerKey(t, tr)
		d := sha256.Sum256(handSignedContent(th1))
		if sig, err = rsa.SignPSS(rand.Reader, key, crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
			t.Fatal(err)
		}
	} else {
		var v eaVectorsJSON
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update-ea-vectors to create it)", err)
		}
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		cv := unhex(t, v.ServerAuthenticator.CertificateVerify)
		if len(cv) < 8 {
			t.Fatal("short certificate_verify")
		}
		sig = cv[8:]
	}
	d := sha256.Sum256(handSignedContent(th1))
	if err := rsa.VerifyPSS(pub, crypto.SHA256, d[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
		t.Fatalf("stored signature: %v", err)
	}
	cvMsg := handCertificateVerify(pss256, sig)
	th2 := handSHA256(shc, reqC, certMsg, cvMsg)
	fin := handHMAC(sfk, th2)
	auth := bytes.Join([][]byte{certMsg, cvMsg, handMessage(20, fin)}, nil)

	var want eaVectorsJSON
	want.Source = "RFC 9261 Exported Authenticators over RFC 8448 §3 (Simple 1-RTT Handshake): exporter_master_secret and server certificate from impl/tls13/testdata/rfc8448"
	want.Notes = []string{
		"Cipher suite TLS_AES_128_GCM_SHA256: the authenticator hash is SHA-256 and every exported value is 32 bytes (RFC 9261 §5.1: the length of the hash).",
		"handshake_context and finished_mac_key are TLS-Exporter(label, \"\", 32) (RFC 8446 §7.5) with the labels \"EXPORTER-{client,server} authenticator handshake context\" and \"EXPORTER-{client,server} authenticator finished key\", for authenticators sent by that side.",
		"Messages are complete handshake messages (4-byte header). The contexts are fixed (00..1f for the client's request, 20..3f for the server's) where an implementation would choose random ones.",
		"server_authenticator: the server answers the client's ClientCertificateRequest (type 17, signature_algorithms rsa_pss_rsae_sha256) with the RFC 8448 RSA certificate. certificate_transcript_hash = SHA-256(server handshake_context || request || Certificate); the signed content is 64 x 0x20 || \"Exported Authenticator\" || 0x00 || that hash. The RSA-PSS signature has a random salt and cannot be recomputed: verify it with the certificate.",
		"finished = HMAC-SHA256(finished_mac_key, finished_transcript_hash), with finished_transcript_hash = SHA-256(handshake_context || request || Certificate || CertificateVerify); the Finished MAC Key keys the HMAC directly (no \"finished\" HKDF-Expand-Label).",
		"client_empty_authenticator: the client refuses the server's CertificateRequest (type 13) with an empty authenticator (RFC 9261 §6): a lone Finished over SHA-256(client handshake_context || request || empty_certificate), where empty_certificate carries the request's context and no entries and is not sent.",
	}
	want.CipherSuite = "TLS_AES_128_GCM_SHA256"
	want.ExporterMasterSecret = hex.EncodeToString(ems)
	want.Client = eaKeysJSON{hex.EncodeToString(chc), hex.EncodeToString(cfk)}
	want.Server = eaKeysJSON{hex.EncodeToString(shc), hex.EncodeToString(sfk)}
	sa := &want.ServerAuthenticator
	sa.Request, sa.Certificate, sa.CertificateTranscript = hex.EncodeToString(reqC), hex.EncodeToString(certMsg), hex.EncodeToString(th1)
	sa.CertificateVerify, sa.FinishedTranscript = hex.EncodeToString(cvMsg), hex.EncodeToString(th2)
	sa.Finished, sa.Authenticator = hex.EncodeToString(handMessage(20, fin)), hex.EncodeToString(auth)
	ea := &want.ClientEmptyAuthenticator
	ea.Request, ea.EmptyCertificate, ea.FinishedTranscript = hex.EncodeToString(reqS), hex.EncodeToString(emptyCert), hex.EncodeToString(thEmpty)
	ea.Finished = hex.EncodeToString(handMessage(20, finEmpty))
	ea.Authenticator = ea.Finished

	wantJSON, err := json.MarshalIndent(&want, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	wantJSON = append(wantJSON, '\n')
	if *updateEAVectors {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, wantJSON, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, wantJSON) {
		t.Fatalf("%s differs from the values computed by hand:\n%s", path, wantJSON)
	}

	// The engine's functions give the same values.
	for _, k := range []struct {
		client bool
		hc, fk []byte
	}{{true, chc, cfk}, {false, shc, sfk}} {
		hc, fk := authenticatorKeys(crypto.SHA256, ems, k.client)
		if !bytes.Equal(hc, k.hc) || !bytes.Equal(fk, k.fk) {
			t.Fatalf("client=%v: engine keys %x %x, want %x %x", k.client, hc, fk, k.hc, k.fk)
		}
	}
	// The exported helpers the published vectors use agree too.
	if hc, fk := AuthenticatorKeys(crypto.SHA256, ems, false); !bytes.Equal(hc, shc) || !bytes.Equal(fk, sfk) {
		t.Fatalf("AuthenticatorKeys: %x %x", hc, fk)
	}
	if !bytes.Equal(AuthenticatorFinished(crypto.SHA256, sfk, th2), fin) || !bytes.Equal(AuthenticatorFinished(crypto.SHA256, cfk, thEmpty), finEmpty) {
		t.Fatal("AuthenticatorFinished differs from the Finished computed by hand")
	}
	for _, req := range [][]byte{reqC, reqS} {
		cr, typ, err := parseAuthenticatorRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		if re := must(cr.marshalAs(typ)); !bytes.Equal(re, req) {
			t.Fatalf("request re-encoded as %x, want %x", re, req)
		}
	}
	server := eaKATConn(false, &Config{}, ems)
	cred := &Credential{Chain: [][]byte{der}, Signer: &canned{pub: pub, digest: d[:], sig: sig}}
	gotAuth, err := server.Authenticator(reqC, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotAuth, auth) {
		t.Fatalf("engine authenticator\n%x\nwant\n%x", gotAuth, auth)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	at := func() time.Time { return time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) } // inside the RFC 8448 certificate's validity
	client := eaKATConn(true, &Config{RootCAs: roots, Time: at}, ems)
	va, err := client.ValidateAuthenticator(reqC, auth)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(va.Context, ctxC) || va.Scheme != PSSWithSHA256 || !va.Certificate.Chain[0].Equal(cert) {
		t.Fatalf("validated %x %v", va.Context, va.Scheme)
	}
	gotEmpty, err := client.EmptyAuthenticator(reqS)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotEmpty, handMessage(20, finEmpty)) {
		t.Fatalf("engine empty authenticator %x, want %x", gotEmpty, handMessage(20, finEmpty))
	}
	_, err = server.ValidateAuthenticator(reqS, gotEmpty)
	if ae, ok := AsAlert(err); !ok || ae.Code != AlertCertificateRequired || !errors.Is(err, ErrEmptyAuthenticator) {
		t.Fatalf("empty authenticator validated as %v", err)
	}
}
