package ea07_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/hkdf"
	_ "crypto/sha256"
	_ "crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile/ea07"
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
	table    = codepoint.Default()
)

// run builds m's parties, lets edit change them and the engine configs,
// and runs one connection.
func run(t *testing.T, m party.Model, edit func(cli, srv *party.Party), editCfg func(cc, sc *tls13.Config)) *harness.Result {
	t.Helper()
	f := newFixture(t)
	m.Profile = ea07.Name
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
	r, err := harness.Run(ctx, cc, sc)
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

func TestModels(t *testing.T) {
	for _, m := range []party.Model{
		{Server: bg},
		{Server: passport},
		{Client: bg},
		{Client: passport},
		{Server: bg, Client: bg},
		{Server: passport, Client: passport},
		{Server: bg, Client: passport},
		{Server: passport, Client: bg},
	} {
		m.Profile = ea07.Name
		t.Run(m.ID(), func(t *testing.T) {
			r := run(t, m, nil, nil)
			mustSucceed(t, r)
			for _, c := range []struct {
				attests bool
				cs      tls13.ConnectionState
				dir     string
			}{{m.Server.Attests, r.Client, "server"}, {m.Client.Attests, r.Server, "client"}} {
				o, ok := party.PeerOutcome(c.cs)
				if !c.attests {
					if ok {
						t.Errorf("an outcome for the %s, which did not attest: %+v", c.dir, o)
					}
					continue
				}
				if !ok || o.Result == nil || o.Reason != "" || o.Direction != c.dir {
					t.Errorf("%s attestation outcome %+v", c.dir, o)
				}
			}
		})
	}
}

func TestAttestationOnlyUnsupported(t *testing.T) {
	f := newFixture(t)
	m := party.Model{Profile: ea07.Name, Server: party.Side{Attests: true}}
	cli, srv := f.Parties(m)
	if _, _, err := f.Configs(m, cli, srv); !errors.Is(err, party.ErrUnsupported) {
		t.Fatalf("attestation-only credential: %v, want ErrUnsupported", err)
	}
}

// tracer keeps the handshake messages a client sent and received.
type tracer struct {
	mu   sync.Mutex
	msgs [][]byte
}

func (tr *tracer) Message(sent bool, raw []byte) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.msgs = append(tr.msgs, bytes.Clone(raw))
}
func (*tracer) Record(bool, []byte)       {}
func (*tracer) Secret(string, []byte)     {}
func (tr *tracer) hello() (ch, sh []byte) { return tr.msgs[0], tr.msgs[1] }

// The evidence the server sent carries s_attest_binder over this
// connection's ClientHello..ServerHello and the server's leaf SPKI, with
// the suite's hash (§5.1.1; §9 test 1): the verifier copies it into the
// EAR nonce the client accepted.
func TestBinderOnTheWire(t *testing.T) {
	f := newFixture(t)
	leaf, err := x509.ParseCertificate(f.Chain[false][0])
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		suite uint16
		hash  crypto.Hash
	}{{tls13.TLS_AES_128_GCM_SHA256, crypto.SHA256}, {tls13.TLS_AES_256_GCM_SHA384, crypto.SHA384}} {
		tr := &tracer{}
		r := run(t, party.Model{Server: bg}, nil, func(cc, sc *tls13.Config) {
			cc.CipherSuites, sc.CipherSuites, cc.Trace = []uint16{tc.suite}, []uint16{tc.suite}, tr
		})
		mustSucceed(t, r)
		ch, sh := tr.hello()
		h := tc.hash.New()
		h.Write(ch)
		h.Write(sh)
		want := ea07.Binder(tc.hash, h.Sum(nil), leaf)
		o, _ := party.PeerOutcome(r.Client)
		if o.Result == nil || !bytes.Equal(o.Result.Nonce, want) || len(want) != tc.hash.Size() {
			t.Errorf("%v: EAR nonce %x, want s_attest_binder %x", tc.hash, o.Result.Nonce, want)
		}
	}
}

// Both sides bind to the transcript after a HelloRetryRequest (§9 test 15).
func TestHelloRetry(t *testing.T) {
	r := run(t, party.Model{Server: bg, Client: bg}, nil, func(cc, sc *tls13.Config) {
		cc.KeyShareGroups, sc.Groups = []tls13.CurveID{tls13.X25519}, []tls13.CurveID{tls13.CurveP256}
	})
	mustSucceed(t, r)
	if !r.Client.HelloRetried {
		t.Fatal("no HelloRetryRequest happened")
	}
}

// The binder the hooks use (Binder) is AttestBinder over the RFC 8448 §3
// CH..SH hash and the trace's server certificate, and both agree with an
// HKDF-Expand-Label written out here.
func TestBinderRFC8448(t *testing.T) {
	dir := "../../../tls13/testdata/rfc8448/"
	raw, err := os.ReadFile(dir + "simple_1rtt.json")
	if err != nil {
		t.Fatal(err)
	}
	var trace struct {
		TranscriptHashes map[string]string `json:"transcript_hashes"`
	}
	if err := json.Unmarshal(raw, &trace); err != nil {
		t.Fatal(err)
	}
	th, err := hex.DecodeString(trace.TranscriptHashes["client_hello..server_hello"])
	if err != nil || len(th) != 32 {
		t.Fatalf("CH..SH hash %x: %v", th, err)
	}
	der, err := os.ReadFile(dir + "server_cert_rsa.der")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	h := crypto.SHA256
	got := ea07.Binder(h, th, leaf)
	if want := ea07.AttestBinder(h, ea07.AttestBase(h, th), leaf.RawSubjectPublicKeyInfo); !bytes.Equal(got, want) {
		t.Fatalf("Binder %x, AttestBinder %x", got, want)
	}
	expand := func(secret []byte, label string, ctx []byte) []byte {
		full := "tls13 " + label
		info := append([]byte{0, byte(h.Size()), byte(len(full))}, full...)
		info = append(append(info, byte(len(ctx))), ctx...)
		out, err := hkdf.Expand(h.New, secret, string(info), h.Size())
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	spkiHash := h.New()
	spkiHash.Write(leaf.RawSubjectPublicKeyInfo)
	base := expand(make([]byte, h.Size()), "attestation base", th)
	if want := expand(base, "attestation", spkiHash.Sum(nil)); !bytes.Equal(got, want) {
		t.Fatalf("Binder %x, HKDF-Expand-Label by hand %x", got, want)
	}
}

func TestNoCommonScheme(t *testing.T) {
	// The client accepts only evidence the server cannot produce (§7.2).
	r := run(t, party.Model{Server: bg}, func(cli, _ *party.Party) {
		cli.VerifierMediaTypes = []string{"application/x-unknown-evidence"}
	}, nil)
	mustFail(t, r, table.EA07UnsupportedAttestationSchemes, true)

	// A passport from a verifier the client does not trust.
	r = run(t, party.Model{Server: passport}, func(_, srv *party.Party) {
		srv.ResultVerifiers = [][]byte{[]byte("another verifier")}
	}, nil)
	mustFail(t, r, table.EA07UnsupportedAttestationSchemes, true)

	// The client attests with schemes the server does not accept.
	r = run(t, party.Model{Client: bg}, func(_, srv *party.Party) {
		srv.VerifierMediaTypes = []string{"application/x-unknown-evidence"}
	}, nil)
	mustFail(t, r, table.EA07UnsupportedAttestationSchemes, true)
}

func TestBothListsEmpty(t *testing.T) {
	r := run(t, party.Model{Server: bg}, nil, func(cc, _ *tls13.Config) {
		cc.Bugs.DropExtensions = []uint16{table.EA07RemoteAttestation}
		cc.Bugs.ExtraExtensions = map[uint8][]tls13.Extension{1: {{Type: table.EA07RemoteAttestation, Data: []byte{0, 0, 0, 0}}}}
	})
	mustFail(t, r, table.EA07UnsupportedAttestationSchemes, true)
}

// The client checks the chosen schemes against its offer (§7.4); the draft
// names no alert, we send illegal_parameter.
func TestChosenSchemeNotOffered(t *testing.T) {
	unoffered := func(_, srv *party.Party) { srv.Bugs.SelectUnoffered = true }
	for _, m := range []party.Model{{Server: bg}, {Server: passport}, {Client: bg}, {Client: passport}} {
		m.Profile = ea07.Name
		t.Run(m.ID(), func(t *testing.T) {
			mustFail(t, run(t, m, unoffered, nil), tls13.AlertIllegalParameter, false)
		})
	}
}

func TestAttestationRequired(t *testing.T) {
	// The server declines; the client's policy requires it (§7.4).
	r := run(t, party.Model{Server: bg}, func(_, srv *party.Party) { srv.Bugs.Decline = true }, nil)
	mustFail(t, r, table.EA07AttestationRequired, false)
	if o, ok := party.PeerOutcome(r.Client); !ok || o.Reason != party.ReasonDeclined {
		t.Errorf("client outcome %+v", o)
	}

	// A server without support for the extension (§9 test 7).
	r = run(t, party.Model{Server: bg}, func(_, srv *party.Party) { *srv = party.Party{} }, nil)
	mustFail(t, r, table.EA07AttestationRequired, false)

	// In a mutual model the server declines only its own direction.
	r = run(t, party.Model{Server: bg, Client: bg}, func(_, srv *party.Party) { srv.Bugs.Decline = true }, nil)
	mustFail(t, r, table.EA07AttestationRequired, false)

	// The client declines to attest: an empty Certificate.
	r = run(t, party.Model{Client: bg}, func(cli, _ *party.Party) { cli.Bugs.Decline = true }, nil)
	mustFail(t, r, table.EA07AttestationRequired, true)

	// The client does not offer to attest at all.
	r = run(t, party.Model{Client: bg}, func(cli, _ *party.Party) { cli.Attester = nil }, nil)
	mustFail(t, r, table.EA07AttestationRequired, true)

	// The server never sends its CertificateRequest.
	r = run(t, party.Model{Client: bg}, func(_, srv *party.Party) { srv.Bugs.OmitCertificateRequest = true }, nil)
	mustFail(t, r, table.EA07AttestationRequired, true)
}

// A server without support, a client whose policy lets it go on (§9 test 8).
func TestOptionalAttestation(t *testing.T) {
	r := run(t, party.Model{Server: bg}, func(cli, srv *party.Party) {
		cli.RequirePeer = false
		*srv = party.Party{}
	}, nil)
	mustSucceed(t, r)
	if _, ok := party.PeerOutcome(r.Client); ok {
		t.Error("an outcome without attestation")
	}
	// The client declines; the server does not require it.
	r = run(t, party.Model{Client: bg}, func(cli, srv *party.Party) {
		cli.Bugs.Decline = true
		srv.RequirePeer = false
	}, nil)
	mustSucceed(t, r)
	if o, _ := party.PeerOutcome(r.Server); o.Reason != party.ReasonDeclined {
		t.Errorf("server outcome %+v", o)
	}
}

// §4.1: the extension only in the first CertificateEntry.
func TestPayloadInOtherEntry(t *testing.T) {
	f := newFixture(t)
	move := func(p *party.Party, isClient bool) {
		p.Chain = append(append([][]byte{}, f.Chain[isClient]...), f.Plain[isClient].Chain[0])
		p.Bugs.PayloadEntry = 1
	}
	r := run(t, party.Model{Server: bg}, func(_, srv *party.Party) { move(srv, false) }, nil)
	mustFail(t, r, tls13.AlertIllegalParameter, false)
	r = run(t, party.Model{Client: passport}, func(cli, _ *party.Party) { move(cli, true) }, nil)
	mustFail(t, r, tls13.AlertIllegalParameter, true)
}

func TestAttestationFailed(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name   string
		m      party.Model
		bugs   party.Bugs
		reason attest.Reason
	}{
		{"wrong binder/server", party.Model{Server: bg}, party.Bugs{WrongChallenge: true}, attest.ReasonStatus},
		{"wrong binder/client", party.Model{Client: bg}, party.Bugs{WrongChallenge: true}, attest.ReasonStatus},
		{"malformed CMW/server", party.Model{Server: bg}, party.Bugs{MalformedPayload: true}, party.ReasonMalformedPayload},
		{"malformed CMW/client passport", party.Model{Client: passport}, party.Bugs{MalformedPayload: true}, party.ReasonMalformedPayload},
		{"missing extension/server", party.Model{Server: passport}, party.Bugs{OmitPayload: true}, party.ReasonMissingPayload},
		{"missing extension/client", party.Model{Client: bg}, party.Bugs{OmitPayload: true}, party.ReasonMissingPayload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bySrv := tc.m.Client.Attests
			r := run(t, tc.m, func(cli, srv *party.Party) {
				if bySrv {
					cli.Bugs = tc.bugs
				} else {
					srv.Bugs = tc.bugs
				}
			}, nil)
			mustFail(t, r, table.EA07AttestationFailed, bySrv)
			rp := r.Client
			if bySrv {
				rp = r.Server
			}
			if o, ok := party.PeerOutcome(rp); !ok || o.Reason != tc.reason {
				t.Errorf("outcome %+v, want reason %s", o, tc.reason)
			}
		})
	}

	// Evidence captured from an earlier connection (§5.1.3, §9 test 12).
	r := run(t, party.Model{Server: bg}, nil, nil)
	mustSucceed(t, r)
	var rc ea07.RemoteAttestationCertificate
	data, ok := tls13.FindExtension(r.Client.PeerCertificate.Entries[0].Extensions, table.EA07RemoteAttestation)
	if !ok || rc.Unmarshal(data) != nil {
		t.Fatal("no remoteAttestation in the server's Certificate")
	}
	r = run(t, party.Model{Server: bg}, func(_, srv *party.Party) { srv.Bugs.ReplayPayload = rc.CMWPayload }, nil)
	mustFail(t, r, table.EA07AttestationFailed, false)

	// Evidence of another attester whose key is not the certificate's
	// (§5.2): the server's certificate and key, the client's attester.
	r = run(t, party.Model{Server: bg}, func(_, srv *party.Party) {
		srv.Attester = &otherAttester{Attester: f.Attester[true], tik: f.Attester[false].Identity()}
	}, nil)
	mustFail(t, r, table.EA07AttestationFailed, false)
}

// otherAttester signs the handshake with tik but produces another
// attester's evidence, bound to tik's binder.
type otherAttester struct {
	attest.Attester
	tik crypto.Signer
}

func (o *otherAttester) Identity() crypto.Signer { return o.tik }

// Post-handshake client reattestation (§5.4.1): the server's second
// CertificateRequest carries chosen_client_scheme again, and the client's
// answer is appraised like the first.
func TestPostHandshakeReattestation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bugs  party.Bugs
		alert tls13.AlertCode
	}{{"fresh", party.Bugs{}, 0}, {"wrong binder", party.Bugs{WrongChallenge: true}, table.EA07AttestationFailed}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			m := party.Model{Profile: ea07.Name, Client: bg}
			cli, srv := f.Parties(m)
			cc, sc, err := f.Configs(m, cli, srv)
			if err != nil {
				t.Fatal(err)
			}
			cc.PostHandshakeAuth = true
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			type outcomes struct {
				first, second party.Outcome
				err           error
			}
			start, done := make(chan struct{}), make(chan outcomes, 1)
			go func() {
				var o outcomes
				defer func() { done <- o }()
				raw, err := ln.Accept()
				if err != nil {
					o.err = err
					return
				}
				defer raw.Close()
				c := tls13.Server(raw, sc)
				if o.err = c.HandshakeContext(ctx); o.err != nil {
					return
				}
				o.first, _ = party.PeerOutcome(c.ConnectionState())
				<-start
				if o.err = c.RequestClientCertificate(ctx); o.err != nil {
					return
				}
				o.second, _ = party.PeerOutcome(c.ConnectionState())
				_, o.err = c.Write([]byte(harness.Pong))
			}()
			raw, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			raw.SetDeadline(time.Now().Add(20 * time.Second))
			c := tls13.Client(raw, cc)
			if err := c.HandshakeContext(ctx); err != nil {
				t.Fatal(err)
			}
			cli.Bugs = tc.bugs
			close(start)
			buf := make([]byte, len(harness.Pong))
			n, readErr := c.Read(buf)
			o := <-done
			if tc.alert != 0 {
				if code, sent, ok := harness.Alert(o.err); !ok || !sent || code != tc.alert {
					t.Fatalf("server: %v, want sent %v", o.err, tc.alert)
				}
				if code, sent, ok := harness.Alert(readErr); !ok || sent || code != tc.alert || n != 0 {
					t.Fatalf("client read %q, %v; want received %v", buf[:n], readErr, tc.alert)
				}
				return
			}
			if o.err != nil || readErr != nil || string(buf[:n]) != harness.Pong {
				t.Fatalf("server %v; client read %q, %v", o.err, buf[:n], readErr)
			}
			if o.first.Result == nil || o.second.Result == nil || bytes.Equal(o.first.Result.EAR, o.second.Result.EAR) {
				t.Fatalf("no fresh appraisal: first %+v, second %+v", o.first, o.second)
			}
		})
	}
}

// fuzzPeerExtension replaces the remoteAttestation extension one side
// sends in message type msgType with arbitrary bytes: the other side never
// panics, ends with success or one of the alerts this profile sends for
// its negotiation, and never lets data through after a failure.
func fuzzPeerExtension(f *testing.F, m party.Model, msgType uint8, fromClient bool, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	allowed := map[tls13.AlertCode]bool{
		tls13.AlertDecodeError: true, tls13.AlertIllegalParameter: true, tls13.AlertUnsupportedExtension: true,
		table.EA07UnsupportedAttestationSchemes: true, table.EA07AttestationRequired: true, table.EA07AttestationFailed: true,
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := run(t, m, nil, func(cc, sc *tls13.Config) {
			cfg := sc
			if fromClient {
				cfg = cc
			}
			cfg.Bugs.DropExtensions = []uint16{table.EA07RemoteAttestation}
			cfg.Bugs.ExtraExtensions = map[uint8][]tls13.Extension{msgType: {{Type: table.EA07RemoteAttestation, Data: body}}}
		})
		if r.ClientErr == nil && r.ServerErr == nil {
			return
		}
		for _, err := range []error{r.ClientErr, r.ServerErr} {
			if code, _, ok := harness.Alert(err); err != nil && (!ok || !allowed[code]) {
				t.Fatalf("unexpected failure %v\n%s", err, r.Describe())
			}
		}
		if r.ClientGot != "" || r.ServerGot != "" {
			t.Fatalf("data after a failure\n%s", r.Describe())
		}
	})
}

func schemeSeeds(f *testing.F) [][]byte {
	f.Helper()
	ev := ea07.AttestationScheme{Mechanism: ea07.MechanismEvidence, Evidence: ea07.EvidenceType{Encoding: ea07.MediaType,
		MediaType: newFixtureF(f).MediaTypes[0]}}
	ch, err := ea07.RemoteAttestationCH{ServerAttesterSchemes: []ea07.AttestationScheme{ev}}.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	ee, err := ea07.RemoteAttestationEE{ChosenServerScheme: ev}.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	return [][]byte{ch, ee, {0, 0, 0, 0}, {}, {1, 0, 0}, {0, 0xff}}
}

func newFixtureF(f *testing.F) *harness.Fixture {
	fixtureOnce.Do(func() { fixture, fixtureErr = harness.NewFixture() })
	if fixtureErr != nil {
		f.Fatal(fixtureErr)
	}
	return fixture
}

// FuzzServerReadsClientHello: the server's negotiation on arbitrary
// ClientHello extension bodies.
func FuzzServerReadsClientHello(f *testing.F) {
	fuzzPeerExtension(f, party.Model{Server: bg, Client: passport}, 1, true, schemeSeeds(f)...)
}

// FuzzClientReadsEncryptedExtensions: the client's check of arbitrary
// chosen_server_scheme bodies.
func FuzzClientReadsEncryptedExtensions(f *testing.F) {
	fuzzPeerExtension(f, party.Model{Server: bg}, 8, false, schemeSeeds(f)...)
}

// FuzzServerReadsCertificate: the server's handling of an arbitrary
// remoteAttestation body in the client's first CertificateEntry.
func FuzzServerReadsCertificate(f *testing.F) {
	ok, err := ea07.RemoteAttestationCertificate{CMWPayload: []byte{0x82, 0x61, 0x61, 0x41, 0x00}}.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ok)
	f.Add([]byte{0, 0, 0})
	f.Add([]byte{0, 0, 5, 1})
	f.Fuzz(func(t *testing.T, body []byte) {
		r := run(t, party.Model{Client: bg}, func(cli, _ *party.Party) { cli.Bugs.OmitPayload = true }, func(cc, _ *tls13.Config) {
			cc.Bugs.ExtraEntryExtensions = map[int][]tls13.Extension{0: {{Type: table.EA07RemoteAttestation, Data: body}}}
		})
		code, sent, isAlert := harness.Alert(r.ServerErr)
		if !isAlert || !sent || (code != tls13.AlertDecodeError && code != table.EA07AttestationFailed) || r.ServerGot != "" {
			t.Fatalf("server: %v, want decode_error or attestation_failed\n%s", r.ServerErr, r.Describe())
		}
	})
}

// A server that negotiated client attestation has the engine validate the
// client's chain (HookState.VerifyChain) even where Config.ClientAuth
// would only parse it, with the engine's alerts.
func TestClientChainValidated(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(sc *tls13.Config)
		want tls13.AlertCode
	}{
		{"unknown CA", func(sc *tls13.Config) { sc.ClientCAs = x509.NewCertPool() }, tls13.AlertUnknownCA},
		{"expired", func(sc *tls13.Config) {
			sc.Time = func() time.Time { return time.Now().AddDate(50, 0, 0) }
		}, tls13.AlertCertificateExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, party.Model{Client: bg}, nil, func(cc, sc *tls13.Config) {
				if sc.ClientAuth >= tls13.VerifyClientCertIfGiven {
					t.Fatalf("ClientAuth %v: the engine would validate the chain itself", sc.ClientAuth)
				}
				tc.edit(sc)
			})
			mustFail(t, r, tc.want, true)
		})
	}
}
