package tpm_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/attested-tls/conformance/containers/services"
	. "github.com/attested-tls/conformance/impl/attest/evidence/tpm"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
)

// backend is one kind of TPM: tpm returns the Config fields that reach a
// fresh one for the test.
type backend struct {
	name string
	tpm  func(t *testing.T) Config
}

func (b backend) open(t *testing.T, cfg Config) *Attester {
	c := b.tpm(t)
	cfg.Transport, cfg.Addr = c.Transport, c.Addr
	return openT(t, cfg)
}

// backends are the in-process simulator and a swtpm started for the test.
// Without swtpm installed the swtpm backend fails the test: `make deps`
// installs it.
func backends() []backend {
	return []backend{
		{"simulator", func(t *testing.T) Config { return Config{Transport: TransportSimulator} }},
		{"swtpm", func(t *testing.T) Config {
			return Config{Transport: TransportSwtpm, Addr: startSwtpmT(t).Addr}
		}},
	}
}

func startSwtpmT(t testing.TB) *services.Swtpm {
	t.Helper()
	if err := services.HaveSwtpm(); err != nil {
		t.Fatalf("%v (apt-get install swtpm swtpm-tools)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sw, err := services.StartSwtpm(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sw.Close() })
	return sw
}

func openT(t testing.TB, cfg Config) *Attester {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// boot extends measurements as a short measured boot would.
func boot(t testing.TB, a *Attester) {
	t.Helper()
	for _, m := range []struct {
		pcr  int
		data string
	}{{0, "firmware"}, {0, "bootloader"}, {1, "config"}, {7, "secure boot on"}} {
		if err := a.Extend(m.pcr, []byte(m.data)); err != nil {
			t.Fatal(err)
		}
	}
}

var nonce = bytes.Repeat([]byte{0x5a}, 32)

func evidence(t testing.TB, a *Attester, qd []byte) *parsectpm.Evidence {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := a.Evidence(ctx, attest.Challenge{Nonce: qd})
	if err != nil {
		t.Fatal(err)
	}
	if ev.MediaType != parsectpm.MediaType {
		t.Fatalf("media type %q", ev.MediaType)
	}
	d, err := parsectpm.Decode(ev.Data)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestEvidenceVerifies(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			a := b.open(t, Config{})
			boot(t, a)
			e := a.Endorsement()
			ev := evidence(t, a, nonce)
			if err := parsectpm.Verify(ev, e, nonce, a.Identity().Public()); err != nil {
				t.Fatal(err)
			}
			// The binder replaces the nonce when there is one.
			binder := bytes.Repeat([]byte{0xb1}, 48)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			raw, err := a.Evidence(ctx, attest.Challenge{Nonce: nonce, Binder: binder})
			if err != nil {
				t.Fatal(err)
			}
			d, _ := parsectpm.Decode(raw.Data)
			if err := parsectpm.Verify(d, e, binder, a.Identity().Public()); err != nil {
				t.Fatal(err)
			}
			// What the TPM reads now is what Endorsement mirrored.
			re, err := a.ReadEndorsement(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range e.PCRSelection.PCRs {
				if !bytes.Equal(re.ReferencePCRs[p], e.ReferencePCRs[p]) {
					t.Fatalf("PCR %d: mirrored %x, TPM %x", p, e.ReferencePCRs[p], re.ReferencePCRs[p])
				}
			}
			if bytes.Equal(e.ReferencePCRs[0], make([]byte, 32)) {
				t.Fatal("PCR 0 not extended")
			}
			// A fresh evidence is a fresh TPM signature.
			if bytes.Equal(evidence(t, a, nonce).PAT.Sig, ev.PAT.Sig) {
				t.Fatal("two quotes with the same signature")
			}
		})
	}
}

// TestExtendMatchesSoftware: TPM2_PCR_Event and the TPM2_PCR_Extend path
// for long data both give SHA-256(PCR || SHA-256(data)).
func TestExtendMatchesSoftware(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			a := b.open(t, Config{PCRs: []int{4, 5}})
			for pcr, data := range map[int][]byte{4: []byte("short"), 5: bytes.Repeat([]byte("long"), 300)} {
				before := a.PCR(pcr)
				if err := a.Extend(pcr, data); err != nil {
					t.Fatal(err)
				}
				m := sha256.Sum256(data)
				want := sha256.Sum256(append(before, m[:]...))
				if got := a.PCR(pcr); !bytes.Equal(got, want[:]) {
					t.Fatalf("PCR %d = %x, want %x", pcr, got, want)
				}
			}
			if err := a.Extend(24, nil); err == nil {
				t.Fatal("PCR 24 extended")
			}
		})
	}
}

func TestFaultsRejected(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			for _, c := range []struct {
				name   string
				faults parsectpm.Faults
				want   attest.Reason
			}{
				{"stale qualifying data", parsectpm.Faults{QualifyingData: []byte("yesterday's nonce")}, parsectpm.ReasonQualifyingData},
				{"quote over other PCRs", parsectpm.Faults{QuotePCRs: []int{0, 1, 2}}, parsectpm.ReasonPCRSelection},
				{"certify another key", parsectpm.Faults{CertifyOtherKey: true}, parsectpm.ReasonTIKMismatch},
				{"identity key not fixedTPM", parsectpm.Faults{NotFixedTPM: true}, parsectpm.ReasonNotFixedTPM},
				{"AK not endorsed", parsectpm.Faults{UnendorsedKey: true}, parsectpm.ReasonKATSignature},
			} {
				t.Run(c.name, func(t *testing.T) {
					a := b.open(t, Config{Faults: c.faults})
					boot(t, a)
					e := a.Endorsement()
					err := parsectpm.Verify(evidence(t, a, nonce), e, nonce, a.Identity().Public())
					if got := attest.ReasonOf(err); got != c.want {
						t.Fatalf("reason %q (%v), want %q", got, err, c.want)
					}
					// Clearing the fault (all but the key made at Open)
					// gives evidence that verifies again.
					if c.faults.NotFixedTPM {
						return
					}
					a.SetFaults(parsectpm.Faults{})
					if err := parsectpm.Verify(evidence(t, a, nonce), a.Endorsement(), nonce, a.Identity().Public()); err != nil {
						t.Fatal(err)
					}
				})
			}
		})
	}
}

func TestPCRMismatchAfterExtend(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			a := b.open(t, Config{})
			boot(t, a)
			e := a.Endorsement()
			if err := a.Extend(7, []byte("secure boot off")); err != nil {
				t.Fatal(err)
			}
			err := parsectpm.Verify(evidence(t, a, nonce), e, nonce, a.Identity().Public())
			if got := attest.ReasonOf(err); got != parsectpm.ReasonPCRDigest {
				t.Fatalf("reason %q (%v), want %q", got, err, parsectpm.ReasonPCRDigest)
			}
			// Extending a PCR outside the selection changes nothing quoted.
			e = a.Endorsement()
			if err := a.Extend(9, []byte("unquoted")); err != nil {
				t.Fatal(err)
			}
			if err := parsectpm.Verify(evidence(t, a, nonce), e, nonce, a.Identity().Public()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestIdentitySigner(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			a := b.open(t, Config{})
			pub, ok := a.Identity().Public().(*ecdsa.PublicKey)
			if !ok {
				t.Fatalf("identity public key is %T", a.Identity().Public())
			}
			for i := range 3 {
				d := sha256.Sum256([]byte{byte(i)})
				sig, err := a.Identity().Sign(nil, d[:], crypto.SHA256)
				if err != nil {
					t.Fatal(err)
				}
				if !ecdsa.VerifyASN1(pub, d[:], sig) {
					t.Fatalf("signature %x does not verify", sig)
				}
				d[0] ^= 1
				if ecdsa.VerifyASN1(pub, d[:], sig) {
					t.Fatal("signature verifies for another digest")
				}
			}
			if pub.Equal(a.AttestationKey()) {
				t.Fatal("identity key is the attestation key")
			}
			d := sha256.Sum256(nil)
			if _, err := a.Identity().Sign(nil, d[:], crypto.SHA384); err == nil {
				t.Fatal("signed with SHA-384 opts")
			}
			if _, err := a.Identity().Sign(nil, d[:20], crypto.SHA256); err == nil {
				t.Fatal("signed a short digest")
			}
		})
	}
}

// TestSharedTPM: attesters sharing one TPM need more keys than it has
// object slots; each still produces evidence that verifies, and closing
// one leaves the other working.
func TestSharedTPM(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			cfg := b.tpm(t)
			a1 := openT(t, cfg)
			a2 := openT(t, cfg)
			a3 := openT(t, cfg)
			a3.SetFaults(parsectpm.Faults{CertifyOtherKey: true})
			if !SameLink(a1, a2) {
				t.Fatal("two links to one TPM")
			}
			for round := range 2 {
				for i, a := range []*Attester{a1, a2, a3, a1} {
					err := parsectpm.Verify(evidence(t, a, nonce), a.Endorsement(), nonce, a.Identity().Public())
					want := attest.Reason("")
					if a == a3 {
						want = parsectpm.ReasonTIKMismatch
					}
					if got := attest.ReasonOf(err); got != want || (want == "" && err != nil) {
						t.Fatalf("round %d attester %d: %v", round, i, err)
					}
					d := sha256.Sum256([]byte("x"))
					sig, err := a.Identity().Sign(nil, d[:], crypto.SHA256)
					if err != nil || !ecdsa.VerifyASN1(a.Identity().Public().(*ecdsa.PublicKey), d[:], sig) {
						t.Fatalf("round %d attester %d sign: %v", round, i, err)
					}
				}
			}
			if n, max := Loaded(a1); n > max {
				t.Fatalf("%d objects loaded", n)
			}
			a2.Close()
			if err := parsectpm.Verify(evidence(t, a1, nonce), a1.Endorsement(), nonce, a1.Identity().Public()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestEvidenceRejectsLongQualifyingData(t *testing.T) {
	a := openT(t, Config{Transport: TransportSimulator})
	_, err := a.Evidence(context.Background(), attest.Challenge{Nonce: make([]byte, 65)})
	if err == nil {
		t.Fatal("65-byte qualifying data accepted")
	}
}

func TestOpenErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, cfg := range []Config{
		{Transport: "carrier pigeon"},
		{Transport: TransportSwtpm},
		{Transport: TransportSwtpm, Addr: "127.0.0.1:1"},
		{Transport: TransportDevice, Path: "/dev/null"},
		{Transport: TransportDevice, Path: "/nonexistent/tpm"},
		{Transport: TransportSimulator, PCRs: []int{30}},
		{Transport: TransportSimulator, KeyID: []byte{0x01, 2, 3}},
		{Transport: TransportSimulator, Faults: parsectpm.Faults{NotSensitiveDataOrigin: true}},
	} {
		if a, err := Open(ctx, cfg); err == nil {
			a.Close()
			t.Errorf("Open(%+v) succeeded", cfg)
		}
	}
}

// TestSwtpmStops: a TPM that stops answering or dies fails Evidence within
// the context's deadline, with an error naming the TPM command, and the
// attester keeps failing fast afterwards.
func TestSwtpmStops(t *testing.T) {
	for _, c := range []struct {
		name string
		stop func(*services.Swtpm) error
	}{
		{"paused", (*services.Swtpm).Pause},
		{"killed", (*services.Swtpm).Kill},
	} {
		t.Run(c.name, func(t *testing.T) {
			sw := startSwtpmT(t)
			a := openT(t, Config{Transport: TransportSwtpm, Addr: sw.Addr})
			evidence(t, a, nonce)
			if err := c.stop(sw); err != nil {
				t.Fatal(err)
			}
			defer sw.Resume()
			const deadline = 300 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			t0 := time.Now()
			_, err := a.Evidence(ctx, attest.Challenge{Nonce: nonce})
			took := time.Since(t0)
			if err == nil {
				t.Fatal("evidence from a stopped TPM")
			}
			if took > deadline+200*time.Millisecond {
				t.Fatalf("failed after %v, deadline %v", took, deadline)
			}
			if !strings.Contains(err.Error(), "TPM2_Certify") {
				t.Fatalf("error does not name the TPM command: %v", err)
			}
			if c.name == "paused" && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("error is not the deadline: %v", err)
			}
			t.Logf("after %v: %v", took.Round(time.Millisecond), err)
			// Later calls fail at once, whatever their deadline.
			t0 = time.Now()
			d := sha256.Sum256(nil)
			if _, err := a.Identity().Sign(nil, d[:], crypto.SHA256); err == nil {
				t.Fatal("signed on a broken link")
			}
			if time.Since(t0) > 100*time.Millisecond {
				t.Fatalf("second failure took %v", time.Since(t0))
			}
		})
	}
}

// BenchmarkTPMCommands times the TPM commands of the attested handshake
// one by one, keys already loaded: TPM2_Certify and TPM2_Quote (the
// evidence) and TPM2_Sign (CertificateVerify).
func BenchmarkTPMCommands(b *testing.B) {
	qd := sha256.Sum256([]byte("nonce"))
	for _, be := range []struct {
		name string
		cfg  func(b *testing.B) Config
	}{
		{"tpm-simulator", func(*testing.B) Config { return Config{Transport: TransportSimulator} }},
		{"swtpm", func(b *testing.B) Config { return Config{Transport: TransportSwtpm, Addr: startSwtpmT(b).Addr} }},
	} {
		b.Run(be.name, func(b *testing.B) {
			a := openT(b, be.cfg(b))
			ctx := context.Background()
			cmds, err := Commands(a, qd[:])
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range cmds {
				b.Run(c.Name, func(b *testing.B) {
					before := Retries(a)
					for b.Loop() {
						if err := c.Run(ctx); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(Retries(a)-before)/float64(b.N), "retries/op")
				})
			}
		})
	}
}

// TestExpiredContext: a call whose context is over fails without sending
// anything, and the TPM stays usable for everyone sharing it.
func TestExpiredContext(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			a := b.open(t, Config{})
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if _, err := a.Evidence(ctx, attest.Challenge{Nonce: nonce}); !errors.Is(err, context.Canceled) {
				t.Fatalf("evidence with a cancelled context: %v", err)
			}
			if _, err := a.ReadEndorsement(ctx); err == nil {
				t.Fatal("read PCRs with a cancelled context")
			}
			if err := parsectpm.Verify(evidence(t, a, nonce), a.Endorsement(), nonce, a.Identity().Public()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSignTimeout: TPM2_Sign, which takes no context, is bounded by
// Config.Timeout.
func TestSignTimeout(t *testing.T) {
	sw := startSwtpmT(t)
	a := openT(t, Config{Transport: TransportSwtpm, Addr: sw.Addr, Timeout: 200 * time.Millisecond})
	if err := sw.Pause(); err != nil {
		t.Fatal(err)
	}
	defer sw.Resume()
	t0 := time.Now()
	d := sha256.Sum256(nil)
	_, err := a.Identity().Sign(nil, d[:], crypto.SHA256)
	if err == nil || !strings.Contains(err.Error(), "TPM2_Sign") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("sign on a stalled TPM: %v", err)
	}
	if took := time.Since(t0); took > 500*time.Millisecond {
		t.Fatalf("sign failed after %v, timeout 200ms", took)
	}
}

// TestConcurrentUse: attesters sharing a TPM, used from many goroutines,
// each get their own evidence and signatures.
func TestConcurrentUse(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			cfg := b.tpm(t)
			atts := []*Attester{openT(t, cfg), openT(t, cfg), openT(t, cfg)}
			errs := make(chan error, 4*len(atts))
			for i := range cap(errs) {
				a := atts[i%len(atts)]
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					qd := sha256.Sum256([]byte{byte(i)})
					ev, err := a.Evidence(ctx, attest.Challenge{Nonce: qd[:]})
					if err == nil {
						var d *parsectpm.Evidence
						if d, err = parsectpm.Decode(ev.Data); err == nil {
							err = parsectpm.Verify(d, a.Endorsement(), qd[:], a.Identity().Public())
						}
					}
					if err == nil {
						var sig []byte
						if sig, err = a.Identity().Sign(nil, qd[:], crypto.SHA256); err == nil && !ecdsa.VerifyASN1(a.Identity().Public().(*ecdsa.PublicKey), qd[:], sig) {
							err = errors.New("signature does not verify")
						}
					}
					errs <- err
				}()
			}
			for range cap(errs) {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
