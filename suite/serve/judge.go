package serve

import (
	"strings"
	"sync"

	"github.com/onsi/gomega"

	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/suite/harness"
	"github.com/attested-tls/conformance/suite/interop"
	"github.com/attested-tls/conformance/suite/specs"
)

// WireChecks runs the profile's wire checks (the in-process specs') on a
// completed pair case, from the handshake messages the reference sent and
// read: what `conformance run` checks after a positive case completes.
func WireChecks(c interop.Case, r *interop.Result) { specs.CheckWire(c.Model, pairResult(c, r)) }

// pairResult is a pair case as the wire checks read it.
func pairResult(c interop.Case, r *interop.Result) *harness.Result {
	hr := &harness.Result{Client: r.Wire.State, Server: r.Wire.State, Foreign: true}
	ours, theirs := r.Flights()
	hr.ClientSent, hr.ServerSent = ours, theirs
	hr.ClientFrames, hr.ServerFrames = r.Frames(true), r.Frames(false)
	if c.PeerRole == contract.Client {
		hr.ClientSent, hr.ServerSent = theirs, ours
		hr.ClientFrames, hr.ServerFrames = hr.ServerFrames, hr.ClientFrames
	}
	return hr
}

// judging serializes Judge: the judges assert with Gomega's global
// instance, whose failure handler Judge swaps.
var judging sync.Mutex

// Judge is `conformance run`'s verdict on what the reference saw of one
// visitor's connection: the wire judge of a positive or negative case
// (interop.JudgeWire) and, for a positive case, the profile's wire
// checks. A visitor reports nothing, so nothing else is judged. It
// returns "" for a pass, else the first failure. It configures Gomega's
// global instance, so it is for use outside a Ginkgo suite.
func Judge(c interop.Case, r *interop.Result) (reason string) {
	judging.Lock()
	defer judging.Unlock()
	// A handler for Gomega to count as configured; the interception
	// below replaces it while the judges run.
	gomega.RegisterFailHandler(func(string, ...int) {})
	err := gomega.InterceptGomegaFailure(func() {
		interop.JudgeWire(c, r)
		if c.Negative == nil {
			specs.CheckWireOutsideSpecs(c.Model, pairResult(c, r))
		}
	})
	if err == nil {
		return ""
	}
	return strings.TrimSpace(err.Error())
}
