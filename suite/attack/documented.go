package attack

import (
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile"
)

// The documented verdict of every cell of the verdict matrix: whatever
// the relying party (the in-process reference or a peer under test), an
// attack must come out exactly as written here, so a regression either
// way (an attack newly succeeding, or a documented weakness silently
// "fixed" by a check that should not fire) fails.

// Variant is a column of the verdict matrix, by how the attester's
// attestation is bound to the connection: "poc", "ta-07/ao",
// "ta-07/x509" or "ea-07", the variant of the named profile's binding of
// credential cred ("" for a profile or credential it does not know).
func Variant(name string, cred party.Credential) string {
	d, err := profile.Describe(name)
	if err != nil {
		return ""
	}
	return d.Binds(cred).Variant
}

// Documented is the documented verdict of c.
func Documented(c Cell) (Expectation, bool) {
	e, ok := documented[c]
	return e, ok
}

// Cells lists every documented cell.
func Cells() []Cell {
	out := make([]Cell, 0, len(documented))
	for c := range documented {
		out = append(out, c)
	}
	return out
}

// ScenarioText and CapabilityText say what an attacker does, in words.
var ScenarioText = map[Scenario]string{
	Diversion:      "evidence relay and diversion: the attacker terminates the victim's TLS with its own stack and obtains attestation for the victim's challenge from the genuine attester",
	Splice:         "splicing: the attacker copies the genuine attester's attestation and CertificateVerify from a concurrent handshake it fed with the victim's nonce",
	ReplayEvidence: "replay of evidence (and its CertificateVerify) captured from an earlier connection",
	ReplayFreshEAR: "replay of an earlier connection's passport EAR inside the victim's freshness window (policy.Freshness)",
	ReplayStaleEAR: "replay of an earlier connection's passport EAR beyond the victim's freshness window (policy.Freshness)",
	OtherKey:       "evidence for the victim's challenge that attests another key than the attacker's TLS key",
	NonceReuse:     "re-use of a nonce the verifier already consumed (local.Config.IssuedNonces)",
}

var CapabilityText = map[Capability]string{
	Relay:    "relaying the genuine attester's records",
	Oracle:   "on a compromised host next to the genuine TPM (attestation and TIK-signing oracle)",
	TEEBound: "facing a TEE-bound attester (TIK and binder computation in the TEE)",
	Replay:   "replaying records captured from earlier connections",
}

// Cell is one cell of the verdict matrix: a scenario played with a
// capability against a variant (see Variant).
type Cell struct {
	Scenario   Scenario
	Capability Capability
	Variant    string
}

// Expectation is a cell's documented verdict, the check that decides
// it, and why.
type Expectation struct {
	Verdict Verdict
	Check   Check
	Why     string
}

func prevented(check Check, why string) Expectation {
	return Expectation{Verdict: Prevented, Check: check, Why: why}
}

func succeeds(why string) Expectation {
	return Expectation{Verdict: Succeeds, Why: why}
}

// oracleRelay is why a TIK-signing attestation oracle defeats every
// binder; what names the challenge it attests.
func oracleRelay(what string) Expectation {
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

var documented = map[Cell]Expectation{
	// Relay and diversion.
	{Diversion, Relay, "poc"}: prevented(CheckCertificateVerify,
		"the attacker, as the server of its own handshake with the genuine client, hands it the victim's nonce and relays the evidence, "+
			"which is "+cvNonceOnly),
	{Diversion, Relay, "ta-07/ao"}: prevented(CheckCertificateVerify,
		"the attacker puts the victim's nonce in its own evidence_request to the genuine server and relays the evidence, "+
			"which is (§6.1) "+cvNonceOnly),
	{Diversion, Relay, "ta-07/x509"}: prevented(CheckBinder,
		"the attacker can feed the victim's nonce, but the channel binder (§6.2.1) is a handshake exporter of the attacker's own handshake "+
			"with the genuine server, not of the victim's; its certificate would fail key binding next"),
	{Diversion, Relay, "ea-07"}: prevented(CheckBinder,
		"the binder hashes the victim's ClientHello...ServerHello and the end-entity key (§5.1.1); the genuine server's evidence binds "+
			"the attacker's own handshake with it and the genuine TIK"),
	{Diversion, Oracle, "poc"}:        oracleRelay("the nonce the victim server sent"),
	{Diversion, Oracle, "ta-07/ao"}:   oracleRelay("the victim client's evidence_request nonce"),
	{Diversion, Oracle, "ta-07/x509"}: oracleRelay("the handshake-exporter binder of the victim's handshake"),
	{Diversion, Oracle, "ea-07"}:      oracleRelay("s_attest_binder over the victim's hello transcript and the genuine TIK"),
	{Diversion, TEEBound, "poc"}: prevented(CheckCertificateVerify,
		teeRefused+"what the attacker relays from a handshake the TEE did terminate is "+cvNonceOnly),
	{Diversion, TEEBound, "ta-07/ao"}: prevented(CheckCertificateVerify,
		teeRefused+"what the attacker relays from a handshake the TEE did terminate is "+cvNonceOnly),
	{Diversion, TEEBound, "ta-07/x509"}: prevented(CheckBinder,
		teeRefused+"evidence from the attacker's own handshake with the TEE carries that handshake's exporter binder"),
	{Diversion, TEEBound, "ea-07"}: prevented(CheckBinder,
		teeRefused+"evidence from the attacker's own handshake with the TEE binds that handshake's hello transcript"),

	// Splicing.
	{Splice, Relay, "poc"}: prevented(CheckCertificateVerify,
		"the spliced evidence carries the victim's nonce, fed to the genuine client, so appraisal passes; the spliced CertificateVerify "+
			"signs the other handshake's transcript (other randoms and key shares) and fails with the attested key"),
	{Splice, Relay, "ta-07/ao"}: prevented(CheckCertificateVerify,
		"the spliced evidence carries the victim's nonce, fed to the genuine server, so appraisal passes; the spliced CertificateVerify "+
			"signs the other handshake's transcript and fails with the attested key"),
	{Splice, Relay, "ta-07/x509"}: prevented(CheckBinder,
		"the spliced evidence carries the exporter binder of the concurrent handshake, not of the victim's"),
	{Splice, Relay, "ea-07"}: prevented(CheckBinder,
		"the spliced evidence binds the concurrent handshake's hello transcript, not the victim's"),
	{Splice, Oracle, "poc"}: succeeds("nonce-only binding is relayable: evidence the genuine client produced in another handshake, " +
		"bound only to the nonce the attacker made equal to the victim's, is accepted in the victim's handshake, and the TIK signs the " +
		"attacker's CertificateVerify. Documented as succeeding (CCC attested-tls-poc PR #58; Intra-handshake.fail binders #2 and #6)"),
	{Splice, Oracle, "ta-07/ao"}: succeeds("attestation-only ta-07 binds evidence to the nonce alone (§6.1): evidence from another " +
		"handshake that carried the relayed nonce is accepted, and the TIK signs the attacker's CertificateVerify. Documented as " +
		"succeeding, like the PoC: only the attested key's signature ties the evidence to a handshake"),
	{Splice, Oracle, "ta-07/x509"}: prevented(CheckBinder,
		"even with the TIK signing for it, the attacker cannot reuse evidence from another handshake: its binder is that handshake's "+
			"exporter (§6.2.1). This is what the binder adds over a nonce; only the attestation oracle itself (relay, oracle) gets past"),
	{Splice, Oracle, "ea-07"}: prevented(CheckBinder,
		"even with the TIK signing for it, the attacker cannot reuse evidence from another handshake: its binder hashes that handshake's "+
			"ClientHello...ServerHello (§5.1.1). Only the attestation oracle itself (relay, oracle) gets past"),
	{Splice, TEEBound, "poc"}: prevented(CheckCertificateVerify,
		teeRefused+"the spliced CertificateVerify from the TEE's own handshake signs another transcript"),
	{Splice, TEEBound, "ta-07/ao"}: prevented(CheckCertificateVerify,
		teeRefused+"the spliced CertificateVerify from the TEE's own handshake signs another transcript"),
	{Splice, TEEBound, "ta-07/x509"}: prevented(CheckBinder,
		teeRefused+"the spliced evidence carries the exporter binder of the TEE's own handshake"),
	{Splice, TEEBound, "ea-07"}: prevented(CheckBinder,
		teeRefused+"the spliced evidence binds the hello transcript of the TEE's own handshake"),

	// Replay of evidence.
	{ReplayEvidence, Replay, "poc"}: prevented(CheckNonce,
		"the old evidence carries the nonce of the earlier connection; the victim's verifier issued a fresh one"),
	{ReplayEvidence, Replay, "ta-07/ao"}: prevented(CheckNonce,
		"the old evidence carries the nonce of the earlier connection; the victim's verifier issued a fresh one"),
	{ReplayEvidence, Replay, "ta-07/x509"}: prevented(CheckBinder,
		"the old evidence carries the exporter binder of the earlier handshake"),
	{ReplayEvidence, Replay, "ea-07"}: prevented(CheckBinder,
		"the old evidence binds the earlier handshake's hello transcript, whose randoms and key shares differ (§5.1.3, §8.1)"),

	// Replay of results.
	{ReplayFreshEAR, Replay, "poc"}: prevented(CheckEvidenceType,
		"the PoC defines no passport: the server appraises Parsec TPM evidence only, and an EAR (captured from a ta-07 passport "+
			"connection of the same client) is refused as an unsupported evidence type"),
	{ReplayFreshEAR, Replay, "ta-07/ao"}: prevented(CheckCertificateVerify,
		earNoBinding+"; only CertificateVerify by the attested TIK stops the replay. An attacker that can also sign with the TIK gets in "+
			"until the window closes"),
	{ReplayFreshEAR, Replay, "ta-07/x509"}: prevented(CheckCertificateVerify,
		earNoBinding+" and the replayed genuine chain passes key binding; only CertificateVerify by the TIK stops the replay"),
	{ReplayFreshEAR, Replay, "ea-07"}: prevented(CheckCertificateVerify,
		earNoBinding+" and the replayed genuine chain passes key binding; only CertificateVerify by the TIK stops the replay"),
	{ReplayStaleEAR, Replay, "poc"}: prevented(CheckEvidenceType,
		"the PoC defines no passport: an EAR sent as evidence is refused as an unsupported type, fresh or not"),
	{ReplayStaleEAR, Replay, "ta-07/ao"}: prevented(CheckFreshness,
		"the victim's clock is past iat + policy.Freshness: the result is stale before any key or signature check"),
	{ReplayStaleEAR, Replay, "ta-07/x509"}: prevented(CheckFreshness,
		"the victim's clock is past iat + policy.Freshness: the result is stale before any key or signature check"),
	{ReplayStaleEAR, Replay, "ea-07"}: prevented(CheckFreshness,
		"the victim's clock is past iat + policy.Freshness: the result is stale before any key or signature check"),

	// Evidence bound to another key.
	{OtherKey, Oracle, "poc"}: prevented(CheckCertificateVerify,
		"the oracle attests the victim's nonce, but the TPM certifies only its own TIK; with an attestation-only credential the "+
			"attested key is the one that must sign CertificateVerify, and the attacker signs with its own"),
	{OtherKey, Oracle, "ta-07/ao"}: prevented(CheckCertificateVerify,
		"the oracle attests the victim's nonce, but the TPM certifies only its own TIK; with an attestation-only credential the "+
			"attested key is the one that must sign CertificateVerify, and the attacker signs with its own"),
	{OtherKey, Oracle, "ta-07/x509"}: prevented(CheckKeyBinding,
		"the oracle attests the binder of the victim's handshake, but the key attestation certifies the TPM's TIK, not the end-entity "+
			"key of the attacker's certificate (§4, §5.1): key binding fails before CertificateVerify"),
	{OtherKey, Oracle, "ea-07"}: prevented(CheckKeyBinding,
		"the oracle attests the binder the victim computes with the attacker's end-entity key, but the key attestation certifies the "+
			"TPM's TIK: the attested key must be the end-entity key (§5.2)"),

	// Nonce reuse.
	{NonceReuse, Replay, "poc"}: prevented(CheckNonceReuse,
		"the server hands out a nonce its verifier already consumed (as the fork's fixed nonce 00..07 would) and the attacker replays "+
			"the evidence bound to it; a verifier that accepts each issued nonce once refuses it (an in-process one with a nonce registry, "+
			"whatever ATLS_VERIFIER says: Veraison takes caller-supplied nonces and keeps none)"),
	{NonceReuse, Replay, "ta-07/ao"}: prevented(CheckNonceReuse,
		"the client's evidence_request carries a nonce its verifier already consumed and the attacker replays the evidence bound to "+
			"it; a verifier that accepts each issued nonce once refuses it (in-process, with a nonce registry, whatever ATLS_VERIFIER says)"),
	{NonceReuse, Replay, "ta-07/x509"}: prevented(CheckNonceReuse,
		"the verifier refuses the consumed nonce before the binder is compared (which would fail too: the exporter of the new "+
			"handshake differs even with the same nonce)"),
	{NonceReuse, Replay, "ea-07"}: prevented(CheckBinder,
		"ea-07 has no verifier nonce: freshness comes from the hello transcript (both randoms and key shares), so there is no nonce to "+
			"reuse, and the replayed evidence fails the binder"),
	// Post-handshake attestation (xp-03): the evidence answers an RFC 9261
	// authenticator request after the handshake, and the relying party
	// validates the authenticator (its CertificateVerify over the
	// connection's exporter-derived handshake context) before it
	// appraises the CMW inside. What the in-handshake profiles stop at
	// appraisal, xp-03 may stop one check earlier.
	{Diversion, Relay, "xp-03"}: prevented(CheckBinder,
		"the attacker puts the victim's certificate_request_context (its verifier's nonce) in its own authenticator request to the "+
			"genuine server and relays the evidence, but the binding value hashes the TLS exporter of the attacker's own connection "+
			"with the genuine server and the genuine key (§5.1), not the victim connection's; the attacker's own key signs a "+
			"CertificateVerify that verifies"),
	{Diversion, Oracle, "xp-03"}: succeeds("the oracle attests the binding value the attacker's stack computes from the victim " +
		"connection's exporter and the genuine AIK's SPKI, and the AIK signs the attacker's authenticator, while the attacker's own TLS " +
		"stack holds the session keys. Moving attestation after the handshake does not help: the exporter is the attacker's to compute. " +
		"Documented as succeeding for every profile"),
	{Diversion, TEEBound, "xp-03"}: prevented(CheckBinder,
		teeRefused+"evidence from the attacker's own connection with the TEE binds that connection's exporter"),
	{Splice, Relay, "xp-03"}: prevented(CheckCertificateVerify,
		"the spliced CertificateVerify signed the authenticator transcript of the attacker's own connection with the genuine server "+
			"(its exporter-derived handshake context, RFC 9261 §5.2.2), and authenticator validation refuses it before the CMW is "+
			"appraised; the binding value would fail next"),
	{Splice, Oracle, "xp-03"}: prevented(CheckBinder,
		"even with the AIK signing for it and the victim's certificate_request_context in its own request, the attacker gets evidence "+
			"bound to its own connection's exporter (§5.1), not the victim's. Only the attestation oracle itself (relay, oracle) gets past"),
	{Splice, TEEBound, "xp-03"}: prevented(CheckCertificateVerify,
		teeRefused+"the CertificateVerify spliced from the TEE's own authenticator signs another connection's handshake context"),
	{ReplayEvidence, Replay, "xp-03"}: prevented(CheckCertificateVerify,
		"the replayed CertificateVerify signed the earlier connection's handshake context and request; authenticator validation "+
			"refuses it before the evidence, whose binding value names the earlier connection's exporter, is appraised"),
	{ReplayFreshEAR, Replay, "xp-03"}: prevented(CheckCertificateVerify,
		"a passport result is fresh by its age alone and the replayed genuine chain passes key binding; only the authenticator's "+
			"CertificateVerify, which signed the earlier connection's handshake context, stops the replay"),
	{ReplayStaleEAR, Replay, "xp-03"}: prevented(CheckCertificateVerify,
		"the authenticator is validated before its CMW is appraised: the replayed CertificateVerify fails before the result's age is "+
			"looked at, so the freshness check that stops this replay in the in-handshake profiles is never reached"),
	{OtherKey, Oracle, "xp-03"}: prevented(CheckKeyBinding,
		"the oracle attests the binding value the victim computes with the attacker's end-entity SPKI, but the key attestation "+
			"certifies the TPM's AIK: the appraisal, given the end-entity key to compare, refuses it before AIK_pub_hash is (§5.2)"),
	{NonceReuse, Replay, "xp-03"}: prevented(CheckCertificateVerify,
		"the victim's request carries a nonce its verifier already consumed, but the same certificate_request_context does not "+
			"restore the earlier connection's handshake context: the replayed CertificateVerify fails before the verifier sees the nonce"),
}

// Text is the verdict in words.
func (e Expectation) Text() string {
	if e.Verdict == Succeeds {
		return "the attack succeeds"
	}
	return "prevented by the " + string(e.Check) + " check"
}
