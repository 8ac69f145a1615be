package reference

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attested-tls/conformance/containers/services"
	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison"
	"github.com/attested-tls/conformance/internal/needs"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/inputs"
)

func TestParseTPM(t *testing.T) {
	for v, want := range map[string][2]string{
		"software":             {TPMSoftware, ""},
		"swtpm:127.0.0.1:2321": {TPMSwtpm, "127.0.0.1:2321"},
		"swtpm:tpm:2321":       {TPMSwtpm, "tpm:2321"},
	} {
		r, err := ParseTPM(v)
		if err != nil || r.Kind != want[0] || r.Addr != want[1] {
			t.Errorf("ParseTPM(%q) = %+v, %v; want %q, %q", v, r, err, want[0], want[1])
		}
	}
	for _, v := range []string{"device:/dev/tpmrm0", "", "swtpm", "tpm2"} {
		if _, err := ParseTPM(v); contract.ExitFor(err) != contract.ExitUnsupported {
			t.Errorf("ParseTPM(%q): %v, want unsupported", v, err)
		}
	}
	if _, err := ParseTPM("swtpm:nowhere"); contract.ExitFor(err) != contract.ExitConfig {
		t.Errorf("ParseTPM(swtpm:nowhere): %v, want a usage error", err)
	}
	r, err := ParseTPM("simulator")
	if haveSimulator != (err == nil) || haveSimulator && r.Kind != TPMSimulator {
		t.Errorf("ParseTPM(simulator) = %+v, %v with cgo=%v", r, err, haveSimulator)
	}
}

// The static build says unsupported for the simulator, before any connection.
func TestSimulatorWithoutCgo(t *testing.T) {
	saved := haveSimulator
	haveSimulator = false
	defer func() { haveSimulator = saved }()
	m := party.Model{Profile: "ta-07", Server: bgX509}
	dir := t.TempDir()
	scfg, _, err := runInputs(t).Configs(inputs.Pair{TestCase: m.ID(), Model: m, Timeout: 5 * time.Second,
		Dirs: map[contract.Role]string{contract.Server: filepath.Join(dir, "s"), contract.Client: filepath.Join(dir, "c")}})
	if err != nil {
		t.Fatal(err)
	}
	scfg.Listen, scfg.TPM = "127.0.0.1:0", "simulator"
	if o, code := Run(context.Background(), scfg, Options{}); code != contract.ExitUnsupported || o.Handshake != contract.HandshakeNone {
		t.Fatalf("exit %d %+v", code, o)
	}
}

func TestKeyTrust(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := attest.VerifierIdentity(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := contract.MarshalPrivateKeyPEM(k)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})
	for name, b := range map[string][]byte{"private": priv, "public": pub} {
		tv, err := keyTrust(b)
		if err != nil || !k.PublicKey.Equal(tv.Key) || string(tv.ID) != string(id) {
			t.Errorf("%s: %+v, %v", name, tv, err)
		}
	}
	for _, b := range [][]byte{nil, []byte("not PEM"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: spki})} {
		if _, err := keyTrust(b); err == nil {
			t.Errorf("keyTrust(%q) accepted", b)
		}
	}
}

// A relying party with Veraison trusts the listed verifiers or the key it
// is given, never a verifier for answering discovery.
func TestVeraisonTrust(t *testing.T) {
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key.pem")
	b, _ := contract.MarshalPrivateKeyPEM(other)
	if err := os.WriteFile(keyFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	rp := contract.Config{Role: contract.Client, ServerAttests: contract.AttestsBG, Verifier: "veraison:http://v"}

	if _, err := trustedVerifiers(rp, nil, true); !isVarError(err, contract.EnvTrustedVerifiers) {
		t.Fatalf("no trust given: %v, want an %s error", err, contract.EnvTrustedVerifiers)
	}
	withKey := rp
	withKey.VerifierKey = keyFile
	vs, err := trustedVerifiers(withKey, nil, true)
	if err != nil || len(vs) != 1 || !other.PublicKey.Equal(vs[0].Key) {
		t.Fatalf("ATLS_VERIFIER_KEY: %+v, %v", vs, err)
	}
	withList := rp
	withList.TrustedVerifiers = runInputs(t).Path(inputs.TrustedVerifiersFile)
	vs, err = trustedVerifiers(withList, nil, true)
	if err != nil || len(vs) != 1 || !runInputs(t).Verifier.Key.(*ecdsa.PublicKey).Equal(vs[0].Key) {
		t.Fatalf("ATLS_TRUSTED_VERIFIERS: %+v, %v", vs, err)
	}
	// A passport attester with Veraison appraises nothing: it needs no trust.
	att := contract.Config{Role: contract.Server, ServerAttests: contract.AttestsPassport, ClientAttests: contract.AttestsNone, Verifier: "veraison:http://v"}
	if vs, err := trustedVerifiers(att, nil, true); err != nil || len(vs) != 0 {
		t.Fatalf("attester: %+v, %v", vs, err)
	}
}

func isVarError(err error, name string) bool {
	var ve *contract.VarError
	return errors.As(err, &ve) && ve.Name == name
}

// An unreachable TPM or verifier fails the connection (exit 1) and names
// the variable.
func TestUnreachable(t *testing.T) {
	m := party.Model{Profile: "ta-07", Server: bgX509}
	dir := t.TempDir()
	scfg, ccfg, err := runInputs(t).Configs(inputs.Pair{TestCase: m.ID(), Model: m, Timeout: 5 * time.Second,
		Dirs: map[contract.Role]string{contract.Server: filepath.Join(dir, "s"), contract.Client: filepath.Join(dir, "c")}})
	if err != nil {
		t.Fatal(err)
	}
	closed := closedPort(t)
	scfg.Listen, scfg.TPM = "127.0.0.1:0", "swtpm:"+closed
	ccfg.Connect, ccfg.Verifier = closed, "veraison:http://"+closed
	for name, c := range map[string]contract.Config{contract.EnvTPM: scfg, contract.EnvVerifier: ccfg} {
		o, code := Run(context.Background(), c, Options{})
		if code != contract.ExitFailed || o.Handshake != contract.HandshakeNone || !strings.Contains(o.Error, name) {
			t.Errorf("%s: exit %d %+v", name, code, o)
		}
	}
}

func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// The contract's TPM and verifier variables map onto a swtpm attester and
// a Veraison relying party: the server attests from swtpm, the suite
// provisions its endorsement from ATLS_ENDORSEMENTS_OUT, the client
// appraises through Veraison. Without the provisioning the client rejects.
func TestSwtpmAndVeraison(t *testing.T) {
	if testing.Short() {
		t.Skip("starts swtpm and Veraison")
	}
	needs.Tool(t, services.SwtpmBinary)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sw, err := services.StartSwtpm(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	bin, err := services.VeraisonBinaries(ctx)
	if err != nil {
		needs.VeraisonBinaries(t, err)
	}
	svc, err := services.StartVeraison(ctx, services.VeraisonConfig{BinDir: bin})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	id, err := attest.VerifierIdentity(svc.EARKey)
	if err != nil {
		t.Fatal(err)
	}
	tv, err := contract.MarshalTrustedVerifiers([]attest.TrustedVerifier{{ID: id, Key: svc.EARKey}})
	if err != nil {
		t.Fatal(err)
	}
	trusted := filepath.Join(t.TempDir(), "veraison-trusted.json")
	if err := os.WriteFile(trusted, tv, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, provision := range []bool{true, false} {
		m := party.Model{Profile: "ta-07", Server: bgX509}
		dir := t.TempDir()
		dirs := map[contract.Role]string{contract.Server: filepath.Join(dir, "server"), contract.Client: filepath.Join(dir, "client")}
		scfg, ccfg, err := runInputs(t).Configs(inputs.Pair{TestCase: m.ID(), Model: m, Dirs: dirs, Timeout: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		scfg.TPM = "swtpm:" + sw.Addr
		ccfg.Verifier, ccfg.VerifierKey, ccfg.TrustedVerifiers, ccfg.Endorsements = "veraison:"+svc.VerificationURL, "", trusted, ""
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		scfg.Listen, ccfg.Connect = ln.Addr().String(), ln.Addr().String()
		done := make(chan sideResult, 1)
		go func() {
			o, code := Run(ctx, scfg, Options{Listener: ln})
			done <- sideResult{o, code}
		}()
		e := waitEndorsement(t, ctx, scfg.EndorsementsOut)
		if provision {
			if _, err := veraison.ProvisionEndorsement(ctx, svc.ProvisioningURL, e, nil); err != nil {
				t.Fatal(err)
			}
		}
		o, code := Run(ctx, ccfg, Options{})
		srv := <-done
		if provision {
			if code != contract.ExitOK || srv.code != contract.ExitOK || o.Verdict == nil || o.Verdict.Status != "affirming" {
				t.Fatalf("provisioned: client exit %d %+v; server exit %d %+v", code, o, srv.code, srv.o)
			}
			continue
		}
		if code != contract.ExitFailed || o.AlertSent == nil || o.AppData != contract.AppDataNone || srv.o.AppData != contract.AppDataNone {
			t.Fatalf("unendorsed: client exit %d %+v; server %+v", code, o, srv.o)
		}
	}
}

func waitEndorsement(t *testing.T, ctx context.Context, path string) parsectpm.Endorsement {
	t.Helper()
	for {
		if b, err := os.ReadFile(path); err == nil {
			e, err := contract.ParseEndorsement(b)
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no endorsement at %s", path)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// FuzzParseTPM: no panic; every ATLS_TPM value is a root of trust this
// peer has, with a swtpm's host:port exactly what follows "swtpm:", or
// unsupported (exit 127), or a configuration error (a swtpm without a
// host and port).
func FuzzParseTPM(f *testing.F) {
	for _, s := range []string{"software", "simulator", "swtpm:tpm:2321", "swtpm:", "device:/dev/tpmrm0", "", "SOFTWARE"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r, err := ParseTPM(v)
		kind, addr := r.Kind, r.Addr
		if err != nil {
			if code := contract.ExitFor(err); code != contract.ExitUnsupported && code != contract.ExitConfig {
				t.Fatalf("%q: %v maps to exit %d, want unsupported or configuration", v, err, code)
			}
			return
		}
		switch kind {
		case TPMSoftware, TPMSimulator:
			if addr != "" || v != kind {
				t.Fatalf("%q: %s with address %q", v, kind, addr)
			}
		case TPMSwtpm:
			if "swtpm:"+addr != v {
				t.Fatalf("%q: swtpm address %q", v, addr)
			}
		default:
			t.Fatalf("%q: kind %q", v, kind)
		}
	})
}
