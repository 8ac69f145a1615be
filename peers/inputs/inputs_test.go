package inputs

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/peers/contract"
)

func TestConfigsWireBothSides(t *testing.T) {
	dir := t.TempDir()
	in, err := Prepare(filepath.Join(dir, "in"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{CACertFile, CAKeyFile, VerifierKeyFile, TrustedVerifiersFile} {
		if _, err := os.Stat(in.Path(f)); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(in.Path(TrustedVerifiersFile))
	if tv, err := contract.ParseTrustedVerifiers(b); err != nil || len(tv) != 1 || string(tv[0].ID) != string(in.Verifier.ID) {
		t.Fatalf("trusted verifiers: %v", err)
	}
	m := party.Model{Profile: "ta-07", Server: party.Side{Attests: true, Credential: party.X509},
		Client: party.Side{Attests: true, Topology: party.Passport}}
	dirs := map[contract.Role]string{contract.Server: filepath.Join(dir, "s"), contract.Client: filepath.Join(dir, "c")}
	s, c, err := in.Configs(Pair{TestCase: m.ID(), Model: m, Dirs: dirs, Timeout: time.Second,
		Misbehave: map[contract.Role]string{contract.Client: contract.Decline}})
	if err != nil {
		t.Fatal(err)
	}
	if s.EndorsementsOut != filepath.Join(dirs[contract.Server], EndorsementFile) || c.Endorsements != s.EndorsementsOut ||
		s.Endorsements != c.EndorsementsOut || c.Misbehave != contract.Decline || s.Misbehave != "" {
		t.Fatalf("server %+v\nclient %+v", s, c)
	}
	if s.ServerAttests != contract.AttestsBG || s.ClientAttests != contract.AttestsPassport || c.ClientCredential != contract.AttestationOnly {
		t.Fatalf("%+v", s)
	}
	s.Listen, c.Connect = "127.0.0.1:4433", "127.0.0.1:4433"
	for _, cfg := range []contract.Config{s, c} {
		back, err := contract.FromEnv(contract.Getenv(cfg.Env()))
		if err != nil {
			t.Fatalf("%s: %v", cfg.Role, err)
		}
		if back.ModelID() != m.ID() {
			t.Fatalf("model %q, want %q", back.ModelID(), m.ID())
		}
	}
	if _, _, err := in.Configs(Pair{Model: m}); err == nil {
		t.Fatal("no output folders accepted")
	}
}

func TestLoadReadsWhatPrepareWrote(t *testing.T) {
	dir := t.TempDir()
	in, err := Prepare(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !got.CA.Cert.Equal(in.CA.Cert) || !bytes.Equal(got.Verifier.ID, in.Verifier.ID) {
		t.Fatalf("Load gave another CA or verifier than Prepare made")
	}
	if err := os.Remove(filepath.Join(dir, VerifierKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), VerifierKeyFile) {
		t.Fatalf("Load without %s: %v, want an error naming it", VerifierKeyFile, err)
	}
}
