package tls13

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// RFC 9261 exported authenticators between two engine Conns.

// testAttestationExt stands for an extension solicited by an empty body
// in a request, as draft-fossati-seat-expat's cmw_attestation will be
// (private-use codepoint).
const testAttestationExt uint16 = 0xff3a

// eaConns runs a handshake between an engine client and server over
// net.Pipe and returns both ends.
func eaConns(t *testing.T, cli, srv *Config) (client, server *Conn) {
	t.Helper()
	a, b := net.Pipe()
	// Close the transports, not the Conns: a close_notify would block on
	// a synchronous pipe nobody reads.
	t.Cleanup(func() { a.Close(); b.Close() })
	a.SetDeadline(time.Now().Add(10 * time.Second))
	b.SetDeadline(time.Now().Add(10 * time.Second))
	client, server = Client(a, cli), Server(b, srv)
	errc := make(chan error, 1)
	go func() { errc <- server.Handshake() }()
	if err := client.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	return client, server
}

func eaPair(t *testing.T) (client, server *Conn) {
	p := getPKI(t)
	cc := p.clientConfig()
	cc.Certificates = []Credential{p.client}
	return eaConns(t, cc, p.serverConfig())
}

// carry sends b from one Conn to the other as length-prefixed
// application data, as an application protocol would carry requests and
// authenticators, and returns what arrived.
func carry(t *testing.T, from, to *Conn, b []byte) []byte {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		_, err := from.Write(binary.BigEndian.AppendUint32(nil, uint32(len(b))))
		if err == nil {
			_, err = from.Write(b)
		}
		errc <- err
	}()
	var n [4]byte
	if _, err := io.ReadFull(to, n[:]); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, binary.BigEndian.Uint32(n[:]))
	if _, err := io.ReadFull(to, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return got
}

func TestAuthenticatorServerForClientRequest(t *testing.T) {
	p := getPKI(t)
	client, server := eaPair(t)
	req, err := client.AuthenticatorRequest(nil)
	if err != nil {
		t.Fatal(err)
	}
	if req[0] != MsgClientCertificateRequest {
		t.Fatalf("client request of type %d, want ClientCertificateRequest (17)", req[0])
	}
	ctx, err := AuthenticatorRequestContext(req)
	if err != nil || len(ctx) != authenticatorContextLen {
		t.Fatalf("request context %x, %v", ctx, err)
	}
	auth, err := server.Authenticator(carry(t, client, server, req), &p.serverEd, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := AuthenticatorContext(auth); !bytes.Equal(got, ctx) {
		t.Fatalf("authenticator context %x, want %x", got, ctx)
	}
	va, err := client.ValidateAuthenticator(req, carry(t, server, client, auth))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(va.Context, ctx) || va.Scheme != Ed25519 || va.Certificate.Chain[0].Subject.CommonName != "server.test" {
		t.Fatalf("validated %x %v %v", va.Context, va.Scheme, va.Certificate.Chain[0].Subject)
	}
	// §7.4: the same context is not accepted twice.
	_, err = client.ValidateAuthenticator(req, auth)
	expectAlert(t, err, AlertIllegalParameter, false)
	// §5.2: nor answered twice.
	_, err = server.Authenticator(req, &p.serverEd, nil)
	expectAlert(t, err, AlertIllegalParameter, false)
}

func TestAuthenticatorClientForServerRequest(t *testing.T) {
	p := getPKI(t)
	client, server := eaPair(t)
	// An empty extension solicits it in the answer (RFC 9261 §5.2.1).
	req, err := server.AuthenticatorRequest([]Extension{{Type: testAttestationExt}})
	if err != nil {
		t.Fatal(err)
	}
	if req[0] != MsgCertificateRequest {
		t.Fatalf("server request of type %d, want CertificateRequest (13)", req[0])
	}
	var boundTo []byte
	exts := func(ctx []byte) (map[int][]Extension, error) {
		boundTo = ctx
		return map[int][]Extension{0: {{Type: testAttestationExt, Data: append([]byte("evidence for "), ctx...)}}}, nil
	}
	auth, err := client.Authenticator(carry(t, server, client, req), &p.client, exts)
	if err != nil {
		t.Fatal(err)
	}
	va, err := server.ValidateAuthenticator(req, carry(t, client, server, auth))
	if err != nil {
		t.Fatal(err)
	}
	data, ok := FindExtension(va.Certificate.Entries[0].Extensions, testAttestationExt)
	if !ok || !bytes.Equal(data, append([]byte("evidence for "), va.Context...)) || !bytes.Equal(boundTo, va.Context) {
		t.Fatalf("extension %q (found %v), context %x, bound to %x", data, ok, va.Context, boundTo)
	}
	if va.Certificate.Chain[0].Subject.CommonName != "client.test" || va.Scheme != ECDSAWithP256AndSHA256 {
		t.Fatalf("validated %v %v", va.Certificate.Chain[0].Subject, va.Scheme)
	}
	// An extension the request did not offer is refused before anything is sent.
	if _, err := client.Authenticator(req, &p.client, func([]byte) (map[int][]Extension, error) {
		return map[int][]Extension{0: {{Type: 0xff3b}}}, nil
	}); err == nil {
		t.Fatal("authenticator with an unsolicited extension was built")
	}
}

func TestEmptyAuthenticator(t *testing.T) {
	client, server := eaPair(t)
	req, err := server.AuthenticatorRequest(nil)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := client.EmptyAuthenticator(req)
	if err != nil {
		t.Fatal(err)
	}
	if auth[0] != MsgFinished || len(auth) != 4+32 {
		t.Fatalf("empty authenticator %x, want a lone Finished", auth)
	}
	_, err = server.ValidateAuthenticator(req, carry(t, client, server, auth))
	expectAlert(t, err, AlertCertificateRequired, false)
	if !errors.Is(err, ErrEmptyAuthenticator) {
		t.Fatalf("%v does not wrap ErrEmptyAuthenticator", err)
	}
	// Bound to the request: it does not answer another one.
	req2, _ := server.AuthenticatorRequest(nil)
	_, err = server.ValidateAuthenticator(req2, auth)
	expectAlert(t, err, AlertDecryptError, false)
}

func TestSpontaneousServerAuthenticator(t *testing.T) {
	p := getPKI(t)
	client, server := eaPair(t)
	auth, err := server.Authenticator(nil, &p.server384, nil)
	if err != nil {
		t.Fatal(err)
	}
	va, err := client.ValidateAuthenticator(nil, carry(t, server, client, auth))
	if err != nil {
		t.Fatal(err)
	}
	if len(va.Context) != authenticatorContextLen || va.Scheme != ECDSAWithP384AndSHA384 {
		t.Fatalf("validated context %x scheme %v", va.Context, va.Scheme)
	}
	// A second one gets a fresh context.
	auth2, err := server.Authenticator(nil, &p.server384, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.ValidateAuthenticator(nil, auth2); err != nil {
		t.Fatal(err)
	}
	// Clients only answer requests (RFC 9261 §5).
	if _, err := client.Authenticator(nil, &p.client, nil); err == nil {
		t.Fatal("client built a spontaneous authenticator")
	}
	_, err = server.ValidateAuthenticator(nil, auth)
	expectAlert(t, err, AlertUnexpectedMessage, false)
}

// An authenticator is bound to its connection: the exporter values differ.
func TestAuthenticatorOtherConnection(t *testing.T) {
	p := getPKI(t)
	client, _ := eaPair(t)
	_, server2 := eaPair(t)
	req, _ := client.AuthenticatorRequest(nil)
	auth, err := server2.Authenticator(req, &p.server, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.ValidateAuthenticator(req, auth)
	expectAlert(t, err, AlertDecryptError, false)
}

// A server name in a ClientCertificateRequest names the identity to prove.
func TestAuthenticatorServerName(t *testing.T) {
	p := getPKI(t)
	client, server := eaPair(t)
	for name, code := range map[string]AlertCode{"localhost": 0, "other.test": AlertBadCertificate} {
		sni := must(encodeServerName(name))
		req, err := client.AuthenticatorRequest([]Extension{{Type: ExtServerName, Data: sni}})
		if err != nil {
			t.Fatal(err)
		}
		auth, err := server.Authenticator(req, &p.server, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = client.ValidateAuthenticator(req, auth)
		if code == 0 {
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			continue
		}
		expectAlert(t, err, code, false)
	}
}

func TestAuthenticatorBugs(t *testing.T) {
	p := getPKI(t)
	for _, tc := range []struct {
		name string
		bugs Bugs
		// clientAuth: the client authenticates for the server's request;
		// otherwise the server for the client's.
		clientAuth bool
		want       AlertCode
	}{
		{"wrong context", Bugs{WrongAuthenticatorContext: true}, false, AlertIllegalParameter},
		{"wrong context/client", Bugs{WrongAuthenticatorContext: true}, true, AlertIllegalParameter},
		{"corrupt CertificateVerify", Bugs{CorruptAuthenticatorSignature: true}, false, AlertDecryptError},
		{"corrupt CertificateVerify/client", Bugs{CorruptAuthenticatorSignature: true}, true, AlertDecryptError},
		{"corrupt Finished", Bugs{CorruptAuthenticatorFinished: true}, false, AlertDecryptError},
		{"corrupt Finished/client", Bugs{CorruptAuthenticatorFinished: true}, true, AlertDecryptError},
		{"unsolicited extension", Bugs{UnsolicitedAuthenticatorExtensions: []Extension{{Type: testAttestationExt, Data: []byte{1}}}}, false, AlertUnsupportedExtension},
		{"unsolicited extension/client", Bugs{UnsolicitedAuthenticatorExtensions: []Extension{{Type: testAttestationExt, Data: []byte{1}}}}, true, AlertUnsupportedExtension},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc, sc := p.clientConfig(), p.serverConfig()
			cc.Certificates = []Credential{p.client}
			if tc.clientAuth {
				cc.Bugs = tc.bugs
			} else {
				sc.Bugs = tc.bugs
			}
			client, server := eaConns(t, cc, sc)
			requester, authenticator, cred := client, server, &p.server
			if tc.clientAuth {
				requester, authenticator, cred = server, client, &p.client
			}
			req, err := requester.AuthenticatorRequest(nil)
			if err != nil {
				t.Fatal(err)
			}
			auth, err := authenticator.Authenticator(req, cred, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = requester.ValidateAuthenticator(req, auth)
			expectAlert(t, err, tc.want, false)
		})
	}

	t.Run("corrupt empty authenticator", func(t *testing.T) {
		cc := p.clientConfig()
		cc.Bugs.CorruptAuthenticatorFinished = true
		client, server := eaConns(t, cc, p.serverConfig())
		req, _ := server.AuthenticatorRequest(nil)
		auth, err := client.EmptyAuthenticator(req)
		if err != nil {
			t.Fatal(err)
		}
		_, err = server.ValidateAuthenticator(req, auth)
		expectAlert(t, err, AlertDecryptError, false)
	})

	t.Run("reused context/spontaneous", func(t *testing.T) {
		sc := p.serverConfig()
		sc.Bugs.ReuseAuthenticatorContext = true
		client, server := eaConns(t, p.clientConfig(), sc)
		for i, want := range []AlertCode{0, AlertIllegalParameter} {
			auth, err := server.Authenticator(nil, &p.server, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = client.ValidateAuthenticator(nil, auth)
			if i == 0 && err != nil {
				t.Fatal(err)
			}
			if i == 1 {
				expectAlert(t, err, want, false)
			}
		}
	})

	t.Run("reused context/request", func(t *testing.T) {
		sc := p.serverConfig()
		sc.Bugs.ReuseAuthenticatorContext = true
		cc := p.clientConfig()
		cc.Certificates = []Credential{p.client}
		client, server := eaConns(t, cc, sc)
		req1, _ := server.AuthenticatorRequest(nil)
		req2, _ := server.AuthenticatorRequest(nil)
		c1, _ := AuthenticatorRequestContext(req1)
		c2, _ := AuthenticatorRequestContext(req2)
		if !bytes.Equal(c1, c2) {
			t.Fatal("ReuseAuthenticatorContext did not reuse the context")
		}
		auth, err := client.Authenticator(req1, &p.client, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := server.ValidateAuthenticator(req1, auth); err != nil {
			t.Fatal(err)
		}
		// A conforming client refuses to answer the reused context.
		_, err = client.Authenticator(req2, &p.client, nil)
		expectAlert(t, err, AlertIllegalParameter, false)
	})

	t.Run("request without signature_algorithms", func(t *testing.T) {
		// Built by hand: Bugs.DropExtensions would break the ClientHello too.
		_, server := eaPair(t)
		req := must((&certificateRequestMsg{context: []byte{1}, exts: []Extension{{Type: testAttestationExt}}}).marshalAs(MsgClientCertificateRequest))
		_, err := server.Authenticator(req, &p.server, nil)
		expectAlert(t, err, AlertMissingExtension, false)
	})

	t.Run("scheme not offered", func(t *testing.T) {
		cc := p.clientConfig()
		cc.SignatureSchemes = []SignatureScheme{ECDSAWithP256AndSHA256, Ed25519}
		client, server := eaConns(t, cc, p.serverConfig())
		req, _ := client.AuthenticatorRequest(nil)
		// The server cannot sign with RSA-PSS, which the request does not list.
		if _, err := server.Authenticator(req, &p.serverRSA, nil); err == nil {
			t.Fatal("authenticator built with a scheme the request did not offer")
		}
	})
}

func TestAuthenticatorRequestWrongSide(t *testing.T) {
	p := getPKI(t)
	client, server := eaPair(t)
	req, _ := server.AuthenticatorRequest(nil)
	// A server answers ClientCertificateRequests only.
	_, err := server.Authenticator(req, &p.server, nil)
	expectAlert(t, err, AlertUnexpectedMessage, false)
	creq, _ := client.AuthenticatorRequest(nil)
	_, err = client.Authenticator(creq, &p.client, nil)
	expectAlert(t, err, AlertUnexpectedMessage, false)
	if _, err := client.AuthenticatorRequest([]Extension{{Type: ExtSignatureAlgorithms}}); err == nil {
		t.Fatal("AuthenticatorRequest took a signature_algorithms of the caller's")
	}
}

func TestAuthenticatorBeforeHandshake(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := Client(a, &Config{})
	if _, err := c.AuthenticatorRequest(nil); err == nil {
		t.Fatal("AuthenticatorRequest before the handshake")
	}
	if _, err := c.ValidateAuthenticator(nil, nil); err == nil {
		t.Fatal("ValidateAuthenticator before the handshake")
	}
}

// Truncated, bit-flipped and random authenticators and requests are
// refused with an alert, never accepted and never a panic.
func TestAuthenticatorMalformed(t *testing.T) {
	p := getPKI(t)
	client, server := eaPair(t)
	req, _ := client.AuthenticatorRequest(nil)
	auth, err := server.Authenticator(req, &p.server, nil)
	if err != nil {
		t.Fatal(err)
	}
	empty, _ := server.AuthenticatorRequest(nil)
	emptyAuth, _ := client.EmptyAuthenticator(empty)
	check := func(what string, r, a []byte, v *Conn) {
		t.Helper()
		va, err := v.ValidateAuthenticator(r, a)
		if _, ok := AsAlert(err); !ok || va != nil {
			t.Fatalf("%s: got %v, %v; want an alert", what, va, err)
		}
	}
	for i := range auth {
		check("truncated", req, auth[:i], client)
	}
	for i := range auth {
		bad := bytes.Clone(auth)
		bad[i] ^= 1 << (i % 8)
		check("bit flip", req, bad, client)
	}
	check("trailing byte", req, append(bytes.Clone(auth), 0), client)
	check("two authenticators", req, append(bytes.Clone(auth), auth...), client)
	for i := range emptyAuth {
		check("truncated empty", empty, emptyAuth[:i], server)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		junk := make([]byte, rng.IntN(64))
		for j := range junk {
			junk[j] = byte(rng.Uint32())
		}
		check("random", req, junk, client)
		if err := ParseAuthenticatorRequest(junk); err == nil && len(junk) > 0 {
			t.Fatalf("random request %x parsed", junk)
		}
	}
	for i := range req {
		_, err := AuthenticatorRequestContext(req[:i])
		if _, ok := AsAlert(err); !ok {
			t.Fatalf("truncated request: %v", err)
		}
		check("truncated request", req[:i], auth, client)
	}
	// Specific alerts for specific faults.
	_, err = client.ValidateAuthenticator(req, auth[:len(auth)-1])
	expectAlert(t, err, AlertDecodeError, false)
	fin := auth[len(auth)-36:]
	_, err = client.ValidateAuthenticator(req, append(bytes.Clone(fin), auth...))
	expectAlert(t, err, AlertDecodeError, false) // data after the Finished
	cert := auth[:4+(int(auth[1])<<16|int(auth[2])<<8|int(auth[3]))]
	_, err = client.ValidateAuthenticator(req, append(bytes.Clone(cert), fin...))
	expectAlert(t, err, AlertUnexpectedMessage, false) // CertificateVerify missing
	// The valid one still validates after all that.
	if _, err := client.ValidateAuthenticator(req, auth); err != nil {
		t.Fatal(err)
	}
}
