package specs

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/reports/requirements"
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
	want := map[string]int{"ta-07": 16, "ea-07": 8, "poc": 1}
	for p, n := range want {
		if perProfile[p] != n {
			t.Errorf("%s: %d cases, want %d", p, perProfile[p], n)
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
