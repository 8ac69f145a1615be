package interop

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/cmw"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/driver"
)

// The fail-open sweep for peers (inclavare-containers#769: a handshake
// that went on after verification failed): where the peer appraises the
// reference's background-check evidence through Veraison, its verifier
// fails in each way a real one can — an error, a dead service, no answer,
// results signed by a key it does not trust — or the evidence is of a type
// no verifier takes, or quotes measurements that are not the endorsed
// ones. The peer must abort with its profile's alert while the reference
// keeps offering application data after the alert, and, in a second
// pass, also sends application data in the middle of its handshake. One-sided
// models only, as the in-process sweep: a mutual model adds no new path
// to the relying party's verifier.

func init() { generators = append(generators, FailOpen) }

// failOpenTimeout is the peer's ATLS_TIMEOUT when its verifier never
// answers: it must give up within it and still send its alert.
const failOpenTimeout = 8 * time.Second

type verifierFailure struct {
	name, when string
	fault      VerifierFault
	tweak      func(p *party.Party, c *tls13.Config) error
	// peer, if set, changes what the case's services gave the peer.
	peer servicesFunc
}

var verifierFailures = []verifierFailure{
	{name: "verifier-error", when: "its verifier answers the evidence with HTTP 500", fault: FaultError},
	{name: "verifier-down", when: "its verifier dies after discovery", fault: FaultDown},
	{name: "verifier-timeout", when: "its verifier takes the evidence and never answers", fault: FaultHang},
	{name: "verifier-untrusted", when: "its verifier's results are signed by a key it was not told to trust", fault: FaultResign},
	{name: "verifier-not-trusted", when: "it is told to trust another verifier than the one whose affirming results it gets",
		peer: trustOther},
	{name: "unsupported-media-type", when: "the attestation is a CMW of a media type no verifier takes",
		tweak: func(p *party.Party, _ *tls13.Config) error {
			b, err := cmw.NewRecord(cmw.CBORRecord, cmw.MediaType("application/vnd.example.unsupported-evidence"), []byte("opaque"), 0).Marshal()
			p.Bugs.ReplayPayload = b
			return err
		}},
	{name: "reference-value-mismatch", when: "the quoted PCRs are not the endorsed reference values (the attester measured something else after its endorsement)",
		tweak: func(p *party.Party, _ *tls13.Config) error {
			p.Attester = &drifting{Attester: p.Attester}
			return nil
		}},
}

// drifting is an attester that, once its endorsement is out, measures an
// unexpected boot stage into PCR 0 before its first evidence.
type drifting struct {
	attest.Attester
	once sync.Once
	err  error
}

func (d *drifting) Evidence(ctx context.Context, ch attest.Challenge) (attest.Evidence, error) {
	d.once.Do(func() {
		x, ok := d.Attester.(interface {
			Extend(pcr int, data []byte) error
		})
		if !ok {
			d.err = contract.Unsupportedf("measuring into a %T attester", d.Attester)
			return
		}
		d.err = x.Extend(0, []byte("unexpected bootloader"))
	})
	if d.err != nil {
		return attest.Evidence{}, d.err
	}
	return d.Attester.Evidence(ctx, ch)
}

// failOpenBehaviours are how the reference keeps talking: after the
// peer's alert (every negative case), and also in the middle of its
// handshake, before its Finished.
var failOpenBehaviours = []struct{ name, what string }{
	{"", ""},
	{"early-data", ", though the reference also sends application data before its Finished"},
}

// FailOpen is the sweep for one claimed case: a one-sided background
// check in which the peer is the relying party and appraises through
// Veraison (the case's own, behind a FaultyVeraison).
func FailOpen(m *contract.Manifest, c Case) []Case {
	_, ref, peer := c.sides()
	if !ref.Attests || ref.Topology != party.BackgroundCheck || peer.Attests || !slices.Contains(m.Verifiers, "veraison") {
		return nil
	}
	d := describe(c.Model)
	alert, ok := alertOf(d.Alerts.Rejected)
	if !ok {
		return nil
	}
	var out []Case
	// No verifier at all: nothing listens where its ATLS_VERIFIER points.
	k := withServices(m, Case{Model: c.Model, PeerRole: c.PeerRole, Timeout: c.Timeout}, false)
	k.Variant, k.Kind, k.Judge = "fail-open-verifier-unreachable", "fail-open", expectNoConnection
	k.It = "whose verifier cannot be reached at all exits 1 (failed) without a handshake, and no application data crosses"
	k.Reqs = d.Reqs[party.RuleAppraisal]
	k.after(unreachable)
	out = append(out, k)
	// The one verifier it trusts is named by ATLS_VERIFIER_KEY alone.
	k = withServices(m, Case{Model: c.Model, PeerRole: c.PeerRole, Timeout: c.Timeout}, true)
	k.Variant, k.Kind = "trusts-verifier-key", "positive"
	k.It = "completes when the one verifier it trusts is named by ATLS_VERIFIER_KEY alone (no ATLS_TRUSTED_VERIFIERS), and application data flows"
	k.after(trustByKey)
	out = append(out, k)
	for _, b := range failOpenBehaviours {
		for _, f := range verifierFailures {
			k := withServices(m, Case{Model: c.Model, PeerRole: c.PeerRole, Timeout: c.Timeout}, true)
			k.Variant, k.Kind, k.Negative = "fail-open-"+f.name, "fail-open", &Negative{Alert: alert}
			k.It = "aborts when " + f.when + b.what
			k.Reqs = d.Reqs[party.RuleAppraisal]
			k.Reference.Tweak = f.tweak
			if b.name != "" {
				k.Variant += "+" + b.name
				k.Reference.Tweak = earlyData(d.Phase, f.tweak)
				if d.Phase == party.PostHandshake {
					k.It = "aborts when " + f.when + ", though the reference also sends application data right after its authenticator"
				}
			}
			if f.fault != FaultNone {
				k.after(faulty(f.fault))
			}
			if f.peer != nil {
				k.after(f.peer)
			}
			if f.fault == FaultHang {
				k.Tweak = func(cfg *contract.Config) { cfg.Timeout = failOpenTimeout }
			}
			out = append(out, k)
		}
	}
	return out
}

// trustOther has the peer trust only a verifier nobody runs.
func trustOther(_ context.Context, _ driver.Case, peer, _ *contract.Config) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	id, err := attest.VerifierIdentity(&key.PublicKey)
	if err != nil {
		return err
	}
	b, err := contract.MarshalTrustedVerifiers([]attest.TrustedVerifier{{ID: id, Key: &key.PublicKey}})
	if err != nil {
		return err
	}
	peer.TrustedVerifiers, peer.VerifierKey = filepath.Join(peer.Out, "other-trusted-verifiers.json"), ""
	return os.WriteFile(peer.TrustedVerifiers, b, 0o644)
}

// trustByKey names the verifier the services gave the peer by its EAR key
// (ATLS_VERIFIER_KEY) instead of a list.
func trustByKey(_ context.Context, _ driver.Case, peer, _ *contract.Config) error {
	b, err := os.ReadFile(peer.TrustedVerifiers)
	if err != nil {
		return err
	}
	vs, err := contract.ParseTrustedVerifiers(b)
	if err != nil || len(vs) != 1 {
		return fmt.Errorf("interop: the case's trusted verifiers (%d): %v", len(vs), err)
	}
	spki, err := x509.MarshalPKIXPublicKey(vs[0].Key)
	if err != nil {
		return err
	}
	peer.TrustedVerifiers, peer.VerifierKey = "", filepath.Join(peer.Out, "verifier-key.pem")
	return os.WriteFile(peer.VerifierKey, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}), 0o644)
}

// earlyData is tweak, and the reference sending application data before
// its Finished, or, where the attestation follows the handshake, right
// after its authenticator: data before the attestation is done either way.
func earlyData(phase party.Phase, tweak func(*party.Party, *tls13.Config) error) func(*party.Party, *tls13.Config) error {
	return func(p *party.Party, c *tls13.Config) error {
		if phase == party.PostHandshake {
			p.Bugs.DataBeforeAttestation = []byte("application data before the attestation completed")
		} else {
			c.Bugs.EarlyApplicationData = []byte("application data before the reference's Finished")
		}
		if tweak == nil {
			return nil
		}
		return tweak(p, c)
	}
}

// unreachable points the peer's verifier at a port on the host where
// nothing listens.
func unreachable(_ context.Context, k driver.Case, peer, _ *contract.Config) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(k.HostAddress(), "0"))
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close() // refused from now on
	peer.Verifier = "veraison:http://" + addr
	return nil
}

// expectNoConnection judges a peer that must fail before its handshake:
// exit 1 (the contract's "a verifier could not be reached"), no handshake
// completed on the wire, no application data either way.
func expectNoConnection(_ Case, r *Result) {
	GinkgoHelper()
	Expect(r.Peer).NotTo(BeNil())
	Expect(r.Peer.Exit).To(Equal(contract.ExitFailed), "the peer's exit, want 1 (failed): its verifier cannot be reached\n%s", r.Describe())
	Expect(r.Wire.Completed).To(BeFalse(), "a handshake completed without a verifier\n%s", r.Describe())
	Expect(r.Wire.AppData).To(BeEmpty(), "the peer sent application data\n%s", r.Describe())
	if o := r.Peer.Outcome; o != nil {
		Expect(o.Handshake).NotTo(Equal(contract.HandshakeOK), "the peer's outcome line says the handshake completed\n%s", r.Describe())
		Expect(o.AppData).NotTo(Equal(contract.AppDataOK), "the peer's outcome line says application data crossed\n%s", r.Describe())
	}
}

// faulty puts a FaultyVeraison on the host, where the case's peers reach
// it, between the peer and the case's Veraison.
func faulty(fault VerifierFault) servicesFunc {
	return func(ctx context.Context, k driver.Case, peer, ref *contract.Config) error {
		// The reference reaches the case's Veraison from the host.
		f, err := StartFaultyVeraison(k.HostAddress(), strings.TrimPrefix(ref.Verifier, "veraison:"), fault)
		if err != nil {
			return err
		}
		context.AfterFunc(ctx, f.Close)
		peer.Verifier = "veraison:" + f.URL
		return nil
	}
}
