package serve

import (
	"context"
	"testing"
	"time"

	"github.com/onsi/gomega"

	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/driver"
	"github.com/attested-tls/conformance/reports/results"
	"github.com/attested-tls/conformance/suite/interop"
	"github.com/attested-tls/conformance/suite/specs"
)

// batteryVerdict is what `conformance run` decides of a pair case: the
// whole judge (the wire, then the peer's exit code, outcome line and key
// log) and, for a positive case, the profile's wire checks.
func batteryVerdict(c interop.Case, r *interop.Result) (results.Outcome, string) {
	judging.Lock()
	defer judging.Unlock()
	gomega.RegisterFailHandler(func(string, ...int) {})
	err := gomega.InterceptGomegaFailure(func() {
		if c.Negative != nil {
			interop.ExpectAborts(c, r)
			return
		}
		interop.ExpectCompletes(c, r)
		specs.CheckWireOutsideSpecs(c.Model, pairResult(c, r))
	})
	if err != nil {
		return results.Fail, err.Error()
	}
	return results.Pass, ""
}

// TestVerdictsMatchTheBattery plays each case of clientCases and
// serverCases twice: as
// `conformance run` plays it (the reference peer a process driven under
// the contract, the in-process reference on the other side, the
// battery's whole judge) and as a visitor to serve; the verdicts must be
// the same.
func TestVerdictsMatchTheBattery(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the reference peer's binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env, err := interop.Setup(ctx, driver.Choice{Kind: driver.KindProcesses}, t.TempDir(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(context.WithoutCancel(ctx))
	s := startServe(t, t.TempDir(), func(c *Config) { c.Log = nil })
	v := newVisitor(t, s, "ref")
	for _, role := range []contract.Role{contract.Client, contract.Server} {
		cases := clientCases
		if role == contract.Server {
			cases = serverCases
		}
		for _, k := range cases {
			t.Run(string(role)+"/"+k.id+"/"+k.misbehave, func(t *testing.T) {
				e := find(t, s, k.id, role)
				c := e.c
				if k.misbehave != "" {
					c.PeerEnv = append(c.PeerEnv, contract.EnvMisbehave+"="+k.misbehave) // as peers/broken-*'s manifests
				}
				r, err := env.Run(ctx, c)
				if err != nil {
					t.Fatal(err)
				}
				want, why := batteryVerdict(c, r)
				var got Conn
				if role == contract.Client {
					got = v.connect(t, s, e, k.misbehave)
				} else {
					got = v.dialed(t, s, e, k.misbehave)
				}
				if got.Verdict != want || want != k.want {
					t.Fatalf("serve: %s (%s)\nconformance run's judge: %s (%s)\nexpected: %s", got.Verdict, got.Reason, want, why, k.want)
				}
			})
		}
	}
}
