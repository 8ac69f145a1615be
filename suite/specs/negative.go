package specs

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/policy"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/reports/requirements"
	"github.com/attested-tls/conformance/suite/harness"
)

// violation is one negative spec: a model run with one party misbehaving,
// and the fatal alert the draft prescribes for it.
type violation struct {
	// it is the spec's sentence, in the draft's words.
	it string
	// fault, if set, makes the attesting party use a fresh attester with
	// these faults on the fixture's root of trust, endorsed as a faulty
	// attester is (a TPM shows UnendorsedKey in its endorsement, so the
	// shared attesters cannot be broken and mended per spec).
	fault *parsectpm.Faults
	tweak harness.Tweaks
	// alert is the code sender must send and its peer receive;
	// onVeraison, if set, replaces it when the verifier is Veraison.
	alert, onVeraison tls13.AlertCode
	sender            Endpoint
	reqs              []string
	// bounded: the violation is the evidence's bound on what it binds
	// (attest.Bounded), which evidence binding the key through a hashed
	// challenge does not have.
	bounded bool
}

// describeViolations registers the container of model m: one negative
// spec per violation, then whatever more specs extra registers; labelled
// like m's matrix entries (without their requirement labels).
func describeViolations(m party.Model, vs []violation, extra func()) {
	Describe(describeModel(m), Case{Model: m}.Labels(), func() {
		for _, v := range vs {
			var labels Labels
			for _, id := range v.reqs {
				labels = append(labels, requirements.Label(id))
			}
			It(v.it, labels, func(ctx SpecContext) {
				if _, ok := fixture().Attester[attester(m) == Client].(attest.Bounded); v.bounded && !ok {
					Skip(fmt.Sprintf("%s evidence binds a challenge of any length", fixture().Root))
				}
				tweak := v.tweak
				if v.fault != nil {
					att := attester(m)
					a, chain, err := fixture().NewAttester(ctx, att == Client, *v.fault, false)
					Expect(err).NotTo(HaveOccurred())
					tweak = then(tweak, on(att, func(p *party.Party) { p.Attester, p.Chain = a, chain }))
				}
				r := run(m, tweak)
				alert := v.alert
				if v.onVeraison != 0 && fixture().VerifierKind == harness.VerifierVeraison {
					alert = v.onVeraison
				}
				Expect(r).To(AbortWith(alert, SentBy(v.sender)))
				Expect(r).To(FailClosed())
			})
		}
		if extra != nil {
			extra()
		}
	})
}

// describeModel is a container sentence: "ta-07 background check, client
// attests, X.509 plus attestation".
func describeModel(m party.Model) string {
	s := attesting(m)[0]
	topo := map[party.Topology]string{party.BackgroundCheck: "background check", party.Passport: "passport"}[s.Topology]
	cred := map[party.Credential]string{party.AttestationOnly: "attestation-only credential", party.X509: "X.509 plus attestation"}[s.Credential]
	return fmt.Sprintf("%s %s, %s attests, %s", m.Profile, topo, roleLabel(m), cred)
}

// attester is the endpoint that attests in a one-sided model.
func attester(m party.Model) Endpoint {
	return Endpoint(m.Client.Attests)
}

// oneSided lists the models in which exactly one side attests.
func oneSided(p profileSpec) []party.Model {
	var out []party.Model
	for _, c := range p.cases() {
		if r := roleLabel(c.Model); r == "server" || r == "client" {
			out = append(out, c.Model)
		}
	}
	return out
}

// The tweaks below make one party misbehave; e names whose party.

// then is t followed by u.
func then(t, u harness.Tweaks) harness.Tweaks {
	return harness.Tweaks{
		Parties: func(client, server *party.Party) {
			for _, f := range []func(client, server *party.Party){t.Parties, u.Parties} {
				if f != nil {
					f(client, server)
				}
			}
		},
		Configs: func(client, server *tls13.Config) {
			for _, f := range []func(client, server *tls13.Config){t.Configs, u.Configs} {
				if f != nil {
					f(client, server)
				}
			}
		},
	}
}

func on(e Endpoint, f func(p *party.Party)) harness.Tweaks {
	return harness.Tweaks{Parties: func(client, server *party.Party) {
		if e == Client {
			f(client)
		} else {
			f(server)
		}
	}}
}

// noCommonType makes the relying party e able to appraise only an evidence
// type no attester produces.
func noCommonType(e Endpoint) harness.Tweaks {
	return on(e, func(p *party.Party) { p.VerifierMediaTypes = []string{"application/x-no-such-evidence"} })
}

// noCommonVerifier makes the relying party e trust only a verifier the
// attester cannot get results from.
func noCommonVerifier(e Endpoint) harness.Tweaks {
	return on(e, func(p *party.Party) {
		p.Policy = &policy.Policy{Verifiers: []attest.TrustedVerifier{fixture().OtherVerifier.Trusted()}, RequireKeyBinding: true}
	})
}

// untrustedResults makes the attester e present results signed by a
// verifier nobody trusts, while still offering the trusted one's identity.
func untrustedResults(e Endpoint) harness.Tweaks {
	return on(e, func(p *party.Party) {
		p.Results = party.PassportSource{Attester: fixture().Attester[e == Client], Verifier: fixture().OtherVerifier}
	})
}

// payloadInSecondEntry sends a two-certificate chain with the attestation
// on the CA's entry instead of the end-entity's.
func payloadInSecondEntry(e Endpoint) harness.Tweaks {
	return on(e, func(p *party.Party) {
		p.Chain = fixture().ChainWithCA(e == Client)
		p.Bugs.PayloadEntry = 1
	})
}

func bug(e Endpoint, set func(b *party.Bugs)) harness.Tweaks {
	return on(e, func(p *party.Party) { set(&p.Bugs) })
}

var otherKey = &parsectpm.Faults{CertifyOtherKey: true}
