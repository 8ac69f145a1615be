package policy_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/software"
	"github.com/attested-tls/conformance/impl/attest/policy"
	"github.com/attested-tls/conformance/impl/attest/verify/local"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/veraison/ear"
)

var issued = time.Unix(1_900_000_000, 0)

func fixedKey(tb testing.TB, label string) *ecdsa.PrivateKey {
	tb.Helper()
	d := sha256.Sum256([]byte(label))
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

type env struct {
	att *software.Attester
	v   *local.Verifier
	key *ecdsa.PrivateKey // the verifier's EAR key, for crafted results
	ch  attest.Challenge
	pol policy.Policy
}

func newEnv(t *testing.T) *env {
	t.Helper()
	att, err := software.New(software.Config{})
	if err != nil {
		t.Fatal(err)
	}
	key := fixedKey(t, "verifier")
	v, err := local.New(local.Config{Key: key, Time: func() time.Time { return issued }})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.AddEndorsement(att.Endorsement()); err != nil {
		t.Fatal(err)
	}
	nonce, err := v.NewNonce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &env{
		att: att, v: v, key: key,
		ch: attest.Challenge{Profile: "ta-07", Nonce: nonce, TIK: att.Identity().Public()},
		pol: policy.Policy{
			Verifiers:         []attest.TrustedVerifier{v.Trusted()},
			RequireKeyBinding: true,
			RequireNonce:      true,
		},
	}
}

// result has the verifier appraise the attester's evidence for e.ch.
func (e *env) result(t *testing.T) *attest.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev, err := e.att.Evidence(ctx, e.ch)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.v.Appraise(ctx, ev, e.ch)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// craft re-signs the result's claims with the verifier's key after mutate.
func (e *env) craft(t *testing.T, mutate func(m map[string]any)) *attest.Result {
	t.Helper()
	m := e.claims(t)
	mutate(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.Sign(b, jws.WithKey(jwa.ES256(), e.key))
	if err != nil {
		t.Fatal(err)
	}
	return &attest.Result{EAR: tok}
}

func (e *env) claims(t *testing.T) map[string]any {
	t.Helper()
	r := e.result(t)
	msg, err := jws.Parse(r.EAR)
	if err != nil {
		t.Fatal(err)
	}
	var ar ear.AttestationResult
	if err := ar.UnmarshalJSON(msg.Payload()); err != nil {
		t.Fatal(err)
	}
	return ar.AsMap()
}

func setStatus(m map[string]any, s string) {
	m["submods"].(map[string]any)[local.SubmodName].(map[string]any)["ear.status"] = s
}

func TestAccepts(t *testing.T) {
	e := newEnv(t)
	r := e.result(t)
	if err := e.pol.Check(context.Background(), r, e.ch, issued.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err := e.pol.Accept(context.Background(), r.EAR, e.ch, issued)
	if err != nil || got.Status != ear.TrustTierAffirming || got.AttestedKey == nil {
		t.Fatalf("Accept: %v %v", got, err)
	}
}

func TestStatusLevels(t *testing.T) {
	e := newEnv(t)
	e.pol.RequireKeyBinding = false
	now := issued
	for _, c := range []struct {
		status   string
		required ear.TrustTier
		ok       bool
	}{
		{"affirming", 0, true},
		{"warning", 0, false},
		{"warning", ear.TrustTierAffirming, false},
		{"warning", ear.TrustTierWarning, true},
		{"contraindicated", ear.TrustTierWarning, false},
		{"contraindicated", ear.TrustTierContraindicated, true},
		{"none", ear.TrustTierContraindicated, false},
		{"none", 0, false},
	} {
		r := e.craft(t, func(m map[string]any) { setStatus(m, c.status) })
		e.pol.RequiredStatus = c.required
		err := e.pol.Check(context.Background(), r, e.ch, now)
		if c.ok != (err == nil) || (!c.ok && attest.ReasonOf(err) != attest.ReasonStatus) {
			t.Errorf("status %s, required %v: %v", c.status, c.required, err)
		}
	}
}

// TestRejects: one case per policy reason.
func TestRejects(t *testing.T) {
	type tc struct {
		reason attest.Reason
		run    func(t *testing.T, e *env) error
	}
	check := func(t *testing.T, e *env, r *attest.Result, now time.Time) error {
		return e.pol.Check(context.Background(), r, e.ch, now)
	}
	cases := map[string]tc{
		"no result": {attest.ReasonResultMalformed, func(t *testing.T, e *env) error {
			return check(t, e, nil, issued)
		}},
		"junk EAR": {attest.ReasonResultMalformed, func(t *testing.T, e *env) error {
			return check(t, e, &attest.Result{EAR: []byte("junk")}, issued)
		}},
		"other verifier": {attest.ReasonUntrustedVerifier, func(t *testing.T, e *env) error {
			r := e.result(t)
			e.pol.Verifiers = []attest.TrustedVerifier{{ID: []byte("x"), Key: &fixedKey(t, "x").PublicKey}}
			return check(t, e, r, issued)
		}},
		"contraindicated": {attest.ReasonStatus, func(t *testing.T, e *env) error {
			e.att.SetFaults(parsectpm.Faults{UnendorsedKey: true})
			return check(t, e, e.result(t), issued)
		}},
		"stale": {attest.ReasonStale, func(t *testing.T, e *env) error {
			return check(t, e, e.result(t), issued.Add(policy.DefaultFreshness+time.Second))
		}},
		"stale by own window": {attest.ReasonStale, func(t *testing.T, e *env) error {
			e.pol.Freshness = 10 * time.Second
			return check(t, e, e.result(t), issued.Add(11*time.Second))
		}},
		"from the future": {attest.ReasonIssuedInFuture, func(t *testing.T, e *env) error {
			return check(t, e, e.result(t), issued.Add(-policy.DefaultClockSkew-time.Second))
		}},
		"expired": {attest.ReasonExpired, func(t *testing.T, e *env) error {
			r := e.craft(t, func(m map[string]any) { m["exp"] = issued.Add(time.Minute).Unix() })
			return check(t, e, r, issued.Add(time.Minute))
		}},
		"other nonce": {attest.ReasonNonceMismatch, func(t *testing.T, e *env) error {
			r := e.result(t)
			e.ch.Nonce = []byte("another challenge")
			e.ch.TIK = e.att.Identity().Public()
			return check(t, e, r, issued)
		}},
		"no attested key": {attest.ReasonNoAttestedKey, func(t *testing.T, e *env) error {
			e.att.SetFaults(parsectpm.Faults{NotFixedTPM: true})
			e.pol.RequiredStatus = ear.TrustTierContraindicated
			return check(t, e, e.result(t), issued)
		}},
		"other key attested": {attest.ReasonKeyMismatch, func(t *testing.T, e *env) error {
			r := e.result(t)
			e.ch.TIK = &fixedKey(t, "not the tik").PublicKey
			return check(t, e, r, issued)
		}},
		"no TIK to bind": {attest.ReasonKeyMismatch, func(t *testing.T, e *env) error {
			r := e.result(t)
			e.ch.TIK = nil
			return check(t, e, r, issued)
		}},
		// The fields a Result arrives with are not trusted: only its EAR.
		"forged status field": {attest.ReasonStatus, func(t *testing.T, e *env) error {
			e.att.SetFaults(parsectpm.Faults{UnendorsedKey: true})
			r := e.result(t)
			r.Status = ear.TrustTierAffirming
			r.AttestedKey = e.att.Identity().Public()
			return check(t, e, r, issued)
		}},
	}
	seen := map[attest.Reason]bool{}
	for name, c := range cases {
		seen[c.reason] = true
		t.Run(name, func(t *testing.T) {
			err := c.run(t, newEnv(t))
			var rej *attest.Rejection
			if !errors.As(err, &rej) || rej.Reason != c.reason {
				t.Fatalf("got %v, want reason %q", err, c.reason)
			}
			if !errors.Is(err, &attest.Rejection{Reason: c.reason}) {
				t.Fatal("errors.Is does not match the reason")
			}
		})
	}
	for _, r := range []attest.Reason{
		attest.ReasonResultMalformed, attest.ReasonUntrustedVerifier, attest.ReasonStatus,
		attest.ReasonStale, attest.ReasonIssuedInFuture, attest.ReasonExpired,
		attest.ReasonNonceMismatch, attest.ReasonNoAttestedKey, attest.ReasonKeyMismatch,
	} {
		if !seen[r] {
			t.Errorf("no case for %q", r)
		}
	}
}

func TestOptionalChecks(t *testing.T) {
	e := newEnv(t)
	r := e.result(t)
	e.pol.RequireNonce, e.pol.RequireKeyBinding = false, false
	e.ch.Nonce, e.ch.TIK = []byte("cached passport, other session"), nil
	if err := e.pol.Check(context.Background(), r, e.ch, issued.Add(-policy.DefaultClockSkew)); err != nil {
		t.Fatalf("passport without nonce or binding requirements: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.pol.Check(ctx, r, e.ch, issued); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
}
