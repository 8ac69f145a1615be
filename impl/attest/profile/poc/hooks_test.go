package poc_test

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile/poc"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/suite/harness"
)

var (
	fixtureOnce sync.Once
	fixture     *harness.Fixture
	fixtureErr  error
)

func newFixture(t *testing.T) *harness.Fixture {
	t.Helper()
	fixtureOnce.Do(func() { fixture, fixtureErr = harness.NewFixture() })
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixture
}

var clientBG = party.Model{Profile: poc.Name, Client: party.Side{Attests: true}}

func run(t *testing.T, edit func(cli, srv *party.Party), editCfg func(cc, sc *tls13.Config)) *harness.Result {
	t.Helper()
	f := newFixture(t)
	cli, srv := f.Parties(clientBG)
	if edit != nil {
		edit(cli, srv)
	}
	cc, sc, err := f.Configs(clientBG, cli, srv)
	if err != nil {
		t.Fatal(err)
	}
	if editCfg != nil {
		editCfg(cc, sc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := harness.Run(ctx, cc, sc)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// mustFail checks that the sender sent code, that the other side received
// it (in its handshake, or in its first Read: a client's handshake is over
// once it sends Finished), and that no application data flowed.
func mustFail(t *testing.T, r *harness.Result, code tls13.AlertCode, byServer bool) {
	t.Helper()
	sender, receiver := r.ClientErr, r.Failure(false)
	if byServer {
		sender, receiver = r.ServerErr, r.Failure(true)
	}
	if c, sent, ok := harness.Alert(sender); !ok || !sent || c != code {
		t.Fatalf("sender: want sent %v, got %v\n%s", code, sender, r.Describe())
	}
	if c, sent, ok := harness.Alert(receiver); !ok || sent || c != code {
		t.Fatalf("receiver: want received %v, got %v\n%s", code, receiver, r.Describe())
	}
	if r.ClientGot != "" || r.ServerGot != "" {
		t.Fatalf("application data after a failure: client got %q, server got %q", r.ClientGot, r.ServerGot)
	}
}

func TestClientAttests(t *testing.T) {
	f := newFixture(t)
	r := run(t, nil, nil)
	if r.ClientErr != nil || r.ServerErr != nil || r.ClientGot != harness.Pong || r.ServerGot != harness.Ping {
		t.Fatal(r.Describe())
	}
	o, ok := party.PeerOutcome(r.Server)
	if !ok || o.Result == nil || o.Reason != "" {
		t.Fatalf("server outcome %+v", o)
	}
	// The CMW is the cert_data of the one entry, under the X.509 type, and
	// the attested key is what verified CertificateVerify.
	pc := r.Server.PeerCertificate
	if pc == nil || len(pc.Entries) != 1 || len(pc.Entries[0].Extensions) != 0 || pc.Type != tls13.CertTypeX509 {
		t.Fatalf("client Certificate %+v", pc)
	}
	if bytes.Equal(pc.Entries[0].Data, f.Chain[true][0]) {
		t.Fatal("the client sent its X.509 certificate, not evidence")
	}
	if !f.Attester[true].Identity().Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pc.PublicKey) {
		t.Fatal("CertificateVerify was not checked with the attested key")
	}
}

func TestUndefinedModels(t *testing.T) {
	f := newFixture(t)
	for _, m := range []party.Model{
		{Server: party.Side{Attests: true}},
		{Client: party.Side{Attests: true, Topology: party.Passport}},
		{Client: party.Side{Attests: true, Credential: party.X509}},
		{Server: party.Side{Attests: true}, Client: party.Side{Attests: true}},
	} {
		m.Profile = poc.Name
		cli, srv := f.Parties(m)
		if _, _, err := f.Configs(m, cli, srv); !errors.Is(err, party.ErrUnsupported) {
			t.Errorf("%s: %v, want ErrUnsupported", m.ID(), err)
		}
	}
}

// Evidence over another nonce: the fork's verifier callback fails and its
// server sends decode_error (POC-cert-2).
func TestWrongNonce(t *testing.T) {
	r := run(t, func(cli, _ *party.Party) { cli.Bugs.WrongChallenge = true }, nil)
	mustFail(t, r, tls13.AlertDecodeError, true)
	if o, _ := party.PeerOutcome(r.Server); o.Reason == "" || o.Result != nil {
		t.Errorf("server outcome %+v", o)
	}
}

func TestMalformedEvidence(t *testing.T) {
	r := run(t, func(cli, _ *party.Party) { cli.Bugs.MalformedPayload = true }, nil)
	mustFail(t, r, tls13.AlertDecodeError, true)
	if o, _ := party.PeerOutcome(r.Server); o.Reason != party.ReasonMalformedPayload {
		t.Errorf("server outcome %+v", o)
	}
}

// The fork's client rejects a nonce over 32 bytes and a type other than EAT
// with decode_error (POC-ee-2).
func TestClientChecksEncryptedExtensions(t *testing.T) {
	r := run(t, func(_, srv *party.Party) { srv.Bugs.NonceLength = poc.NonceLenMax + 1 }, nil)
	mustFail(t, r, tls13.AlertDecodeError, false)
	r = run(t, func(_, srv *party.Party) { srv.Bugs.SelectUnoffered = true }, nil)
	mustFail(t, r, tls13.AlertDecodeError, false)
	// 32 bytes is still fine (the fixture's verifier takes nonces it did
	// not issue).
	r = run(t, func(_, srv *party.Party) { srv.Bugs.NonceLength = poc.NonceLenMax }, nil)
	if r.ClientErr != nil || r.ServerErr != nil || r.ServerGot != harness.Ping {
		t.Fatal(r.Describe())
	}
}

func TestDeclined(t *testing.T) {
	// The client sends an empty Certificate; the server requires attestation.
	r := run(t, func(cli, _ *party.Party) { cli.Bugs.Decline = true }, nil)
	mustFail(t, r, tls13.AlertCertificateRequired, true)
	// The client does not offer to attest.
	r = run(t, func(cli, _ *party.Party) { cli.Attester = nil }, nil)
	mustFail(t, r, tls13.AlertCertificateRequired, true)
	// The server skips its CertificateRequest.
	r = run(t, func(_, srv *party.Party) { srv.Bugs.OmitCertificateRequest = true }, nil)
	mustFail(t, r, tls13.AlertCertificateRequired, true)
	// Not required: the connection goes on without attestation.
	r = run(t, func(cli, srv *party.Party) { cli.Bugs.Decline, srv.RequirePeer = true, false }, nil)
	if r.ClientErr != nil || r.ServerErr != nil || r.ServerGot != harness.Ping {
		t.Fatal(r.Describe())
	}
}

// A plain client certificate in its place is not evidence: decode_error.
func TestCertificateInsteadOfEvidence(t *testing.T) {
	f := newFixture(t)
	r := run(t, func(cli, _ *party.Party) { cli.Attester = nil }, func(cc, _ *tls13.Config) {
		cc.Certificates = []tls13.Credential{f.Plain[true]}
	})
	mustFail(t, r, tls13.AlertDecodeError, true)
}

// fuzzExtension replaces extension 100 in one message with arbitrary
// bytes: the reader never panics, and fails, if it does, with one of the
// fork's alerts and no data let through.
func fuzzExtension(f *testing.F, msgType uint8, fromClient bool) {
	ch, _ := poc.EvidenceProposalCH{ContentFormats: []uint16{poc.TypeEAT}}.Marshal()
	ee, _ := poc.EvidenceProposalEE{ContentFormat: poc.TypeEAT, Nonce: make([]byte, 8)}.Marshal()
	for _, s := range [][]byte{ch, ee, {}, {3, 0, 0, 2}, {0, 0, 1, 40}} {
		f.Add(s)
	}
	ext := uint16(100)
	f.Fuzz(func(t *testing.T, body []byte) {
		r := run(t, nil, func(cc, sc *tls13.Config) {
			cfg := sc
			if fromClient {
				cfg = cc
			}
			cfg.Bugs.DropExtensions = []uint16{ext}
			cfg.Bugs.ExtraExtensions = map[uint8][]tls13.Extension{msgType: {{Type: ext, Data: body}}}
		})
		if r.ClientErr == nil && r.ServerErr == nil {
			return
		}
		for _, err := range []error{r.ClientErr, r.ServerErr} {
			code, _, ok := harness.Alert(err)
			if err != nil && (!ok || (code != tls13.AlertDecodeError && code != tls13.AlertCertificateRequired)) {
				t.Fatalf("unexpected failure %v\n%s", err, r.Describe())
			}
		}
		if r.ClientGot != "" || r.ServerGot != "" {
			t.Fatalf("data after a failure\n%s", r.Describe())
		}
	})
}

// FuzzServerReadsClientHello: the server's choice on arbitrary lists.
func FuzzServerReadsClientHello(f *testing.F) { fuzzExtension(f, 1, true) }

// FuzzClientReadsEncryptedExtensions: the client's checks on arbitrary answers.
func FuzzClientReadsEncryptedExtensions(f *testing.F) { fuzzExtension(f, 8, false) }
