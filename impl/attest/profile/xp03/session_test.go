package xp03_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/eaframe"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile/xp03"
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

var (
	bg       = party.Side{Attests: true, Credential: party.X509}
	passport = party.Side{Attests: true, Topology: party.Passport, Credential: party.X509}
)

func run(t *testing.T, m party.Model, edit func(cli, srv *party.Party), editCfg func(cc, sc *tls13.Config)) *harness.Result {
	t.Helper()
	f := newFixture(t)
	m.Profile = xp03.Name
	cli, srv := f.Parties(m)
	if edit != nil {
		edit(cli, srv)
	}
	cc, sc, err := f.Configs(m, cli, srv)
	if err != nil {
		t.Fatal(err)
	}
	if editCfg != nil {
		editCfg(cc, sc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := harness.RunPost(ctx, cc, sc, f.Post(m, cli, srv))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustSucceed(t *testing.T, r *harness.Result) {
	t.Helper()
	if r.ClientErr != nil || r.ServerErr != nil || r.ClientGot != harness.Pong || r.ServerGot != harness.Ping {
		t.Fatal(r.Describe())
	}
}

// failsWith: side rp sent code, and no application data reached anyone.
func failsWith(t *testing.T, r *harness.Result, clientSent bool, code tls13.AlertCode) {
	t.Helper()
	err := r.Failure(clientSent)
	ae, ok := tls13.AsAlert(err)
	if !ok || ae.Code != code || !ae.Sent {
		t.Fatalf("want %s sent by the %s, got %v\n%s", code, map[bool]string{true: "client", false: "server"}[clientSent], err, r.Describe())
	}
	if r.ClientGot != "" || r.ServerGot != "" {
		t.Fatalf("application data flowed: %s", r.Describe())
	}
}

func TestModels(t *testing.T) {
	for _, m := range (xp03.Profile{}).Describe().Models() {
		t.Run(m.ID(), func(t *testing.T) {
			r := run(t, m, nil, nil)
			mustSucceed(t, r)
			for _, c := range []struct {
				attests bool
				rp      tls13.ConnectionState
			}{{m.Server.Attests, r.Client}, {m.Client.Attests, r.Server}} {
				if !c.attests {
					continue
				}
				o, ok := party.PeerOutcome(c.rp)
				if !ok || o.Result == nil || o.Reason != "" {
					t.Fatalf("relying party outcome %+v", o)
				}
			}
			// The attestation travelled in frames, never in the handshake.
			if len(xp03.Frames(r.Client)) == 0 {
				t.Fatal("no frames recorded")
			}
		})
	}
}

func TestNoAttestation(t *testing.T) {
	mustSucceed(t, run(t, party.Model{}, nil, nil))
}

func TestUnsolicitedIsUnsupportedExtension(t *testing.T) {
	// The server attests although the client's request did not solicit it.
	tab := (xp03.Profile{}).Describe().Extensions[0].Type
	ext := xp03.CMWAttestation{CMWData: []byte{0x82, 0x01, 0x41, 0x00}}
	data, _ := ext.Marshal()
	r := run(t, party.Model{Server: bg}, nil, func(cc, sc *tls13.Config) {
		sc.Bugs.UnsolicitedAuthenticatorExtensions = []tls13.Extension{{Type: tab, Data: data}}
		cc.Bugs.DropExtensions = []uint16{tab}
	})
	failsWith(t, r, true, tls13.AlertUnsupportedExtension)
}

func TestNotFirstEntryIsIllegalParameter(t *testing.T) {
	f := newFixture(t)
	r := run(t, party.Model{Server: bg}, func(cli, srv *party.Party) {
		srv.Chain = f.ChainWithCA(false)
		srv.Bugs.PayloadEntry = 1
	}, nil)
	failsWith(t, r, true, tls13.AlertIllegalParameter)
}

func TestRejections(t *testing.T) {
	for _, c := range []struct {
		name   string
		edit   func(cli, srv *party.Party)
		code   tls13.AlertCode
		reason attest.Reason
	}{
		{"wrong binding", func(_, s *party.Party) { s.Bugs.WrongChallenge = true }, tls13.AlertBadCertificate, ""},
		{"not a CMW", func(_, s *party.Party) { s.Bugs.MalformedPayload = true }, tls13.AlertBadCertificate, party.ReasonMalformedPayload},
		{"no payload", func(_, s *party.Party) { s.Bugs.OmitPayload = true }, tls13.AlertBadCertificate, party.ReasonMissingPayload},
		{"declined", func(_, s *party.Party) { s.Bugs.Decline = true }, tls13.AlertCertificateRequired, party.ReasonDeclined},
		{"other label", func(c, _ *party.Party) { c.Readings = []string{xp03.ReadingValidationLabel} }, tls13.AlertBadCertificate, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, party.Model{Server: bg}, c.edit, nil)
			failsWith(t, r, true, c.code)
			o, _ := party.PeerOutcome(r.Client)
			if c.reason != "" && o.Reason != c.reason {
				t.Fatalf("reason %q, want %q", o.Reason, c.reason)
			}
		})
	}
}

func TestBothReadValidationLabel(t *testing.T) {
	r := run(t, party.Model{Server: bg, Client: bg}, func(c, s *party.Party) {
		c.Readings = []string{xp03.ReadingValidationLabel}
		s.Readings = []string{xp03.ReadingValidationLabel}
	}, nil)
	mustSucceed(t, r)
}

// The relying party client sends data before it asked for the server's
// attestation: the server refuses it.
func TestDataBeforeAttestation(t *testing.T) {
	r := run(t, party.Model{Server: bg}, func(c, _ *party.Party) {
		c.Bugs.DataBeforeAttestation = []byte("early")
	}, nil)
	failsWith(t, r, false, tls13.AlertUnexpectedMessage)
}

// An attester whose attestation is refused gets no data through, even
// though it sends some right after its authenticator.
func TestDataAfterRefusedAuthenticator(t *testing.T) {
	r := run(t, party.Model{Client: bg}, func(c, _ *party.Party) {
		c.Bugs.DataBeforeAttestation = []byte("early")
		c.Bugs.WrongChallenge = true
	}, nil)
	failsWith(t, r, false, tls13.AlertBadCertificate)
}

func TestEarlyDataOfferRefused(t *testing.T) {
	r := run(t, party.Model{Server: bg}, nil, func(cc, _ *tls13.Config) {
		cc.Bugs.ExtraExtensions = map[uint8][]tls13.Extension{tls13.MsgClientHello: {{Type: 42}}}
	})
	failsWith(t, r, false, tls13.AlertIllegalParameter)
}

func TestTicketDiscarded(t *testing.T) {
	r := run(t, party.Model{Server: bg}, func(_, s *party.Party) { s.Bugs.SessionTicket = true }, nil)
	mustSucceed(t, r)
}

func TestFramesOfServerAttestation(t *testing.T) {
	r := run(t, party.Model{Server: bg}, nil, nil)
	mustSucceed(t, r)
	var types []eaframe.Type
	for _, f := range xp03.Frames(r.Client) {
		if f.Frame.Type != eaframe.ApplicationData {
			types = append(types, f.Frame.Type)
		}
	}
	want := []eaframe.Type{eaframe.AuthenticatorRequest, eaframe.Attested, eaframe.Authenticator, eaframe.Attested}
	if len(types) != len(want) {
		t.Fatalf("frames %v, want %v", types, want)
	}
}
