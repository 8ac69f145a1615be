package specs

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/software"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/policy"
	"github.com/attested-tls/conformance/impl/attest/verify/local"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/reports/requirements"
	"github.com/attested-tls/conformance/reports/results"
	"github.com/attested-tls/conformance/suite/harness"
)

func TestCases(t *testing.T) {
	perProfile := map[string]int{}
	seen := map[string]bool{}
	cat, err := requirements.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range Cases() {
		id := c.Model.ID()
		if seen[id] {
			t.Errorf("duplicate case %s", id)
		}
		seen[id] = true
		perProfile[c.Model.Profile]++
		ls := c.Labels()
		for _, want := range []string{"profile:", "model:", "role:", "credential:"} {
			if !slices.ContainsFunc(ls, func(l string) bool { return strings.HasPrefix(l, want) }) {
				t.Errorf("%s: no %s label in %v", id, want, ls)
			}
		}
		for _, r := range c.Reqs {
			if _, ok := cat.ByID(r); !ok {
				t.Errorf("%s: unknown requirement %s", id, r)
			}
		}
	}
	// ta-07: 3 roles x 2 topologies x 2 credentials + 2 mixed x 2 credentials;
	// ea-07 the same with X.509 only; poc: client, bg, attestation-only.
	for _, w := range []struct {
		profile string
		n       int
	}{{"ta-07", 16}, {"ea-07", 8}, {"poc", 1}} {
		if perProfile[w.profile] != w.n {
			t.Errorf("%s: %d cases, want %d", w.profile, perProfile[w.profile], w.n)
		}
	}
}

func alertErr(code tls13.AlertCode, sent bool) error {
	return &tls13.AlertError{Code: code, Sent: sent, Err: errors.New("test")}
}

func TestAbortWith(t *testing.T) {
	m := AbortWith(tls13.AlertBadCertificate, SentBy(Server))
	for name, tc := range map[string]struct {
		r    *harness.Result
		want bool
	}{
		"server sent, client received in handshake": {&harness.Result{ServerErr: alertErr(42, true), ClientErr: alertErr(42, false)}, true},
		"server sent, client received on read":      {&harness.Result{ServerErr: alertErr(42, true), ClientReadErr: alertErr(42, false)}, true},
		"client sent it":                            {&harness.Result{ClientErr: alertErr(42, true), ServerErr: alertErr(42, false)}, false},
		"another code":                              {&harness.Result{ServerErr: alertErr(47, true), ClientErr: alertErr(47, false)}, false},
		"receiver saw none":                         {&harness.Result{ServerErr: alertErr(42, true)}, false},
		"receiver saw no alert":                     {&harness.Result{ServerErr: alertErr(42, true), ClientErr: errors.New("EOF")}, false},
		"success":                                   {&harness.Result{}, false},
	} {
		got, err := m.Match(tc.r)
		if err != nil || got != tc.want {
			t.Errorf("%s: Match = %v, %v; want %v", name, got, err, tc.want)
		}
		if !got && m.FailureMessage(tc.r) == "" {
			t.Errorf("%s: empty failure message", name)
		}
	}
	if _, err := m.Match("not a result"); err == nil {
		t.Error("Match accepted a string")
	}
}

func TestFailClosedAndExchange(t *testing.T) {
	failed := &harness.Result{ServerErr: alertErr(42, true)}
	leaked := &harness.Result{ServerErr: alertErr(42, true), ServerGot: harness.Ping}
	ok := &harness.Result{ClientGot: harness.Pong, ServerGot: harness.Ping}
	for name, tc := range map[string]struct {
		r                     *harness.Result
		closed, exchangedData bool
	}{
		"failed": {failed, true, false}, "leaked": {leaked, false, false}, "ok": {ok, false, true},
	} {
		if got, _ := FailClosed().Match(tc.r); got != tc.closed {
			t.Errorf("%s: FailClosed = %v", name, got)
		}
		if got, _ := ExchangeApplicationData().Match(tc.r); got != tc.exchangedData {
			t.Errorf("%s: ExchangeApplicationData = %v", name, got)
		}
	}
}

func TestRequirementLabels(t *testing.T) {
	rep := types.Report{SpecReports: types.SpecReports{
		{LeafNodeLabels: []string{"req:TA07-8.1.2-1", "profile:ta-07"}, ContainerHierarchyLabels: [][]string{{"req:TA07-8.1.2-4"}}, State: types.SpecStatePassed},
		{LeafNodeLabels: []string{"req:EA07-7.2-1"}, State: types.SpecStateSkipped},
		{LeafNodeLabels: []string{"req:POC-cv-1"}, State: types.SpecStatePending},
	}}
	got := RequirementLabels(rep)
	slices.Sort(got)
	want := []string{"EA07-7.2-1", "TA07-8.1.2-1", "TA07-8.1.2-4"}
	if !slices.Equal(got, want) {
		t.Errorf("RequirementLabels = %v, want %v", got, want)
	}
}

// outcomeOfRejection is the connection state of a relying party that
// rejected its peer's attestation with err.
func outcomeOfRejection(err error) tls13.ConnectionState {
	hs := &tls13.HookState{Values: map[string]any{}}
	party.Fail(hs, party.Outcome{Profile: "ta-07"}, tls13.AlertBadCertificate, err)
	return tls13.ConnectionState{Values: hs.Values}
}

// The verdict matcher reads the reason the relying party recorded and the
// verifier's problem its policy quotes: the in-process verifier's (a real
// appraisal of evidence whose key is not fixedTPM), Veraison's, and a
// verifier failure's message.
func TestRejectAttestationFor(t *testing.T) {
	ctx := context.Background()
	v, err := local.New(local.Config{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := software.New(software.Config{Faults: parsectpm.Faults{NotFixedTPM: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.AddEndorsement(a.Endorsement()); err != nil {
		t.Fatal(err)
	}
	ch := attest.Challenge{Nonce: []byte("0123456789abcdef0123456789abcdef"), TIK: a.Identity().Public()}
	ev, err := a.Evidence(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	r, err := v.Appraise(ctx, ev, ch)
	if err != nil {
		t.Fatal(err)
	}
	pol := policy.Policy{Verifiers: []attest.TrustedVerifier{v.Trusted()}, RequireKeyBinding: true}
	_, rejection := pol.Accept(ctx, r.EAR, ch, time.Now())
	notFixed := outcomeOfRejection(rejection)
	veraisonStatus := outcomeOfRejection(attest.Reject(attest.ReasonStatus, "status %s (problem %q), policy accepts at worst %s",
		"contraindicated", "integrity validation failed", "affirming"))
	failed := outcomeOfRejection(errors.New("veraison: submit evidence: HTTP 500: error encountered while processing evidence"))
	accepted := tls13.ConnectionState{Values: map[string]any{}}
	party.RecordPeer(&tls13.HookState{Values: accepted.Values}, party.Outcome{Profile: "ta-07"})

	for name, tc := range map[string]struct {
		cs   tls13.ConnectionState
		want Verdict
		ok   bool
	}{
		"our verifier's problem":           {notFixed, Verdict{Reason: attest.ReasonStatus, Problem: string(parsectpm.ReasonNotFixedTPM)}, true},
		"another problem":                  {notFixed, Verdict{Reason: attest.ReasonStatus, Problem: string(parsectpm.ReasonKATSignature)}, false},
		"the problem's reason as a reason": {notFixed, Verdict{Reason: parsectpm.ReasonNotFixedTPM}, false},
		"no problem expected":              {notFixed, Verdict{Reason: attest.ReasonStatus}, false},
		"Veraison's problem":               {veraisonStatus, Verdict{Reason: attest.ReasonStatus, Problem: "integrity validation failed"}, true},
		"another Veraison problem":         {veraisonStatus, Verdict{Reason: attest.ReasonStatus, Problem: "could not establish identity from evidence"}, false},
		"a verifier failure":               {failed, Verdict{Reason: party.ReasonVerifierFailed, Detail: "HTTP 500"}, true},
		"a verifier failure, other detail": {failed, Verdict{Reason: party.ReasonVerifierFailed, Detail: "HTTP 404"}, false},
		"another reason":                   {failed, Verdict{Reason: attest.ReasonKeyMismatch}, false},
		"accepted":                         {accepted, Verdict{Reason: attest.ReasonStatus}, false},
		"no appraisal":                     {tls13.ConnectionState{}, Verdict{Reason: attest.ReasonStatus}, false},
	} {
		m := RejectAttestationFor(tc.want)
		got, err := m.Match(tc.cs)
		if err != nil || got != tc.ok {
			o, _ := party.PeerOutcome(tc.cs)
			t.Errorf("%s: Match = %v, %v; want %v (outcome %+v)", name, got, err, tc.ok, o)
		}
		if !got && m.FailureMessage(tc.cs) == "" {
			t.Errorf("%s: empty failure message", name)
		}
	}
	if _, err := RejectAttestationFor(Verdict{}).Match("not a state"); err == nil {
		t.Error("Match accepted a string")
	}
}

// A spec that skipped itself keeps its reason in results.json; one the run
// did not select (filtered out, or pending) says so.
func TestResultsSkipReasons(t *testing.T) {
	const reason = "no swtpm: swtpm not installed (make deps)"
	spec := func(text string, state types.SpecState, failure types.Failure) types.SpecReport {
		return types.SpecReport{LeafNodeType: types.NodeTypeIt, LeafNodeText: text,
			LeafNodeLabels: []string{"profile:ta-07"}, State: state, Failure: failure}
	}
	rep := types.Report{SpecReports: types.SpecReports{
		spec("skips itself", types.SpecStateSkipped, types.Failure{Message: reason}),
		spec("is filtered out", types.SpecStateSkipped, types.Failure{}),
		spec("is pending", types.SpecStatePending, types.Failure{}),
		spec("passes", types.SpecStatePassed, types.Failure{}),
		spec("fails", types.SpecStateFailed, types.Failure{Message: "boom"}),
	}}
	want := map[string]struct {
		outcome results.Outcome
		message string
	}{
		"skips itself":    {results.Skipped, reason},
		"is filtered out": {results.Skipped, "not selected"},
		"is pending":      {results.Skipped, "not selected"},
		"passes":          {results.Pass, ""},
		"fails":           {results.Fail, "boom"},
	}
	got := Results(rep, "run").Specs
	if len(got) != len(want) {
		t.Fatalf("%d specs, want %d", len(got), len(want))
	}
	for _, s := range got {
		w, ok := want[s.Description]
		if !ok {
			t.Errorf("unexpected spec %q", s.Description)
			continue
		}
		if s.Outcome != w.outcome || s.Message != w.message {
			t.Errorf("%s: %s %q, want %s %q", s.Description, s.Outcome, s.Message, w.outcome, w.message)
		}
	}
}
