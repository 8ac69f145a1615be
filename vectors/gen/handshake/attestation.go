package handshake

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/cmw"
	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/impl/attest/verify/local"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/vectors/gen/fixture"
)

func codepointsOf(raw json.RawMessage) (codepoint.Table, error) {
	t, err := codepoint.Default().Override(string(raw))
	if err != nil {
		return t, fmt.Errorf("codepoints: %w", err)
	}
	return t, nil
}

// evidenceCall is one Evidence call of an attester.
type evidenceCall struct {
	ch attest.Challenge
	ev attest.Evidence
}

// recordingAttester keeps what the attester was asked and produced.
type recordingAttester struct {
	attest.Attester
	mu    sync.Mutex
	calls []evidenceCall
}

func (a *recordingAttester) Evidence(ctx context.Context, ch attest.Challenge) (attest.Evidence, error) {
	ev, err := a.Attester.Evidence(ctx, ch)
	if err == nil {
		a.mu.Lock()
		a.calls = append(a.calls, evidenceCall{ch, ev})
		a.mu.Unlock()
	}
	return ev, err
}

// appraisal is one Appraise call of a verifier.
type appraisal struct {
	ev  attest.Evidence
	ch  attest.Challenge
	ear []byte
}

// recordingVerifier keeps every appraisal and the EAR it issued.
type recordingVerifier struct {
	v     *local.Verifier
	mu    sync.Mutex
	calls []appraisal
}

func newVerifier(in Verifier, now time.Time, nonces io.Reader) (*recordingVerifier, error) {
	k, err := fixture.Key(in.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("inputs.verifier: %w", err)
	}
	v, err := local.New(local.Config{Key: k, NonceSize: in.NonceSize, Build: in.Build, Developer: in.Developer,
		Time: func() time.Time { return now }, Rand: nonces, Deterministic: true})
	if err != nil {
		return nil, fmt.Errorf("inputs.verifier: %w", err)
	}
	if !bytes.Equal(v.Identity(), in.Identity) {
		return nil, fmt.Errorf("inputs.verifier.identity %x, the key gives %x", []byte(in.Identity), v.Identity())
	}
	pub, err := x509.MarshalPKIXPublicKey(v.PublicKey())
	if err != nil || !bytes.Equal(pub, in.PublicKey) {
		return nil, errors.New("inputs.verifier.public_key is not the private key's")
	}
	return &recordingVerifier{v: v}, nil
}

func (r *recordingVerifier) NewNonce(ctx context.Context) ([]byte, error) { return r.v.NewNonce(ctx) }
func (r *recordingVerifier) Identity() []byte                             { return r.v.Identity() }

func (r *recordingVerifier) Appraise(ctx context.Context, ev attest.Evidence, ch attest.Challenge) (*attest.Result, error) {
	res, err := r.v.Appraise(ctx, ev, ch)
	if err == nil {
		r.mu.Lock()
		r.calls = append(r.calls, appraisal{ev, ch, res.EAR})
		r.mu.Unlock()
	}
	return res, err
}

// certificateEntry is one entry of a Certificate message.
type certificateEntry struct {
	data []byte
	exts []tls13.Extension
}

// certificate is a Certificate message.
type certificate struct {
	context []byte
	entries []certificateEntry
}

// parseCertificate reads a Certificate handshake message (RFC 8446 §4.4.2).
func parseCertificate(msg []byte) (*certificate, error) {
	s := cryptobyte.String(msg)
	var typ uint8
	var body, ctx, list cryptobyte.String
	if !s.ReadUint8(&typ) || typ != 11 || !s.ReadUint24LengthPrefixed(&body) || !s.Empty() ||
		!body.ReadUint8LengthPrefixed(&ctx) || !body.ReadUint24LengthPrefixed(&list) || !body.Empty() {
		return nil, errors.New("not a well-formed Certificate message")
	}
	out := &certificate{context: ctx}
	for !list.Empty() {
		var data, exts cryptobyte.String
		if !list.ReadUint24LengthPrefixed(&data) || !list.ReadUint16LengthPrefixed(&exts) {
			return nil, errors.New("truncated CertificateEntry")
		}
		e := certificateEntry{data: data}
		for !exts.Empty() {
			var t uint16
			var d cryptobyte.String
			if !exts.ReadUint16(&t) || !exts.ReadUint16LengthPrefixed(&d) {
				return nil, errors.New("truncated CertificateEntry extension")
			}
			e.exts = append(e.exts, tls13.Extension{Type: t, Data: d})
		}
		out.entries = append(out.entries, e)
	}
	return out, nil
}

// cmwIn extracts the CMW from the attester's Certificate message where
// profile c carries it.
func cmwIn(c Case, client bool, table codepoint.Table, certMsg []byte) ([]byte, error) {
	cert, err := parseCertificate(certMsg)
	if err != nil {
		return nil, err
	}
	if len(cert.entries) == 0 {
		return nil, errors.New("empty Certificate")
	}
	d, err := profile.Describe(c.Profile)
	if err != nil {
		return nil, err
	}
	e := cert.entries[0]
	return d.CMWIn(table, c.credential(client), e.data, e.exts)
}

func evidenceOf(ev attest.Evidence) (Evidence, error) {
	p, err := parsectpm.Decode(ev.Data)
	if err != nil {
		return Evidence{}, err
	}
	return Evidence{MediaType: ev.MediaType, Hex: ev.Data,
		KAT: Token{TPMVer: p.KAT.TPMVer, KID: p.KAT.KID, Sig: p.KAT.Sig, PubArea: p.KAT.PubArea, CertInfo: p.KAT.CertInfo},
		PAT: Token{TPMVer: p.PAT.TPMVer, KID: p.PAT.KID, Sig: p.PAT.Sig, AttestInfo: p.PAT.AttestInfo}}, nil
}

// earOf decodes a compact JWT's claims (the payload, as issued).
func earOf(token []byte) (EAR, error) {
	parts := strings.Split(string(token), ".")
	if len(parts) != 3 {
		return EAR{}, errors.New("EAR is not a compact JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return EAR{}, fmt.Errorf("EAR payload: %w", err)
	}
	if !json.Valid(payload) {
		return EAR{}, errors.New("EAR payload is not JSON")
	}
	return EAR{JWT: string(token), Claims: payload}, nil
}

func challengeOf(ch attest.Challenge) (Challenge, error) {
	out := Challenge{Nonce: ch.Nonce, Binder: ch.Binder, QualifyingData: ch.QualifyingData()}
	if ch.TIK != nil {
		der, err := x509.MarshalPKIXPublicKey(ch.TIK)
		if err != nil {
			return out, err
		}
		out.TIK = der
	}
	return out, nil
}

// attestationOf assembles direction client's (or the server's) attestation
// from what the attester, the verifiers and the wire saw.
func attestationOf(c Case, client bool, table codepoint.Table, certMsg []byte, att *recordingAttester, v map[bool]*recordingVerifier, selected string) (Attestation, error) {
	a := Attestation{Attester: sideName(client), Topology: BackgroundCheck, Credential: AttestationOnly,
		CarriedIn: c.carriedIn(client), Selected: selected}
	if c.topology(client) == party.Passport {
		a.Topology = Passport
	}
	if c.credential(client) == party.X509 {
		a.Credential = X509
	}
	payload, err := cmwIn(c, client, table, certMsg)
	if err != nil {
		return a, fmt.Errorf("%s Certificate: %w", sideName(client), err)
	}
	msg, err := cmw.Unwrap(payload)
	if err != nil {
		return a, err
	}
	a.CMW, a.CMWFormat, a.CMWType = payload, msg.Format.String(), msg.Type.String()
	if len(att.calls) != 1 {
		return a, fmt.Errorf("the %s attester produced %d pieces of evidence, want 1", sideName(client), len(att.calls))
	}
	call := att.calls[0]
	if a.Challenge, err = challengeOf(call.ch); err != nil {
		return a, err
	}
	if a.Evidence, err = evidenceOf(call.ev); err != nil {
		return a, err
	}
	// Who appraised the evidence: the relying party's verifier, or for a
	// passport the attester's own.
	appraiser := v[!client]
	if c.topology(client) == party.Passport {
		appraiser = v[client]
	}
	var ear []byte
	for _, ap := range appraiser.calls {
		if bytes.Equal(ap.ev.Data, call.ev.Data) {
			ear = ap.ear
		}
	}
	if ear == nil {
		return a, fmt.Errorf("no verifier appraised the %s's evidence", sideName(client))
	}
	if a.EAR, err = earOf(ear); err != nil {
		return a, err
	}
	want := call.ev.Data
	if c.topology(client) == party.Passport {
		want = ear
	}
	if !bytes.Equal(msg.Value, want) {
		return a, fmt.Errorf("the %s's CMW does not carry its %s", sideName(client), a.Topology)
	}
	return a, nil
}
