package tpm_test

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	. "github.com/attested-tls/conformance/impl/attest/evidence/tpm"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
)

// xcheckClass is the CoRIM class of the cross-check's platform.
var xcheckClass = [16]byte{0x8a, 0x3c, 0x5e, 0x41, 0x0b, 0x7d, 0x4f, 0x9e, 0x91, 0x2a, 0x6c, 0x4d, 0xe0, 0x15, 0x37, 0xb2}

// XcheckManifest describes the files TestWriteParsecXcheck writes for the
// cross-check module containers/parsec-xcheck, which reads them with
// github.com/veraison/parsec and Veraison's PARSEC_TPM scheme (neither
// builds beside go-tpm v0.9.x).
type XcheckManifest struct {
	Nonce  string            `json:"nonce"` // hex qualifying data of every case
	KID    string            `json:"kid"`   // hex
	AK     string            `json:"ak"`    // PEM SPKI of the endorsed AK
	TIK    string            `json:"tik"`   // PEM SPKI of the identity key
	PCRs   map[string]string `json:"pcrs"`  // reference values, hex by index
	CoRIM  string            `json:"corim"` // file with the endorsement CoRIM
	Source string            `json:"source"`
	Cases  []XcheckCase      `json:"cases"`
}

// XcheckCase is one evidence file and what a verifier must conclude.
type XcheckCase struct {
	File string `json:"file"`
	// Expect is "ok", or the check that fails: "signature" (not the
	// endorsed AK), "nonce" (stale qualifying data), "pcr-digest"
	// (measurements differ from the reference values).
	Expect string `json:"expect"`
}

// TestWriteParsecXcheck writes evidence from the simulator, good and
// faulty, with its endorsement, to $PARSEC_XCHECK_OUT (the committed
// fixture in containers/parsec-xcheck/testdata was made this way).
func TestWriteParsecXcheck(t *testing.T) {
	dir := os.Getenv("PARSEC_XCHECK_OUT")
	if dir == "" {
		t.Skip("PARSEC_XCHECK_OUT not set")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	transport := cmpOrString(os.Getenv("PARSEC_XCHECK_TRANSPORT"), TransportSimulator)
	cfg := Config{Transport: transport}
	if transport == TransportSwtpm {
		cfg.Addr = startSwtpmT(t).Addr
	}
	a := openT(t, cfg)
	boot(t, a)
	e := a.Endorsement()

	m := XcheckManifest{Nonce: hex.EncodeToString(nonce), KID: hex.EncodeToString(e.KeyID),
		AK: pemKey(t, e.AttestationKey), TIK: pemKey(t, a.Identity().Public()),
		PCRs: map[string]string{}, CoRIM: "corim.cbor", Source: transport}
	for p, v := range e.ReferencePCRs {
		m.PCRs[strconv.Itoa(p)] = hex.EncodeToString(v)
	}
	c, err := veraison.EndorsementCoRIM(e, veraison.ClassID(xcheckClass))
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, m.CoRIM, c)

	add := func(file, expect string, from *Attester, wantReason attest.Reason) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ev, err := from.Evidence(ctx, attest.Challenge{Nonce: nonce})
		if err != nil {
			t.Fatal(err)
		}
		// Our own verifier must agree with what the case claims.
		d, err := parsectpm.Decode(ev.Data)
		if err != nil {
			t.Fatal(err)
		}
		if got := attest.ReasonOf(parsectpm.Verify(d, e, nonce, a.Identity().Public())); got != wantReason {
			t.Fatalf("%s: reason %q, want %q", file, got, wantReason)
		}
		write(t, dir, file, ev.Data)
		m.Cases = append(m.Cases, XcheckCase{File: file, Expect: expect})
	}
	add("evidence.cbor", "ok", a, "")
	a.SetFaults(parsectpm.Faults{QualifyingData: []byte("yesterday's nonce")})
	add("evidence-stale-nonce.cbor", "nonce", a, parsectpm.ReasonQualifyingData)
	a.SetFaults(parsectpm.Faults{})
	// Same kid and PCRs, another AK: not the endorsed key.
	other := openT(t, Config{Transport: cfg.Transport, Addr: cfg.Addr, KeyID: e.KeyID})
	add("evidence-unendorsed-ak.cbor", "signature", other, parsectpm.ReasonKATSignature)
	if err := a.Extend(7, []byte("secure boot off")); err != nil {
		t.Fatal(err)
	}
	add("evidence-pcr-mismatch.cbor", "pcr-digest", a, parsectpm.ReasonPCRDigest)

	j, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "manifest.json", append(j, '\n'))
}

func cmpOrString(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func pemKey(t *testing.T, k any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func write(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}
