// Package veraison is an attest.Verifier backed by a real Veraison
// verification service (github.com/veraison/services v0.0.2501), spoken to
// with github.com/veraison/apiclient: discovery of the EAR key, one
// challenge-response session per appraisal with the challenge's qualifying
// data as the caller-supplied nonce, evidence submission, and the EAR
// verified with the discovered key by package result.
//
// Veraison's PARSEC_TPM scheme does not compare the quote's qualifying data
// with the session nonce (veraison/services#447), so the adapter does, for
// Parsec TPM evidence, before trusting an appraisal: the relying party
// checks freshness itself. Provisioning (endorsements as unsigned CoRIM) is
// in provision.go.
package veraison

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/cca"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/psa"
	"github.com/attested-tls/conformance/impl/attest/result"
	"github.com/veraison/apiclient/verification"
)

// Veraison accepts caller nonces of 8..64 bytes.
const (
	MinNonceSize     = 8
	MaxNonceSize     = 64
	DefaultNonceSize = 32
)

// DefaultMaxConcurrent is the default bound on appraisals in flight: more
// than Veraison's services use on a small machine, so the bound protects
// the service without queueing a relying party's normal load.
const DefaultMaxConcurrent = 32

// SubmodName is the EAR submodule Veraison appraises Parsec TPM evidence
// in (the scheme name); PSASubmodName PSA tokens.
const (
	SubmodName    = "PARSEC_TPM"
	PSASubmodName = "PSA_IOT"
)

// Config sets up a Verifier.
type Config struct {
	// VerificationURL is the verification service's base URL
	// (scheme://host:port).
	VerificationURL string
	// Transport carries every request; nil is a transport of its own that
	// keeps up to MaxConcurrent connections to the service alive (Go's
	// default keeps two per host, so concurrent appraisals would open and
	// close connections). Deadlines come from each call's context, never
	// from the transport.
	Transport http.RoundTripper
	// MaxConcurrent bounds the appraisals in flight; others wait for a
	// slot until their context ends. 0 means DefaultMaxConcurrent.
	MaxConcurrent int
	// Identity is the verifier identity peers negotiate; nil derives it
	// from the discovered EAR key (attest.VerifierIdentity).
	Identity []byte
	// NonceSize is NewNonce's size, 8..64; 0 means 32.
	NonceSize int
	// KeepSessions leaves sessions on the service instead of deleting
	// each after its appraisal (one request fewer; they expire anyway).
	KeepSessions bool
	// TrustVerifierFreshness skips the adapter's own check that Parsec TPM
	// evidence is bound to the challenge, returning Veraison's verdict as
	// is. Only for specs that show the verifier gap.
	TrustVerifierFreshness bool
}

// Verifier appraises evidence with a Veraison verification service. It is
// safe for concurrent use.
type Verifier struct {
	cfg        Config
	rt         http.RoundTripper
	disc       *Discovery
	sessionURI string
	id         []byte
	slots      chan struct{}
}

var _ attest.Verifier = (*Verifier)(nil)

// New discovers the service at cfg.VerificationURL (its EAR key, media
// types and session endpoint) within ctx's deadline.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if cfg.VerificationURL == "" {
		return nil, errors.New("veraison: no verification URL")
	}
	if cfg.NonceSize == 0 {
		cfg.NonceSize = DefaultNonceSize
	}
	if cfg.NonceSize < MinNonceSize || cfg.NonceSize > MaxNonceSize {
		return nil, fmt.Errorf("veraison: nonce size %d outside %d..%d", cfg.NonceSize, MinNonceSize, MaxNonceSize)
	}
	if cfg.MaxConcurrent == 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.MaxConcurrent < 0 {
		return nil, fmt.Errorf("veraison: MaxConcurrent %d", cfg.MaxConcurrent)
	}
	v := &Verifier{cfg: cfg, rt: cfg.Transport, slots: make(chan struct{}, cfg.MaxConcurrent)}
	if v.rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = cfg.MaxConcurrent
		v.rt = t
	}
	d, err := Discover(ctx, cfg.VerificationURL, v.rt)
	if err != nil {
		return nil, err
	}
	v.disc = d
	if v.sessionURI, err = d.endpoint(cfg.VerificationURL, "newChallengeResponseSession", defaultSessionPath); err != nil {
		return nil, fmt.Errorf("veraison: session endpoint: %w", err)
	}
	v.id = slices.Clone(cfg.Identity)
	if v.id == nil {
		if v.id, err = attest.VerifierIdentity(d.Key); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// Discovery returns what New discovered.
func (v *Verifier) Discovery() Discovery { return *v.disc }

// PublicKey is the discovered EAR verification key.
func (v *Verifier) PublicKey() *ecdsa.PublicKey { return v.disc.Key }

// Identity is the verifier identity (VerifierIdentityType bytes).
func (v *Verifier) Identity() []byte { return slices.Clone(v.id) }

// Trusted is the entry a relying party's policy needs to accept this
// verifier's results.
func (v *Verifier) Trusted() attest.TrustedVerifier {
	return attest.TrustedVerifier{ID: v.Identity(), Key: v.disc.Key}
}

// NewNonce returns NonceSize random bytes. No request is made: Veraison
// takes caller-supplied nonces, so Appraise opens the session with the
// challenge's qualifying data, whatever chose it.
func (v *Verifier) NewNonce(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := make([]byte, v.cfg.NonceSize)
	if _, err := rand.Read(n); err != nil {
		return nil, err
	}
	return n, nil
}

// Appraise opens a session whose nonce is ch.QualifyingData() (for a PSA
// token psa.Challenge(ch), the nonce it must carry), submits the
// evidence, and returns the EAR verified with the discovered key. Every
// request carries ctx's deadline (DefaultTimeout if none).
//
// Errors: an *attest.Rejection with ReasonUnsupportedEvidence (media type
// not offered), ReasonUntrustedVerifier or ReasonResultMalformed (the EAR),
// ReasonNonceMismatch (eat_nonce is not the session nonce), or
// parsectpm.ReasonQualifyingData (Veraison appraised Parsec TPM evidence
// bound to another value; the detail cites veraison/services#447);
// a *StatusError (wrapped) when the service answers an error status, e.g.
// 500 for a PCR digest that matches no reference value; otherwise the
// transport's error (context.DeadlineExceeded, connection refused, ...).
func (v *Verifier) Appraise(ctx context.Context, ev attest.Evidence, ch attest.Challenge) (*attest.Result, error) {
	if !slices.Contains(v.disc.MediaTypes, ev.MediaType) {
		return nil, attest.Reject(attest.ReasonUnsupportedEvidence, "verifier offers %d media types, not %q", len(v.disc.MediaTypes), ev.MediaType)
	}
	qd := ch.QualifyingData()
	// The session nonce is what the evidence must carry: for a PSA token
	// its psa-nonce, the key-bound challenge, which the PSA_IOT scheme
	// compares with the session nonce itself.
	nonce := qd
	if derive, ok := keylessChallenges[ev.MediaType]; ok {
		var err error
		if nonce, err = derive.challenge(ch); err != nil {
			return nil, attest.Reject(derive.reason, "%v", err)
		}
	}
	if len(nonce) < MinNonceSize || len(nonce) > MaxNonceSize {
		return nil, fmt.Errorf("veraison: session nonce of %d bytes, sessions take %d..%d", len(nonce), MinNonceSize, MaxNonceSize)
	}
	ctx, cancel, client, t := bind(ctx, v.rt)
	defer cancel()
	select {
	case v.slots <- struct{}{}:
		defer func() { <-v.slots }()
	case <-ctx.Done():
		return nil, fmt.Errorf("veraison: waiting for one of %d appraisal slots: %w", cap(v.slots), ctx.Err())
	}

	cr := verification.ChallengeResponseConfig{
		Nonce:         slices.Clone(nonce),
		NewSessionURI: v.sessionURI,
		// Set before NewSession: its value receiver would drop a client
		// it created itself.
		Client:        client,
		DeleteSession: !v.cfg.KeepSessions,
	}
	sess, uri, err := cr.NewSession()
	if err != nil {
		return nil, t.wrap("new session", err)
	}
	if !bytes.Equal(sess.Nonce, nonce) {
		return nil, fmt.Errorf("veraison: session nonce %x, asked for %x", sess.Nonce, nonce)
	}
	raw, err := cr.ChallengeResponse(ev.Data, ev.MediaType, uri)
	if err != nil {
		return nil, t.wrap("submit evidence", err)
	}
	var token string
	if err := json.Unmarshal(raw, &token); err != nil {
		return nil, attest.Reject(attest.ReasonResultMalformed, "session result is not a JWT string: %v", err)
	}
	r, err := result.Verify([]byte(strings.TrimSpace(token)), []attest.TrustedVerifier{v.Trusted()})
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(r.Nonce, nonce) {
		return nil, attest.Reject(attest.ReasonNonceMismatch, "eat_nonce %x, session nonce %x", r.Nonce, nonce)
	}
	if !v.cfg.TrustVerifierFreshness && ev.MediaType == parsectpm.MediaType {
		if err := checkBinding(ev.Data, qd, r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// keylessChallenges derive, per evidence format that binds the TLS key
// through its challenge, the session nonce: what the evidence carries,
// which those schemes compare with the session nonce themselves (ARM_CCA
// after padding it to 64 bytes, as the realm management monitor does).
var keylessChallenges = map[string]struct {
	challenge func(attest.Challenge) ([]byte, error)
	reason    attest.Reason
}{
	psa.MediaType: {psa.Challenge, psa.ReasonChallenge},
	cca.MediaType: {cca.Challenge, cca.ReasonChallenge},
}

// checkBinding is the freshness check Veraison's PARSEC_TPM scheme lacks:
// both tokens' extraData must be the session nonce.
func checkBinding(data, qd []byte, r *attest.Result) error {
	pev, err := parsectpm.Decode(data)
	if err != nil {
		return err
	}
	for _, tok := range []struct {
		name string
		raw  []byte
	}{{"kat.certInfo", pev.KAT.CertInfo}, {"pat.attestInfo", pev.PAT.AttestInfo}} {
		a, err := parsectpm.ParseAttest(tok.raw)
		if err != nil {
			return attest.Reject(parsectpm.ReasonMalformed, "%s: %v", tok.name, err)
		}
		if !bytes.Equal(a.ExtraData, qd) {
			return attest.Reject(parsectpm.ReasonQualifyingData, "Veraison returned %s for evidence whose %s extraData is %x, not the session nonce %x (veraison/services#447)",
				r.Status, tok.name, a.ExtraData, qd)
		}
	}
	return nil
}
