package specs

import (
	"fmt"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/reports/results"
	"github.com/attested-tls/conformance/suite/attack"
	"github.com/attested-tls/conformance/suite/harness"
)

// The attack specs: every scenario of package attack, with every
// capability it is played with, against every profile. The verdict each
// must come out with, and the check that decides it, is the table below:
// a spec passes only if the attack's outcome is exactly the documented
// one, so a regression either way (an attack newly succeeding, or a
// documented weakness silently "fixed" by a check that should not fire)
// fails the suite. Each spec's sentence carries the reasoning, and its
// verdict goes to the report's verdict matrix.

// attackVariant is one column of the verdict matrix: a profile and a
// credential, with the one-sided models the attacks run on. Its key is
// the variant of the profile's binding of the credential
// (party.Binding.Variant), which documented verdicts are keyed by.
type attackVariant struct {
	key, name string
	// bg is the background-check model; passport the passport model
	// where the profile has one (poc: bg again).
	bg, passport party.Model
}

func attesterSide(topo party.Topology, cred party.Credential) party.Side {
	return party.Side{Attests: true, Topology: topo, Credential: cred}
}

// The attacked side is the server, the attester of confidential computing
// (Sardar et al.'s "TLS server as RATS attester"), except in the PoC,
// where only the client attests. The columns, their names and their
// order are the report's; TestAttackVariants checks that they are one
// per binding the profiles describe, on the models above.
var attackVariants = []attackVariant{
	{key: "poc", name: "poc (nonce-only binding)",
		bg:       party.Model{Profile: "poc", Client: attesterSide(party.BackgroundCheck, party.AttestationOnly)},
		passport: party.Model{Profile: "poc", Client: attesterSide(party.BackgroundCheck, party.AttestationOnly)}},
	{key: "ta-07/ao", name: "ta-07 attestation-only (nonce binding)",
		bg:       party.Model{Profile: "ta-07", Server: attesterSide(party.BackgroundCheck, party.AttestationOnly)},
		passport: party.Model{Profile: "ta-07", Server: attesterSide(party.Passport, party.AttestationOnly)}},
	{key: "ta-07/x509", name: "ta-07 X.509 + attestation (handshake-exporter binder)",
		bg:       party.Model{Profile: "ta-07", Server: attesterSide(party.BackgroundCheck, party.X509)},
		passport: party.Model{Profile: "ta-07", Server: attesterSide(party.Passport, party.X509)}},
	{key: "ea-07", name: "ea-07 (hello-transcript and TIK binder)",
		bg:       party.Model{Profile: "ea-07", Server: attesterSide(party.BackgroundCheck, party.X509)},
		passport: party.Model{Profile: "ea-07", Server: attesterSide(party.Passport, party.X509)}},
	{key: "xp-03", name: "xp-03 (post-handshake: exporter and SPKI binding value in an exported authenticator)",
		bg:       party.Model{Profile: "xp-03", Server: attesterSide(party.BackgroundCheck, party.X509)},
		passport: party.Model{Profile: "xp-03", Server: attesterSide(party.Passport, party.X509)}},
}

func (v attackVariant) model(s attack.Scenario) party.Model {
	if s == attack.ReplayFreshEAR || s == attack.ReplayStaleEAR {
		return v.passport
	}
	return v.bg
}

// victimAlert is the alert the victim must abort with: decrypt_error for a
// CertificateVerify that does not verify (RFC 8446 §4.4.3), the profile's
// failure alert for a rejected attestation.
func victimAlert(name string, c attack.Check) tls13.AlertCode {
	if c == attack.CheckCertificateVerify {
		return tls13.AlertDecryptError
	}
	return rejectAlert(name)
}

// rejectAlert is the alert a relying party of the named profile sends for
// a rejected attestation (party.Alerts.Rejected): poc's decode_error (the
// fork ends every verifier callback failure that way), ta-07's
// bad_certificate, ea-07's attestation_failed.
func rejectAlert(name string) tls13.AlertCode {
	return profile.MustDescribe(name).Alerts.Rejected
}

var _ = Describe("attacks on the binding of attestation to the connection (Intra-handshake.fail, CVE-2026-33697)", Label("attack"), func() {
	for _, s := range attack.Scenarios {
		Describe(attack.ScenarioText[s]+":", func() {
			for _, c := range attack.Capabilities(s) {
				for _, v := range attackVariants {
					e, ok := attack.Documented(attack.Cell{Scenario: s, Capability: c, Variant: v.key})
					if !ok {
						panic(fmt.Sprintf("specs: no documented verdict for %s/%s on %s", s, c, v.key))
					}
					m := v.model(s)
					labels := append(Case{Model: m}.Labels(), "attack:"+string(s), "capability:"+string(c))
					It(fmt.Sprintf("against %s, an attacker %s: %s, because %s", v.name, attack.CapabilityText[c], e.Text(), e.Why), labels,
						func(ctx SpecContext) { runAttack(ctx, attack.Attack{Scenario: s, Capability: c, Model: m}, e) },
						NodeTimeout(time.Minute))
				}
			}
		})
	}
})

func runAttack(ctx SpecContext, a attack.Attack, e attack.Expectation) {
	skipUnexpressible(a.Model)
	o, err := attack.Run(ctx, fixture(), a)
	Expect(err).NotTo(HaveOccurred(), "running %s", a)
	AddReportEntry(handshakeEntry, summarize(a.Model, o.Victim), ReportEntryVisibilityNever)
	AddReportEntry(attackEntry, results.Attack{Scenario: string(a.Scenario), Capability: string(a.Capability),
		Verdict: results.AttackVerdict(o.Verdict), Check: string(o.Check)}, ReportEntryVisibilityNever)

	Expect(o.Verdict).To(Equal(e.Verdict), "the attack's verdict; documented: %s\n%s", e.Why, o.Victim.Describe())
	Expect(o.Check).To(Equal(keylessCheck(a, e.Check, o.Check)), "the check that stopped it\n%s", o.Victim.Describe())
	victim := Endpoint(a.Model.Server.Attests)
	if e.Verdict == attack.Succeeds {
		// The victim believes it talks to the genuine attester's TIK, and
		// exchanged data with the attacker.
		Expect(o.Victim).To(ExchangeApplicationData())
		state := o.Victim.Client
		if victim == Server {
			state = o.Victim.Server
		}
		Expect(state).To(AcceptAttestationOf(identity(bool(victim.Other()))), "the victim, fooled")
	} else {
		Expect(o.Victim).To(AbortWith(victimAlert(a.Model.Profile, e.Check), SentBy(victim)))
		Expect(o.Victim).To(FailClosed())
	}
	switch a.Capability {
	case attack.TEEBound:
		Expect(o.Refused).To(BeNumerically(">", 0), "the TEE refused no challenge")
		Expect(o.Legs).To(Equal(1), "the attacker's handshakes with the TEE")
	case attack.Relay:
		Expect(o.Legs).To(Equal(1), "the attacker's handshakes with the genuine attester")
	case attack.Replay:
		Expect(o.Legs).To(BeZero(), "a replay talks to no attester")
	}
}

// keylessCheck is the check that stops an attack whose documented check is
// want, for evidence that binds the TLS key through its challenge (PSA,
// CCA): that challenge is the binder or nonce and the key at once, so
// evidence for another key fails the binder's or the nonce's check; and
// Veraison fails a challenge mismatch as it fails a bad signature
// ("integrity validation failed"), so there only the contraindicated
// status names it. got is the check the run observed, accepted when it is
// one of those.
func keylessCheck(a attack.Attack, want, got attack.Check) attack.Check {
	if _, keyless := fixture().Attester[a.Model.Client.Attests].(attest.Keyless); !keyless {
		return want
	}
	challenge := []attack.Check{attack.CheckBinder, attack.CheckNonce, attack.CheckKeyBinding}
	if !slices.Contains(challenge, want) {
		return want
	}
	if fixture().VerifierKind == harness.VerifierVeraison {
		challenge = append(challenge, attack.Check("other:"+string(attest.ReasonStatus)))
	}
	if want == attack.CheckKeyBinding || fixture().VerifierKind == harness.VerifierVeraison {
		if slices.Contains(challenge, got) {
			return got
		}
	}
	return want
}
