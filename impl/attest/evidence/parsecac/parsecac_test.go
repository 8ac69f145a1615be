package parsecac_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/attested-tls/conformance/containers/services"
	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/internal/evtest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsecac"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/internal/needs"
)

// One Parsec service (on its swtpm) for the package's tests.
var (
	parsecOnce sync.Once
	parsecSvc  *services.Parsec
	parsecErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if parsecSvc != nil {
		parsecSvc.Close()
	}
	os.Exit(code)
}

// socket is the shared service's socket; without the service the test
// is skipped, but fails in CI.
func socket(t *testing.T) string {
	t.Helper()
	needs.Missing(t, "the Parsec service", "unpack it with `"+needs.Deps+"`", services.HaveParsec())
	parsecOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		parsecSvc, parsecErr = services.StartParsec(ctx, "")
	})
	if parsecErr != nil {
		t.Fatal(parsecErr)
	}
	return parsecSvc.Socket
}

func newAttester(t *testing.T, f parsectpm.Faults) *parsecac.Attester {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := parsecac.New(ctx, parsecac.Config{Socket: socket(t), Faults: f})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return a
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// The Parsec-held key signs TLS digests and the evidence, and the
// in-process verifier affirms the evidence and attests that key.
func TestRoundTrip(t *testing.T) {
	a := newAttester(t, parsectpm.Faults{})
	digest := sha256.Sum256([]byte("CertificateVerify"))
	sig, err := a.Identity().Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(a.Identity().Public().(*ecdsa.PublicKey), digest[:], sig) {
		t.Fatal("the identity key's signature does not verify")
	}
	if _, err := a.Identity().Sign(rand.Reader, digest[:20], crypto.SHA1); err == nil {
		t.Error("signed a SHA-1 digest")
	}
	for _, ch := range []attest.Challenge{
		{Nonce: evtest.Random(t, 32), TIK: a.Identity().Public()},
		{Nonce: evtest.Random(t, 8), Binder: evtest.Random(t, 48)},
	} {
		r, _ := evtest.Appraise(t, a, ch, parsectpm.Faults{})
		if r.Status.String() != "affirming" {
			t.Fatalf("status %v (%s)", r.Status, r.Problem)
		}
		if k, ok := r.AttestedKey.(*ecdsa.PublicKey); !ok || !k.Equal(a.Identity().Public()) {
			t.Errorf("attested key %v, want the identity key", r.AttestedKey)
		}
	}
}

// Activation succeeds for the key's own name under its TPM's EK, and
// fails for a wrong secret, another EK or another name.
func TestActivation(t *testing.T) {
	a := newAttester(t, parsectpm.Faults{})
	ctx := ctxT(t)
	e := a.Endorsement()
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	tik, otherKey := a.Keys()
	ek, name := e.Activation.EK, tik.TPMName
	if len(e.Activation.Names) != 2 || string(e.Activation.Names[1]) != string(otherKey.TPMName) {
		t.Fatalf("activated %x, want the identity key's and the other key's names", e.Activation.Names)
	}
	if _, err := parsecac.Activate(ctx, a, ek, tik, otherKey); err != nil {
		t.Fatalf("activation: %v", err)
	}

	// The TPM recovers the secret, but the verifier expected another.
	c, err := parsecac.MakeCredential(ek, name)
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.ActivateCredential(ctx, tik.Parsec, c)
	if err != nil {
		t.Fatal(err)
	}
	other, err := parsecac.MakeCredential(ek, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(got); err != nil {
		t.Errorf("the recovered secret: %v", err)
	}
	if err := other.Check(got); attest.ReasonOf(err) != parsecac.ReasonActivation {
		t.Errorf("another credential's secret: %v, want %s", err, parsecac.ReasonActivation)
	}

	// Under an EK this TPM does not hold, or for a name it has not
	// loaded, the TPM recovers nothing.
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for what, c := range map[string]struct {
		ek  []byte
		key parsecac.Key
	}{
		"another EK":              {x509.MarshalPKCS1PublicKey(&k.PublicKey), tik},
		"a name no key has":       {ek, parsecac.Key{Parsec: tik.Parsec, TPMName: append([]byte{0x00, 0x0b}, make([]byte, 32)...)}},
		"another key's TPM name":  {ek, parsecac.Key{Parsec: tik.Parsec, TPMName: otherKey.TPMName}},
		"a key Parsec never made": {ek, parsecac.Key{Parsec: "no-such-key", TPMName: name}},
	} {
		if _, err := parsecac.Activate(ctx, a, c.ek, c.key); attest.ReasonOf(err) != parsecac.ReasonActivation {
			t.Errorf("%s: %v, want %s", what, err, parsecac.ReasonActivation)
		}
	}
	if _, err := parsecac.MakeCredential([]byte("not a key"), name); attest.ReasonOf(err) != parsecac.ReasonMalformed {
		t.Errorf("a malformed EK: %v", err)
	}
	if _, err := parsecac.MakeCredential(ek, name[:10]); attest.ReasonOf(err) != parsecac.ReasonName {
		t.Errorf("a short name: %v", err)
	}
}

// Each fault the format can express is rejected through the in-process
// verifier for its reason; the others make evidence fail.
func TestFaults(t *testing.T) {
	a := newAttester(t, parsectpm.Faults{})
	ch := attest.Challenge{Nonce: evtest.Random(t, 32), TIK: a.Identity().Public()}
	for _, c := range []struct {
		f    parsectpm.Faults
		want attest.Reason
	}{
		{parsectpm.Faults{QualifyingData: []byte("another handshake")}, parsecac.ReasonQualifyingData},
		{parsectpm.Faults{CertifyOtherKey: true}, parsecac.ReasonTIKMismatch},
		{parsectpm.Faults{UnendorsedKey: true}, parsecac.ReasonNotActivated},
	} {
		r, _ := evtest.Appraise(t, a, ch, c.f)
		if r.Status.String() != "contraindicated" || attest.Reason(problemReason(r.Problem)) != c.want {
			t.Errorf("%+v: %v %q, want contraindicated for %s", c.f, r.Status, r.Problem, c.want)
		}
	}
	for _, f := range []parsectpm.Faults{{QuotePCRs: []int{1}}, {NotFixedTPM: true}, {NotSensitiveDataOrigin: true}} {
		a.SetFaults(f)
		if _, err := a.Evidence(ctxT(t), ch); err == nil {
			t.Errorf("%+v: evidence made", f)
		}
	}
	a.SetFaults(parsectpm.Faults{})
	if a.Select(0) == nil || a.Extend(0, nil) == nil {
		t.Error("Parsec has no PCRs to select or extend")
	}
	if _, err := a.Evidence(ctxT(t), attest.Challenge{}); err == nil {
		t.Error("evidence for no challenge")
	}
}

func problemReason(p string) string {
	for i := range len(p) {
		if p[i] == ':' {
			return p[:i]
		}
	}
	return p
}

// The other activated key's evidence is genuine, but not for the TLS
// key; an endorsement of another activation does not vouch for the key.
func TestNotActivated(t *testing.T) {
	a := newAttester(t, parsectpm.Faults{})
	ch := attest.Challenge{Nonce: evtest.Random(t, 32)}
	ev, err := a.Evidence(ctxT(t), ch)
	if err != nil {
		t.Fatal(err)
	}
	d, err := parsecac.Decode(ev.Data)
	if err != nil {
		t.Fatal(err)
	}
	good := a.Endorsement()
	if err := parsecac.Verify(d, &good, ch.Nonce, nil); err != nil {
		t.Fatal(err)
	}
	other := good
	other.Activation = &parsectpm.Activation{EK: good.Activation.EK, Names: good.Activation.Names[1:]}
	if err := parsecac.Verify(d, &other, ch.Nonce, nil); attest.ReasonOf(err) != parsecac.ReasonNotActivated {
		t.Errorf("another activation: %v", err)
	}
	a.SetFaults(parsectpm.Faults{CertifyOtherKey: true})
	ev, err = a.Evidence(ctxT(t), ch)
	if err != nil {
		t.Fatal(err)
	}
	if d, err = parsecac.Decode(ev.Data); err != nil {
		t.Fatal(err)
	}
	if err := parsecac.Verify(d, &good, ch.Nonce, nil); err != nil {
		t.Errorf("the other key's evidence: %v", err)
	}
	if err := parsecac.Verify(d, &good, ch.Nonce, a.Identity().Public()); attest.ReasonOf(err) != parsecac.ReasonTIKMismatch {
		t.Errorf("the other key's evidence for the TLS key: %v", err)
	}
	if err := parsecac.Verify(d, nil, ch.Nonce, nil); attest.ReasonOf(err) != attest.ReasonNoEndorsement {
		t.Errorf("no endorsement: %v", err)
	}
}

// A Parsec that stops answering fails the call by its deadline.
func TestDeadline(t *testing.T) {
	sock := socket(t)
	c := parsecac.NewClient(sock + ".none")
	if _, _, err := c.Ping(ctxT(t)); err == nil {
		t.Error("pinged a socket nobody listens on")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	time.Sleep(time.Millisecond)
	if _, _, err := parsecac.NewClient(sock).Ping(ctx); !errors.Is(err, context.DeadlineExceeded) && err == nil {
		t.Error("a call past its deadline succeeded")
	}
}

// Evidence and signatures made at once through one service all verify.
func TestConcurrent(t *testing.T) {
	a := newAttester(t, parsectpm.Faults{})
	e := a.Endorsement()
	errs := make(chan error, 8)
	for range cap(errs) {
		go func() {
			ch := attest.Challenge{Nonce: evtest.Random(t, 32), TIK: a.Identity().Public()}
			ev, err := a.Evidence(ctxT(t), ch)
			if err == nil {
				var d *parsecac.Evidence
				if d, err = parsecac.Decode(ev.Data); err == nil {
					err = parsecac.Verify(d, &e, ch.Nonce, ch.TIK)
				}
			}
			if err == nil {
				digest := sha256.Sum256(ch.Nonce)
				var sig []byte
				if sig, err = a.Identity().Sign(rand.Reader, digest[:], crypto.SHA256); err == nil && !ecdsa.VerifyASN1(a.Identity().Public().(*ecdsa.PublicKey), digest[:], sig) {
					err = errors.New("signature does not verify")
				}
			}
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
