package parsectpm_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"testing"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/software"
)

// fixedKey derives a P-256 key from a label so fuzz seeds are reproducible.
func fixedKey(tb testing.TB, label string) *ecdsa.PrivateKey {
	tb.Helper()
	d := sha256.Sum256([]byte(label))
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

type fixture struct {
	att *software.Attester
	ak  *ecdsa.PrivateKey
	e   parsectpm.Endorsement
	qd  []byte
}

// newFixture is an attester after a short measured boot, its endorsement
// taken at that point, and a challenge nonce.
func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	ak := fixedKey(tb, "ak")
	att, err := software.New(software.Config{
		AttestationKey: ak,
		IdentityKey:    fixedKey(tb, "tik"),
		KeyID:          append([]byte{0x01}, make([]byte, 32)...),
	})
	if err != nil {
		tb.Fatal(err)
	}
	for _, m := range []string{"firmware", "bootloader", "kernel"} {
		if err := att.Extend(0, []byte(m)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := att.Extend(7, []byte("secure boot on")); err != nil {
		tb.Fatal(err)
	}
	qd := sha256.Sum256([]byte("nonce"))
	return &fixture{att: att, ak: ak, e: att.Endorsement(), qd: qd[:]}
}

func (f *fixture) evidence(tb testing.TB) *parsectpm.Evidence {
	tb.Helper()
	raw := f.raw(tb)
	ev, err := parsectpm.Decode(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return ev
}

func (f *fixture) raw(tb testing.TB) []byte {
	tb.Helper()
	ev, err := f.att.Evidence(context.Background(), attest.Challenge{Nonce: f.qd})
	if err != nil {
		tb.Fatal(err)
	}
	if ev.MediaType != parsectpm.MediaType {
		tb.Fatalf("media type %q", ev.MediaType)
	}
	return ev.Data
}

// resign parses a TPMS_ATTEST, lets mutate change it, and signs the result
// with the fixture's attestation key: a TPM-signed structure whose content
// is wrong.
func (f *fixture) resign(tb testing.TB, raw []byte, mutate func(*parsectpm.Attest)) (attest, sig []byte) {
	tb.Helper()
	a, err := parsectpm.ParseAttest(raw)
	if err != nil {
		tb.Fatal(err)
	}
	mutate(a)
	b, err := a.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return f.sign(tb, b)
}

func (f *fixture) sign(tb testing.TB, b []byte) (attest, sig []byte) {
	tb.Helper()
	s, err := software.Sign(f.ak, b)
	if err != nil {
		tb.Fatal(err)
	}
	return b, s
}

var (
	faultsUnendorsed = parsectpm.Faults{UnendorsedKey: true}
	faultsStale      = parsectpm.Faults{QualifyingData: []byte("yesterday's nonce")}
	faultsOtherKey   = parsectpm.Faults{CertifyOtherKey: true}
	faultsNotFixed   = parsectpm.Faults{NotFixedTPM: true}
	faultsImported   = parsectpm.Faults{NotSensitiveDataOrigin: true}
)
