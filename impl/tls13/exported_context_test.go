package tls13

import (
	"bytes"
	"errors"
	"testing"
)

// The engine's support for applications that carry more than RFC 9261
// itself: a context of the caller's choosing, extensions declared for
// authenticators only, and an alert the application sends itself.

func TestAuthenticatorRequestWithContext(t *testing.T) {
	client, server := eaPair(t)
	nonce := bytes.Repeat([]byte{0x5a}, 16)
	req, err := server.AuthenticatorRequestWithContext(nonce, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := AuthenticatorRequestContext(req)
	if err != nil || !bytes.Equal(got, nonce) {
		t.Fatalf("context %x, %v; want the chosen %x", got, err, nonce)
	}
	// RFC 9261 §4: unique within the connection.
	if _, err := server.AuthenticatorRequestWithContext(nonce, nil); err == nil {
		t.Fatal("a context used before was accepted")
	}
	for _, bad := range [][]byte{{}, make([]byte, 256)} {
		if _, err := server.AuthenticatorRequestWithContext(bad, nil); err == nil {
			t.Fatalf("a context of %d bytes was accepted", len(bad))
		}
	}
	// A random context of our own is never a chosen one again.
	if _, err := client.AuthenticatorRequestWithContext(nil, nil); err != nil {
		t.Fatal(err)
	}
}

func TestAuthenticatorOnlyExtension(t *testing.T) {
	p := getPKI(t)
	declared := map[uint16]ExtensionContext{testAttestationExt: InAuthenticatorRequest | InAuthenticatorFirstEntry}
	cc, sc := p.clientConfig(), p.serverConfig()
	cc.Certificates = []Credential{p.client}
	cc.HookExtensions, sc.HookExtensions = declared, declared
	client, server := eaConns(t, cc, sc)
	req, err := server.AuthenticatorRequest([]Extension{{Type: testAttestationExt}})
	if err != nil {
		t.Fatal(err)
	}
	first := func([]byte) (map[int][]Extension, error) {
		return map[int][]Extension{0: {{Type: testAttestationExt, Data: []byte{1}}}}, nil
	}
	auth, err := client.Authenticator(req, &p.client, first)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := server.ValidateAuthenticator(req, auth); err != nil {
		t.Fatalf("declared for an authenticator's first entry, refused there: %v", err)
	}
	// In the second entry it is refused: illegal_parameter (RFC 8446 §4.2).
	req2, _ := server.AuthenticatorRequest([]Extension{{Type: testAttestationExt}})
	cred := p.client
	cred.Chain = append(cred.Chain, p.caCert.Raw)
	second := func([]byte) (map[int][]Extension, error) {
		return map[int][]Extension{1: {{Type: testAttestationExt, Data: []byte{1}}}}, nil
	}
	auth2, err := client.Authenticator(req2, &cred, second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = server.ValidateAuthenticator(req2, auth2)
	expectAlert(t, err, AlertIllegalParameter, false)
	// A request carrying one not declared for requests is refused by the
	// side answering it.
	sc.HookExtensions = map[uint16]ExtensionContext{testAttestationExt: InAuthenticatorFirstEntry}
	cc.HookExtensions = sc.HookExtensions
	client, server = eaConns(t, cc, sc)
	req3, _ := server.AuthenticatorRequest([]Extension{{Type: testAttestationExt}})
	_, err = client.Authenticator(req3, &p.client, first)
	expectAlert(t, err, AlertIllegalParameter, false)
}

func TestAuthenticatorOnlyExtensionRefusedInHandshake(t *testing.T) {
	p := getPKI(t)
	cc, sc := p.clientConfig(), p.serverConfig()
	sc.HookExtensions = map[uint16]ExtensionContext{testAttestationExt: InAuthenticatorRequest | InAuthenticatorFirstEntry}
	cc.Bugs.ExtraExtensions = map[uint8][]Extension{MsgClientHello: {{Type: testAttestationExt}}}
	a, b := pipe(t)
	client, server := Client(a, cc), Server(b, sc)
	errc := make(chan error, 1)
	go func() { errc <- client.Handshake() }()
	expectAlert(t, server.Handshake(), AlertIllegalParameter, true)
	<-errc
}

func TestFailSendsAlert(t *testing.T) {
	client, server := eaPair(t)
	errc := make(chan error, 1)
	go func() { errc <- server.Fail(Alertf(AlertUnsupportedExtension, "application check")) }()
	readAlert(t, client, AlertUnsupportedExtension)
	err := <-errc
	expectAlert(t, err, AlertUnsupportedExtension, true)
	if _, werr := server.Write([]byte("after")); werr == nil {
		t.Fatal("Write after Fail succeeded")
	}
	var ae *AlertError
	if !errors.As(err, &ae) || ae.Sent != true {
		t.Fatalf("Fail returned %v", err)
	}
}
