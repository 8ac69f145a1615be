package attack

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/eaframe"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/policy"
	"github.com/attested-tls/conformance/impl/attest/profile/xp03"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/suite/harness"
	"github.com/attested-tls/conformance/suite/harness/wire"
)

func fixture(t *testing.T) *harness.Fixture {
	t.Helper()
	f, err := harness.NewFixture()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

var (
	taX509 = party.Model{Profile: "ta-07", Server: party.Side{Attests: true, Topology: party.BackgroundCheck, Credential: party.X509}}
	pocBG  = party.Model{Profile: "poc", Client: party.Side{Attests: true, Topology: party.BackgroundCheck, Credential: party.AttestationOnly}}
	// xpBG attests after the handshake.
	xpBG = party.Model{Profile: "xp-03", Server: taX509.Server}
)

func TestRun(t *testing.T) {
	f := fixture(t)
	ctx := context.Background()
	for _, tc := range []struct {
		a       Attack
		verdict Verdict
		check   Check
		legs    int
		refused bool
	}{
		{Attack{Diversion, Oracle, taX509}, Succeeds, "", 0, false},
		{Attack{Diversion, TEEBound, taX509}, Prevented, CheckBinder, 1, true},
		{Attack{Splice, Oracle, pocBG}, Succeeds, "", 1, false},
		{Attack{Splice, Relay, pocBG}, Prevented, CheckCertificateVerify, 1, false},
		{Attack{ReplayEvidence, Replay, pocBG}, Prevented, CheckNonce, 0, false},
		{Attack{NonceReuse, Replay, pocBG}, Prevented, CheckNonceReuse, 0, false},
		{Attack{OtherKey, Oracle, taX509}, Prevented, CheckKeyBinding, 0, false},
		{Attack{Diversion, Relay, xpBG}, Prevented, CheckBinder, 1, false},
		{Attack{Splice, Relay, xpBG}, Prevented, CheckCertificateVerify, 1, false},
		{Attack{NonceReuse, Replay, xpBG}, Prevented, CheckCertificateVerify, 0, false},
	} {
		o, err := Run(ctx, f, tc.a)
		if err != nil {
			t.Errorf("%s: %v", tc.a, err)
			continue
		}
		if o.Verdict != tc.verdict || o.Check != tc.check || o.Legs != tc.legs || (o.Refused > 0) != tc.refused {
			t.Errorf("%s: %s by %q, %d legs, %d refused; want %s by %q, %d legs, refusals %v\n%s",
				tc.a, o.Verdict, o.Check, o.Legs, o.Refused, tc.verdict, tc.check, tc.legs, tc.refused, o.Victim.Describe())
		}
		if o.Verdict == Succeeds {
			victim := o.Victim.Client
			if tc.a.Model.Client.Attests {
				victim = o.Victim.Server
			}
			if po, ok := party.PeerOutcome(victim); !ok || po.Result == nil {
				t.Errorf("%s: the victim accepted no attestation although the attack succeeded", tc.a)
			}
		}
	}
}

func TestRunRefusesNonsense(t *testing.T) {
	f := fixture(t)
	mutual := taX509
	mutual.Client = mutual.Server
	for _, a := range []Attack{
		{Diversion, Replay, taX509},
		{OtherKey, Relay, taX509},
		{Diversion, Relay, mutual},
		{Diversion, Relay, party.Model{Profile: "ta-07"}},
	} {
		if _, err := Run(context.Background(), f, a); err == nil {
			t.Errorf("%s: Run accepted it", a)
		}
	}
}

func TestCapabilities(t *testing.T) {
	n := 0
	for _, s := range Scenarios {
		cs := Capabilities(s)
		if len(cs) == 0 {
			t.Errorf("%s: no capability", s)
		}
		n += len(cs)
	}
	if n != 11 {
		t.Errorf("%d scenario × capability pairs, want 11", n)
	}
}

func alertErr(code tls13.AlertCode, sent bool) error {
	return &tls13.AlertError{Code: code, Sent: sent, Err: errors.New("test")}
}

func TestJudge(t *testing.T) {
	for name, tc := range map[string]struct {
		r       *harness.Result
		verdict Verdict
		check   Check
		err     bool
	}{
		"data flowed":    {&harness.Result{ClientGot: harness.Pong, ServerGot: harness.Ping}, Succeeds, "", false},
		"failed open":    {&harness.Result{ClientErr: alertErr(tls13.AlertBadCertificate, true), ServerGot: harness.Ping}, Succeeds, "", false},
		"cv":             {&harness.Result{ClientErr: alertErr(tls13.AlertDecryptError, true), ServerErr: alertErr(tls13.AlertDecryptError, false)}, Prevented, CheckCertificateVerify, false},
		"no alert sent":  {&harness.Result{ClientErr: alertErr(tls13.AlertBadCertificate, false)}, "", "", true},
		"no failure":     {&harness.Result{}, "", "", true},
		"plain error":    {&harness.Result{ClientErr: errors.New("EOF")}, "", "", true},
		"unknown reason": {&harness.Result{ClientErr: alertErr(tls13.AlertInternalError, true)}, Prevented, "other:internal_error", false},
	} {
		v, c, err := Judge(taX509, tc.r)
		if (err != nil) != tc.err || v != tc.verdict || c != tc.check {
			t.Errorf("%s: %q %q %v; want %q %q error=%v", name, v, c, err, tc.verdict, tc.check, tc.err)
		}
	}
}

func TestCheckOf(t *testing.T) {
	taAO := taX509
	taAO.Server.Credential = party.AttestationOnly
	for _, tc := range []struct {
		m    party.Model
		o    party.Outcome
		code tls13.AlertCode
		want Check
	}{
		{taX509, party.Outcome{Reason: attest.ReasonStatus, Err: `status contraindicated (problem "parsec-tpm.qualifying-data: kat extraData")`}, tls13.AlertBadCertificate, CheckBinder},
		{taAO, party.Outcome{Reason: "parsec-tpm.qualifying-data"}, tls13.AlertBadCertificate, CheckNonce},
		{taX509, party.Outcome{Reason: attest.ReasonKeyMismatch}, tls13.AlertBadCertificate, CheckKeyBinding},
		{taX509, party.Outcome{Reason: attest.ReasonStale}, tls13.AlertBadCertificate, CheckFreshness},
		{pocBG, party.Outcome{Reason: attest.ReasonNonceReused}, tls13.AlertDecodeError, CheckNonceReuse},
		{pocBG, party.Outcome{Reason: attest.ReasonUnsupportedEvidence}, tls13.AlertDecodeError, CheckEvidenceType},
		{pocBG, party.Outcome{Reason: party.ReasonMalformedPayload}, tls13.AlertDecodeError, "other:payload.malformed"},
		{taAO, party.Outcome{}, tls13.AlertDecryptError, CheckCertificateVerify},
		// An authenticator's failures are recorded as its validation's.
		{xpBG, party.Outcome{Reason: party.ReasonVerifierFailed, Err: "tls13: decrypt_error: CertificateVerify: ECDSA signature invalid"}, tls13.AlertDecryptError, CheckCertificateVerify},
		{xpBG, party.Outcome{Reason: party.ReasonVerifierFailed, Err: "tls13: decrypt_error: authenticator Finished does not match"}, tls13.AlertDecryptError, "other:verifier.failed"},
	} {
		if got := checkOf(tc.m, tc.o, tc.code); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.o, got, tc.want)
		}
	}
}

func TestTEE(t *testing.T) {
	f := fixture(t)
	genuine := f.Attester[false]
	tee := NewTEE(genuine)
	ctx := context.Background()
	ch := attest.Challenge{Nonce: []byte("0123456789abcdef"), TIK: genuine.Identity().Public()}
	if _, err := tee.Attest(ctx, ch); attest.ReasonOf(err) != ReasonNotComputed {
		t.Fatalf("an outsider's challenge: %v, want %s", err, ReasonNotComputed)
	}
	if _, err := tee.Own().Evidence(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if _, err := tee.Attest(ctx, ch); err != nil {
		t.Errorf("a challenge the TEE's stack computed: %v", err)
	}
	other := ch
	other.TIK = f.Plain[false].Signer.Public()
	if _, err := tee.Attest(ctx, other); err == nil {
		t.Error("the same nonce for another TIK was attested")
	}
	if n := tee.Refused(); n != 2 {
		t.Errorf("Refused = %d, want 2", n)
	}
}

func TestCaptureAndParse(t *testing.T) {
	f := fixture(t)
	for _, m := range []party.Model{taX509, pocBG, xpBG,
		{Profile: "ea-07", Server: taX509.Server},
		{Profile: "ta-07", Client: party.Side{Attests: true, Topology: party.Passport, Credential: party.AttestationOnly}}} {
		r, err := f.Handshake(context.Background(), m, harness.Tweaks{})
		if err != nil {
			t.Fatal(err)
		}
		flight, err := Flight(m, r)
		if err != nil {
			t.Fatalf("%s: %v", m.ID(), err)
		}
		cred := m.Server.Credential
		if m.Client.Attests {
			cred = m.Client.Credential
		}
		c, err := Capture(m.Profile, cred, flight)
		if err != nil {
			t.Errorf("%s: %v", m.ID(), err)
			continue
		}
		if _, err := c.Evidence(); err != nil {
			t.Errorf("%s: %v", m.ID(), err)
		}
		if (c.Chain != nil) != (cred == party.X509) || c.Scheme != tls13.ECDSAWithP256AndSHA256 || len(c.Signature) == 0 {
			t.Errorf("%s: chain %d, scheme %v, signature %d bytes", m.ID(), len(c.Chain), c.Scheme, len(c.Signature))
		}
	}
	if _, err := Capture("ta-07", party.X509, nil); err == nil {
		t.Error("Capture of an empty flight succeeded")
	}
}

func TestParseCertificateVerify(t *testing.T) {
	good := wire.Message{wire.CertificateVerify, 0, 0, 6, 0x04, 0x03, 0, 2, 0xaa, 0xbb}
	s, sig, err := ParseCertificateVerify(good)
	if err != nil || s != tls13.ECDSAWithP256AndSHA256 || string(sig) != "\xaa\xbb" {
		t.Fatalf("%v %x %v", s, sig, err)
	}
	for name, m := range map[string]wire.Message{
		"empty": {}, "wrong type": append(wire.Message{wire.Finished}, good[1:]...),
		"short body": good[:len(good)-1], "trailing": append(good[:len(good):len(good)], 0),
		"empty signature": {wire.CertificateVerify, 0, 0, 4, 0x04, 0x03, 0, 0},
	} {
		_, _, err := ParseCertificateVerify(m)
		if ae, ok := tls13.AsAlert(err); !ok || ae.Code != tls13.AlertDecodeError {
			t.Errorf("%s: %v, want decode_error", name, err)
		}
	}
}

func FuzzParseCertificateVerify(f *testing.F) {
	f.Add([]byte{wire.CertificateVerify, 0, 0, 6, 0x04, 0x03, 0, 2, 0xaa, 0xbb})
	f.Add([]byte{wire.CertificateVerify, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, sig, err := ParseCertificateVerify(wire.Message(b))
		if err != nil {
			if _, ok := tls13.AsAlert(err); !ok {
				t.Fatalf("error without an alert: %v", err)
			}
			return
		}
		// Round trip: the message is exactly header, scheme, signature.
		if len(b) != 4+2+2+len(sig) || uint16(s) != uint16(b[4])<<8|uint16(b[5]) {
			t.Fatalf("parsed %v %x from %x", s, sig, b)
		}
	})
}

func TestNonces(t *testing.T) {
	f := fixture(t)
	ctx := context.Background()
	n := &Nonces{Verifier: f.Verifier}
	a, _ := n.NewNonce(ctx)
	n.Pin = []byte("pinned-nonce")
	b, _ := n.NewNonce(ctx)
	if len(a) == 0 || string(b) != "pinned-nonce" || len(n.Issued()) != 2 {
		t.Errorf("issued %x then %q; log %d", a, b, len(n.Issued()))
	}
}

func TestFaulty(t *testing.T) {
	f := fixture(t)
	ctx := context.Background()
	ev, err := f.Attester[false].Evidence(ctx, attest.Challenge{Nonce: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	ch := attest.Challenge{Nonce: []byte("0123456789abcdef")}

	down, _ := NewFaulty(f.Verifier, VerifierDown)
	if _, err := down.Appraise(ctx, ev, ch); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("down: %v", err)
	}

	slow, _ := NewFaulty(f.Verifier, VerifierTimeout)
	dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := slow.Appraise(dctx, ev, ch); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout: %v", err)
	}
	if c := slow.Calls(); len(c) != 1 || c[0].Took < 40*time.Millisecond || c[0].Took > time.Second || c[0].Deadline <= 0 {
		t.Errorf("timeout calls %+v", c)
	}

	contra, err := NewFaulty(f.Verifier, VerifierContraindicates)
	if err != nil {
		t.Fatal(err)
	}
	r, err := contra.Appraise(ctx, ev, ch)
	if err != nil {
		t.Fatal(err)
	}
	pol := policy.Policy{Verifiers: []attest.TrustedVerifier{contra.Trusted()}}
	if _, err := pol.Accept(ctx, r.EAR, ch, time.Now()); attest.ReasonOf(err) != attest.ReasonStatus {
		t.Errorf("contraindicated result: policy says %v, want %s", err, attest.ReasonStatus)
	}
	if VerifierTimeout.String() != "verifier-timeout" || Fault(9).String() != "fault(9)" {
		t.Error("Fault names")
	}
}

// TestFlightAfterHandshake: where the attestation follows the handshake,
// the attester's flight is its authenticator, read from the frames it
// sent or, through the relying party alone, from those it received.
func TestFlightAfterHandshake(t *testing.T) {
	f := fixture(t)
	r, err := f.Handshake(context.Background(), xpBG, harness.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	own, err := Flight(xpBG, r)
	if err != nil {
		t.Fatal(err)
	}
	seen := *r
	seen.Foreign = true
	got, err := Flight(xpBG, &seen)
	if err != nil {
		t.Fatal(err)
	}
	if len(own) != 3 || own[0].Type() != wire.Certificate || own[1].Type() != wire.CertificateVerify || own[2].Type() != wire.Finished {
		t.Errorf("authenticator split into %d messages", len(own))
	}
	if len(got) != len(own) || string(got[1]) != string(own[1]) {
		t.Error("the relying party received another authenticator than the attester sent")
	}
	if hs, _ := r.ServerSent.Find(wire.CertificateVerify); string(hs) == string(own[1]) {
		t.Error("the flight is the handshake's CertificateVerify")
	}
	for name, b := range map[string][]byte{"short header": {wire.Certificate, 0}, "short body": {wire.Certificate, 0, 0, 2, 0}} {
		if _, err := splitMessages(b); err == nil {
			t.Errorf("%s: split", name)
		}
	}
}

// TestRequestContext: the attacker reads the victim's
// certificate_request_context off its own connection, and feeds it to
// its own request to the genuine attester.
func TestRequestContext(t *testing.T) {
	f := fixture(t)
	q := &Requests{}
	if q.Context() != nil {
		t.Error("a context before any connection")
	}
	r, err := f.Handshake(context.Background(), xpBG, harness.Tweaks{Configs: func(_, server *tls13.Config) {
		q.Watch(server)
	}})
	if err != nil {
		t.Fatal(err)
	}
	reqs := 0
	for _, fr := range xp03.Frames(r.Client) {
		if fr.Sent && fr.Frame.Type == eaframe.AuthenticatorRequest {
			reqs++
			want, err := tls13.AuthenticatorRequestContext(fr.Frame.Body)
			if err != nil || len(want) == 0 || !bytes.Equal(q.Context(), want) {
				t.Errorf("context %x, the victim sent %x (%v)", q.Context(), want, err)
			}
		}
	}
	if reqs != 1 {
		t.Errorf("%d requests", reqs)
	}

	var fed []byte
	im := NewImpostor(Diversion, Relay, f.Attester[false], f.Plain[false].Signer, func(_ context.Context, _ attest.Attester, nonce []byte) (*Captured, error) {
		fed = nonce
		return nil, errors.New("stop")
	})
	im.RequestContext = func() []byte { return []byte("victim's context") }
	im.Present(context.Background(), attest.Challenge{Binder: []byte("binding value")})
	if string(fed) != "victim's context" {
		t.Errorf("the leg was fed %q", fed)
	}
	im.Present(context.Background(), attest.Challenge{Nonce: []byte("nonce")})
	if string(fed) != "nonce" {
		t.Errorf("a challenge's own nonce: the leg was fed %q", fed)
	}
}
