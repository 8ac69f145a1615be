package mbedtls_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest/cmw"
	"github.com/attested-tls/conformance/impl/attest/evidence/software"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/suite/interop"
)

// The fail-open sweep against the mbedTLS peer as relying party
// (inclavare-containers#769: a handshake that went on after verification
// failed). For every failure its appraisal can meet, with the Go
// reference attesting and misbehaving after the failure, the peer aborts
// with its profile's appraisal alert (README "Alerts": ta-07
// bad_certificate, the draft defining none; poc decode_error, as the
// fork's server answers every verifier failure), records why, exits 1,
// accepts no application data, and sends nothing after its alert.

// rpModel is the mbedTLS peer as relying party of one model.
type rpModel struct {
	m      model
	mbRole contract.Role
	alert  tls13.AlertCode
	labels []string
}

var rpModels = []rpModel{
	{pocClient, contract.Server, alertDecodeError,
		[]string{"profile:poc", "role:client", "rp:mbedtls-server", "req:POC-cert-2"}},
	{ta07Client, contract.Server, alertBadCertificate,
		[]string{"profile:ta-07", "role:client", "credential:attestation-only", "rp:mbedtls-server"}},
	{ta07Server, contract.Client, alertBadCertificate,
		[]string{"profile:ta-07", "role:server", "credential:attestation-only", "rp:mbedtls-client", "req:TA07-8.1.1-3"}},
}

// verifierDeadline is the mbedTLS peer's ATLS_TIMEOUT in the
// verifier-timeout specs: its whole run, verifier calls included, must
// end within it.
const verifierDeadline = 6 * time.Second

// rpFailure is one failure the mbedTLS relying party meets.
type rpFailure struct {
	name, when string
	// status and reasons are the verdict it must record ("" any status).
	status  string
	reasons []string
	fault   interop.VerifierFault
	// attester builds the Go side's options.
	attester func(t *testing.T, w *world) goOptions
}

var rpFailures = []rpFailure{
	{name: "verifier-error", when: "its verifier answers the evidence with HTTP 500",
		reasons: []string{"verifier.failed"}, fault: interop.FaultError},
	{name: "verifier-down", when: "its verifier dies after discovery (the session request is reset unanswered)",
		reasons: []string{"verifier.failed"}, fault: interop.FaultDown},
	{name: "verifier-timeout", when: "its verifier accepts the evidence and never answers",
		reasons: []string{"verifier.failed"}, fault: interop.FaultHang},
	{name: "contraindicated", when: "Veraison returns a contraindicated result (the key that signed the evidence is not endorsed)",
		status: "contraindicated", reasons: []string{"result.status"}, attester: unendorsedAttester},
	{name: "reference-value-mismatch", when: "the quoted PCRs are not the reference values (Veraison v0.0.2501 answers HTTP 500)",
		reasons: []string{"verifier.failed"}, attester: driftedAttester},
	{name: "unsupported-media-type", when: "the attestation is a CMW of a media type it does not appraise",
		reasons: []string{"evidence.unsupported-type"}, attester: func(*testing.T, *world) goOptions {
			return goOptions{bugs: party.Bugs{ReplayPayload: unsupportedCMW()}}
		}},
	{name: "malformed-cmw", when: "the attestation is not a CMW",
		reasons: []string{"payload.malformed"}, attester: func(*testing.T, *world) goOptions {
			return goOptions{bugs: party.Bugs{MalformedPayload: true}}
		}},
	{name: "nonce-mismatch", when: "the evidence is bound to another nonce than the one it sent",
		reasons: []string{"parsec-tpm.qualifying-data"}, attester: func(*testing.T, *world) goOptions {
			return goOptions{bugs: party.Bugs{WrongChallenge: true}}
		}},
	{name: "untrusted-verifier", when: "the result is signed by a verifier it was not configured to trust (ATLS_TRUSTED_VERIFIERS names another)",
		reasons: []string{"result.untrusted-verifier"}, fault: interop.FaultResign},
}

// rpBehaviour is how the Go attester keeps talking.
type rpBehaviour struct {
	name, what string
	set        func(*exchangeOptions)
}

var rpBehaviours = []rpBehaviour{
	{"plain", "", func(*exchangeOptions) {}},
	{"data-after-alert", ", though the attester writes its protected application data again after the alert",
		func(o *exchangeOptions) { o.afterAlert = true }},
	{"early-data", ", though the attester sends application data before its Finished",
		func(o *exchangeOptions) { o.tlsBugs.EarlyApplicationData = []byte("attester data before Finished") }},
}

func TestFailOpen(t *testing.T) {
	var cuts []string
	for _, rp := range rpModels {
		for _, f := range rpFailures {
			for _, b := range rpBehaviours {
				name := spec(rp.m.id()+"/mbedtls-"+string(rp.mbRole)+"/"+f.name+"/"+b.name,
					append(rp.labels, "failopen", "failure:"+f.name, "peer:"+b.name)...)
				t.Run(name, func(t *testing.T) {
					t.Logf("the mbedTLS %s aborts with %v when %s%s, and no application data is accepted",
						rp.mbRole, rp.alert, f.when, b.what)
					if cut := failOpen(t, rp, f, b); cut != "" {
						cuts = append(cuts, rp.m.id()+"/"+b.name+": "+cut)
					}
				})
			}
		}
	}
	for _, c := range cuts {
		t.Logf("verifier timeout: %s", c)
	}
}

// spec names a subtest: its path, then its labels in brackets, so
// `go test -run` selects by either.
func spec(path string, labels ...string) string {
	return path + "[" + strings.Join(labels, ",") + "]"
}

func failOpen(t *testing.T, rp rpModel, f rpFailure, b rpBehaviour) (cut string) {
	w := env(t)
	var o exchangeOptions
	if f.attester != nil {
		o.goOptions = f.attester(t, w)
	}
	b.set(&o)
	var fake *interop.FaultyVeraison
	if f.fault != interop.FaultNone {
		fake = startFakeVeraison(t, w.svc.VerificationURL, f.fault)
	}
	o.peer = func(c *contract.Config) {
		if fake != nil {
			c.Verifier = "veraison:" + fake.URL
		}
		if f.fault == interop.FaultHang {
			c.Timeout = verifierDeadline
		}
	}
	x := runExchange(t, rp.m, rp.mbRole, o)
	if f.fault == interop.FaultHang {
		// Measured before the verdict, so a failing spec still reports it.
		cut = hangCut(t, fake, x)
	}
	wantFailedClosed(t, x, rp.alert, b.name == "plain")
	wantVerdict(t, x, f.status, f.reasons...)
	if b.name == "data-after-alert" && x.replayed == 0 && rp.mbRole == contract.Server {
		t.Fatalf("the Go client wrote no application data after the alert\n%s", x.describe())
	}
	return cut
}

// hangCut checks the mbedTLS peer gave up on a verifier that never
// answers before its own deadline (so it can still send its alert), and
// reports when. The peer's run time includes starting it (a container),
// so the cut is read at the verifier: how long it held the request.
func hangCut(t *testing.T, fake *interop.FaultyVeraison, x *exchange) string {
	t.Helper()
	hs := fake.Held()
	if len(hs) != 1 {
		t.Fatalf("the verifier held %d evidence submissions, want 1\n%s", len(hs), x.describe())
	}
	held := hs[0].End.Sub(hs[0].Start)
	cut := fmt.Sprintf("peer deadline %s: the peer gave up on the verifier after %s (exit %d, alert_sent %v)",
		verifierDeadline, held.Round(time.Millisecond), x.exit, x.outcome.AlertSent)
	t.Log(cut)
	if held > verifierDeadline+time.Second {
		t.Fatalf("the mbedTLS peer waited on its verifier beyond its deadline: %s\n%s", cut, x.describe())
	}
	return cut
}

// unendorsedAttester signs its evidence with an attestation key Veraison
// does not know (Veraison learns another): a contraindicated result.
func unendorsedAttester(t *testing.T, w *world) goOptions {
	t.Helper()
	a, err := software.New(software.Config{Faults: software.Faults{UnendorsedKey: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := provisionEndorsement(t, w, a); err != nil {
		t.Fatal(err)
	}
	return goOptions{attester: a}
}

// driftedAttester is endorsed with its boot measurements, then measures
// something else into PCR 0.
func driftedAttester(t *testing.T, w *world) goOptions {
	t.Helper()
	a, err := software.New(software.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range software.DefaultPCRs {
		if err := a.Extend(p, []byte(fmt.Sprintf("boot stage %d", p))); err != nil {
			t.Fatal(err)
		}
	}
	if err := provisionEndorsement(t, w, a); err != nil {
		t.Fatal(err)
	}
	if err := a.Extend(software.DefaultPCRs[0], []byte("unexpected bootloader")); err != nil {
		t.Fatal(err)
	}
	return goOptions{attester: a}
}

// unsupportedCMW is a well-formed CMW of a media type no verifier takes.
func unsupportedCMW() []byte {
	b, err := cmw.NewRecord(cmw.CBORRecord, cmw.MediaType("application/vnd.example.unsupported-evidence"), []byte("opaque"), 0).Marshal()
	if err != nil {
		panic(err)
	}
	return b
}

// TestFailOpenVerifierUnreachable: a relying party whose verifier cannot
// be reached at all (nothing listens at ATLS_VERIFIER) fails before its
// handshake: exit 1 (the contract's "verifier could not be reached"), no
// handshake, no alert, no application data, and a client never connects.
func TestFailOpenVerifierUnreachable(t *testing.T) {
	for _, rp := range rpModels {
		name := spec(rp.m.id()+"/mbedtls-"+string(rp.mbRole)+"/verifier-unreachable",
			append(rp.labels, "failopen", "failure:verifier-unreachable")...)
		t.Run(name, func(t *testing.T) {
			w := env(t)
			hm := rp.m.harness()
			cfg := peerConfig(t, w, rp.m.id(), rp.m.profile, rp.mbRole, hm.Server.Attests, hm.Client.Attests)
			cfg.Verifier = "veraison:http://" + freeAddr(t) // a port nothing listens on
			var ln net.Listener
			if rp.mbRole == contract.Client {
				var err error
				if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				cfg.Connect = ln.Addr().String()
			}
			res := runContract(t, w, w.caseFor(t), cfg, nil)
			if res.Exit != contract.ExitFailed || res.Outcome == nil {
				t.Fatalf("exit %d, want 1 with an outcome\n%s", res.Exit, res.Describe())
			}
			o := res.Outcome
			if o.Handshake == contract.HandshakeOK || o.AppData != contract.AppDataNone || o.AlertSent != nil || o.Negotiated != nil {
				t.Fatalf("outcome %+v: want no handshake, no alert, no application data\n%s", o, res.Describe())
			}
			if !strings.Contains(o.Error, "verifier") {
				t.Fatalf("the error does not name the verifier: %q", o.Error)
			}
			if ln != nil {
				// The client must not have connected (process driver; a
				// container's loopback is its own, and as closed).
				ln.(*net.TCPListener).SetDeadline(time.Now().Add(100 * time.Millisecond))
				if c, err := ln.Accept(); err == nil {
					c.Close()
					t.Fatalf("the mbedTLS client connected although it has no verifier")
				}
			}
		})
	}
}

// provisionEndorsement gives the run's Veraison a's endorsement.
func provisionEndorsement(t *testing.T, w *world, a *software.Attester) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := veraison.ProvisionEndorsement(ctx, w.svc.ProvisioningURL, a.Endorsement(), nil)
	return err
}
