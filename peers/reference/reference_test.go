package reference

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/inputs"
)

var (
	inOnce sync.Once
	in     *inputs.Inputs
	inErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if in != nil {
		os.RemoveAll(in.Dir)
	}
	os.Exit(code)
}

func runInputs(t *testing.T) *inputs.Inputs {
	inOnce.Do(func() {
		dir, err := os.MkdirTemp("", "reference-inputs-")
		if err != nil {
			inErr = err
			return
		}
		in, inErr = inputs.Prepare(dir)
	})
	if inErr != nil {
		t.Fatal(inErr)
	}
	return in
}

type sideResult struct {
	o    contract.Outcome
	code int
}

// pair runs two reference peers against each other over loopback.
func pair(t *testing.T, m party.Model, mis map[contract.Role]string, mod func(s, c *contract.Config)) (srv, cli sideResult, dirs map[contract.Role]string) {
	t.Helper()
	dir := t.TempDir()
	dirs = map[contract.Role]string{contract.Server: filepath.Join(dir, "server"), contract.Client: filepath.Join(dir, "client")}
	scfg, ccfg, err := runInputs(t).Configs(inputs.Pair{TestCase: m.ID(), Model: m, Dirs: dirs, Misbehave: mis, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	scfg.Listen, ccfg.Connect = ln.Addr().String(), ln.Addr().String()
	if mod != nil {
		mod(&scfg, &ccfg)
	}
	ctx := context.Background()
	done := make(chan sideResult, 1)
	go func() {
		o, code := Run(ctx, scfg, Options{Listener: ln})
		done <- sideResult{o, code}
	}()
	o, code := Run(ctx, ccfg, Options{})
	cli = sideResult{o, code}
	select {
	case srv = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("server did not finish")
	}
	return srv, cli, dirs
}

var (
	bgX509       = party.Side{Attests: true, Credential: party.X509}
	bgOnly       = party.Side{Attests: true}
	passportX509 = party.Side{Attests: true, Topology: party.Passport, Credential: party.X509}
	passportOnly = party.Side{Attests: true, Topology: party.Passport}
)

func TestPositiveModels(t *testing.T) {
	for _, m := range []party.Model{
		{Profile: "ta-07", Server: bgX509},
		{Profile: "ta-07", Client: passportOnly},
		{Profile: "ta-07", Server: bgOnly, Client: passportX509},
		{Profile: "ea-07", Server: passportX509},
		{Profile: "ea-07", Client: bgX509},
		{Profile: "poc", Client: bgOnly},
	} {
		t.Run(m.ID(), func(t *testing.T) {
			srv, cli, dirs := pair(t, m, nil, nil)
			for role, r := range map[contract.Role]sideResult{contract.Server: srv, contract.Client: cli} {
				if r.code != contract.ExitOK || r.o.Handshake != contract.HandshakeOK || r.o.AppData != contract.AppDataOK {
					t.Fatalf("%s: exit %d %+v", role, r.code, r.o)
				}
				if r.o.Negotiated == nil || r.o.Negotiated.CipherSuite == "" {
					t.Fatalf("%s: negotiated %+v", role, r.o.Negotiated)
				}
				relying := role == contract.Client && m.Server.Attests || role == contract.Server && m.Client.Attests
				if relying != (r.o.Verdict != nil) || relying && r.o.Verdict.Status != "affirming" {
					t.Fatalf("%s: verdict %+v (relying party: %v)", role, r.o.Verdict, relying)
				}
				attests := role == contract.Server && m.Server.Attests || role == contract.Client && m.Client.Attests
				if _, err := os.Stat(filepath.Join(dirs[role], inputs.EndorsementFile)); (err == nil) != attests {
					t.Fatalf("%s: endorsement file: %v (attests: %v)", role, err, attests)
				}
				for _, f := range []string{inputs.KeyLogFile, PcapFile, LogFile} {
					if st, err := os.Stat(filepath.Join(dirs[role], f)); err != nil || st.Size() == 0 {
						t.Fatalf("%s: %s: %v", role, f, err)
					}
				}
			}
			// Both sides see the direction that attested.
			if m.Server.Attests && (srv.o.Negotiated.ServerAttestation == nil || cli.o.Negotiated.ServerAttestation == nil) {
				t.Fatalf("server attestation not reported: %+v %+v", srv.o.Negotiated, cli.o.Negotiated)
			}
			if m.Client.Attests && (srv.o.Negotiated.ClientAttestation == nil || cli.o.Negotiated.ClientAttestation == nil) {
				t.Fatalf("client attestation not reported: %+v %+v", srv.o.Negotiated, cli.o.Negotiated)
			}
		})
	}
}

// Each misbehaviour makes the connection fail closed on both sides, with
// an alert on the wire (except no-alert).
func TestMisbehaviours(t *testing.T) {
	for _, tc := range []struct {
		m    party.Model
		who  contract.Role
		name string
	}{
		{party.Model{Profile: "ta-07", Server: bgX509}, contract.Server, contract.WrongChallenge},
		{party.Model{Profile: "ta-07", Server: bgX509}, contract.Server, contract.MalformedPayload},
		{party.Model{Profile: "ta-07", Server: bgX509}, contract.Server, contract.SelectUnoffered},
		{party.Model{Profile: "ta-07", Server: bgX509}, contract.Client, contract.ShortNonce},
		{party.Model{Profile: "ta-07", Server: bgX509}, contract.Server, contract.CorruptCertificateVerify},
		{party.Model{Profile: "ta-07", Server: bgX509}, contract.Server, contract.Decline},
		{party.Model{Profile: "ta-07", Client: bgX509}, contract.Client, contract.OmitPayload},
		{party.Model{Profile: "ta-07", Server: bgX509}, contract.Server, contract.CorruptFinished},
		{party.Model{Profile: "ta-07", Server: bgX509}, contract.Client, contract.AppDataAfterAlert},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mis := map[contract.Role]string{tc.who: tc.name}
			if tc.name == contract.AppDataAfterAlert {
				// The client leaks after the alert it sends about a bad server attestation.
				mis[contract.Server] = contract.WrongChallenge
			}
			srv, cli, _ := pair(t, tc.m, mis, nil)
			for role, r := range map[contract.Role]sideResult{contract.Server: srv, contract.Client: cli} {
				if r.code != contract.ExitFailed || r.o.Handshake != contract.HandshakeFailed || r.o.AppData != contract.AppDataNone {
					t.Fatalf("%s: exit %d %+v", role, r.code, r.o)
				}
			}
			if srv.o.AlertSent == nil && cli.o.AlertSent == nil {
				t.Fatalf("no alert sent: %+v %+v", srv.o, cli.o)
			}
		})
	}
}

func TestWrongChallengeVerdict(t *testing.T) {
	srv, cli, _ := pair(t, party.Model{Profile: "ta-07", Server: bgX509}, map[contract.Role]string{contract.Server: contract.WrongChallenge}, nil)
	if cli.o.Verdict == nil || cli.o.Verdict.Reason == "" || cli.o.AlertSent == nil || cli.o.AlertSent.Name != "bad_certificate" {
		t.Fatalf("client: %+v", cli.o)
	}
	if srv.o.AlertReceived == nil || srv.o.AlertReceived.Code != cli.o.AlertSent.Code {
		t.Fatalf("server: %+v", srv.o)
	}
}

func TestUnsupported(t *testing.T) {
	m := party.Model{Profile: "ta-07", Server: bgX509}
	for name, mod := range map[string]func(s, c *contract.Config){
		"tpm":          func(s, c *contract.Config) { s.TPM = "device:/dev/tpmrm0" },
		"verifier":     func(s, c *contract.Config) { c.Verifier = "ear-over-carrier-pigeon" },
		"misbehaviour": func(s, c *contract.Config) { s.Misbehave = "dance" },
		"profile":      func(s, c *contract.Config) { s.Profile, s.TestCase = "ta-99", "ta-99/x" },
		"case":         func(s, c *contract.Config) { s.TestCase = "quic/handshake" },
		"model": func(s, c *contract.Config) {
			s.Profile, s.TestCase = "poc", "poc/server-attests/bg+attestation-only"
			s.ServerCredential = contract.AttestationOnly
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			scfg, ccfg, err := runInputs(t).Configs(inputs.Pair{TestCase: m.ID(), Model: m, Timeout: 5 * time.Second,
				Dirs: map[contract.Role]string{contract.Server: filepath.Join(dir, "s"), contract.Client: filepath.Join(dir, "c")}})
			if err != nil {
				t.Fatal(err)
			}
			scfg.Listen, ccfg.Connect = "127.0.0.1:0", "127.0.0.1:1"
			mod(&scfg, &ccfg)
			cfg := scfg
			if name == "verifier" {
				cfg = ccfg
			}
			start := time.Now()
			o, code := Run(context.Background(), cfg, Options{})
			if code != contract.ExitUnsupported || o.Handshake != contract.HandshakeNone || o.Error == "" {
				t.Fatalf("exit %d %+v", code, o)
			}
			if time.Since(start) > 2*time.Second {
				t.Fatalf("took %v to say unsupported", time.Since(start))
			}
		})
	}
}

// A client whose server accepts and says nothing gives up at ATLS_TIMEOUT
// with exit 3.
func TestTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			time.Sleep(3 * time.Second)
			c.Close()
		}
	}()
	m := party.Model{Profile: "ta-07", Server: bgX509}
	dir := t.TempDir()
	_, ccfg, err := runInputs(t).Configs(inputs.Pair{TestCase: m.ID(), Model: m, Timeout: 500 * time.Millisecond,
		Dirs: map[contract.Role]string{contract.Server: filepath.Join(dir, "s"), contract.Client: filepath.Join(dir, "c")}})
	if err != nil {
		t.Fatal(err)
	}
	ccfg.Connect = ln.Addr().String()
	start := time.Now()
	o, code := Run(context.Background(), ccfg, Options{})
	if code != contract.ExitTimeout || time.Since(start) > 2*time.Second {
		t.Fatalf("exit %d after %v: %+v", code, time.Since(start), o)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "c", LogFile))
	if !strings.Contains(string(log), "exit 3") {
		t.Fatalf("peer.log:\n%s", log)
	}
}

// A connection that closes before its first byte (a port check) is not
// taken for the client.
func TestServerIgnoresPortCheck(t *testing.T) {
	m := party.Model{Profile: "ta-07", Server: bgX509}
	srv, cli, _ := pair(t, m, nil, func(s, c *contract.Config) {
		conn, err := net.Dial("tcp", s.Listen)
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
	})
	if srv.code != contract.ExitOK || cli.code != contract.ExitOK {
		t.Fatalf("server %d %+v\nclient %d %+v", srv.code, srv.o, cli.code, cli.o)
	}
}

// The manifest lists exactly the misbehaviours the peer implements.
func TestManifestMisbehaviours(t *testing.T) {
	b, err := os.ReadFile("manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := contract.ParseManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(m.Misbehaviours, ",") != strings.Join(contract.Misbehaviours, ",") {
		t.Fatalf("manifest %v, contract %v", m.Misbehaviours, contract.Misbehaviours)
	}
	for _, name := range m.Misbehaviours {
		if _, _, err := Misbehaviour(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
