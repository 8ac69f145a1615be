package local_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/software"
	"github.com/attested-tls/conformance/impl/attest/result"
	"github.com/attested-tls/conformance/impl/attest/verify/local"
	"github.com/veraison/ear"
)

type setup struct {
	att *software.Attester
	v   *local.Verifier
	ch  attest.Challenge
}

func newSetup(t testing.TB, cfg local.Config) *setup {
	t.Helper()
	att, err := software.New(software.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := att.Extend(0, []byte("firmware")); err != nil {
		t.Fatal(err)
	}
	v, err := local.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.AddEndorsement(att.Endorsement()); err != nil {
		t.Fatal(err)
	}
	n, err := v.NewNonce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &setup{att: att, v: v, ch: attest.Challenge{Nonce: n, TIK: att.Identity().Public()}}
}

func (s *setup) appraise(t testing.TB) (*attest.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev, err := s.att.Evidence(ctx, s.ch)
	if err != nil {
		t.Fatal(err)
	}
	return s.v.Appraise(ctx, ev, s.ch)
}

func TestAppraiseAffirming(t *testing.T) {
	s := newSetup(t, local.Config{})
	r, err := s.appraise(t)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != ear.TrustTierAffirming || r.Submod != local.SubmodName || r.Problem != "" {
		t.Fatalf("status %v submod %q problem %q", r.Status, r.Submod, r.Problem)
	}
	tv := r.TrustVector
	if tv.InstanceIdentity != ear.TrustworthyInstanceClaim || tv.Executables != ear.ApprovedRuntimeClaim || tv.Hardware != ear.GenuineHardwareClaim {
		t.Fatalf("trust vector %+v", tv)
	}
	if k, ok := r.AttestedKey.(*ecdsa.PublicKey); !ok || !k.Equal(s.att.Identity().Public()) {
		t.Fatal("akpub is not the attester's identity key")
	}
	if !bytes.Equal(r.Nonce, s.ch.Nonce) {
		t.Fatalf("eat_nonce %x, want %x", r.Nonce, s.ch.Nonce)
	}
	if !bytes.Equal(r.Verifier, s.v.Identity()) || r.VerifierBuild != local.DefaultBuild || r.VerifierDeveloper != local.DefaultDeveloper {
		t.Fatalf("verifier %x %q %q", r.Verifier, r.VerifierBuild, r.VerifierDeveloper)
	}
	if d := time.Since(r.IssuedAt); d < 0 || d > time.Minute {
		t.Fatalf("iat %v", r.IssuedAt)
	}
	// What a relying party reads from the signed token matches.
	again, err := result.Verify(r.EAR, []attest.TrustedVerifier{s.v.Trusted()})
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != r.Status || !bytes.Equal(again.Nonce, r.Nonce) || !again.IssuedAt.Equal(r.IssuedAt) {
		t.Fatal("relying party reads a different result")
	}
	id, _ := attest.VerifierIdentity(s.v.PublicKey())
	if !bytes.Equal(s.v.Identity(), id) {
		t.Fatal("default identity is not the key's")
	}
}

// TestAppraiseContraindicated: evidence that fails a check is still
// appraised; the result says so and attests no key.
func TestAppraiseContraindicated(t *testing.T) {
	cases := map[string]struct {
		setup  func(t *testing.T, s *setup)
		reason attest.Reason
		tv     ear.TrustVector
	}{
		"unendorsed key": {func(t *testing.T, s *setup) { s.att.SetFaults(parsectpm.Faults{UnendorsedKey: true}) },
			parsectpm.ReasonKATSignature, allClaims(ear.CryptoValidationFailedClaim)},
		"no endorsement": {func(t *testing.T, s *setup) {
			if !s.v.RemoveEndorsement(s.att.Endorsement().KeyID) {
				t.Fatal("endorsement not found")
			}
		}, attest.ReasonNoEndorsement, allClaims(ear.CryptoValidationFailedClaim)},
		"stale nonce": {func(t *testing.T, s *setup) {
			s.att.SetFaults(parsectpm.Faults{QualifyingData: []byte("an old nonce")})
		},
			parsectpm.ReasonQualifyingData, allClaims(ear.CryptoValidationFailedClaim)},
		"key may leave the TPM": {func(t *testing.T, s *setup) { s.att.SetFaults(parsectpm.Faults{NotFixedTPM: true}) },
			parsectpm.ReasonNotFixedTPM, ear.TrustVector{InstanceIdentity: ear.UntrustworthyInstanceClaim, Hardware: ear.GenuineHardwareClaim}},
		"other key certified": {func(t *testing.T, s *setup) { s.att.SetFaults(parsectpm.Faults{CertifyOtherKey: true}) },
			parsectpm.ReasonTIKMismatch, ear.TrustVector{InstanceIdentity: ear.UntrustworthyInstanceClaim, Hardware: ear.GenuineHardwareClaim}},
		"unexpected boot": {func(t *testing.T, s *setup) {
			if err := s.att.Extend(1, []byte("rootkit")); err != nil {
				t.Fatal(err)
			}
		}, parsectpm.ReasonPCRDigest, ear.TrustVector{InstanceIdentity: ear.TrustworthyInstanceClaim, Hardware: ear.GenuineHardwareClaim, Executables: ear.ContraindicatedRuntimeClaim}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := newSetup(t, local.Config{})
			c.setup(t, s)
			r, err := s.appraise(t)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != ear.TrustTierContraindicated {
				t.Fatalf("status %v", r.Status)
			}
			if !strings.HasPrefix(r.Problem, string(c.reason)) {
				t.Fatalf("problem %q, want reason %q", r.Problem, c.reason)
			}
			if r.TrustVector != c.tv {
				t.Fatalf("trust vector %+v, want %+v", r.TrustVector, c.tv)
			}
			if r.AttestedKey != nil {
				t.Fatal("contraindicated result attests a key")
			}
		})
	}
}

func allClaims(c ear.TrustClaim) ear.TrustVector {
	var tv ear.TrustVector
	tv.SetAll(c)
	return tv
}

func TestAppraiseErrors(t *testing.T) {
	s := newSetup(t, local.Config{})
	ctx := context.Background()
	ev, err := s.att.Evidence(ctx, s.ch)
	if err != nil {
		t.Fatal(err)
	}
	other := ev
	other.MediaType = "application/eat+cwt"
	if _, err := s.v.Appraise(ctx, other, s.ch); attest.ReasonOf(err) != attest.ReasonUnsupportedEvidence {
		t.Errorf("unsupported type: %v", err)
	}
	junk := ev
	junk.Data = []byte{0xa1, 0x00, 0x00}
	if _, err := s.v.Appraise(ctx, junk, s.ch); attest.ReasonOf(err) != parsectpm.ReasonMalformed {
		t.Errorf("junk: %v", err)
	}
	// Well-formed CBOR whose TPM structures do not parse.
	p, _ := parsectpm.Decode(ev.Data)
	p.KAT.PubArea = []byte{1, 2, 3}
	junk.Data, _ = parsectpm.Encode(p)
	if _, err := s.v.Appraise(ctx, junk, s.ch); attest.ReasonOf(err) != parsectpm.ReasonMalformed {
		t.Errorf("bad pubArea: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.v.Appraise(cctx, ev, s.ch); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := s.v.NewNonce(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled NewNonce: %v", err)
	}
}

func TestIssuedNonces(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	s := newSetup(t, local.Config{IssuedNonces: true, NonceLifetime: time.Minute, Time: func() time.Time { return now }})
	if _, err := s.appraise(t); err != nil {
		t.Fatalf("issued nonce: %v", err)
	}
	if _, err := s.appraise(t); attest.ReasonOf(err) != attest.ReasonNonceReused {
		t.Fatalf("second use: %v", err)
	}
	s.ch.Nonce = bytes.Repeat([]byte{1}, 32)
	if _, err := s.appraise(t); attest.ReasonOf(err) != attest.ReasonNonceUnknown {
		t.Fatalf("unknown nonce: %v", err)
	}
	n, err := s.v.NewNonce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.ch.Nonce = n
	now = now.Add(61 * time.Second)
	if _, err := s.appraise(t); attest.ReasonOf(err) != attest.ReasonNonceExpired {
		t.Fatalf("expired nonce: %v", err)
	}
	// Without IssuedNonces any nonce goes: the relying party chose it.
	s2 := newSetup(t, local.Config{})
	s2.ch.Nonce = bytes.Repeat([]byte{2}, 16)
	if r, err := s2.appraise(t); err != nil || r.Status != ear.TrustTierAffirming {
		t.Fatalf("caller nonce: %v", err)
	}
}

func TestNonceSizes(t *testing.T) {
	for _, c := range []struct{ cfg, want int }{{0, 32}, {8, 8}, {64, 64}} {
		v, err := local.New(local.Config{NonceSize: c.cfg})
		if err != nil {
			t.Fatal(err)
		}
		a, _ := v.NewNonce(context.Background())
		b, _ := v.NewNonce(context.Background())
		if len(a) != c.want || bytes.Equal(a, b) {
			t.Errorf("NonceSize %d: got %d bytes, distinct=%v", c.cfg, len(a), !bytes.Equal(a, b))
		}
	}
	for _, n := range []int{7, 65, -1} {
		if _, err := local.New(local.Config{NonceSize: n}); err == nil {
			t.Errorf("NonceSize %d accepted", n)
		}
	}
}

func TestAddEndorsementValidates(t *testing.T) {
	v, _ := local.New(local.Config{})
	if err := v.AddEndorsement(parsectpm.Endorsement{}); err == nil {
		t.Fatal("empty endorsement accepted")
	}
	if v.RemoveEndorsement([]byte{1}) {
		t.Fatal("removed an endorsement never added")
	}
}

// TestBinderInEAR: with a binder the EAR nonce and the evidence carry the
// binder, and the TIK is checked by the verifier.
func TestBinderInEAR(t *testing.T) {
	s := newSetup(t, local.Config{})
	s.ch.Binder = bytes.Repeat([]byte{0x5a}, 32)
	r, err := s.appraise(t)
	if err != nil || r.Status != ear.TrustTierAffirming {
		t.Fatalf("%v %v", r, err)
	}
	if !bytes.Equal(r.Nonce, s.ch.Binder) {
		t.Fatalf("eat_nonce %x, want binder", r.Nonce)
	}
}

func BenchmarkLocalAppraise(b *testing.B) {
	s := newSetup(b, local.Config{})
	ctx := context.Background()
	ev, err := s.att.Evidence(ctx, s.ch)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r, err := s.v.Appraise(ctx, ev, s.ch)
		if err != nil || r.Status != ear.TrustTierAffirming {
			b.Fatal(err)
		}
	}
}

// TestDeterministic: with a fixed key, clock and nonce stream, and RFC 6979
// signing, two verifiers issue the same nonces and the same EAR byte for
// byte, and the EAR still verifies; randomized signing differs.
func TestDeterministic(t *testing.T) {
	att, err := software.New(software.Config{Deterministic: true,
		Clock: func() software.ClockInfo { return software.ClockInfo{Clock: 1, Safe: true} }})
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	stream := bytes.Repeat([]byte{0x5a}, 16)
	run := func(deterministic bool) (nonce, token []byte) {
		v, err := local.New(local.Config{Key: key, NonceSize: 16, Time: func() time.Time { return at },
			Rand: bytes.NewReader(stream), Deterministic: deterministic})
		if err != nil {
			t.Fatal(err)
		}
		if err := v.AddEndorsement(att.Endorsement()); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		n, err := v.NewNonce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.NewNonce(ctx); err == nil {
			t.Fatal("a nonce beyond the end of Rand was issued")
		}
		ch := attest.Challenge{Nonce: n, TIK: att.Identity().Public()}
		ev, err := att.Evidence(ctx, ch)
		if err != nil {
			t.Fatal(err)
		}
		r, err := v.Appraise(ctx, ev, ch)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := result.Verify(r.EAR, []attest.TrustedVerifier{v.Trusted()}); err != nil {
			t.Fatalf("EAR does not verify: %v", err)
		}
		if !r.IssuedAt.Equal(at) {
			t.Fatalf("iat %v, want %v", r.IssuedAt, at)
		}
		return n, r.EAR
	}
	n1, t1 := run(true)
	n2, t2 := run(true)
	if !bytes.Equal(n1, stream) || !bytes.Equal(n1, n2) {
		t.Fatalf("nonces %x %x, want %x", n1, n2, stream)
	}
	if !bytes.Equal(t1, t2) {
		t.Fatalf("deterministic EARs differ:\n%s\n%s", t1, t2)
	}
	if _, t3 := run(false); bytes.Equal(t1, t3) {
		t.Fatal("randomized signing reproduced the RFC 6979 EAR")
	}
}
