package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/rootoftrust"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/inputs"
	"github.com/attested-tls/conformance/peers/reference"
	"github.com/attested-tls/conformance/reports/results"
)

// startServe runs a serve on loopback in dir until the test ends.
func startServe(t testing.TB, dir string, tweak func(*Config)) *Server {
	t.Helper()
	cfg := Config{Listen: "127.0.0.1:0", HTTP: "127.0.0.1:0", Out: dir, ConnTimeout: 10 * time.Second,
		HelloTimeout: 2 * time.Second, Log: testLog{t}}
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

type testLog struct{ t testing.TB }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

func (s *Server) url(path string) string { return "http://" + s.HTTPAddr().String() + path }

var httpClient = &http.Client{Timeout: time.Minute}

func get(t testing.TB, url string) []byte {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s %v", url, resp.Status, b, err)
	}
	return b
}

// visitor is a visiting implementation played by the reference peer: it
// takes serve's published inputs over HTTP, as a visitor would.
type visitor struct {
	name string
	dir  string
	in   *inputs.Inputs
	att  parsectpm.Attester
}

func newVisitor(t testing.TB, s *Server, name string) *visitor {
	t.Helper()
	v := &visitor{name: name, dir: t.TempDir()}
	for _, f := range published {
		if err := os.WriteFile(filepath.Join(v.dir, f), get(t, s.url("/inputs/"+f)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if v.in, err = inputs.Load(v.dir); err != nil {
		t.Fatal(err)
	}
	if v.att, _, err = rootoftrust.Open(context.Background(), rootoftrust.Root{Kind: rootoftrust.Software}, parsectpm.Faults{}); err != nil {
		t.Fatal(err)
	}
	b, err := contract.MarshalEndorsement(v.att.Endorsement())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := httpClient.Post(s.url("/endorsements?visitor="+name), "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /endorsements: %s", resp.Status)
	}
	return v
}

// config is the visitor's contract configuration for e, misbehaving so.
func (v *visitor) config(t testing.TB, e Entry, misbehave string) (contract.Config, reference.Options) {
	t.Helper()
	dirs := map[contract.Role]string{contract.Server: filepath.Join(t.TempDir(), "server"), contract.Client: filepath.Join(t.TempDir(), "client")}
	return visitorConfig(t, v.in, e, dirs, misbehave), reference.Options{Attester: v.att}
}

// visitorConfig is the contract configuration of a visitor in case e
// with inputs in (serve's, as published) and its files in dirs.
func visitorConfig(t testing.TB, in *inputs.Inputs, e Entry, dirs map[contract.Role]string, misbehave string) contract.Config {
	t.Helper()
	scfg, ccfg, err := in.Configs(inputs.Pair{TestCase: e.c.Model.ID(), Model: e.c.Model, Dirs: dirs,
		Misbehave: map[contract.Role]string{e.VisitorRole: misbehave}, Timeout: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cfg := ccfg
	if e.VisitorRole == contract.Server {
		cfg = scfg
	}
	if cfg.PeerAttests() != contract.AttestsNone {
		cfg.Endorsements = in.Path(inputs.EndorsementFile) // serve's, as published
	}
	return cfg
}

// connect plays e as a client against serve and returns serve's verdict
// on it (from conns.json, as the results page reads it).
func (v *visitor) connect(t testing.TB, s *Server, e Entry, misbehave string) Conn {
	t.Helper()
	cfg, opt := v.config(t, e, misbehave)
	cfg.Connect, cfg.ServerName = s.Addr().String(), v.name+VisitorSep+e.Name
	before := s.lastSeq()
	o, code := reference.Run(context.Background(), cfg, opt)
	t.Logf("visitor %s in %s: exit %d, handshake %s, error %q", v.name, e.ID, code, o.Handshake, o.Error)
	return waitConn(t, s, before, v.name, e.ID)
}

func (s *Server) lastSeq() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// waitConn waits for serve's verdict on the visitor's next connection in
// case id after seq since.
func waitConn(t testing.TB, s *Server, since int, visitor, id string) Conn {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var page struct{ Conns []Conn }
		if err := json.Unmarshal(get(t, s.url(fmt.Sprintf("/conns.json?since=%d", since))), &page); err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Conns {
			if c.Visitor == visitor && c.ID == id {
				return c
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no verdict on %s in %s", visitor, id)
	return Conn{}
}

func find(t testing.TB, s *Server, id string, role contract.Role) Entry {
	t.Helper()
	e, ok := s.Table.Find(id, role)
	if !ok {
		t.Fatalf("no case %s with the visitor as %s", id, role)
	}
	return e
}

// visit is a case a visitor plays, misbehaving so, and the verdict
// serve must give.
type visit struct {
	id, misbehave string
	want          results.Outcome
}

// expect plays k as a client against serve and checks serve's verdict.
func (v *visitor) expect(t *testing.T, s *Server, k visit) Conn {
	t.Helper()
	c := v.connect(t, s, find(t, s, k.id, contract.Client), k.misbehave)
	if c.Verdict != k.want {
		t.Fatalf("serve's verdict %s (%s), want %s as conformance run gives", c.Verdict, c.Reason, k.want)
	}
	return c
}

// The verdicts `conformance run` gives these visitors in these cases:
// the reference passes every case of its battery (its expected.json is
// empty); the broken fixtures (peers/broken-*, the reference with one
// ATLS_MISBEHAVE) fail the negative cases they are built to fail.
var clientCases = []visit{
	{"ta-07/server-attests/passport+x509", "", results.Pass},
	{"ta-07/server-attests/bg+x509", "", results.Pass},
	{"ta-07/client-attests/bg+x509", "", results.Pass},
	{"ea-07/client-attests/passport+x509", "", results.Pass},
	{"poc/client-attests/bg+attestation-only", "", results.Pass},
	{"ta-07/mutual/server=bg+x509,client=passport+x509", "", results.Pass},
	{"xp-03/server-attests/bg+x509", "", results.Pass},
	{"ta-07/server-attests/bg+x509/rejects-wrong-challenge", "", results.Pass},
	{"ta-07/server-attests/bg+x509/rejects-corrupt-finished", "", results.Pass},
	{"ta-07/server-attests/bg+x509/rejects-wrong-challenge", contract.AcceptAny, results.Fail},         // peers/broken-accept-any
	{"ta-07/server-attests/bg+x509/rejects-wrong-challenge", contract.NoAlert, results.Fail},           // peers/broken-no-alert
	{"ta-07/server-attests/bg+x509/rejects-wrong-challenge", contract.AppDataAfterAlert, results.Fail}, // peers/broken-leaks
	{"ta-07/client-attests/bg+x509", contract.WrongChallenge, results.Fail},                            // peers/broken
}

func TestReferenceVisitsAsClient(t *testing.T) {
	s := startServe(t, t.TempDir(), nil)
	v := newVisitor(t, s, "ref")
	for _, k := range clientCases {
		t.Run(k.id+"/"+k.misbehave, func(t *testing.T) {
			c := v.expect(t, s, k)
			if c.Verdict == results.Pass {
				for _, p := range []string{c.Spec.Artifacts.KeyLog, c.Spec.Artifacts.Pcap} {
					if p == "" || len(get(t, s.url("/"+p))) == 0 {
						t.Errorf("artifact %q is not served", p)
					}
				}
			}
		})
	}
}

// serverCases are cases serve dials the visitor's server for, with the
// verdicts `conformance run` gives (as clientCases).
var serverCases = []visit{
	{"ta-07/server-attests/passport+x509", "", results.Pass},
	{"ta-07/client-attests/bg+x509", "", results.Pass},
	{"ta-07/server-attests/bg+x509/rejects-short-nonce", "", results.Pass},
	{"ta-07/client-attests/passport+x509/rejects-corrupt-finished", "", results.Pass},
	{"ta-07/client-attests/passport+x509/rejects-corrupt-finished", contract.NoAlert, results.Fail}, // peers/broken-no-alert
}

// dialed has serve dial the visitor's server, listening on loopback, for
// case e (through GET /dial) and returns serve's verdict.
func (v *visitor) dialed(t testing.TB, s *Server, e Entry, misbehave string) Conn {
	t.Helper()
	cfg, opt := v.config(t, e, misbehave)
	cfg.ServerName = e.Name // serve dials with the case's name
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opt.Listener = ln
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		reference.Run(context.Background(), cfg, opt)
	}()
	defer wg.Wait()
	var c Conn
	if err := json.Unmarshal(get(t, s.url("/dial?visitor="+v.name+"&addr="+ln.Addr().String()+"&case="+e.Name)), &c); err != nil {
		t.Fatal(err)
	}
	if !c.Dialed || c.Role != contract.Server || c.ID != e.ID {
		t.Fatalf("dialed %s: %+v", e.ID, c)
	}
	return c
}

func TestServeDialsTheVisitorsServer(t *testing.T) {
	s := startServe(t, t.TempDir(), nil)
	v := newVisitor(t, s, "refsrv")
	for _, k := range serverCases {
		t.Run(k.id+"/"+k.misbehave, func(t *testing.T) {
			if c := v.dialed(t, s, find(t, s, k.id, contract.Server), k.misbehave); c.Verdict != k.want {
				t.Fatalf("verdict %s (%s), want %s", c.Verdict, c.Reason, k.want)
			}
		})
	}
}
