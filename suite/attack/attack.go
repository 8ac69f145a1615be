// Package attack is an attacker built on the reference implementation. It
// takes the place of a genuine attester in front of a victim relying party,
// in process on loopback: the victim runs the profile's own code, and the
// attacker terminates the victim's TLS with its own TLS stack, trying to
// make the victim accept a connection whose keys the attacker holds.
//
// What the attacker can borrow from the genuine attester is its
// Capability; what it tries is a Scenario. Run plays one pair against one
// interaction model and judges the outcome from the victim's side only:
// the attack succeeds when the victim finishes the handshake and
// exchanges application data with the attacker, and is prevented when the
// victim aborts with an alert and nothing flows. Check names the victim's
// check that stopped it, read from the appraisal the victim recorded.
//
// Where a profile attests after the handshake (party.PostHandshake), the
// attacker does the same with what travels in the frames of the
// application stream (post.go): the request it answers, the
// authenticator it builds, captures or replays.
package attack

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/cca"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsecac"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/psa"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/suite/harness"
)

// Capability is what the attacker can get from the genuine attester,
// besides running TLS itself.
type Capability string

const (
	// Relay: the attacker forwards the genuine attester's records and
	// runs its own handshakes with it, choosing what any peer may choose
	// (the nonce it asks to be attested); the TIK stays out of reach.
	Relay Capability = "relay"
	// Oracle: a compromised host next to a genuine TPM. The attester
	// attests any challenge, and its TIK signs anything.
	Oracle Capability = "oracle"
	// TEEBound: the TIK and the binder computation live in the TEE
	// (ea-07 §5.2–5.3), which attests only challenges its own TLS stack
	// computed and signs only within handshakes it terminates itself.
	TEEBound Capability = "tee-bound"
	// Replay: attestation payloads and CertificateVerify signatures
	// captured from earlier connections.
	Replay Capability = "replay"
)

// Scenario is what the attacker tries.
type Scenario string

const (
	// Diversion: the attacker terminates the victim's TLS with its own
	// stack and obtains attestation for the victim's challenge from the
	// genuine attester (evidence relay to a different endpoint).
	Diversion Scenario = "relay"
	// Splice: the attacker copies the genuine attester's attestation and
	// CertificateVerify from a concurrent handshake it runs with it, fed
	// with the victim's nonce, into the victim's handshake.
	Splice Scenario = "splice"
	// ReplayEvidence: evidence captured from an earlier connection.
	ReplayEvidence Scenario = "replay-evidence"
	// ReplayFreshEAR: a passport result from an earlier connection,
	// still inside the victim's freshness window (policy.Freshness).
	ReplayFreshEAR Scenario = "replay-ear-fresh"
	// ReplayStaleEAR: the same, once the window has passed.
	ReplayStaleEAR Scenario = "replay-ear-stale"
	// OtherKey: evidence for the victim's challenge that attests another
	// key than the one the attacker's TLS stack signs with.
	OtherKey Scenario = "other-key"
	// NonceReuse: the victim hands out a nonce its verifier already
	// consumed, and the attacker replays the evidence bound to it.
	NonceReuse Scenario = "nonce-reuse"
)

// Scenarios lists every scenario, in report order.
var Scenarios = []Scenario{Diversion, Splice, ReplayEvidence, ReplayFreshEAR, ReplayStaleEAR, OtherKey, NonceReuse}

// Capabilities lists the capabilities a scenario is played with: the
// attacks on binding with each way of borrowing the attester, the replays
// with captured material, and a foreign key only with the oracle (which
// alone can produce evidence for the victim's challenge).
func Capabilities(s Scenario) []Capability {
	switch s {
	case Diversion, Splice:
		return []Capability{Relay, Oracle, TEEBound}
	case OtherKey:
		return []Capability{Oracle}
	}
	return []Capability{Replay}
}

// Verdict is whether the attack got past the victim.
type Verdict string

const (
	Succeeds  Verdict = "succeeds"
	Prevented Verdict = "prevented"
)

// Check names the victim's check that stopped an attack.
type Check string

const (
	// CheckCertificateVerify: the signature over the victim's transcript
	// did not verify with the attested key.
	CheckCertificateVerify Check = "certificate-verify"
	// CheckNonce: the evidence carries another nonce than the victim's.
	CheckNonce Check = "nonce"
	// CheckBinder: the evidence carries another channel binder than the
	// one the victim computed for its handshake.
	CheckBinder Check = "binder"
	// CheckKeyBinding: the attested key is not the end-entity key.
	CheckKeyBinding Check = "key-binding"
	// CheckFreshness: the result is older than the victim's policy allows.
	CheckFreshness Check = "freshness"
	// CheckNonceReuse: the verifier had already consumed the nonce.
	CheckNonceReuse Check = "nonce-reuse"
	// CheckEvidenceType: the payload is not of a type the victim appraises.
	CheckEvidenceType Check = "evidence-type"
)

// Attack is one scenario played with one capability against a model.
type Attack struct {
	Scenario   Scenario
	Capability Capability
	// Model is the victim's interaction model: exactly one side attests,
	// and the attacker takes that side; the other side is the victim.
	// The replayed-EAR scenarios want a passport model where the profile
	// has one.
	Model party.Model
}

func (a Attack) String() string {
	return fmt.Sprintf("%s/%s on %s", a.Scenario, a.Capability, a.Model.ID())
}

// Outcome is what came of an attack, seen from the victim.
type Outcome struct {
	Verdict Verdict
	// Check is the victim's check that stopped the attack ("" if it
	// succeeded); an unrecognised rejection reads "other:<reason>".
	Check Check
	// Victim is the connection between the victim and the attacker.
	Victim *harness.Result
	// Legs counts the attacker's own handshakes with the genuine attester.
	Legs int
	// Refused counts the challenges a TEE-bound attester refused the attacker.
	Refused int
}

// Run plays a against the fixture's parties: the victim is the relying
// party the fixture builds for a.Model, the genuine attester is the
// fixture's attester on the other side.
func Run(ctx context.Context, f *harness.Fixture, a Attack) (*Outcome, error) {
	m := a.Model
	if m.Server.Attests == m.Client.Attests {
		return nil, fmt.Errorf("attack: %s: exactly one side must attest", m.ID())
	}
	if !slices.Contains(Capabilities(a.Scenario), a.Capability) {
		return nil, fmt.Errorf("attack: %s is not played with capability %s", a.Scenario, a.Capability)
	}
	st := &state{f: f, a: a, attesterIsClient: m.Client.Attests}
	st.genuine = f.Attester[st.attesterIsClient]
	var tw harness.Tweaks
	var err error
	switch a.Scenario {
	case Diversion, Splice, OtherKey:
		tw, err = st.impersonate()
	case ReplayEvidence, ReplayFreshEAR, ReplayStaleEAR:
		tw, err = st.replay(ctx)
	case NonceReuse:
		tw, err = st.reuseNonce(ctx)
	default:
		err = fmt.Errorf("attack: unknown scenario %q", a.Scenario)
	}
	if err != nil {
		return nil, err
	}
	r, err := f.Handshake(ctx, m, tw)
	if err != nil {
		return nil, err
	}
	out := &Outcome{Victim: r}
	if im := st.imp; im != nil {
		if im.LegErr != nil {
			return nil, fmt.Errorf("attack: the attacker's handshake with the genuine attester: %w", im.LegErr)
		}
		out.Legs = im.Legs
		if im.TEE != nil {
			out.Refused = im.TEE.Refused()
		}
	}
	out.Verdict, out.Check, err = Judge(m, r)
	return out, err
}

// state is one attack in progress.
type state struct {
	f                *harness.Fixture
	a                Attack
	attesterIsClient bool
	genuine          parsectpm.Attester
	imp              *Impostor // the borrowing scenarios'
}

// attacker returns the attacker's party of a victim run from the two the
// fixture built.
func (st *state) attacker(client, server *party.Party) (att, victim *party.Party) {
	if st.attesterIsClient {
		return client, server
	}
	return server, client
}

// ownKey is a key the attacker holds, certified for the attester's side by
// the fixture's CA: the attacker is a legitimate but unattested endpoint.
func (st *state) ownKey() (crypto.Signer, [][]byte, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	chain, err := st.f.Certify(k, st.attesterIsClient)
	return k, chain, err
}

// x509 reports whether the attacking side presents an X.509 chain.
func (st *state) x509() bool { return side(st.a.Model, st.attesterIsClient).Credential == party.X509 }

func side(m party.Model, client bool) party.Side {
	if client {
		return m.Client
	}
	return m.Server
}

// impersonate builds the attacker for the scenarios in which it borrows
// attestation during the victim's connection.
func (st *state) impersonate() (harness.Tweaks, error) {
	own, ownChain, err := st.ownKey()
	if err != nil {
		return harness.Tweaks{}, err
	}
	st.imp = NewImpostor(st.a.Scenario, st.a.Capability, st.genuine, own, st.leg)
	var chain [][]byte
	if st.x509() {
		chain = st.f.Chain[st.attesterIsClient]
		if st.imp.OwnKey {
			chain = ownChain
		}
	}
	tw := harness.Tweaks{Parties: func(client, server *party.Party) {
		att, _ := st.attacker(client, server)
		att.Attester, att.Chain = &st.imp.Mallory, chain
	}}
	if postHandshake(st.a.Model) {
		q := &Requests{}
		st.imp.RequestContext = q.Context
		tw.Configs = func(client, server *tls13.Config) {
			if st.attesterIsClient {
				q.Watch(client)
			} else {
				q.Watch(server)
			}
		}
	}
	return tw, nil
}

// leg runs the attacker's own handshake with a, standing for the genuine
// attester: the attacker is the relying party, its verifier's nonce
// pinned to nonce.
func (st *state) leg(ctx context.Context, a attest.Attester, nonce []byte) (*Captured, error) {
	r, err := st.f.Handshake(ctx, st.a.Model, harness.Tweaks{Parties: func(client, server *party.Party) {
		att, rp := st.attacker(client, server)
		if nonce != nil {
			rp.Verifier = &Nonces{Verifier: rp.Verifier, Pin: nonce}
		}
		att.Attester = a
	}})
	if err != nil {
		return nil, err
	}
	return st.capture(st.a.Model, r)
}

// capture reads the genuine attester's Certificate and CertificateVerify
// from a run of m.
func (st *state) capture(m party.Model, r *harness.Result) (*Captured, error) {
	flight, err := Flight(m, r)
	if err != nil {
		return nil, err
	}
	return Capture(m.Profile, side(m, m.Client.Attests).Credential, flight)
}

// replay captures a genuine connection and builds an attacker that sends
// its attestation and CertificateVerify again.
func (st *state) replay(ctx context.Context) (harness.Tweaks, error) {
	src := st.a.Model
	if st.a.Scenario != ReplayEvidence && side(src, st.attesterIsClient).Topology != party.Passport {
		// A profile without a passport model (poc): the result comes from
		// a connection in which the same attester presented it, in the
		// first profile that defines its passport attestation-only model.
		var err error
		if src, err = PassportSource(st.attesterIsClient); err != nil {
			return harness.Tweaks{}, err
		}
	}
	c, err := st.captureGenuine(ctx, src, harness.Tweaks{})
	if err != nil {
		return harness.Tweaks{}, err
	}
	return st.replayer(c, func(victim *party.Party) {
		switch st.a.Scenario {
		case ReplayFreshEAR:
			victim.Now = shifted(victimFreshness(victim) - slack)
		case ReplayStaleEAR:
			victim.Now = shifted(victimFreshness(victim) + slack)
		}
	}), nil
}

// PassportSource is the model whose passport connections give an
// attester's EAR to replay where its own profile has no passport model:
// the attester (the client, or the server) alone presents a passport with
// an attestation-only credential, in the first profile that defines it.
func PassportSource(client bool) (party.Model, error) {
	s := party.Side{Attests: true, Topology: party.Passport, Credential: party.AttestationOnly}
	var m party.Model
	if client {
		m.Client = s
	} else {
		m.Server = s
	}
	return profile.FirstDefining(m)
}

// captureGenuine runs a genuine connection of m and captures the attester's flight.
func (st *state) captureGenuine(ctx context.Context, m party.Model, tw harness.Tweaks) (*Captured, error) {
	r, err := st.f.Handshake(ctx, m, tw)
	if err != nil {
		return nil, err
	}
	if r.Failure(true) != nil || r.Failure(false) != nil {
		return nil, fmt.Errorf("attack: the genuine connection to capture failed:\n%s", r.Describe())
	}
	return st.capture(m, r)
}

// replayer is the attacker that resends c: its payload, its chain and its
// CertificateVerify signature. victim, if set, adjusts the victim.
func (st *state) replayer(c *Captured, victim func(*party.Party)) harness.Tweaks {
	m := &Mallory{Media: st.genuine.MediaTypes(), Key: &ReplayedSigner{Pub: st.genuine.Identity().Public(), Sig: c.Signature},
		Present: func(context.Context, attest.Challenge) (attest.Evidence, error) {
			return attest.Evidence{}, errors.New("attack: a replaying attacker produces no evidence")
		}}
	return harness.Tweaks{Parties: func(client, server *party.Party) {
		att, v := st.attacker(client, server)
		att.Attester, att.Chain = m, c.Chain
		att.Bugs.ReplayPayload = c.Payload
		if victim != nil {
			victim(v)
		}
	}}
}

// reuseNonce captures a genuine connection in which the victim's verifier
// issued and consumed a nonce, then has the victim hand out that nonce
// again while the attacker replays the connection's evidence. Profiles
// without a verifier nonce (ea-07) keep the fixture's verifier: there is
// nothing to reuse, and the replay meets the binder.
func (st *state) reuseNonce(ctx context.Context) (harness.Tweaks, error) {
	m := st.a.Model
	att := side(m, st.attesterIsClient)
	d, err := profile.Describe(m.Profile)
	if err != nil {
		return harness.Tweaks{}, fmt.Errorf("attack: %w", err)
	}
	withNonce := d.Binds(att.Credential).VerifierNonce && att.Topology == party.BackgroundCheck
	var verifier attest.Verifier = st.f.Verifier
	var pol func(*party.Party)
	if withNonce {
		reg, err := NonceRegistry(st.genuine.Endorsement())
		if err != nil {
			return harness.Tweaks{}, err
		}
		verifier = reg
		pol = func(p *party.Party) {
			cp := *p.Policy
			cp.Verifiers = []attest.TrustedVerifier{reg.Trusted()}
			p.Policy = &cp
		}
	}
	issued := &Nonces{Verifier: verifier}
	useVerifier := func(v attest.Verifier) func(*party.Party) {
		return func(p *party.Party) {
			p.Verifier = v
			if pol != nil {
				pol(p)
			}
		}
	}
	c, err := st.captureGenuine(ctx, m, harness.Tweaks{Parties: func(client, server *party.Party) {
		_, victim := st.attacker(client, server)
		useVerifier(issued)(victim)
	}})
	if err != nil {
		return harness.Tweaks{}, err
	}
	pinned := &Nonces{Verifier: verifier}
	if withNonce {
		n := issued.Issued()
		if len(n) != 1 {
			return harness.Tweaks{}, fmt.Errorf("attack: the genuine connection used %d verifier nonces, want 1", len(n))
		}
		pinned.Pin = n[0]
	}
	return st.replayer(c, useVerifier(pinned)), nil
}

// Judge reads the verdict of a victim run of m: succeeds when both
// handshakes completed and application data flowed (or when any did after
// a failure: failing open is success too), prevented when the victim sent
// an alert and nothing flowed.
func Judge(m party.Model, r *harness.Result) (Verdict, Check, error) {
	victimIsClient := m.Server.Attests
	vErr := r.Failure(victimIsClient)
	if r.ClientGot != "" || r.ServerGot != "" {
		// Data flowed: through a completed handshake, or although a side
		// failed, which is failing open.
		return Succeeds, "", nil
	}
	if vErr == nil {
		return "", "", fmt.Errorf("attack: inconclusive: the victim neither failed nor exchanged data\n%s", r.Describe())
	}
	code, sent, ok := harness.Alert(vErr)
	if !ok || !sent {
		return "", "", fmt.Errorf("attack: inconclusive: the victim failed without sending an alert: %v\n%s", vErr, r.Describe())
	}
	state := r.Client
	if !victimIsClient {
		state = r.Server
	}
	o, _ := party.PeerOutcome(state)
	return Prevented, checkOf(m, o, code), nil
}

// checkOf names the check behind a rejection, whatever the verifier
// (the in-process one reports evidence faults inside a contraindicated
// result's problem, the Veraison adapter as a rejection of its own).
func checkOf(m party.Model, o party.Outcome, code tls13.AlertCode) Check {
	text := string(o.Reason) + " " + o.Err
	has := func(reasons ...attest.Reason) bool {
		return slices.ContainsFunc(reasons, func(r attest.Reason) bool { return strings.Contains(text, string(r)) })
	}
	switch {
	case has(attest.ReasonNonceReused):
		return CheckNonceReuse
	case has(attest.ReasonStale, attest.ReasonExpired):
		return CheckFreshness
	case has(parsectpm.ReasonQualifyingData, attest.ReasonNonceMismatch, party.ReasonBinderMismatch, psa.ReasonChallenge, cca.ReasonChallenge,
		parsecac.ReasonQualifyingData):
		// A PSA or CCA token's challenge binds the key too
		// (attest.KeyBoundChallenge): its mismatch is the binder's or
		// nonce's check, which then also stands for the key binding.
		if usesBinder(m) {
			return CheckBinder
		}
		return CheckNonce
	case has(parsectpm.ReasonTIKMismatch, attest.ReasonKeyMismatch, parsecac.ReasonTIKMismatch):
		return CheckKeyBinding
	case has(attest.ReasonUnsupportedEvidence, party.ReasonPayloadType):
		return CheckEvidenceType
	case code == tls13.AlertDecryptError && (o.Reason == "" || strings.Contains(o.Err, "CertificateVerify")):
		// The engine refused the signature: in the handshake, before any
		// appraisal was recorded; in an authenticator, recorded as the
		// validation's failure (RFC 9261 §5.2.2).
		return CheckCertificateVerify
	case o.Reason != "":
		return Check("other:" + string(o.Reason))
	}
	return Check("other:" + code.String())
}

// usesBinder: the challenge is a channel binder (ta-07 X.509 plus
// attestation, ea-07) rather than the bare nonce (poc, ta-07
// attestation-only), as the profile's binding of the attester's
// credential says.
func usesBinder(m party.Model) bool {
	d, err := profile.Describe(m.Profile)
	return err == nil && d.Binds(side(m, m.Client.Attests).Credential).Binder
}
