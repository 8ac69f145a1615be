package mbedtls_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/endpoint"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/policy"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
)

// model is one interaction model: the profile and who attests
// (background check, attestation-only credential).
type model struct {
	profile       string
	clientAttests bool // else the server attests
	mutual        bool // both attest (and both appraise)
	plain         bool // neither attests: TLS 1.3 with the profile's code idle
}

func (m model) harness() endpoint.Model {
	s := endpoint.Side{Attests: true, Topology: party.BackgroundCheck, Credential: party.AttestationOnly}
	hm := endpoint.Model{Profile: m.profile}
	if m.plain {
		return hm
	}
	if m.clientAttests || m.mutual {
		hm.Client = s
	}
	if !m.clientAttests || m.mutual {
		hm.Server = s
	}
	return hm
}

func (m model) id() string { return m.harness().ID() }

var (
	pocClient  = model{profile: "poc", clientAttests: true}
	ta07Client = model{profile: "ta-07", clientAttests: true}
	ta07Server = model{profile: "ta-07"}
	ta07Mutual = model{profile: "ta-07", mutual: true}
)

// goOptions make the Go reference misbehave.
type goOptions struct {
	bugs     party.Bugs
	tlsBugs  tls13.Bugs
	attester attest.Attester // instead of the world's TPM attester
	// verifierMediaTypes, when set, are what a Go relying party offers.
	verifierMediaTypes []string
	// trace, when set, sees the Go side's records and messages.
	trace tls13.Trace
	// peer, when set, changes the mbedTLS peer's configuration.
	peer func(*contract.Config)
}

// goConfig configures the Go endpoint (isClient) for m with the suite's
// construction: harness parties, the profile's hooks. endorsement is the
// mbedTLS attester's endorsement file, provisioned on first appraisal.
func goConfig(t *testing.T, w *world, m model, isClient bool, endorsement string, o goOptions) *tls13.Config {
	t.Helper()
	hm := m.harness()
	self, peer := hm.Server, hm.Client
	if isClient {
		self, peer = hm.Client, hm.Server
	}
	roles := endpoint.Roles{MediaTypes: mediaTypes,
		Policy: &policy.Policy{Verifiers: []attest.TrustedVerifier{w.verifier.Trusted()}, RequireKeyBinding: true}}
	if self.Attests {
		roles.Attester = w.attester
		if o.attester != nil {
			roles.Attester = o.attester
		}
	}
	if peer.Attests {
		roles.Verifier = &endorsing{Verifier: w.verifier, provisioning: w.svc.ProvisioningURL, path: endorsement}
	}
	p := endpoint.NewParty(self, peer, roles)
	p.Bugs = o.bugs
	if o.verifierMediaTypes != nil {
		p.VerifierMediaTypes = o.verifierMediaTypes
	}
	cfg, err := w.configure(m.profile, isClient, p)
	if err != nil {
		t.Fatal(err)
	}
	codepoint.RegisterAlertNames(*p.Codepoints)
	cfg.Bugs = o.tlsBugs
	if o.trace != nil {
		cfg.Trace = o.trace
	}
	return cfg
}

// configure makes the Go endpoint's TLS configuration for profile, with
// the world's CA.
func (w *world) configure(profileName string, isClient bool, p *party.Party) (*tls13.Config, error) {
	return w.ca.Configure(profileName, isClient, ServerName, p)
}

// startAllowance is how long starting the peers may take on top of
// their timeout: in containers, on 2 loaded cores, creating the network,
// the swtpm and the peer has taken over 10 s.
const startAllowance = time.Minute

// run is one connection between the mbedTLS peer in mbRole and the Go
// reference in the other role.
type run struct {
	goSide  goSide
	outcome contract.Outcome
	exit    int
	peer    *mbedPeer
}

func runMixed(t *testing.T, m model, mbRole contract.Role, o goOptions) run {
	t.Helper()
	w := env(t)
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout+startAllowance)
	defer cancel()
	hm := m.harness()
	cfg := peerConfig(t, w, m.id(), m.profile, mbRole, hm.Server.Attests, hm.Client.Attests)
	if o.peer != nil {
		o.peer(&cfg)
	}
	var r run
	if mbRole == contract.Server {
		// An attesting server wrote its endorsement before it listened;
		// the Go client's verifier provisions it on first use.
		r.peer = startPeer(t, w, cfg)
		r.goSide = runGoClient(ctx, cfg.Listen, goConfig(t, w, m, true, r.peer.cfg.EndorsementsOut, o))
	} else {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Connect = ln.Addr().String()
		gcfg := goConfig(t, w, m, false, cfg.EndorsementsOut, o)
		done := make(chan goSide, 1)
		go func() { done <- runGoServer(ctx, ln, gcfg) }()
		r.peer = startPeer(t, w, cfg)
		r.goSide = <-done
	}
	r.outcome, r.exit = r.peer.wait(t)
	return r
}

// runBoth is one connection between two mbedTLS peers. An attesting
// client's endorsement reaches Veraison through a relay that provisions
// it once the client connected, before the server sees a byte.
func runBoth(t *testing.T, m model) (server, client run) {
	t.Helper()
	w := env(t)
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout+startAllowance)
	defer cancel()
	hm := m.harness()
	scfg := peerConfig(t, w, m.id(), m.profile, contract.Server, hm.Server.Attests, hm.Client.Attests)
	ccfg := peerConfig(t, w, m.id(), m.profile, contract.Client, hm.Server.Attests, hm.Client.Attests)
	server.peer = startPeer(t, w, scfg)
	ccfg.Connect = scfg.Listen
	if hm.Server.Attests {
		if err := provision(ctx, w.svc.ProvisioningURL, server.peer.cfg.EndorsementsOut); err != nil {
			t.Fatal(err)
		}
	}
	if hm.Client.Attests {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ccfg.Connect = ln.Addr().String()
		relayed := make(chan error, 1)
		go func() {
			relayed <- relay(ctx, ln, scfg.Listen, func() error {
				return provision(ctx, w.svc.ProvisioningURL, ccfg.EndorsementsOut)
			})
		}()
		defer func() {
			if err := <-relayed; err != nil {
				t.Errorf("relay: %v", err)
			}
		}()
	}
	client.peer = startPeer(t, w, ccfg)
	client.outcome, client.exit = client.peer.wait(t)
	server.outcome, server.exit = server.peer.wait(t)
	return server, client
}

func (r run) describe() string {
	return r.peer.describe() + "\nGo side: err=" + errString(r.goSide.err) + " read=" + errString(r.goSide.readErr) +
		" got=" + r.goSide.got
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// wantSuccess checks both sides completed with ping/pong and that the
// relying party's verdict was affirming.
func wantSuccess(t *testing.T, r run, goRP bool) {
	t.Helper()
	if r.exit != contract.ExitOK || r.outcome.Handshake != contract.HandshakeOK || r.outcome.AppData != contract.AppDataOK {
		t.Fatalf("mbedTLS peer: exit %d, handshake %s, app_data %s\n%s", r.exit, r.outcome.Handshake, r.outcome.AppData, r.describe())
	}
	if r.goSide.err != nil {
		t.Fatalf("Go side handshake: %v\n%s", r.goSide.err, r.describe())
	}
	want := "ping\n"
	if r.peer.cfg.Role == contract.Server {
		want = "pong\n"
	}
	if r.goSide.got != want {
		t.Fatalf("Go side read %q, want %q\n%s", r.goSide.got, want, r.describe())
	}
	if goRP {
		o, ok := party.PeerOutcome(r.goSide.state)
		if !ok || o.Result == nil || o.Result.Status.String() != "affirming" {
			t.Fatalf("Go relying party: outcome %+v\n%s", o, r.describe())
		}
	} else if r.outcome.Verdict == nil || r.outcome.Verdict.Status != "affirming" {
		t.Fatalf("mbedTLS relying party: verdict %+v\n%s", r.outcome.Verdict, r.describe())
	}
}

// wantAlert checks the mbedTLS peer failed with code, the Go side received
// it, and no application data flowed either way.
func wantAlert(t *testing.T, r run, code tls13.AlertCode) {
	t.Helper()
	ae, ok := tls13.AsAlert(r.goSide.failure())
	if !ok || ae.Sent || ae.Code != code {
		t.Fatalf("Go side: want alert %v received, got %v\n%s", code, r.goSide.failure(), r.describe())
	}
	if r.exit != contract.ExitFailed || r.outcome.Handshake != contract.HandshakeFailed {
		t.Fatalf("mbedTLS peer: exit %d, handshake %s; want 1, failed\n%s", r.exit, r.outcome.Handshake, r.describe())
	}
	if r.outcome.AlertSent == nil || r.outcome.AlertSent.Code != int(code) {
		t.Fatalf("mbedTLS peer reports alert_sent %+v, want %d\n%s", r.outcome.AlertSent, code, r.describe())
	}
	if r.outcome.AppData != contract.AppDataNone || r.goSide.got != "" {
		t.Fatalf("application data flowed after the failure: peer %s, Go side got %q\n%s", r.outcome.AppData, r.goSide.got, r.describe())
	}
}
