package specs

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/impl/attest/endpoint"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/reports/results"
	"github.com/attested-tls/conformance/suite/attack"
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
// credential, with the one-sided models the attacks run on.
type attackVariant struct {
	key, name string
	// bg is the background-check model; passport the passport model
	// where the profile has one (poc: bg again).
	bg, passport endpoint.Model
}

func attesterSide(topo party.Topology, cred party.Credential) endpoint.Side {
	return endpoint.Side{Attests: true, Topology: topo, Credential: cred}
}

// The attacked side is the server, the attester of confidential computing
// (Sardar et al.'s "TLS server as RATS attester"), except in the PoC,
// where only the client attests.
var attackVariants = []attackVariant{
	{key: "poc", name: "poc (nonce-only binding)",
		bg:       endpoint.Model{Profile: "poc", Client: attesterSide(party.BackgroundCheck, party.AttestationOnly)},
		passport: endpoint.Model{Profile: "poc", Client: attesterSide(party.BackgroundCheck, party.AttestationOnly)}},
	{key: "ta-07/ao", name: "ta-07 attestation-only (nonce binding)",
		bg:       endpoint.Model{Profile: "ta-07", Server: attesterSide(party.BackgroundCheck, party.AttestationOnly)},
		passport: endpoint.Model{Profile: "ta-07", Server: attesterSide(party.Passport, party.AttestationOnly)}},
	{key: "ta-07/x509", name: "ta-07 X.509 + attestation (handshake-exporter binder)",
		bg:       endpoint.Model{Profile: "ta-07", Server: attesterSide(party.BackgroundCheck, party.X509)},
		passport: endpoint.Model{Profile: "ta-07", Server: attesterSide(party.Passport, party.X509)}},
	{key: "ea-07", name: "ea-07 (hello-transcript and TIK binder)",
		bg:       endpoint.Model{Profile: "ea-07", Server: attesterSide(party.BackgroundCheck, party.X509)},
		passport: endpoint.Model{Profile: "ea-07", Server: attesterSide(party.Passport, party.X509)}},
}

func (v attackVariant) model(s attack.Scenario) endpoint.Model {
	if s == attack.ReplayFreshEAR || s == attack.ReplayStaleEAR {
		return v.passport
	}
	return v.bg
}

var scenarioText = map[attack.Scenario]string{
	attack.Diversion:      "evidence relay and diversion: the attacker terminates the victim's TLS with its own stack and obtains attestation for the victim's challenge from the genuine attester",
	attack.Splice:         "splicing: the attacker copies the genuine attester's attestation and CertificateVerify from a concurrent handshake it fed with the victim's nonce",
	attack.ReplayEvidence: "replay of evidence (and its CertificateVerify) captured from an earlier connection",
	attack.ReplayFreshEAR: "replay of an earlier connection's passport EAR inside the victim's freshness window (policy.Freshness)",
	attack.ReplayStaleEAR: "replay of an earlier connection's passport EAR beyond the victim's freshness window (policy.Freshness)",
	attack.OtherKey:       "evidence for the victim's challenge that attests another key than the attacker's TLS key",
	attack.NonceReuse:     "re-use of a nonce the verifier already consumed (local.Config.IssuedNonces)",
}

var capabilityText = map[attack.Capability]string{
	attack.Relay:    "relaying the genuine attester's records",
	attack.Oracle:   "on a compromised host next to the genuine TPM (attestation and TIK-signing oracle)",
	attack.TEEBound: "facing a TEE-bound attester (TIK and binder computation in the TEE)",
	attack.Replay:   "replaying records captured from earlier connections",
}

type attackCell struct {
	scenario   attack.Scenario
	capability attack.Capability
	variant    string
}

type attackExpectation struct {
	verdict attack.Verdict
	check   attack.Check
	why     string
}

func prevented(check attack.Check, why string) attackExpectation {
	return attackExpectation{verdict: attack.Prevented, check: check, why: why}
}

func succeeds(why string) attackExpectation {
	return attackExpectation{verdict: attack.Succeeds, why: why}
}

// oracleRelay is why a TIK-signing attestation oracle defeats every
// binder; what names the challenge it attests.
func oracleRelay(what string) attackExpectation {
	return succeeds("the oracle attests the victim's exact challenge (" + what + ") and the attested TIK signs the attacker's CertificateVerify, " +
		"while the attacker's own TLS stack holds the session keys. No intra-handshake binder can show that the keys stayed inside " +
		"the attested boundary: ea-07's security guarantees assume the TIK is never used outside the TEE, and Sardar et al. " +
		"(Intra-handshake.fail, CVE-2026-33697) show every binder relayable by such an attacker. Documented as succeeding for every profile")
}

const (
	cvNonceOnly = "bound to the nonce alone, which the attacker relayed, so appraisal passes; but CertificateVerify " +
		"must verify with the attested TIK over the victim's own transcript, and the attacker signs with its own key"
	teeRefused   = "the TEE refuses to attest the victim's challenge, which its own TLS stack did not compute, and its TIK signs only handshakes it terminates; "
	earNoBinding = "a passport carries no handshake challenge (ta-07 §5.4–5.5: results are cacheable while the freshness policy allows; " +
		"ea-07 results schemes carry no binder, §8.3), so the victim accepts the old EAR for the genuine TIK"
)

// attackExpectations is the documented verdict of every cell.
var attackExpectations = map[attackCell]attackExpectation{
	// Relay and diversion.
	{attack.Diversion, attack.Relay, "poc"}: prevented(attack.CheckCertificateVerify,
		"the attacker, as the server of its own handshake with the genuine client, hands it the victim's nonce and relays the evidence, "+
			"which is "+cvNonceOnly),
	{attack.Diversion, attack.Relay, "ta-07/ao"}: prevented(attack.CheckCertificateVerify,
		"the attacker puts the victim's nonce in its own evidence_request to the genuine server and relays the evidence, "+
			"which is (§6.1) "+cvNonceOnly),
	{attack.Diversion, attack.Relay, "ta-07/x509"}: prevented(attack.CheckBinder,
		"the attacker can feed the victim's nonce, but the channel binder (§6.2.1) is a handshake exporter of the attacker's own handshake "+
			"with the genuine server, not of the victim's; its certificate would fail key binding next"),
	{attack.Diversion, attack.Relay, "ea-07"}: prevented(attack.CheckBinder,
		"the binder hashes the victim's ClientHello...ServerHello and the end-entity key (§5.1.1); the genuine server's evidence binds "+
			"the attacker's own handshake with it and the genuine TIK"),
	{attack.Diversion, attack.Oracle, "poc"}:        oracleRelay("the nonce the victim server sent"),
	{attack.Diversion, attack.Oracle, "ta-07/ao"}:   oracleRelay("the victim client's evidence_request nonce"),
	{attack.Diversion, attack.Oracle, "ta-07/x509"}: oracleRelay("the handshake-exporter binder of the victim's handshake"),
	{attack.Diversion, attack.Oracle, "ea-07"}:      oracleRelay("s_attest_binder over the victim's hello transcript and the genuine TIK"),
	{attack.Diversion, attack.TEEBound, "poc"}: prevented(attack.CheckCertificateVerify,
		teeRefused+"what the attacker relays from a handshake the TEE did terminate is "+cvNonceOnly),
	{attack.Diversion, attack.TEEBound, "ta-07/ao"}: prevented(attack.CheckCertificateVerify,
		teeRefused+"what the attacker relays from a handshake the TEE did terminate is "+cvNonceOnly),
	{attack.Diversion, attack.TEEBound, "ta-07/x509"}: prevented(attack.CheckBinder,
		teeRefused+"evidence from the attacker's own handshake with the TEE carries that handshake's exporter binder"),
	{attack.Diversion, attack.TEEBound, "ea-07"}: prevented(attack.CheckBinder,
		teeRefused+"evidence from the attacker's own handshake with the TEE binds that handshake's hello transcript"),

	// Splicing.
	{attack.Splice, attack.Relay, "poc"}: prevented(attack.CheckCertificateVerify,
		"the spliced evidence carries the victim's nonce, fed to the genuine client, so appraisal passes; the spliced CertificateVerify "+
			"signs the other handshake's transcript (other randoms and key shares) and fails with the attested key"),
	{attack.Splice, attack.Relay, "ta-07/ao"}: prevented(attack.CheckCertificateVerify,
		"the spliced evidence carries the victim's nonce, fed to the genuine server, so appraisal passes; the spliced CertificateVerify "+
			"signs the other handshake's transcript and fails with the attested key"),
	{attack.Splice, attack.Relay, "ta-07/x509"}: prevented(attack.CheckBinder,
		"the spliced evidence carries the exporter binder of the concurrent handshake, not of the victim's"),
	{attack.Splice, attack.Relay, "ea-07"}: prevented(attack.CheckBinder,
		"the spliced evidence binds the concurrent handshake's hello transcript, not the victim's"),
	{attack.Splice, attack.Oracle, "poc"}: succeeds("nonce-only binding is relayable: evidence the genuine client produced in another handshake, " +
		"bound only to the nonce the attacker made equal to the victim's, is accepted in the victim's handshake, and the TIK signs the " +
		"attacker's CertificateVerify. Documented as succeeding (CCC attested-tls-poc PR #58; Intra-handshake.fail binders #2 and #6)"),
	{attack.Splice, attack.Oracle, "ta-07/ao"}: succeeds("attestation-only ta-07 binds evidence to the nonce alone (§6.1): evidence from another " +
		"handshake that carried the relayed nonce is accepted, and the TIK signs the attacker's CertificateVerify. Documented as " +
		"succeeding, like the PoC: only the attested key's signature ties the evidence to a handshake"),
	{attack.Splice, attack.Oracle, "ta-07/x509"}: prevented(attack.CheckBinder,
		"even with the TIK signing for it, the attacker cannot reuse evidence from another handshake: its binder is that handshake's "+
			"exporter (§6.2.1). This is what the binder adds over a nonce; only the attestation oracle itself (relay, oracle) gets past"),
	{attack.Splice, attack.Oracle, "ea-07"}: prevented(attack.CheckBinder,
		"even with the TIK signing for it, the attacker cannot reuse evidence from another handshake: its binder hashes that handshake's "+
			"ClientHello...ServerHello (§5.1.1). Only the attestation oracle itself (relay, oracle) gets past"),
	{attack.Splice, attack.TEEBound, "poc"}: prevented(attack.CheckCertificateVerify,
		teeRefused+"the spliced CertificateVerify from the TEE's own handshake signs another transcript"),
	{attack.Splice, attack.TEEBound, "ta-07/ao"}: prevented(attack.CheckCertificateVerify,
		teeRefused+"the spliced CertificateVerify from the TEE's own handshake signs another transcript"),
	{attack.Splice, attack.TEEBound, "ta-07/x509"}: prevented(attack.CheckBinder,
		teeRefused+"the spliced evidence carries the exporter binder of the TEE's own handshake"),
	{attack.Splice, attack.TEEBound, "ea-07"}: prevented(attack.CheckBinder,
		teeRefused+"the spliced evidence binds the hello transcript of the TEE's own handshake"),

	// Replay of evidence.
	{attack.ReplayEvidence, attack.Replay, "poc"}: prevented(attack.CheckNonce,
		"the old evidence carries the nonce of the earlier connection; the victim's verifier issued a fresh one"),
	{attack.ReplayEvidence, attack.Replay, "ta-07/ao"}: prevented(attack.CheckNonce,
		"the old evidence carries the nonce of the earlier connection; the victim's verifier issued a fresh one"),
	{attack.ReplayEvidence, attack.Replay, "ta-07/x509"}: prevented(attack.CheckBinder,
		"the old evidence carries the exporter binder of the earlier handshake"),
	{attack.ReplayEvidence, attack.Replay, "ea-07"}: prevented(attack.CheckBinder,
		"the old evidence binds the earlier handshake's hello transcript, whose randoms and key shares differ (§5.1.3, §8.1)"),

	// Replay of results.
	{attack.ReplayFreshEAR, attack.Replay, "poc"}: prevented(attack.CheckEvidenceType,
		"the PoC defines no passport: the server appraises Parsec TPM evidence only, and an EAR (captured from a ta-07 passport "+
			"connection of the same client) is refused as an unsupported evidence type"),
	{attack.ReplayFreshEAR, attack.Replay, "ta-07/ao"}: prevented(attack.CheckCertificateVerify,
		earNoBinding+"; only CertificateVerify by the attested TIK stops the replay. An attacker that can also sign with the TIK gets in "+
			"until the window closes"),
	{attack.ReplayFreshEAR, attack.Replay, "ta-07/x509"}: prevented(attack.CheckCertificateVerify,
		earNoBinding+" and the replayed genuine chain passes key binding; only CertificateVerify by the TIK stops the replay"),
	{attack.ReplayFreshEAR, attack.Replay, "ea-07"}: prevented(attack.CheckCertificateVerify,
		earNoBinding+" and the replayed genuine chain passes key binding; only CertificateVerify by the TIK stops the replay"),
	{attack.ReplayStaleEAR, attack.Replay, "poc"}: prevented(attack.CheckEvidenceType,
		"the PoC defines no passport: an EAR sent as evidence is refused as an unsupported type, fresh or not"),
	{attack.ReplayStaleEAR, attack.Replay, "ta-07/ao"}: prevented(attack.CheckFreshness,
		"the victim's clock is past iat + policy.Freshness: the result is stale before any key or signature check"),
	{attack.ReplayStaleEAR, attack.Replay, "ta-07/x509"}: prevented(attack.CheckFreshness,
		"the victim's clock is past iat + policy.Freshness: the result is stale before any key or signature check"),
	{attack.ReplayStaleEAR, attack.Replay, "ea-07"}: prevented(attack.CheckFreshness,
		"the victim's clock is past iat + policy.Freshness: the result is stale before any key or signature check"),

	// Evidence bound to another key.
	{attack.OtherKey, attack.Oracle, "poc"}: prevented(attack.CheckCertificateVerify,
		"the oracle attests the victim's nonce, but the TPM certifies only its own TIK; with an attestation-only credential the "+
			"attested key is the one that must sign CertificateVerify, and the attacker signs with its own"),
	{attack.OtherKey, attack.Oracle, "ta-07/ao"}: prevented(attack.CheckCertificateVerify,
		"the oracle attests the victim's nonce, but the TPM certifies only its own TIK; with an attestation-only credential the "+
			"attested key is the one that must sign CertificateVerify, and the attacker signs with its own"),
	{attack.OtherKey, attack.Oracle, "ta-07/x509"}: prevented(attack.CheckKeyBinding,
		"the oracle attests the binder of the victim's handshake, but the key attestation certifies the TPM's TIK, not the end-entity "+
			"key of the attacker's certificate (§4, §5.1): key binding fails before CertificateVerify"),
	{attack.OtherKey, attack.Oracle, "ea-07"}: prevented(attack.CheckKeyBinding,
		"the oracle attests the binder the victim computes with the attacker's end-entity key, but the key attestation certifies the "+
			"TPM's TIK: the attested key must be the end-entity key (§5.2)"),

	// Nonce reuse.
	{attack.NonceReuse, attack.Replay, "poc"}: prevented(attack.CheckNonceReuse,
		"the server hands out a nonce its verifier already consumed (as the fork's fixed nonce 00..07 would) and the attacker replays "+
			"the evidence bound to it; a verifier that accepts each issued nonce once refuses it (an in-process one with a nonce registry, "+
			"whatever ATLS_VERIFIER says: Veraison takes caller-supplied nonces and keeps none)"),
	{attack.NonceReuse, attack.Replay, "ta-07/ao"}: prevented(attack.CheckNonceReuse,
		"the client's evidence_request carries a nonce its verifier already consumed and the attacker replays the evidence bound to "+
			"it; a verifier that accepts each issued nonce once refuses it (in-process, with a nonce registry, whatever ATLS_VERIFIER says)"),
	{attack.NonceReuse, attack.Replay, "ta-07/x509"}: prevented(attack.CheckNonceReuse,
		"the verifier refuses the consumed nonce before the binder is compared (which would fail too: the exporter of the new "+
			"handshake differs even with the same nonce)"),
	{attack.NonceReuse, attack.Replay, "ea-07"}: prevented(attack.CheckBinder,
		"ea-07 has no verifier nonce: freshness comes from the hello transcript (both randoms and key shares), so there is no nonce to "+
			"reuse, and the replayed evidence fails the binder"),
}

func verdictText(e attackExpectation) string {
	if e.verdict == attack.Succeeds {
		return "the attack succeeds"
	}
	return "prevented by the " + string(e.check) + " check"
}

// victimAlert is the alert the victim must abort with: decrypt_error for a
// CertificateVerify that does not verify (RFC 8446 §4.4.3), the profile's
// failure alert for a rejected attestation.
func victimAlert(profile string, c attack.Check) tls13.AlertCode {
	if c == attack.CheckCertificateVerify {
		return tls13.AlertDecryptError
	}
	return rejectAlert(profile)
}

// rejectAlert is the alert a relying party of the profile sends for a
// rejected attestation: poc's decode_error (the fork ends every verifier
// callback failure that way), ta-07's bad_certificate, ea-07's
// attestation_failed.
func rejectAlert(profile string) tls13.AlertCode {
	if profile == "poc" {
		return tls13.AlertDecodeError
	}
	return profileFailure(profile)
}

var _ = Describe("attacks on the binding of attestation to the connection (Intra-handshake.fail, CVE-2026-33697)", Label("attack"), func() {
	for _, s := range attack.Scenarios {
		Describe(scenarioText[s]+":", func() {
			for _, c := range attack.Capabilities(s) {
				for _, v := range attackVariants {
					e, ok := attackExpectations[attackCell{s, c, v.key}]
					if !ok {
						panic(fmt.Sprintf("specs: no documented verdict for %s/%s on %s", s, c, v.key))
					}
					m := v.model(s)
					labels := append(Case{Model: m}.Labels(), "attack:"+string(s), "capability:"+string(c))
					It(fmt.Sprintf("against %s, an attacker %s: %s, because %s", v.name, capabilityText[c], verdictText(e), e.why), labels,
						func(ctx SpecContext) { runAttack(ctx, attack.Attack{Scenario: s, Capability: c, Model: m}, e) },
						NodeTimeout(time.Minute))
				}
			}
		})
	}
})

func runAttack(ctx SpecContext, a attack.Attack, e attackExpectation) {
	o, err := attack.Run(ctx, fixture(), a)
	Expect(err).NotTo(HaveOccurred(), "running %s", a)
	AddReportEntry(handshakeEntry, summarize(a.Model, o.Victim), ReportEntryVisibilityNever)
	AddReportEntry(attackEntry, results.Attack{Scenario: string(a.Scenario), Capability: string(a.Capability),
		Verdict: results.AttackVerdict(o.Verdict), Check: string(o.Check)}, ReportEntryVisibilityNever)

	Expect(o.Verdict).To(Equal(e.verdict), "the attack's verdict; documented: %s\n%s", e.why, o.Victim.Describe())
	Expect(o.Check).To(Equal(e.check), "the check that stopped it\n%s", o.Victim.Describe())
	victim := Endpoint(a.Model.Server.Attests)
	if e.verdict == attack.Succeeds {
		// The victim believes it talks to the genuine attester's TIK, and
		// exchanged data with the attacker.
		Expect(o.Victim).To(ExchangeApplicationData())
		state := o.Victim.Client
		if victim == Server {
			state = o.Victim.Server
		}
		Expect(state).To(AcceptAttestationOf(identity(bool(victim.Other()))), "the victim, fooled")
	} else {
		Expect(o.Victim).To(AbortWith(victimAlert(a.Model.Profile, e.check), SentBy(victim)))
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
