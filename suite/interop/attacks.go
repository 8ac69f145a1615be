package interop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/endpoint"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/policy"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/impl/attest/verify/local"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/inputs"
	"github.com/attested-tls/conformance/reports/results"
	"github.com/attested-tls/conformance/suite/attack"
	"github.com/attested-tls/conformance/suite/harness"
)

// Attacks on the binding of attestation to the connection
// (Intra-handshake.fail, CVE-2026-33697) with the peer in either part:
//
//   - as the victim relying party: the in-process reference is the
//     attacker, and borrows what its capability allows from the genuine
//     attester, the reference's own attester, the one the peer was told to
//     trust. Judged on the wire: the attack succeeds when the peer
//     completes and sends application data, and is prevented when it
//     aborts with the alert of the check that stops it (decrypt_error for
//     CertificateVerify, RFC 8446 §4.4.3; the profile's rejection alert
//     for an appraisal) and nothing crosses;
//   - as the genuine attester: the peer runs a case with the reference as
//     its relying party, which is the attacker's own handshake with it,
//     and the attacker relays or replays what the peer presented to an
//     in-process victim. The peer's attestation must bind the
//     connection: the victim must refuse it.
//
// The verdicts are attack.Documented's. What cannot be played against a
// process the suite does not control is left out, and said so: a peer
// draws its own nonces (nonce-reuse) and keeps its own clock
// (replay-ear-stale); the TEE and oracle capabilities need the genuine
// attester in process, so they are played only with the peer as victim.
// Where the attestation follows the handshake, the attacker borrowing
// from the genuine attester feeds it the victim's
// certificate_request_context, which it reads off its connection with
// the victim; the reference, as attacker, shows its connection only once
// the case is over, so with a peer as victim those plays are left out.

func init() { generators = append(generators, Attacks) }

// attackLimit bounds the attacker's in-process handshakes and the wait
// for the peer's flight.
const attackLimit = 45 * time.Second

// Attacks is the attack battery for one claimed, one-sided case: the
// peer as victim where the reference attests, as genuine attester where
// the peer attests in the background-check model.
func Attacks(m *contract.Manifest, c Case) []Case {
	if mutual(c) {
		return nil
	}
	_, ref, peer := c.sides()
	var out []Case
	switch {
	case ref.Attests:
		for _, p := range victimPlays(describe(c.Model), ref) {
			out = append(out, attackCase(m, c, p, false))
		}
	case peer.Attests && peer.Topology == party.BackgroundCheck:
		for _, p := range attesterPlays(describe(c.Model), peer) {
			out = append(out, attackCase(m, c, p, true))
		}
	}
	return out
}

// play is one scenario with one capability and what must come of it.
type play struct {
	cell   attack.Cell
	expect attack.Expectation
}

func documented(s attack.Scenario, cp attack.Capability, variant string) play {
	cell := attack.Cell{Scenario: s, Capability: cp, Variant: variant}
	e, ok := attack.Documented(cell)
	if !ok {
		panic(fmt.Sprintf("interop: no documented verdict for %s/%s on %s", s, cp, variant))
	}
	return play{cell, e}
}

// victimPlays are the attacks on a peer relying party whose attester
// presents ref.
func victimPlays(d party.Descriptor, ref party.Side) []play {
	v := d.Binds(ref.Credential).Variant
	if ref.Topology == party.Passport {
		return []play{documented(attack.ReplayFreshEAR, attack.Replay, v)}
	}
	var out []play
	for _, s := range []attack.Scenario{attack.Diversion, attack.Splice, attack.OtherKey, attack.ReplayEvidence} {
		for _, cp := range attack.Capabilities(s) {
			if d.Phase == party.PostHandshake && borrows(s, cp) {
				continue // the victim's certificate_request_context is out of the attacker's reach (above)
			}
			out = append(out, documented(s, cp, v))
		}
	}
	return append(out, earForEvidence(v))
}

// borrows: the attacker runs its own connection with the genuine
// attester during the victim's, fed with the victim's challenge.
func borrows(s attack.Scenario, cp attack.Capability) bool {
	return s == attack.Splice || s == attack.Diversion && cp != attack.Oracle
}

// earForEvidence is a passport replayed where evidence is due. The
// victim refuses it whatever its age: as a payload of a type it does not
// take, unless replayed evidence is stopped before its payload is looked
// at (the documented check of the variant's evidence replay is
// CertificateVerify), where the EAR meets the same check.
func earForEvidence(v string) play {
	cell := attack.Cell{Scenario: attack.ReplayFreshEAR, Capability: attack.Replay, Variant: v}
	if e, _ := attack.Documented(attack.Cell{Scenario: attack.ReplayEvidence, Capability: attack.Replay, Variant: v}); e.Check == attack.CheckCertificateVerify {
		return play{cell, attack.Expectation{Verdict: attack.Prevented, Check: attack.CheckCertificateVerify,
			Why: "the victim validates the replayed authenticator before it looks at the payload: the CertificateVerify the attacker copied " +
				"from the genuine attester's ta-07 passport connection signed that connection's transcript, not this authenticator's"}}
	}
	return play{cell, attack.Expectation{Verdict: attack.Prevented, Check: attack.CheckEvidenceType,
		Why: "the victim appraises evidence in the background-check model: an EAR captured from a ta-07 passport connection of the " +
			"genuine attester is not evidence of a type it takes, fresh or not"}}
}

// attesterPlays are the attacks that relay or replay a peer attester's
// attestation. Splicing an X.509 credential needs the genuine chain
// before the genuine attester's first handshake, which a peer issues
// itself at start-up: it is played with attestation-only credentials.
func attesterPlays(d party.Descriptor, peer party.Side) []play {
	v := d.Binds(peer.Credential).Variant
	out := []play{documented(attack.Diversion, attack.Relay, v)}
	if peer.Credential != party.X509 {
		out = append(out, documented(attack.Splice, attack.Relay, v))
	}
	return append(out, documented(attack.ReplayEvidence, attack.Replay, v))
}

// victimAlert is the alert the victim aborts with when the attack is
// prevented by check.
func victimAlert(d party.Descriptor, check attack.Check) (tls13.AlertCode, bool) {
	if check == attack.CheckCertificateVerify {
		return tls13.AlertDecryptError, true // RFC 8446 §4.4.3
	}
	return alertOf(d.Alerts.Rejected)
}

// attackCase is the case of p on c's model; peerAttests says the peer is
// the genuine attester (else the victim).
func attackCase(m *contract.Manifest, c Case, p play, peerAttests bool) Case {
	part := "the victim"
	if peerAttests {
		part = "the genuine attester"
	}
	it := fmt.Sprintf("is %s of %s, the attacker %s: %s, because %s", part, attack.ScenarioText[p.cell.Scenario],
		attack.CapabilityText[p.cell.Capability], p.expect.Text(), p.expect.Why)
	name := "attack-" + string(p.cell.Scenario) + "-" + string(p.cell.Capability)
	if peerAttests {
		name = "attack-on-attester-" + string(p.cell.Scenario)
	}
	a := &peerAttack{play: p, model: c.Model, peerRole: c.PeerRole, peerAttests: peerAttests}
	alert, _ := victimAlert(describe(c.Model), p.expect.Check)
	k := variant(m, c, name, it, alert, attackReqs(describe(c.Model), p.expect.Check, peerAttests), func(k *Case) {
		k.Kind, k.attack = "attack", a
		if peerAttests {
			// The peer's own case is the attacker's handshake with it, which
			// completes; the verdict is the in-process victim's.
			k.Negative = nil
			k.Reference.Tweak = a.relyingParty
			k.Check = a.judgeVictim
			return
		}
		if p.expect.Verdict == attack.Succeeds {
			k.Negative = nil
		}
		k.Reference.Tweak = a.attacker
		k.Check = a.checkLegs
	})
	return k
}

// attackReqs are the catalogued sentences an attack checks: the
// relying party's checks the attack meets (the peer as victim) or the
// binding the attester's evidence must carry (the peer as attester).
func attackReqs(d party.Descriptor, check attack.Check, peerAttests bool) []string {
	if r, ok := d.Reqs[party.RuleAttesterBinds]; ok && peerAttests {
		return r
	}
	switch {
	case check == attack.CheckBinder:
		return d.Reqs[party.RuleBinder]
	case check == attack.CheckKeyBinding:
		return d.Reqs[party.RuleKeyBinding]
	case check == attack.CheckCertificateVerify:
		return d.Reqs[party.RuleCertificateVerifyKey]
	case check != "":
		return d.Reqs[party.RuleAppraisal]
	}
	return nil
}

// peerAttack is one attack in progress.
type peerAttack struct {
	play        play
	model       party.Model
	peerRole    contract.Role
	peerAttests bool
	// in is the run's inputs (its CA), set by Env.Run.
	in *inputs.Inputs

	mu  sync.Mutex
	imp *attack.Impostor
	// With the peer attesting: the victim's challenge, the peer's flight
	// and where its endorsement is, and the victim's connection.
	challenge chan []byte
	flight    chan peerFlight
	victim    chan victimRun
	legs      int
	// fed is the challenge the attacker relayed to the peer.
	fed      []byte
	observed *results.Attack
}

type peerFlight struct {
	c           *attack.Captured
	err         error
	endorsement string
}

type victimRun struct {
	r   *harness.Result
	err error
}

// Observed is the verdict the suite saw, nil before the attack was judged.
func (a *peerAttack) Observed() *results.Attack {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.observed
}

func (a *peerAttack) observe(v attack.Verdict, check attack.Check) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.observed = &results.Attack{Scenario: string(a.play.cell.Scenario), Capability: string(a.play.cell.Capability),
		Verdict: results.AttackVerdict(v), Check: string(check)}
	a.observed.Part = results.PartVictim
	if a.peerAttests {
		a.observed.Part = results.PartAttester
	}
}

// attesterIsClient says which side of the model attests.
func (a *peerAttack) attesterIsClient() bool { return a.model.Client.Attests }

// sides are the attesting and the relying side of the model.
func (a *peerAttack) sides() (att, rp party.Side) {
	if a.attesterIsClient() {
		return a.model.Client, a.model.Server
	}
	return a.model.Server, a.model.Client
}

// pair runs one in-process connection of m between the attester party
// ap and the relying party rp, with the profile's post-handshake phase
// if it has one; watch, if set, watches the attester's connection.
func (a *peerAttack) pair(ctx context.Context, profileName string, attIsClient bool, ap, rp *party.Party, watch *attack.Requests) (*harness.Result, error) {
	acfg, err := a.in.CA.Configure(profileName, attIsClient, inputs.ServerName, ap)
	if err != nil {
		return nil, err
	}
	if watch != nil {
		watch.Watch(acfg)
	}
	rcfg, err := a.in.CA.Configure(profileName, !attIsClient, inputs.ServerName, rp)
	if err != nil {
		return nil, err
	}
	ccfg, scfg, cp, sp := rcfg, acfg, rp, ap
	if attIsClient {
		ccfg, scfg, cp, sp = acfg, rcfg, ap, rp
	}
	var post harness.Post
	if d := profile.MustDescribe(profileName); d.Phase == party.PostHandshake {
		side := func(isClient bool, p *party.Party) func(context.Context, *tls13.Conn) (io.ReadWriter, error) {
			return func(ctx context.Context, c *tls13.Conn) (io.ReadWriter, error) { return d.Attest(ctx, c, isClient, p) }
		}
		post = harness.Post{Client: side(true, cp), Server: side(false, sp)}
	}
	ctx, cancel := context.WithTimeout(ctx, attackLimit)
	defer cancel()
	return harness.RunPost(ctx, ccfg, scfg, post)
}

// ownKey is a key of the attacker's, certified by the run's CA for the
// attesting side when the credential is X.509.
func (a *peerAttack) ownKey(cred party.Credential) (*ecdsa.PrivateKey, [][]byte, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil || cred != party.X509 {
		return k, nil, err
	}
	chain, err := a.in.CA.Issue(k, a.attesterIsClient(), inputs.ServerName)
	return k, chain, err
}

// The peer as victim: the reference's party, before its profile
// configures it, becomes the attacker's.

// attacker turns the reference's party p into the attacker's; the
// genuine attester is p's own.
func (a *peerAttack) attacker(p *party.Party, _ *tls13.Config) error {
	genuine, ok := p.Attester.(endorsed)
	if !ok {
		return fmt.Errorf("interop: the reference's attester (%T) is not one the attacker can borrow", p.Attester)
	}
	gp := *p // the genuine attester's party, for the attacker's own handshakes
	ctx, cancel := context.WithTimeout(context.Background(), attackLimit)
	defer cancel()
	switch s := a.play.cell.Scenario; s {
	case attack.Diversion, attack.Splice, attack.OtherKey:
		own, chain, err := a.ownKey(p.Credential)
		if err != nil {
			return err
		}
		a.imp = attack.NewImpostor(s, a.play.cell.Capability, genuine, own, func(ctx context.Context, att attest.Attester, nonce []byte) (*attack.Captured, error) {
			lp := gp
			lp.Attester = att
			return a.capture(ctx, a.model, &lp, genuine, nonce, nil)
		})
		p.Attester = &a.imp.Mallory
		if a.imp.OwnKey && p.Credential == party.X509 {
			p.Chain = chain
		}
		return nil
	case attack.ReplayEvidence:
		c, err := a.capture(ctx, a.model, &gp, genuine, nil, nil)
		if err != nil {
			return err
		}
		replay(p, genuine, c)
		return nil
	case attack.ReplayFreshEAR:
		m, issuer := a.model, a.in.Verifier // the run's verifier issues the case's passports
		if p.Topology != party.Passport {
			// The EAR comes from a passport connection of the same
			// attester in a profile that has one, issued by a verifier
			// of the attacker's.
			v, err := endorsedVerifier(genuine)
			if err != nil {
				return err
			}
			if m, err = attack.PassportSource(a.attesterIsClient()); err != nil {
				return err
			}
			gp.Topology, gp.Credential, gp.Chain = party.Passport, party.AttestationOnly, nil
			gp.Results, gp.ResultVerifiers = party.PassportSource{Attester: genuine, Verifier: v}, [][]byte{v.Identity()}
			issuer = v.Trusted()
		}
		c, err := a.capture(ctx, m, &gp, genuine, nil, &issuer)
		if err != nil {
			return err
		}
		replay(p, genuine, c)
		return nil
	}
	return fmt.Errorf("interop: %s is not played with a peer as victim", a.play.cell.Scenario)
}

// endorsed is an attester whose endorsement a verifier can be given.
type endorsed interface {
	attest.Attester
	Endorsement() parsectpm.Endorsement
}

// endorsedVerifier is an in-process verifier that knows genuine.
func endorsedVerifier(genuine endorsed) (*local.Verifier, error) {
	v, err := local.New(local.Config{Build: "conformance-attacker"})
	if err != nil {
		return nil, err
	}
	return v, v.AddEndorsement(genuine.Endorsement())
}

// capture runs m in process between the attester party ap and a relying
// party of the attacker's whose nonce is pinned (when nonce is set), and
// reads ap's flight. How the appraisal ends does not matter: the flight
// is on the wire before it.
func (a *peerAttack) capture(ctx context.Context, m party.Model, ap *party.Party, genuine endorsed, nonce []byte, issuer *attest.TrustedVerifier) (*attack.Captured, error) {
	attIsClient := m.Client.Attests
	att, rpSide := m.Server, m.Client
	if attIsClient {
		att, rpSide = m.Client, m.Server
	}
	v, err := endorsedVerifier(genuine)
	if err != nil {
		return nil, err
	}
	ap.Bugs = party.Bugs{}
	// A passport attester presents results only from a verifier its
	// relying party trusts.
	trusted := []attest.TrustedVerifier{v.Trusted()}
	if issuer != nil {
		trusted = append(trusted, *issuer)
	}
	rp := endpoint.NewParty(rpSide, att, endpoint.Roles{MediaTypes: genuine.MediaTypes(), Verifier: &attack.Nonces{Verifier: v, Pin: nonce},
		Policy: &policy.Policy{Verifiers: trusted}})
	r, err := a.pair(ctx, m.Profile, attIsClient, ap, rp, nil)
	if err != nil {
		return nil, err
	}
	flight, err := attack.Flight(m, r)
	if err != nil {
		return nil, err
	}
	return attack.Capture(m.Profile, att.Credential, flight)
}

// replay makes p resend c: its payload, its chain and its
// CertificateVerify signature.
func replay(p *party.Party, genuine attest.Attester, c *attack.Captured) {
	p.Attester = &attack.Mallory{Media: genuine.MediaTypes(), Key: &attack.ReplayedSigner{Pub: genuine.Identity().Public(), Sig: c.Signature},
		Present: noEvidence}
	if c.Chain != nil {
		p.Chain = c.Chain
	}
	p.Bugs.ReplayPayload = c.Payload
}

func noEvidence(context.Context, attest.Challenge) (attest.Evidence, error) {
	return attest.Evidence{}, errors.New("interop: a replaying attacker produces no evidence")
}

// checkLegs checks how the attacker got its attestation, once the peer's
// verdict is judged, and records the verdict the wire showed.
func (a *peerAttack) checkLegs(c Case, r *Result) {
	v := attack.Succeeds
	check := attack.Check("")
	if c.Negative != nil {
		v, check = attack.Prevented, a.play.expect.Check
	}
	a.observe(v, check)
	legs, refused := 0, 0
	if a.imp != nil {
		Expect(a.imp.LegErr).NotTo(HaveOccurred(), "the attacker's handshake with the genuine attester")
		legs = a.imp.Legs
		if a.imp.TEE != nil {
			refused = a.imp.TEE.Refused()
		}
	}
	switch a.play.cell.Capability {
	case attack.TEEBound:
		Expect(refused).To(BeNumerically(">", 0), "the TEE refused no challenge")
		Expect(legs).To(Equal(1), "the attacker's handshakes with the TEE")
	case attack.Relay:
		Expect(legs).To(Equal(1), "the attacker's handshakes with the genuine attester")
	case attack.Replay:
		Expect(legs).To(BeZero(), "a replay talks to no attester")
	}
}

// The peer as genuine attester: the reference is the relying party of
// the attacker's handshake with it; the victim and the attacker's TLS
// stack run in process.

// relyingParty, for the relaying scenarios, starts the victim's
// connection with the attacker and pins the reference's nonce to the
// challenge the victim sent: the peer attests the victim's challenge.
func (a *peerAttack) relyingParty(p *party.Party, _ *tls13.Config) error {
	if a.play.cell.Scenario == attack.ReplayEvidence {
		return nil // the replay comes after the peer's connection
	}
	a.challenge, a.flight, a.victim = make(chan []byte, 1), make(chan peerFlight, 1), make(chan victimRun, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*attackLimit)
		defer cancel()
		r, err := a.relay(ctx)
		a.victim <- victimRun{r, err}
	}()
	select {
	case n := <-a.challenge:
		if n != nil {
			p.Verifier = &attack.Nonces{Verifier: p.Verifier, Pin: n}
		}
		return nil
	case v := <-a.victim:
		a.victim <- v
		return fmt.Errorf("interop: the victim's connection ended before it challenged the attacker: %v", v.err)
	case <-time.After(attackLimit):
		return errors.New("interop: the victim never challenged the attacker")
	}
}

// relay is the victim's connection with an attacker that presents what
// the peer attested in its own connection.
func (a *peerAttack) relay(ctx context.Context) (*harness.Result, error) {
	att, _ := a.sides()
	m := &attack.Mallory{Media: []string{parsectpm.MediaType}}
	var chain [][]byte
	replayed := &attack.ReplayedSigner{}
	if a.play.cell.Scenario == attack.Splice {
		// Any P-256 key makes the attacker's stack pick the scheme of the
		// signature it copies: the peer's TIK signs with ECDSA P-256.
		shape, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		replayed.Pub, m.Key = shape.Public(), replayed
	} else {
		own, c, err := a.ownKey(att.Credential)
		if err != nil {
			return nil, err
		}
		m.Key, chain = own, c
	}
	var endorsement string
	watch := &attack.Requests{}
	m.Present = func(ctx context.Context, ch attest.Challenge) (attest.Evidence, error) {
		a.mu.Lock()
		a.legs++
		a.mu.Unlock()
		nonce := ch.Nonce
		if nonce == nil {
			nonce = watch.Context() // the victim's certificate_request_context, after the handshake
		}
		a.mu.Lock()
		a.fed = nonce
		a.mu.Unlock()
		a.challenge <- nonce
		select {
		case f := <-a.flight:
			if f.err != nil {
				return attest.Evidence{}, fmt.Errorf("interop: the peer's attestation: %w", f.err)
			}
			replayed.Sig, endorsement = f.c.Signature, f.endorsement
			return f.c.Evidence()
		case <-ctx.Done():
			return attest.Evidence{}, fmt.Errorf("interop: no flight from the peer: %w", ctx.Err())
		}
	}
	return a.victimConn(ctx, m, chain, nil, func() string { return endorsement }, watch)
}

// victimConn runs the in-process victim against an attacker presenting
// attester m (with chain, replaying payload when set); the victim's
// verifier learns the peer's endorsement from the file endorsement
// names once it appraises; watch, if set, watches the attacker's
// connection with the victim.
func (a *peerAttack) victimConn(ctx context.Context, m *attack.Mallory, chain [][]byte, payload []byte, endorsement func() string, watch *attack.Requests) (*harness.Result, error) {
	att, rpSide := a.sides()
	v, err := local.New(local.Config{Build: "conformance-victim"})
	if err != nil {
		return nil, err
	}
	victim := endpoint.NewParty(rpSide, att, endpoint.Roles{MediaTypes: []string{parsectpm.MediaType},
		Verifier: &lateEndorsed{Verifier: v, path: endorsement},
		Policy:   &policy.Policy{Verifiers: []attest.TrustedVerifier{v.Trusted()}, RequireKeyBinding: true}})
	attacker := endpoint.NewParty(att, rpSide, endpoint.Roles{MediaTypes: m.Media, Attester: m, Chain: chain})
	attacker.Bugs.ReplayPayload = payload
	// The relay waits for the peer's flight, which its spec hands over.
	attacker.Timeout = 2 * attackLimit
	return a.pair(ctx, a.model.Profile, a.attesterIsClient(), attacker, victim, watch)
}

// lateEndorsed is a verifier given the peer's endorsement when it first
// appraises: the peer writes it only when its case runs.
type lateEndorsed struct {
	*local.Verifier
	path func() string
	once sync.Once
	err  error
}

func (l *lateEndorsed) Appraise(ctx context.Context, ev attest.Evidence, ch attest.Challenge) (*attest.Result, error) {
	l.once.Do(func() {
		b, err := os.ReadFile(l.path())
		if err == nil {
			var e parsectpm.Endorsement
			if e, err = contract.ParseEndorsement(b); err == nil {
				err = l.Verifier.AddEndorsement(e)
			}
		}
		l.err = err
	})
	if l.err != nil {
		return nil, fmt.Errorf("interop: the peer's endorsement: %w", l.err)
	}
	return l.Verifier.Appraise(ctx, ev, ch)
}

// ran hands the peer's flight to the attacker waiting in the victim's
// connection as soon as the peer's case is over (its spec may be judged
// later).
func (a *peerAttack) ran(r *Result) {
	if a.flight == nil {
		return
	}
	a.flight <- a.peerFlight(r)
}

// peerFlight reads the peer's attestation off the wire: its handshake
// flight, or the authenticator the reference received after it.
func (a *peerAttack) peerFlight(r *Result) peerFlight {
	att, _ := a.sides()
	_, flight := r.Flights()
	var err error
	if describe(a.model).Phase == party.PostHandshake {
		flight, err = attack.AuthenticatorFlight(r.Wire.State, false)
	}
	var c *attack.Captured
	if err == nil {
		c, err = attack.Capture(a.model.Profile, att.Credential, flight)
	}
	return peerFlight{c: c, err: err, endorsement: filepath.Join(r.Dirs[a.peerRole], inputs.EndorsementFile)}
}

// judgeVictim judges the victim's connection with the attacker that
// relayed or replays the peer's attestation: the documented verdict, by
// the documented check, with the victim's alert and nothing flowing.
func (a *peerAttack) judgeVictim(c Case, r *Result) {
	var vr victimRun
	if a.play.cell.Scenario == attack.ReplayEvidence {
		f := a.peerFlight(r)
		Expect(f.err).NotTo(HaveOccurred(), "reading the peer's attestation off the wire\n%s", r.Describe())
		m := &attack.Mallory{Media: []string{parsectpm.MediaType}, Present: noEvidence}
		pub, err := signerOf(f.c)
		Expect(err).NotTo(HaveOccurred())
		m.Key = &attack.ReplayedSigner{Pub: pub, Sig: f.c.Signature}
		ctx, cancel := context.WithTimeout(context.Background(), attackLimit)
		defer cancel()
		vr.r, vr.err = a.victimConn(ctx, m, f.c.Chain, f.c.Payload, func() string { return f.endorsement }, nil)
	} else {
		select {
		case vr = <-a.victim:
		case <-time.After(2 * attackLimit):
			Fail("the victim's connection with the attacker never ended")
		}
	}
	Expect(vr.err).NotTo(HaveOccurred(), "the victim's connection")
	verdict, check, err := attack.Judge(a.model, vr.r)
	Expect(err).NotTo(HaveOccurred())
	a.observe(verdict, check)
	e := a.play.expect
	Expect(verdict).To(Equal(e.Verdict), "the attack's verdict; documented: %s\n%s", e.Why, vr.r.Describe())
	Expect(check).To(Equal(e.Check), "the check that stopped it; documented: %s\n%s", e.Why, vr.r.Describe())
	want, _ := victimAlert(describe(c.Model), e.Check)
	victimErr := vr.r.Failure(!a.attesterIsClient())
	code, sent, ok := harness.Alert(victimErr)
	Expect(ok && sent && code == want).To(BeTrue(), "the victim: want %s sent, got %v\n%s", alertName(want), victimErr, vr.r.Describe())
	Expect(vr.r.ClientGot+vr.r.ServerGot).To(BeEmpty(), "application data flowed to or from the attacker")
	wantLegs := 1
	if a.play.cell.Capability == attack.Replay {
		wantLegs = 0
	}
	a.mu.Lock()
	legs, fed := a.legs, a.fed
	a.mu.Unlock()
	Expect(legs).To(Equal(wantLegs), "the attacker's handshakes with the peer during the attack")
	if legs > 0 && describe(a.model).Phase == party.PostHandshake {
		// As any relying party may, the attacker asked the peer to attest
		// the victim's certificate_request_context.
		Expect(fed).NotTo(BeEmpty(), "the victim's certificate_request_context, relayed to the peer")
	}
}

// signerOf is the key a replayed CertificateVerify claims: the captured
// chain's end-entity key, or any P-256 key for attestation-only.
func signerOf(c *attack.Captured) (crypto.PublicKey, error) {
	if len(c.Chain) > 0 {
		leaf, err := x509.ParseCertificate(c.Chain[0])
		if err != nil {
			return nil, err
		}
		return leaf.PublicKey, nil
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return k.Public(), nil
}
