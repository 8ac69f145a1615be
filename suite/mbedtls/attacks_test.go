package mbedtls_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/endpoint"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/policy"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/suite/attack"
	"github.com/attested-tls/conformance/suite/harness"
	"github.com/attested-tls/conformance/suite/harness/wire"
)

// The attack scenarios of suite/attack with the mbedTLS peer as the
// victim relying party: the attacker, a Go endpoint built on the
// reference, terminates the victim's TLS and borrows what its capability
// allows from the genuine attester (the Go reference on swtpm, endorsed in
// Veraison). Each spec asserts the verdict suite/specs/attacks.go
// documents for the profile (poc: the client attests; ta-07
// attestation-only: the server attests, and here also the client), and
// the check that stops it, read from the peer's outcome; where the
// mbedTLS peer legitimately differs the spec says why.

// attackVictim is the mbedTLS peer as relying party of one model.
type attackVictim struct {
	key    string // the profile's column in suite/specs/attacks.go
	m      model
	mbRole contract.Role
	alert  tls13.AlertCode // its alert for a rejected attestation
	labels []string
}

var attackVictims = []attackVictim{
	{"poc", pocClient, contract.Server, alertDecodeError,
		[]string{"profile:poc", "role:client", "victim:mbedtls-server", "req:POC-cert-2", "req:POC-cv-1"}},
	{"ta-07/ao", ta07Server, contract.Client, alertBadCertificate,
		[]string{"profile:ta-07", "role:server", "credential:attestation-only", "victim:mbedtls-client", "req:TA07-8.1.1-3"}},
	{"ta-07/ao", ta07Client, contract.Server, alertBadCertificate,
		[]string{"profile:ta-07", "role:client", "credential:attestation-only", "victim:mbedtls-server"}},
}

// mbAttack is one row: a scenario, a capability, its verdict and why.
type mbAttack struct {
	scenario   attack.Scenario
	capability attack.Capability
	verdict    attack.Verdict
	check      attack.Check
	why        string
}

const (
	mbCVNonceOnly = "the relayed evidence is bound to the victim's nonce alone, so Veraison affirms it; but the peer verifies " +
		"CertificateVerify with the key the EAR attests (akpub) over its own transcript, and the attacker signs with its own key"
	mbOracle = "the oracle attests the victim's exact nonce and the attested TIK signs the attacker's CertificateVerify, while the " +
		"attacker's TLS stack holds the session keys: nonce-only binding cannot tell (Intra-handshake.fail, CVE-2026-33697). " +
		"Documented as succeeding for poc and ta-07 attestation-only; the mbedTLS peer is fooled exactly as the Go reference"
	mbTEE = "the TEE refuses to attest the victim's nonce, which its own TLS stack did not compute, and its TIK signs only " +
		"handshakes it terminates; "
)

// mbAttacks is the documented verdict of every cell, the same for both
// profiles (both bind evidence to the nonce alone), as in attacks.go.
var mbAttacks = []mbAttack{
	{attack.Diversion, attack.Relay, attack.Prevented, attack.CheckCertificateVerify,
		"the attacker puts the victim's nonce in its own handshake with the genuine attester and relays the evidence: " + mbCVNonceOnly},
	{attack.Diversion, attack.Oracle, attack.Succeeds, "", mbOracle},
	{attack.Diversion, attack.TEEBound, attack.Prevented, attack.CheckCertificateVerify,
		mbTEE + "what the attacker relays from a handshake the TEE did terminate is " + mbCVNonceOnly},
	{attack.Splice, attack.Relay, attack.Prevented, attack.CheckCertificateVerify,
		"the spliced evidence carries the victim's nonce, fed to the genuine attester, so appraisal passes; the spliced " +
			"CertificateVerify signs the other handshake's transcript and fails with the attested key"},
	{attack.Splice, attack.Oracle, attack.Succeeds, "",
		"nonce-only binding is relayable: evidence the genuine attester produced in another handshake, bound only to the nonce the " +
			"attacker made equal to the victim's, is accepted, and the TIK signs the attacker's CertificateVerify (CCC attested-tls-poc " +
			"PR #58; Intra-handshake.fail). Documented as succeeding, as Go-vs-Go"},
	{attack.Splice, attack.TEEBound, attack.Prevented, attack.CheckCertificateVerify,
		mbTEE + "the spliced CertificateVerify from the TEE's own handshake signs another transcript"},
	{attack.ReplayEvidence, attack.Replay, attack.Prevented, attack.CheckNonce,
		"the old evidence carries the nonce of the earlier connection; the peer drew a fresh one and compares both tokens' " +
			"extraData with it before asking Veraison (veraison/services#447)"},
	{attack.ReplayFreshEAR, attack.Replay, attack.Prevented, attack.CheckEvidenceType,
		"differs from Go-vs-Go for ta-07 (there: accepted until CertificateVerify, within the freshness window) and agrees for poc: " +
			"the mbedTLS peer implements the background-check model only (manifest topologies: bg), so an EAR captured from an " +
			"earlier ta-07 passport connection of the genuine attester, replayed with its CertificateVerify, is refused as an " +
			"unsupported evidence type, fresh or stale alike (so replay-ear-stale is not played)"},
	{attack.OtherKey, attack.Oracle, attack.Prevented, attack.CheckCertificateVerify,
		"the oracle attests the victim's nonce, but the TPM certifies only its own TIK; with an attestation-only credential the " +
			"attested key must sign CertificateVerify, and the attacker signs with its own"},
	{attack.NonceReuse, attack.Replay, attack.Prevented, attack.CheckNonce,
		"differs from Go-vs-Go (nonce-reuse, caught by a verifier's nonce registry): the mbedTLS relying party draws every nonce " +
			"from PSA's RNG and never takes one from its verifier, so it cannot be made to hand out one Veraison consumed; the " +
			"attacker replays evidence bound to the nonce an earlier mbedTLS relying party issued and Veraison consumed, and the " +
			"new peer's own nonce check refuses it"},
}

func TestAttacks(t *testing.T) {
	for _, v := range attackVictims {
		for _, a := range mbAttacks {
			labels := append(slices.Clone(v.labels), "attack", "attack:"+string(a.scenario), "capability:"+string(a.capability))
			name := spec(v.m.id()+"/mbedtls-"+string(v.mbRole)+"/"+string(a.scenario)+"/"+string(a.capability), labels...)
			t.Run(name, func(t *testing.T) {
				verdict := "the attack succeeds"
				if a.verdict == attack.Prevented {
					verdict = "prevented by the " + string(a.check) + " check"
				}
				t.Logf("against the mbedTLS %s (%s), %s/%s: %s, because %s", v.mbRole, v.key, a.scenario, a.capability, verdict, a.why)
				runMbAttack(t, v, a)
			})
		}
	}
}

// attacker is one attack in progress against a victim.
type attacker struct {
	t       *testing.T
	w       *world
	v       attackVictim
	a       mbAttack
	genuine attest.Attester
	imp     *attack.Impostor // the borrowing scenarios'
}

func runMbAttack(t *testing.T, v attackVictim, a mbAttack) {
	w := env(t)
	at := &attacker{t: t, w: w, v: v, a: a, genuine: w.attester}
	var o exchangeOptions
	switch a.scenario {
	case attack.Diversion, attack.Splice, attack.OtherKey:
		o.goOptions = at.impersonate()
	case attack.ReplayEvidence:
		c := at.captureGenuine()
		o.goOptions = at.replayer(c)
	case attack.NonceReuse:
		c := at.captureFromVictim()
		o.goOptions = at.replayer(c)
	case attack.ReplayFreshEAR:
		c := at.capturePassport()
		o.goOptions = at.replayer(c)
	default:
		t.Fatalf("scenario %s is not played against the mbedTLS peer", a.scenario)
	}
	x := runExchange(t, v.m, v.mbRole, o)
	var legs, refused int
	if at.imp != nil {
		if at.imp.LegErr != nil {
			t.Fatalf("the attacker's handshake with the genuine attester: %v", at.imp.LegErr)
		}
		legs = at.imp.Legs
		if at.imp.TEE != nil {
			refused = at.imp.TEE.Refused()
		}
	}

	if a.verdict == attack.Succeeds {
		// The victim believes it talks to the genuine attester's TIK, and
		// exchanged data with the attacker.
		if x.exit != contract.ExitOK || x.outcome.Handshake != contract.HandshakeOK || x.outcome.AppData != contract.AppDataOK {
			t.Fatalf("documented as succeeding, but the victim did not complete: exit %d, handshake %s, app_data %s\n%s",
				x.exit, x.outcome.Handshake, x.outcome.AppData, x.describe())
		}
		want := "ping\n"
		if v.mbRole == contract.Server {
			want = "pong\n"
		}
		if x.err != nil || x.got != want {
			t.Fatalf("the attacker: err %v, read %q, want %q\n%s", x.err, x.got, want, x.describe())
		}
		if x.outcome.Verdict == nil || x.outcome.Verdict.Status != "affirming" {
			t.Fatalf("the fooled victim's verdict %+v, want affirming\n%s", x.outcome.Verdict, x.describe())
		}
	} else {
		want := v.alert
		if a.check == attack.CheckCertificateVerify {
			want = tls13.AlertDecryptError // RFC 8446 §4.4.3
		}
		wantFailedClosed(t, x, want, true)
		if got := mbCheck(x.outcome); got != a.check {
			t.Fatalf("stopped by the %s check, documented: %s (%s)\n%s", got, a.check, a.why, x.describe())
		}
	}
	switch a.capability {
	case attack.TEEBound:
		if refused == 0 || legs != 1 {
			t.Fatalf("the TEE refused %d challenges, the attacker ran %d handshakes with it; want >0 and 1", refused, legs)
		}
	case attack.Relay:
		if legs != 1 {
			t.Fatalf("the attacker ran %d handshakes with the genuine attester, want 1", legs)
		}
	case attack.Replay:
		if legs != 0 {
			t.Fatalf("a replay talked to the genuine attester %d times", legs)
		}
	}
}

// mbCheck names the check behind the mbedTLS peer's rejection, from its
// alert and the verdict it recorded.
func mbCheck(o contract.Outcome) attack.Check {
	reason := ""
	if o.Verdict != nil {
		reason = o.Verdict.Reason
	}
	switch {
	case reason == "parsec-tpm.qualifying-data" || reason == "result.nonce-mismatch":
		return attack.CheckNonce
	case reason == "evidence.unsupported-type":
		return attack.CheckEvidenceType
	case o.AlertSent != nil && o.AlertSent.Code == int(tls13.AlertDecryptError) && (o.Verdict == nil || o.Verdict.Status == "affirming"):
		return attack.CheckCertificateVerify
	case reason != "":
		return attack.Check("other:" + reason)
	}
	return attack.Check("other")
}

// impersonate is the attacker that borrows attestation during the
// victim's handshake, its own legs run in process against a Go relying
// party appraising with Veraison.
func (at *attacker) impersonate() goOptions {
	own, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		at.t.Fatal(err)
	}
	at.imp = attack.NewImpostor(at.a.scenario, at.a.capability, at.genuine, own, at.handshake)
	return goOptions{attester: &at.imp.Mallory}
}

// replayer sends c again: its payload and its CertificateVerify.
func (at *attacker) replayer(c *attack.Captured) goOptions {
	m := &attack.Mallory{Media: at.genuine.MediaTypes(), Key: &attack.ReplayedSigner{Pub: at.genuine.Identity().Public(), Sig: c.Signature},
		Present: func(context.Context, attest.Challenge) (attest.Evidence, error) {
			return attest.Evidence{}, errors.New("a replaying attacker produces no evidence")
		}}
	return goOptions{attester: m, bugs: party.Bugs{ReplayPayload: c.Payload}}
}

// captureGenuine runs a genuine Go-vs-Go connection of the victim's model
// (fresh nonce) and captures the attester's flight.
func (at *attacker) captureGenuine() *attack.Captured {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := at.handshake(ctx, at.genuine, nil)
	if err != nil {
		at.t.Fatalf("the genuine connection to capture: %v", err)
	}
	return c
}

// capturePassport runs a genuine ta-07 passport connection of the
// genuine attester (on the victim model's attesting side) and captures
// its flight: the EAR Veraison issued, and its CertificateVerify.
func (at *attacker) capturePassport() *attack.Captured {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := endpoint.Side{Attests: true, Topology: party.Passport, Credential: party.AttestationOnly}
	hm := endpoint.Model{Profile: "ta-07"}
	if at.v.m.clientAttests {
		hm.Client = s
	} else {
		hm.Server = s
	}
	c, err := at.handshakeOf(ctx, hm, at.genuine, nil)
	if err != nil {
		at.t.Fatalf("the genuine passport connection to capture: %v", err)
	}
	return c
}

// captureFromVictim runs a genuine connection between the genuine
// attester and an mbedTLS relying party (whose nonce Veraison consumes)
// and captures the attester's flight.
func (at *attacker) captureFromVictim() *attack.Captured {
	x := runExchange(at.t, at.v.m, at.v.mbRole, exchangeOptions{})
	if x.exit != contract.ExitOK || x.outcome.AppData != contract.AppDataOK {
		at.t.Fatalf("the genuine connection to capture failed\n%s", x.describe())
	}
	c, err := attack.Capture(at.v.m.profile, party.AttestationOnly, x.trace.Sent())
	if err != nil {
		at.t.Fatal(err)
	}
	return c
}

// handshake runs the victim's model in process between att and a Go
// relying party that appraises with Veraison, its nonce pinned when
// nonce is set, and captures att's flight. The appraisal's outcome does
// not matter to the attacker: the flight is sent before it.
func (at *attacker) handshake(ctx context.Context, att attest.Attester, nonce []byte) (*attack.Captured, error) {
	return at.handshakeOf(ctx, at.v.m.harness(), att, nonce)
}

func (at *attacker) handshakeOf(ctx context.Context, hm endpoint.Model, att attest.Attester, nonce []byte) (*attack.Captured, error) {
	w := at.w
	attesterIsClient := hm.Client.Attests
	rec := &wire.Recorder{}
	// A passport attester gets its result from the verifier.
	var issuer attest.Verifier
	if hm.Client.Topology == party.Passport || hm.Server.Topology == party.Passport {
		issuer = w.verifier
	}
	attCfg, err := legConfig(w, hm, attesterIsClient, att, issuer)
	if err != nil {
		return nil, err
	}
	attCfg.Trace = rec
	rpCfg, err := legConfig(w, hm, !attesterIsClient, nil, &attack.Nonces{Verifier: w.verifier, Pin: nonce})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	srvCfg, cliCfg := attCfg, rpCfg
	if attesterIsClient {
		srvCfg, cliCfg = rpCfg, attCfg
	}
	srvErr := make(chan error, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer raw.Close()
		if d, ok := ctx.Deadline(); ok {
			raw.SetDeadline(d)
		}
		c := tls13.Server(raw, srvCfg)
		err = c.HandshakeContext(ctx)
		if err == nil {
			_, err = io.ReadFull(c, make([]byte, 5))
			c.Write([]byte("pong\n"))
		}
		srvErr <- err
	}()
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		return nil, err
	}
	if d, ok := ctx.Deadline(); ok {
		raw.SetDeadline(d)
	}
	c := tls13.Client(raw, cliCfg)
	cliErr := c.HandshakeContext(ctx)
	if cliErr == nil {
		c.Write([]byte("ping\n"))
		_, cliErr = io.ReadFull(c, make([]byte, 5))
	}
	raw.Close()
	if err := <-srvErr; err != nil || cliErr != nil {
		return nil, fmt.Errorf("leg: server %v, client %v", err, cliErr)
	}
	return attack.Capture(hm.Profile, party.AttestationOnly, rec.Sent())
}

// legConfig is a Go endpoint of m for the attacker's own handshakes:
// the attester side with att, the relying party with verifier v trusting
// the run's Veraison.
func legConfig(w *world, hm endpoint.Model, isClient bool, att attest.Attester, v attest.Verifier) (*tls13.Config, error) {
	self, peer := hm.Server, hm.Client
	if isClient {
		self, peer = hm.Client, hm.Server
	}
	roles := endpoint.Roles{MediaTypes: mediaTypes, Attester: att, Verifier: v,
		Policy: &policy.Policy{Verifiers: []attest.TrustedVerifier{w.verifier.Trusted()}, RequireKeyBinding: true}}
	p := endpoint.NewParty(self, peer, roles)
	return w.configure(hm.Profile, isClient, p)
}

// The mbedTLS peer as the genuine attester, the Go reference as victim:
// the attacker relays or replays what the C implementation presents. Only
// the capabilities a process allows are played (no oracle, no TEE: the
// peer attests only challenges of handshakes it terminates, and its TIK
// stays in its TPM); the verdicts are attacks.go's, judged by
// attack.Judge from the Go victim's side.

// mbAttester is a model with the mbedTLS peer attesting.
type mbAttester struct {
	key    string
	m      model
	mbRole contract.Role
	labels []string
}

var mbAttesters = []mbAttester{
	{"poc", pocClient, contract.Client, []string{"profile:poc", "role:client", "attester:mbedtls-client", "req:POC-cert-2", "req:POC-cv-1"}},
	{"ta-07/ao", ta07Server, contract.Server, []string{"profile:ta-07", "role:server", "credential:attestation-only", "attester:mbedtls-server", "req:TA07-8.1.1-3"}},
	{"ta-07/ao", ta07Client, contract.Client, []string{"profile:ta-07", "role:client", "credential:attestation-only", "attester:mbedtls-client"}},
}

var mbAttesterAttacks = []mbAttack{
	{attack.Diversion, attack.Relay, attack.Prevented, attack.CheckCertificateVerify,
		"the attacker feeds the Go victim's nonce to the mbedTLS attester in its own handshake and relays the evidence, which " +
			"Veraison affirms; CertificateVerify must verify with the attested TIK (in the peer's TPM) over the victim's transcript, " +
			"and the attacker signs with its own key"},
	{attack.Splice, attack.Relay, attack.Prevented, attack.CheckCertificateVerify,
		"the mbedTLS attester's evidence and CertificateVerify, spliced from the attacker's concurrent handshake fed with the " +
			"victim's nonce: appraisal passes, the copied signature covers the other handshake's transcript"},
	{attack.ReplayEvidence, attack.Replay, attack.Prevented, attack.CheckNonce,
		"evidence the mbedTLS attester presented in an earlier connection carries that connection's nonce"},
}

func TestAttacksOnMbedTLSAttester(t *testing.T) {
	for _, g := range mbAttesters {
		for _, a := range mbAttesterAttacks {
			labels := append(slices.Clone(g.labels), "attack", "attack:"+string(a.scenario), "capability:"+string(a.capability))
			name := spec(g.m.id()+"/mbedtls-"+string(g.mbRole)+"-attests/"+string(a.scenario)+"/"+string(a.capability), labels...)
			t.Run(name, func(t *testing.T) {
				t.Logf("the mbedTLS %s attests to a Go victim (%s), %s/%s: prevented by the %s check, because %s",
					g.mbRole, g.key, a.scenario, a.capability, a.check, a.why)
				runOnMbAttester(t, g, a)
			})
		}
	}
}

// genuinePeer is the mbedTLS attester the attacker talks to: started
// before the victim's handshake (a server listens, a client connects to
// ln and waits in its backlog), provisioned in Veraison.
type genuinePeer struct {
	peer *mbedPeer
	ln   net.Listener // the client attester's server side, nil for a server
	pub  crypto.PublicKey
}

func startGenuine(t *testing.T, w *world, g mbAttester) *genuinePeer {
	t.Helper()
	hm := g.m.harness()
	cfg := peerConfig(t, w, g.m.id(), g.m.profile, g.mbRole, hm.Server.Attests, hm.Client.Attests)
	gp := &genuinePeer{}
	if g.mbRole == contract.Client {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		gp.ln = ln
		cfg.Connect = ln.Addr().String()
	}
	gp.peer = startPeer(t, w, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	deadline := time.Now().Add(20 * time.Second)
	for {
		// A client attester writes its endorsement before it connects.
		if _, err := os.Stat(gp.peer.cfg.EndorsementsOut); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := provision(ctx, w.svc.ProvisioningURL, gp.peer.cfg.EndorsementsOut); err != nil {
		t.Fatalf("provisioning the mbedTLS attester: %v\n%s", err, gp.peer.describe())
	}
	return gp
}

// leg is the attacker's handshake with the mbedTLS attester, as its
// relying party with the nonce pinned: it captures the attester's flight
// (received messages), whatever came of the appraisal.
func (gp *genuinePeer) leg(ctx context.Context, w *world, m model, nonce []byte) (*attack.Captured, error) {
	rpIsClient := !m.clientAttests
	cfg, err := legConfig(w, m.harness(), rpIsClient, nil, &attack.Nonces{Verifier: w.verifier, Pin: nonce})
	if err != nil {
		return nil, err
	}
	rec := &inbound{}
	cfg.Trace = rec
	var raw net.Conn
	if rpIsClient {
		raw, err = (&net.Dialer{}).DialContext(ctx, "tcp", gp.peer.cfg.Listen)
	} else {
		stop := context.AfterFunc(ctx, func() { gp.ln.Close() })
		defer stop()
		raw, err = gp.ln.Accept()
	}
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	if d, ok := ctx.Deadline(); ok {
		raw.SetDeadline(d)
	}
	var c *tls13.Conn
	if rpIsClient {
		c = tls13.Client(raw, cfg)
	} else {
		c = tls13.Server(raw, cfg)
	}
	herr := c.HandshakeContext(ctx)
	if herr == nil {
		if rpIsClient {
			c.Write([]byte("ping\n"))
			io.ReadFull(c, make([]byte, 5))
		} else if _, err := io.ReadFull(c, make([]byte, 5)); err == nil {
			c.Write([]byte("pong\n"))
		}
	}
	c.Close()
	cap, err := attack.Capture(m.profile, party.AttestationOnly, rec.flight())
	if err != nil {
		return nil, fmt.Errorf("leg (handshake: %v): %w", herr, err)
	}
	return cap, nil
}

// inbound is a tls13.Trace keeping the handshake messages received.
type inbound struct {
	mu  sync.Mutex
	got wire.Flight
}

func (r *inbound) Message(sent bool, raw []byte) {
	if !sent {
		r.mu.Lock()
		r.got = append(r.got, wire.Message(slices.Clone(raw)))
		r.mu.Unlock()
	}
}
func (r *inbound) Record(bool, []byte)   {}
func (r *inbound) Secret(string, []byte) {}
func (r *inbound) flight() wire.Flight {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func runOnMbAttester(t *testing.T, g mbAttester, a mbAttack) {
	w := env(t)
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout+10*time.Second)
	defer cancel()
	gp := startGenuine(t, w, g)
	// The copied signatures are the mbedTLS TIK's (ECDSA P-256): any
	// P-256 public key makes the attacker's stack pick that scheme.
	shape, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	legs := 0
	var legErr error
	m := &attack.Mallory{Media: mediaTypes}
	var replay []byte
	switch a.scenario {
	case attack.Diversion, attack.Splice:
		replayed := &attack.ReplayedSigner{Pub: shape.Public()}
		if a.scenario == attack.Splice {
			m.Key = replayed
		} else {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			m.Key = k
		}
		m.Present = func(ctx context.Context, ch attest.Challenge) (attest.Evidence, error) {
			legs++
			c, err := gp.leg(ctx, w, g.m, ch.Nonce)
			if err != nil {
				legErr = err
				return attest.Evidence{}, err
			}
			replayed.Sig = c.Signature
			return c.Evidence()
		}
	case attack.ReplayEvidence:
		// The earlier connection: the mbedTLS attester with a Go relying
		// party of its own (fresh nonce), captured on the wire.
		c, err := gp.leg(ctx, w, g.m, nil)
		if err != nil {
			t.Fatal(err)
		}
		gp.peer.wait(t)
		m.Key = &attack.ReplayedSigner{Pub: shape.Public(), Sig: c.Signature}
		m.Present = func(context.Context, attest.Challenge) (attest.Evidence, error) {
			return attest.Evidence{}, errors.New("a replaying attacker produces no evidence")
		}
		replay = c.Payload
	}
	// The victim (the Go relying party) and the attacker's TLS stack.
	hm := g.m.harness()
	victimIsClient := !g.m.clientAttests
	victim, err := legConfig(w, hm, victimIsClient, nil, w.verifier)
	if err != nil {
		t.Fatal(err)
	}
	attCfg, err := attackerConfig(w, g.m, !victimIsClient, m, replay)
	if err != nil {
		t.Fatal(err)
	}
	srv, cli := attCfg, victim
	if !victimIsClient {
		srv, cli = victim, attCfg
	}
	r := goPair(ctx, srv, cli)
	if legErr != nil {
		t.Fatalf("the attacker's handshake with the mbedTLS attester: %v\n%s", legErr, gp.peer.describe())
	}
	verdict, check, err := attack.Judge(hm, r)
	if err != nil {
		t.Fatal(err)
	}
	if verdict != a.verdict || check != a.check {
		t.Fatalf("verdict %s by %q, documented %s by %q (%s)\n%s", verdict, check, a.verdict, a.check, a.why, r.Describe())
	}
	vErr := r.Failure(victimIsClient)
	want := tls13.AlertDecryptError
	if a.check != attack.CheckCertificateVerify {
		want = alertBadCertificate
		if g.m.profile == "poc" {
			want = alertDecodeError
		}
	}
	if ae, ok := tls13.AsAlert(vErr); !ok || !ae.Sent || ae.Code != want {
		t.Fatalf("the Go victim: want %v sent, got %v\n%s", want, vErr, r.Describe())
	}
	if r.ClientGot != "" || r.ServerGot != "" {
		t.Fatalf("application data flowed: client %q, server %q", r.ClientGot, r.ServerGot)
	}
	wantLegs := 1
	if a.capability == attack.Replay {
		wantLegs = 0
	}
	if legs != wantLegs {
		t.Fatalf("the attacker ran %d handshakes with the mbedTLS attester during the attack, want %d", legs, wantLegs)
	}
}

// attackerConfig is the attacker's TLS stack: the attester side of m
// running m's attester, replaying payload when set.
func attackerConfig(w *world, m model, isClient bool, att attest.Attester, payload []byte) (*tls13.Config, error) {
	hm := m.harness()
	self, peer := hm.Server, hm.Client
	if isClient {
		self, peer = hm.Client, hm.Server
	}
	p := endpoint.NewParty(self, peer, endpoint.Roles{MediaTypes: mediaTypes, Attester: att})
	p.Bugs.ReplayPayload = payload
	return w.configure(m.profile, isClient, p)
}

// goPair runs one in-process connection, the contract's ping/pong.
func goPair(ctx context.Context, srvCfg, cliCfg *tls13.Config) *harness.Result {
	r := &harness.Result{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.ServerErr, r.ClientErr = err, err
		return r
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		raw, err := ln.Accept()
		if err != nil {
			r.ServerErr = err
			return
		}
		defer raw.Close()
		if d, ok := ctx.Deadline(); ok {
			raw.SetDeadline(d)
		}
		c := tls13.Server(raw, srvCfg)
		r.ServerErr = c.HandshakeContext(ctx)
		r.Server = c.ConnectionState()
		r.ServerGot, r.ServerReadErr = readSome(c, 5)
		if r.ServerErr == nil && r.ServerGot == "ping\n" {
			c.Write([]byte("pong\n"))
		}
		c.Close()
	}()
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		r.ClientErr = err
		<-done
		return r
	}
	if d, ok := ctx.Deadline(); ok {
		raw.SetDeadline(d)
	}
	c := tls13.Client(raw, cliCfg)
	r.ClientErr = c.HandshakeContext(ctx)
	r.Client = c.ConnectionState()
	if r.ClientErr == nil {
		c.Write([]byte("ping\n"))
	}
	r.ClientGot, r.ClientReadErr = readSome(c, 5)
	c.Close()
	raw.Close()
	<-done
	return r
}
