package specs

import (
	"crypto/rand"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/cca"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsecac"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/psa"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison"
	"github.com/attested-tls/conformance/suite/harness"
)

// The relying party checks the root of trust's evidence fully, whatever
// the root of trust (ATLS_ROOT_OF_TRUST) and the verifier (ATLS_VERIFIER):
// each way a platform or its TPM can be wrong is rejected with the
// profile's failure alert, for the reason that fault and no other gives,
// and nothing flowing.

type rotFault struct {
	it     string
	faults parsectpm.Faults
	drift  bool // the platform drifts from its endorsement
	// verdict is why the relying party must reject the evidence with the
	// in-process verifier; onVeraison, if set, replaces it when the
	// verifier is Veraison, which reports some faults differently.
	verdict, onVeraison Verdict
	// keyless and keylessOnVeraison are the same for evidence that binds
	// the TLS key through its challenge (a PSA or CCA token): the
	// format's reason for the check (nil: the format cannot express the
	// fault), and Veraison's verdict.
	keyless           func(keylessReasons) attest.Reason
	keylessOnVeraison Verdict
	// activation is the check Parsec credential-activation evidence
	// fails for the fault ("": the format cannot express it); Veraison
	// has no scheme for that evidence.
	activation attest.Reason
}

// keylessReasons are a keyless format's reasons for the checks its
// faults fail.
type keylessReasons struct{ challenge, signature, measurement attest.Reason }

var keylessFormats = map[string]keylessReasons{
	psa.MediaType: {psa.ReasonChallenge, psa.ReasonSignature, psa.ReasonMeasurement},
	cca.MediaType: {cca.ReasonChallenge, cca.ReasonSignature, cca.ReasonMeasurement},
}

// verdictFor is the verdict for f on the fixture's format and verifier,
// and false where the format cannot express f.
func (f rotFault) verdictFor() (Verdict, bool) {
	veraisonKind := fixture().VerifierKind == harness.VerifierVeraison
	if evidenceMediaType() == parsecac.MediaType {
		return ourVerdict(f.activation), f.activation != ""
	}
	if reasons, ok := keylessFormats[evidenceMediaType()]; ok {
		if f.keyless == nil {
			return Verdict{}, false
		}
		if veraisonKind {
			return f.keylessOnVeraison, true
		}
		return ourVerdict(f.keyless(reasons)), true
	}
	if veraisonKind && f.onVeraison != (Verdict{}) {
		return f.onVeraison, true
	}
	return f.verdict, true
}

// ourVerdict is the in-process verifier's verdict for a failed check: a
// contraindicated result, its problem the check's reason, which the
// relying party's policy rejects for its status.
func ourVerdict(check attest.Reason) Verdict {
	return Verdict{Reason: attest.ReasonStatus, Problem: string(check)}
}

var rotFaults = []rotFault{
	{it: "the platform's measurements no longer match its reference values", drift: true,
		verdict: ourVerdict(parsectpm.ReasonPCRDigest),
		// Veraison v0.0.2501 fails the session with HTTP 500 on a PCR
		// digest that matches no reference value, rather than issuing a
		// contraindicated result.
		onVeraison: Verdict{Reason: party.ReasonVerifierFailed, Detail: "HTTP 500"},
		// PSA_IOT and ARM_CCA call software nobody endorsed unrecognised:
		// a warning, with no problem; the in-process verifier says the
		// same.
		keyless:           func(r keylessReasons) attest.Reason { return r.measurement },
		keylessOnVeraison: Verdict{Reason: attest.ReasonStatus}},
	{it: "the evidence carries stale qualifying data", faults: parsectpm.Faults{QualifyingData: []byte("a nonce from another handshake")},
		verdict: ourVerdict(parsectpm.ReasonQualifyingData),
		// Veraison affirms it (services#447, below); the adapter's own
		// check of the quote's extraData rejects it.
		onVeraison: Verdict{Reason: parsectpm.ReasonQualifyingData},
		// PSA_IOT and ARM_CCA compare the challenge with the session
		// nonce themselves.
		keyless:           func(r keylessReasons) attest.Reason { return r.challenge },
		keylessOnVeraison: Verdict{Reason: attest.ReasonStatus, Problem: veraisonIntegrityFailed},
		activation:        parsecac.ReasonQualifyingData},
	{it: "the key attestation certifies another key than the TLS identity key", faults: parsectpm.Faults{CertifyOtherKey: true},
		verdict: ourVerdict(parsectpm.ReasonTIKMismatch),
		// Veraison does not know the TLS key: it affirms the certified
		// key, and the relying party's key binding rejects the result.
		onVeraison: Verdict{Reason: attest.ReasonKeyMismatch},
		// A PSA or CCA token binds another key through its challenge: the
		// challenge is not the one the relying party derives.
		keyless:           func(r keylessReasons) attest.Reason { return r.challenge },
		keylessOnVeraison: Verdict{Reason: attest.ReasonStatus, Problem: veraisonIntegrityFailed},
		// Evidence naming another key activated nowhere: the relying
		// party's key binding fails first.
		activation: parsecac.ReasonTIKMismatch},
	{it: "the attestation key is not endorsed", faults: parsectpm.Faults{UnendorsedKey: true},
		verdict:           ourVerdict(parsectpm.ReasonKATSignature),
		onVeraison:        Verdict{Reason: attest.ReasonStatus, Problem: veraisonIntegrityFailed},
		keyless:           func(r keylessReasons) attest.Reason { return r.signature },
		keylessOnVeraison: Verdict{Reason: attest.ReasonStatus, Problem: veraisonIntegrityFailed},
		// An EK the verifier never activated the key under.
		activation: parsecac.ReasonNotActivated},
	{it: "the TLS identity key is not fixedTPM", faults: parsectpm.Faults{NotFixedTPM: true},
		verdict: ourVerdict(parsectpm.ReasonNotFixedTPM),
		// Veraison's Parsec TPM decoder refuses a key without fixedTPM
		// before it looks the attester up.
		onVeraison: Verdict{Reason: attest.ReasonStatus, Problem: veraisonNoIdentity}},
}

// Problems Veraison v0.0.2501 puts in a contraindicated result (its VTS's
// policy claim "problem").
const (
	// The evidence does not verify with the attester's trust anchor.
	veraisonIntegrityFailed = "integrity validation failed"
	// The evidence does not decode as a valid Parsec TPM token, so its
	// attester cannot be looked up.
	veraisonNoIdentity = "could not establish identity from evidence"
)

// rotModels are the models the root-of-trust faults are shown on: per
// profile that defines it, the server attesting alone with an X.509
// credential, as a background check.
func rotModels() []party.Model {
	var out []party.Model
	for _, d := range profile.All() {
		m := party.Model{Profile: d.Name, Server: attesterSide(party.BackgroundCheck, party.X509)}
		if d.Defines(m) {
			out = append(out, m)
		}
	}
	return out
}

var _ = Describe("root of trust: the relying party rejects evidence", Label("rot"), func() {
	for _, m := range rotModels() {
		profileName := m.Profile
		Describe(profileName+" server attests, background check", Label("profile:"+profileName, "role:server", "model:bg"), func() {
			for _, f := range rotFaults {
				It("aborts with the profile's failure alert when "+f.it, func(ctx SpecContext) {
					verdict, ok := f.verdictFor()
					if !ok {
						Skip(fmt.Sprintf("%s evidence cannot express this fault", fixture().Root))
					}
					a, chain, err := fixture().NewAttester(ctx, false, f.faults, f.drift)
					Expect(err).NotTo(HaveOccurred())
					r := run(m, on(Server, func(p *party.Party) { p.Attester, p.Chain = a, chain }))
					Expect(r).To(AbortWith(rejectAlert(profileName), SentBy(Client)))
					Expect(r).To(FailClosed())
					Expect(r.Client).To(RejectAttestationFor(verdict))
				}, NodeTimeout(time.Minute))
			}
		})
	}
})

// Veraison v0.0.2501's parsec-tpm scheme does not compare the quote's
// qualifying data with the session nonce (veraison/services#447): the
// verifier affirms stale evidence, and only the relying party's own check
// rejects it. Known verifier issue; this spec fails once Veraison fixes it.
// It is shown on a ta-07 server's evidence; the gap is the verifier's, so
// every background-check profile shares it.
var _ = Describe("verifier freshness: known Veraison issue services#447", Label("known-issue", "profile:ta-07", "role:server", "model:bg"), func() {
	It("is shown by stale evidence: Veraison affirms it, our relying party rejects it", func(ctx SpecContext) {
		if evidenceMediaType() != parsectpm.MediaType {
			Skip("the gap is Veraison's PARSEC_TPM scheme's; the fixture's evidence is " + evidenceMediaType())
		}
		a, _, err := fixture().NewAttester(ctx, false, parsectpm.Faults{QualifyingData: []byte("stale-qualifying-data")}, false)
		Expect(err).NotTo(HaveOccurred())
		nonce := make([]byte, 32)
		rand.Read(nonce)
		ch := attest.Challenge{Nonce: nonce}
		ev, err := a.Evidence(ctx, ch)
		Expect(err).NotTo(HaveOccurred())
		if fixture().VerifierKind != harness.VerifierVeraison {
			// The in-process verifier checks freshness itself.
			r, err := fixture().Verifier.Appraise(ctx, ev, ch)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status.String()).To(Equal("contraindicated"), "the local verifier did not contraindicate stale evidence")
			Expect(r.Problem).To(HavePrefix(string(parsectpm.ReasonQualifyingData)+":"), "the local verifier's problem with stale evidence")
			return
		}
		trusting, err := veraison.New(ctx, veraison.Config{VerificationURL: fixture().VeraisonURL, TrustVerifierFreshness: true})
		Expect(err).NotTo(HaveOccurred())
		r, err := trusting.Appraise(ctx, ev, ch)
		Expect(err).NotTo(HaveOccurred(), "Veraison now rejects stale evidence: services#447 is fixed; update this spec")
		Expect(r.Status.String()).To(Equal("affirming"), "Veraison now rejects stale evidence: services#447 is fixed")
		_, err = fixture().Verifier.Appraise(ctx, ev, ch)
		Expect(attest.ReasonOf(err)).To(Equal(parsectpm.ReasonQualifyingData), "our relying party must reject stale evidence for its qualifying data: %v", err)
	}, NodeTimeout(time.Minute))
})
