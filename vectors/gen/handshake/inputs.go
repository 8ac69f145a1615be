package handshake

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/software"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/policy"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/vectors/gen/fixture"
)

// Fixed names and sizes of every trace.
const (
	ServerName    = "server.attested.test"
	ClientName    = "client.attested.test"
	caName        = "attested-tls conformance vectors CA"
	verifierBuild = "conformance-vectors"
	developer     = "github.com/attested-tls/conformance"
	nonceSize     = 32
	// spareNonces is how many nonces a side's verifier is offered while
	// generating (one per direction it appraises or attests in is enough);
	// the trace keeps those it issued.
	spareNonces = 4
	// authenticatorContextLen is the engine's random
	// certificate_request_context length.
	authenticatorContextLen = 32
)

// cipherSuites and groups are the client's offer; the server's preference
// picks the first of each.
var (
	cipherSuites = []uint16{tls13.TLS_AES_128_GCM_SHA256, tls13.TLS_AES_256_GCM_SHA384, tls13.TLS_CHACHA20_POLY1305_SHA256}
	groups       = []tls13.CurveID{tls13.X25519, tls13.CurveP256, tls13.CurveP384}
)

// The attesters' fixed state: PCRs 0, 1 and 7 measured with firmware,
// boot loader and secure-boot policy strings; a TPM clock one day after
// its first reset.
var (
	pcrSelection = []int{0, 1, 7}
	measurements = []struct {
		pcr  int
		data string
	}{{0, "firmware"}, {1, "boot loader"}, {7, "secure boot policy"}}
	clock = Clock{Clock: 86_400_000, ResetCount: 1, RestartCount: 0, Safe: true}
)

func scalarKey(label string) (Hex, *ecdsa.PrivateKey, error) {
	s := fixture.Scalar(label)
	k, err := fixture.Key(s)
	return s, k, err
}

func spki(k *ecdsa.PrivateKey) Hex {
	b, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		panic(err) // P-256 keys always marshal
	}
	return b
}

// deriveInputs makes the inputs of case c. Keys, the CA and the verifier
// are the same in every trace; randoms, key shares and nonces depend on
// the case ID.
func deriveInputs(c Case) (Inputs, error) {
	in := Inputs{Time: fixture.Time.Format(time.RFC3339), ServerName: ServerName}
	var err error
	var caKey *ecdsa.PrivateKey
	if in.CA.PrivateKey, caKey, err = scalarKey("ca"); err != nil {
		return in, err
	}
	caDER, err := fixture.CACertificate(caKey, caName)
	if err != nil {
		return in, err
	}
	in.CA.Chain = []Hex{caDER}
	vs, vk, err := scalarKey("verifier")
	if err != nil {
		return in, err
	}
	id, err := attest.VerifierIdentity(vk.Public())
	if err != nil {
		return in, err
	}
	in.Verifier = Verifier{PrivateKey: vs, PublicKey: spki(vk), Identity: id, Build: verifierBuild, Developer: developer, NonceSize: nonceSize}

	var serial int64 = 2
	leaf := func(label, name string, client bool) (*Credential, error) {
		s, k, err := scalarKey(label)
		if err != nil {
			return nil, err
		}
		der, err := fixture.LeafCertificate(caDER, caKey, k.Public(), name, client, serial)
		serial++
		return &Credential{PrivateKey: s, Chain: []Hex{der}}, err
	}
	for _, client := range []bool{false, true} {
		who, name := "server", ServerName
		if client {
			who, name = "client", ClientName
		}
		ep := Endpoint{Random: fixture.Bytes(c.ID()+"/"+who+"/random", 32), VerifierNonces: []Hex{}}
		priv := fixture.Bytes(c.ID()+"/"+who+"/x25519", 32)
		xk, err := ecdh.X25519().NewPrivateKey(priv)
		if err != nil {
			return in, err
		}
		ep.KeyShare = KeyShare{Group: "x25519", PrivateKey: priv, PublicKey: xk.PublicKey().Bytes()}
		for i := range spareNonces {
			ep.VerifierNonces = append(ep.VerifierNonces, fixture.Bytes(fmt.Sprintf("%s/%s/verifier-nonce/%d", c.ID(), who, i), nonceSize))
		}
		// A post-handshake relying party of a passport has no verifier
		// nonce to make its request's context of: the engine draws it
		// from Config.Rand, after the random.
		if c.describe().Phase == party.PostHandshake && c.attests(!client) && c.topology(!client) == party.Passport {
			ep.AuthenticatorContexts = []Hex{fixture.Bytes(c.ID()+"/"+who+"/authenticator-context/0", authenticatorContextLen)}
		}
		// Certificates are issued in a fixed order (server plain, server
		// attester, client attester), so serials never depend on the case.
		if !client {
			if ep.Certificate, err = leaf("server/plain", name, false); err != nil {
				return in, err
			}
		}
		a := &Attester{KeyID: append([]byte{0x01}, fixture.Bytes(who+"/attester/kid", 32)...),
			PCRSelection: slices.Clone(pcrSelection), Clock: clock}
		cred, err := leaf(who+"/attester/identity", name, client)
		if err != nil {
			return in, err
		}
		a.IdentityKey = cred.PrivateKey
		var ak *ecdsa.PrivateKey
		if a.AttestationKey, ak, err = scalarKey(who + "/attester/attestation-key"); err != nil {
			return in, err
		}
		a.AttestationPublicKey = spki(ak)
		tik, err := fixture.Key(a.IdentityKey)
		if err != nil {
			return in, err
		}
		a.IdentityPublicKey = spki(tik)
		if c.credential(client) == party.X509 {
			a.Chain = cred.Chain
		}
		for _, m := range measurements {
			a.Measurements = append(a.Measurements, Measurement{PCR: m.pcr, Data: []byte(m.data)})
		}
		sw, err := newAttester(a)
		if err != nil {
			return in, err
		}
		for _, p := range a.PCRSelection {
			a.PCRs = append(a.PCRs, PCR{PCR: p, Value: sw.PCR(p)})
		}
		if c.attests(client) {
			ep.Attester = a
		}
		if client {
			in.Client = ep
		} else {
			in.Server = ep
		}
	}
	return in, nil
}

// newAttester builds the software attester a describes, deterministic, and
// checks that its measurements give the published PCR values.
func newAttester(a *Attester) (*software.Attester, error) {
	ak, err := fixture.Key(a.AttestationKey)
	if err != nil {
		return nil, fmt.Errorf("attestation key: %w", err)
	}
	tik, err := fixture.Key(a.IdentityKey)
	if err != nil {
		return nil, fmt.Errorf("identity key: %w", err)
	}
	ci := software.ClockInfo{Clock: a.Clock.Clock, ResetCount: a.Clock.ResetCount, RestartCount: a.Clock.RestartCount, Safe: a.Clock.Safe}
	sw, err := software.New(software.Config{AttestationKey: ak, IdentityKey: tik, KeyID: a.KeyID,
		PCRs: a.PCRSelection, Clock: func() software.ClockInfo { return ci }, Deterministic: true})
	if err != nil {
		return nil, err
	}
	for _, m := range a.Measurements {
		if err := sw.Extend(m.PCR, m.Data); err != nil {
			return nil, err
		}
	}
	for _, p := range a.PCRs {
		if !bytes.Equal(sw.PCR(p.PCR), p.Value) {
			return nil, fmt.Errorf("PCR %d is %x after the measurements, the inputs say %x", p.PCR, sw.PCR(p.PCR), []byte(p.Value))
		}
	}
	return sw, nil
}

// endpoint is one side built from a trace's inputs.
type endpoint struct {
	cfg      *tls13.Config
	party    *party.Party
	attester *recordingAttester
	verifier *recordingVerifier
	nonces   *bytes.Reader
	// contexts is what is left of inputs' authenticator_request_contexts.
	contexts *bytes.Reader
}

// build makes one side of tr from its inputs alone, tracing to t.
func build(tr *Trace, client bool, t tls13.Trace) (*endpoint, error) {
	in := tr.Inputs
	c := Case{Profile: tr.Profile, Model: tr.Model}
	now, err := time.Parse(time.RFC3339, in.Time)
	if err != nil {
		return nil, fmt.Errorf("inputs.time: %w", err)
	}
	table, err := codepointsOf(tr.Codepoints)
	if err != nil {
		return nil, err
	}
	if len(in.CA.Chain) != 1 {
		return nil, errors.New("inputs.ca: want one certificate")
	}
	ca, err := x509.ParseCertificate(in.CA.Chain[0])
	if err != nil {
		return nil, fmt.Errorf("inputs.ca: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)

	self := in.Server
	if client {
		self = in.Client
	}
	e := &endpoint{nonces: bytes.NewReader(bytes.Join(hexes(self.VerifierNonces), nil)),
		contexts: bytes.NewReader(bytes.Join(hexes(self.AuthenticatorContexts), nil))}
	if e.verifier, err = newVerifier(in.Verifier, now, e.nonces); err != nil {
		return nil, err
	}
	// The verifier knows every attester of the trace.
	attesters := map[bool]*software.Attester{}
	for _, side := range []bool{false, true} {
		ep := in.Server
		if side {
			ep = in.Client
		}
		if ep.Attester == nil {
			continue
		}
		sw, err := newAttester(ep.Attester)
		if err != nil {
			return nil, fmt.Errorf("inputs.%s.attester: %w", sideName(side), err)
		}
		if err := e.verifier.v.AddEndorsement(sw.Endorsement()); err != nil {
			return nil, err
		}
		attesters[side] = sw
	}

	p := &party.Party{Codepoints: &table, Now: func() time.Time { return now },
		Policy: &policy.Policy{Verifiers: []attest.TrustedVerifier{e.verifier.v.Trusted()}, RequireKeyBinding: true}}
	if c.attests(client) {
		if self.Attester == nil {
			return nil, fmt.Errorf("inputs.%s: the model says it attests, the inputs have no attester", sideName(client))
		}
		e.attester = &recordingAttester{Attester: attesters[client]}
		p.Attester, p.Topology, p.Credential = e.attester, c.topology(client), c.credential(client)
		p.Chain = hexes(self.Attester.Chain)
		p.Results = party.PassportSource{Attester: e.attester, Verifier: e.verifier}
		p.ResultVerifiers = [][]byte{e.verifier.Identity()}
	}
	if c.attests(!client) {
		p.VerifyPeer, p.RequirePeer = true, true
		p.PeerTopology, p.PeerCredential = c.topology(!client), c.credential(!client)
		p.Verifier, p.VerifierMediaTypes = e.verifier, []string{parsectpm.MediaType}
	}
	e.party = p

	base := &tls13.Config{
		Rand:                    io.MultiReader(bytes.NewReader(self.Random), e.contexts),
		KeySharePrivate:         keyShare(self.KeyShare),
		DeterministicSignatures: true,
		Time:                    func() time.Time { return now },
		CipherSuites:            cipherSuites,
		Groups:                  groups,
		ServerName:              in.ServerName,
		RootCAs:                 pool,
		ClientCAs:               pool,
		Trace:                   t,
	}
	if !client {
		if self.Certificate == nil {
			return nil, errors.New("inputs.server.certificate: missing")
		}
		k, err := fixture.Key(self.Certificate.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("inputs.server.certificate: %w", err)
		}
		base.Certificates = []tls13.Credential{{Chain: hexes(self.Certificate.Chain), Signer: k}}
	}
	prof, err := profile.ByName(tr.Profile)
	if err != nil {
		return nil, err
	}
	if e.cfg, err = prof.Configure(base, client, p); err != nil {
		return nil, err
	}
	return e, nil
}

func keyShare(ks KeyShare) func(tls13.CurveID) []byte {
	return func(g tls13.CurveID) []byte {
		if g == tls13.X25519 && ks.Group == "x25519" {
			return ks.PrivateKey
		}
		return nil
	}
}

func hexes(hs []Hex) [][]byte {
	out := make([][]byte, len(hs))
	for i, h := range hs {
		out[i] = h
	}
	return out
}

func sideName(client bool) string {
	if client {
		return "client"
	}
	return "server"
}
