package tls13

import (
	"context"
	"slices"
	"testing"
	"time"
)

// Two extensions a hook might define: one for the hellos' negotiation,
// one for the end-entity's CertificateEntry.
const (
	extNegotiate uint16 = 0xffe0
	extLeafOnly  uint16 = 0xffe1
)

var testHookExtensions = map[uint16]ExtensionContext{
	extNegotiate: InClientHello | InEncryptedExtensions,
	extLeafOnly:  InFirstCertificateEntry,
}

// hookExtensionConfigs are a client and a server that declare
// testHookExtensions and authenticate each other with two-entry chains.
func hookExtensionConfigs(t *testing.T) (cc, sc *Config) {
	p := getPKI(t)
	cc, sc = p.clientConfig(), p.serverConfig()
	cc.HookExtensions, sc.HookExtensions = testHookExtensions, testHookExtensions
	withCA := func(c Credential) Credential {
		c.Chain = append(slices.Clone(c.Chain), p.caCert.Raw)
		return c
	}
	cc.Certificates, sc.Certificates = []Credential{withCA(p.client)}, []Credential{withCA(p.server)}
	sc.ClientAuth = RequireAndVerifyClientCert
	return cc, sc
}

// RFC 8446 §4.2: a declared extension where it is not defined is
// illegal_parameter, on either side, in every message; even where it would
// also be unsolicited (ServerHello, EncryptedExtensions).
func TestHookExtensionsMisplaced(t *testing.T) {
	ext := func(typ uint16) []Extension { return []Extension{{typ, []byte{1}}} }
	for _, tc := range []struct {
		name     string
		byClient bool
		bugs     Bugs
	}{
		{"ClientHello", true, Bugs{ExtraExtensions: map[uint8][]Extension{MsgClientHello: ext(extLeafOnly)}}},
		{"ServerHello", false, Bugs{ExtraExtensions: map[uint8][]Extension{MsgServerHello: ext(extNegotiate)}}},
		{"HelloRetryRequest", false, Bugs{AlwaysHelloRetry: true, ExtraExtensions: map[uint8][]Extension{MsgServerHello: ext(extNegotiate)}}},
		{"EncryptedExtensions", false, Bugs{ExtraExtensions: map[uint8][]Extension{MsgEncryptedExtensions: ext(extLeafOnly)}}},
		{"CertificateRequest", false, Bugs{ExtraExtensions: map[uint8][]Extension{MsgCertificateRequest: ext(extNegotiate)}}},
		{"server first CertificateEntry", false, Bugs{ExtraEntryExtensions: map[int][]Extension{0: ext(extNegotiate)}}},
		{"server other CertificateEntry", false, Bugs{ExtraEntryExtensions: map[int][]Extension{1: ext(extLeafOnly)}}},
		{"client first CertificateEntry", true, Bugs{ExtraEntryExtensions: map[int][]Extension{0: ext(extNegotiate)}}},
		{"client other CertificateEntry", true, Bugs{ExtraEntryExtensions: map[int][]Extension{1: ext(extLeafOnly)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc, sc := hookExtensionConfigs(t)
			if tc.byClient {
				cc.Bugs = tc.bugs
			} else {
				sc.Bugs = tc.bugs
			}
			cli, _, cerr, serr := runPair(t, cc, sc)
			if !tc.byClient {
				expectAlert(t, cerr, AlertIllegalParameter, true)
				expectAlert(t, serr, AlertIllegalParameter, false)
				return
			}
			expectAlert(t, serr, AlertIllegalParameter, true)
			if cerr == nil { // the client's handshake was over: its Read sees the alert
				readAlert(t, cli, AlertIllegalParameter)
			} else {
				expectAlert(t, cerr, AlertIllegalParameter, false)
			}
		})
	}
}

// A declared extension where it is defined goes on to the hooks, and one
// the receiver does not declare is left to the usual rules.
func TestHookExtensionsAllowed(t *testing.T) {
	cc, sc := hookExtensionConfigs(t)
	sc.Bugs.ExtraEntryExtensions = map[int][]Extension{0: {{extLeafOnly, []byte{1}}}}
	cc.Bugs.ExtraExtensions = map[uint8][]Extension{MsgClientHello: {{extNegotiate, []byte{1}}}}
	cli, srv, cerr, serr := runPair(t, cc, sc)
	if cerr != nil || serr != nil {
		t.Fatal(cerr, serr)
	}
	echo(t, cli, srv)

	cc, sc = hookExtensionConfigs(t)
	cc.HookExtensions = nil
	sc.Bugs.ExtraEntryExtensions = map[int][]Extension{1: {{extLeafOnly, []byte{1}}}}
	if _, _, cerr, serr := runPair(t, cc, sc); cerr != nil || serr != nil {
		t.Fatal("an undeclared extension in a CertificateEntry:", cerr, serr)
	}
}

// After the handshake: a NewSessionTicket and a post-handshake
// CertificateRequest are checked too.
func TestHookExtensionsPostHandshake(t *testing.T) {
	t.Run("NewSessionTicket", func(t *testing.T) {
		cc, sc := hookExtensionConfigs(t)
		cli, srv, cerr, serr := runPair(t, cc, sc)
		if cerr != nil || serr != nil {
			t.Fatal(cerr, serr)
		}
		if err := srv.WriteSessionTicket(60, 0, nil, []byte("ticket"), []Extension{{extNegotiate, []byte{1}}}); err != nil {
			t.Fatal(err)
		}
		cli.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := cli.Read(make([]byte, 8))
		expectAlert(t, err, AlertIllegalParameter, true)
	})
	t.Run("CertificateRequest", func(t *testing.T) {
		cc, sc := hookExtensionConfigs(t)
		cc.PostHandshakeAuth, sc.ClientAuth = true, NoClientCert
		sc.Bugs.ExtraExtensions = map[uint8][]Extension{MsgCertificateRequest: {{extLeafOnly, []byte{1}}}}
		cli, srv, cerr, serr := runPair(t, cc, sc)
		if cerr != nil || serr != nil {
			t.Fatal(cerr, serr)
		}
		done := make(chan error, 1)
		go func() {
			cli.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := cli.Read(make([]byte, 8))
			done <- err
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		expectAlert(t, srv.RequestClientCertificate(ctx), AlertIllegalParameter, false)
		expectAlert(t, <-done, AlertIllegalParameter, true)
	})
}

func TestExtensionContextString(t *testing.T) {
	if got, want := (InClientHello | InFirstCertificateEntry).String(), "ClientHello or the first CertificateEntry"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got := ExtensionContext(0).String(); got != "nowhere" {
		t.Errorf("String of none = %q", got)
	}
}
