// Package specs is the conformance suite's spec tree. Specs register when
// the package is initialised (var _ = Describe(...)), so any binary that
// imports it and calls ginkgo.RunSpecs runs the same tree: suite_test.go
// under `go test`, and the conformance command.
//
// Labels select specs: profile:<name>, model:bg|passport|mixed,
// role:server|client|mutual, credential:attestation-only|x509, and
// req:<ID> for every catalogued requirement a spec checks
// (reports/requirements); the coverage report after the suite fails when a
// testable MUST is checked by no spec. misplaced-extension selects the
// specs of profile extensions sent in messages they are not defined for
// (misplaced.go).
package specs

import (
	"context"
	"fmt"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/suite/harness"
)

// One fixture per process: its keys and verifiers cost milliseconds, but
// specs share the attesters' endorsements with it.
var (
	fixtureOnce     sync.Once
	fixtureVal      *harness.Fixture
	fixtureErr      error
	fixtureRoot     = harness.RootSoftware
	fixtureVerifier = harness.VerifierLocal
)

// UseFixture sets the root of trust (harness.RootSoftware, RootSimulator
// or RootSwtpm) and the verifier (harness.VerifierLocal or
// VerifierVeraison) of the fixture the specs share; call it before they
// run. The default is software keys and the in-process verifier.
func UseFixture(root, verifier string) {
	fixtureRoot, fixtureVerifier = root, verifier
}

// fixture returns the process's fixture, creating it on first use (lazily
// rather than in a BeforeSuite, so a binary embedding the tree may have its
// own), on the root of trust and verifier UseFixture set.
func fixture() *harness.Fixture {
	fixtureOnce.Do(func() {
		fixtureVal, fixtureErr = harness.NewFixtureOn(context.Background(), fixtureRoot, fixtureVerifier)
	})
	ExpectWithOffset(1, fixtureErr).NotTo(HaveOccurred(), "building the fixture")
	return fixtureVal
}

// CloseFixture releases the fixture's TPM connections and swtpm; call it
// after the suite.
func CloseFixture() error {
	if fixtureVal == nil {
		return nil
	}
	return fixtureVal.Close()
}

// run handshakes m between our client and server with tweaks applied.
func run(m party.Model, t harness.Tweaks) *harness.Result {
	skipUnexpressible(m)
	r, err := fixture().Handshake(context.Background(), m, t)
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), "setting up %s", m.ID())
	AddReportEntry(handshakeEntry, summarize(m, r), ReportEntryVisibilityNever)
	return r
}

// Endpoint names one side of the connection in spec sentences.
type Endpoint bool

const (
	Client Endpoint = true
	Server Endpoint = false
)

func (e Endpoint) String() string {
	if e == Client {
		return "client"
	}
	return "server"
}

// Other is the peer of e.
func (e Endpoint) Other() Endpoint { return !e }

// SentBy names the endpoint that sends an alert: AbortWith(code, SentBy(Server)).
func SentBy(e Endpoint) Endpoint { return e }

// skipUnexpressible skips a model the fixture's evidence format cannot
// carry: an attestation-only credential appraised by background check
// needs the TLS key named in the evidence, which a Keyless attester's
// evidence (a PSA token) does not do; and with Veraison, whose results
// for it attest no key, nor does a passport fetched before the handshake.
func skipUnexpressible(m party.Model) {
	for isClient, s := range map[bool]party.Side{true: m.Client, false: m.Server} {
		if _, keyless := fixture().Attester[isClient].(attest.Keyless); keyless && s.Attests &&
			s.Credential == party.AttestationOnly && s.Topology == party.BackgroundCheck {
			Skip(fmt.Sprintf("%s evidence names no key: an attestation-only credential cannot be appraised by background check", fixture().Root))
		}
		// Veraison attests no key for such evidence: its result binds the
		// TLS key only through a challenge the relying party recomputes,
		// and an in-handshake passport was fetched before the handshake,
		// for the verifier's own nonce.
		if _, keyless := fixture().Attester[isClient].(attest.Keyless); keyless && s.Attests && s.Topology == party.Passport &&
			fixture().VerifierKind == harness.VerifierVeraison && profile.MustDescribe(m.Profile).Phase == party.InHandshake {
			Skip(fmt.Sprintf("Veraison's results for %s evidence attest no key, and an in-handshake passport carries no challenge the relying party can recompute", fixture().Root))
		}
	}
}
