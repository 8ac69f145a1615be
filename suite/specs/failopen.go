package specs

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/cmw"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/policy"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/suite/attack"
	"github.com/attested-tls/conformance/suite/harness"
)

// The fail-open sweep (inclavare-containers#769: a handshake that went on
// after verification failed). For every failure a relying party can meet,
// in every profile, with each side as relying party, the relying party
// aborts with the profile's failure alert, records why, and no
// application data is accepted by either side: not when the misbehaving
// peer keeps writing after the alert, nor when it writes before its
// Finished.

// failOpenTimeout is the relying party's per-call deadline
// (party.Party.Timeout) in the verifier-timeout specs: short, so the
// sweep stays fast, and a hanging verifier must be cut off at it.
const failOpenTimeout = 150 * time.Millisecond

// deadlineSlack is how late after its deadline a cut-off appraisal may
// return on a loaded machine.
const deadlineSlack = 500 * time.Millisecond

// failOpenModels are the background-check models of every profile, each
// side as relying party: verifier faults exist only where the relying
// party has a verifier. Per profile and credential, the server attesting
// alone, then the client, as far as the profile defines them.
func failOpenModels() []party.Model {
	var out []party.Model
	for _, d := range profile.All() {
		for _, c := range d.Credentials {
			s := attesterSide(party.BackgroundCheck, c)
			for _, m := range []party.Model{{Profile: d.Name, Server: s}, {Profile: d.Name, Client: s}} {
				if d.Defines(m) {
					out = append(out, m)
				}
			}
		}
	}
	return out
}

// rpFailure is one failure the relying party meets.
type rpFailure struct {
	name string
	// when completes "... aborts with <alert> when ...".
	when string
	// reasons are what the relying party may record for it.
	reasons []attest.Reason
	// fault, if set, wraps the relying party's verifier.
	fault attack.Fault
	// tweak changes the parties for the failures that are not the verifier's.
	tweak func(att, rp *party.Party)
}

// unsupportedPayload is a well-formed CMW of a media type no verifier takes.
func unsupportedPayload() []byte {
	b, err := cmw.NewRecord(cmw.CBORRecord, cmw.MediaType("application/vnd.example.unsupported-evidence"), []byte("opaque"), 0).Marshal()
	if err != nil {
		panic(err)
	}
	return b
}

var rpFailures = []rpFailure{
	{name: "verifier-down", when: "its verifier cannot be reached", fault: attack.VerifierDown,
		reasons: []attest.Reason{party.ReasonVerifierFailed}},
	{name: "verifier-timeout", when: "its verifier does not answer before the deadline", fault: attack.VerifierTimeout,
		reasons: []attest.Reason{party.ReasonVerifierFailed}},
	{name: "contraindicated", when: "its verifier returns a contraindicated result", fault: attack.VerifierContraindicates,
		reasons: []attest.Reason{attest.ReasonStatus}},
	{name: "unsupported-media-type", when: "the attestation is a CMW of a media type its verifier does not take",
		reasons: []attest.Reason{attest.ReasonUnsupportedEvidence, party.ReasonPayloadType},
		tweak:   func(att, _ *party.Party) { att.Bugs.ReplayPayload = unsupportedPayload() }},
	{name: "malformed-cmw", when: "the attestation is not a CMW",
		reasons: []attest.Reason{party.ReasonMalformedPayload},
		tweak:   func(att, _ *party.Party) { att.Bugs.MalformedPayload = true }},
	{name: "policy-mismatch", when: "its policy does not trust the verifier that signed the result",
		reasons: []attest.Reason{attest.ReasonUntrustedVerifier},
		tweak: func(_, rp *party.Party) {
			rp.Policy = &policy.Policy{Verifiers: []attest.TrustedVerifier{fixture().OtherVerifier.Trusted()}, RequireKeyBinding: true}
		}},
}

// peerBehaviour is how the failing connection's peers keep talking.
type peerBehaviour struct {
	name, what string
	set        func(attester, rp *tls13.Config)
}

var peerBehaviours = []peerBehaviour{
	{"plain", "", nil},
	{"data-after-alert", ", though both sides keep sending application data after a fatal alert",
		func(att, rp *tls13.Config) {
			att.Bugs.ApplicationDataAfterAlert = []byte("attester data after the alert")
			rp.Bugs.ApplicationDataAfterAlert = []byte("relying-party data after the alert")
		}},
	{"early-data", ", though the attester sends application data before its Finished",
		func(att, _ *tls13.Config) { att.Bugs.EarlyApplicationData = []byte("attester data before Finished") }},
}

var _ = Describe("fail-open sweep: the relying party aborts and accepts no data whatever fails (inclavare-containers#769)", Label("failopen"), func() {
	for _, m := range failOpenModels() {
		rp := Endpoint(m.Server.Attests) // the relying party: the side that does not attest
		alert := rejectAlert(m.Profile)
		Describe(describeModel(m), Case{Model: m}.Labels(), func() {
			for _, f := range rpFailures {
				for _, b := range peerBehaviours {
					It(fmt.Sprintf("%s: the %s aborts with %s when %s%s, and no application data is accepted",
						m.ID(), rp, alert, f.when, b.what), Label("failure:"+f.name, "peer:"+b.name),
						func() { failOpen(m, rp, alert, f, b) })
				}
			}
		})
	}
})

// sendAlert matches a run in which sender sent the fatal alert code,
// whatever its peer made of it.
func sendAlert(code tls13.AlertCode, sender Endpoint) resultMatcher {
	return resultMatcher{
		want: fmt.Sprintf("abort with %s (%d) sent by the %s", code, uint8(code), sender),
		check: func(r *harness.Result) string {
			if why := alertSeen(r.Failure(bool(sender)), code, true); why != "" {
				return fmt.Sprintf("the %s (sender) %s", sender, why)
			}
			return ""
		},
	}
}

func failOpen(m party.Model, rp Endpoint, alert tls13.AlertCode, f rpFailure, b peerBehaviour) {
	var faulty *attack.Faulty
	if f.fault != 0 {
		var err error
		faulty, err = attack.NewFaulty(fixture().Verifier, f.fault)
		Expect(err).NotTo(HaveOccurred())
	}
	// A post-handshake profile's attestation follows the handshake: its
	// attester's early data is application data right after its
	// authenticator, before the relying party accepted it.
	postEarly := b.name == "early-data" && profile.MustDescribe(m.Profile).Phase == party.PostHandshake
	tw := harness.Tweaks{Parties: func(client, server *party.Party) {
		att, rpp := client, server
		if rp == Client {
			att, rpp = server, client
		}
		if faulty != nil {
			rpp.Verifier = faulty
			if f.fault == attack.VerifierTimeout {
				rpp.Timeout = failOpenTimeout
			}
			if f.fault == attack.VerifierContraindicates {
				pol := *rpp.Policy
				pol.Verifiers = append(pol.Verifiers[:len(pol.Verifiers):len(pol.Verifiers)], faulty.Trusted())
				rpp.Policy = &pol
			}
		}
		if f.tweak != nil {
			f.tweak(att, rpp)
		}
		if postEarly {
			att.Bugs.DataBeforeAttestation = []byte("attester data before the attestation completed")
		}
	}}
	if b.set != nil && !postEarly {
		tw.Configs = func(client, server *tls13.Config) {
			if rp == Client {
				b.set(server, client)
			} else {
				b.set(client, server)
			}
		}
	}
	start := time.Now()
	r := run(m, tw)
	took := time.Since(start)

	if b.name == "early-data" {
		// The attester may still be writing its flight when the relying
		// party closes after the alert, and see a broken pipe instead.
		Expect(r).To(sendAlert(alert, rp))
	} else {
		Expect(r).To(AbortWith(alert, SentBy(rp)))
	}
	Expect(r).To(FailClosed())
	state := r.Server
	if rp == Client {
		state = r.Client
	}
	o, ok := party.PeerOutcome(state)
	Expect(ok).To(BeTrue(), "the %s recorded no appraisal", rp)
	Expect(o.Result).To(BeNil(), "a rejected attestation left a result")
	Expect(o.Reason).To(BeElementOf(f.reasons), "the recorded reason (%s)", o.Err)

	if faulty == nil || f.fault == attack.VerifierContraindicates {
		return
	}
	// The verifier-down and timeout cases must fail within the deadline.
	calls := faulty.Calls()
	Expect(calls).To(HaveLen(1), "appraisals the relying party asked for")
	c := calls[0]
	limit := deadlineSlack
	if f.fault == attack.VerifierTimeout {
		Expect(c.Deadline).To(BeNumerically(">", 0), "the relying party called its verifier without a deadline")
		Expect(c.Deadline).To(BeNumerically("<=", failOpenTimeout), "the deadline the relying party gave its verifier")
		limit += c.Deadline
	}
	Expect(c.Took).To(BeNumerically("<=", limit), "the appraisal outlived its deadline")
	AddReportEntry("verifier deadline", strings.Join([]string{
		fmt.Sprintf("deadline %s", c.Deadline.Round(time.Millisecond)),
		fmt.Sprintf("appraisal failed after %s", c.Took.Round(time.Millisecond)),
		fmt.Sprintf("handshake failed after %s", took.Round(time.Millisecond))}, ", "), ReportEntryVisibilityFailureOrVerbose)
}
