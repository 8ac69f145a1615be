package interop

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/containers/images"
	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/internal/needs"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/driver"
	"github.com/attested-tls/conformance/peers/inputs"
	"github.com/attested-tls/conformance/peers/reference"
)

var (
	bgX509 = party.Side{Attests: true, Credential: party.X509}
	bgOnly = party.Side{Attests: true}
	ppX509 = party.Side{Attests: true, Topology: party.Passport, Credential: party.X509}
	ppOnly = party.Side{Attests: true, Topology: party.Passport}
)

// positive is a representative subset of the interaction models: per
// profile, the peer plays the server and the client at least once, as
// attester and as relying party.
var positive = []Case{
	{Model: party.Model{Profile: "ta-07", Server: bgX509}, PeerRole: contract.Server},
	{Model: party.Model{Profile: "ta-07", Server: ppOnly}, PeerRole: contract.Client},
	{Model: party.Model{Profile: "ta-07", Server: bgOnly, Client: ppX509}, PeerRole: contract.Client},
	{Model: party.Model{Profile: "ea-07", Server: ppX509}, PeerRole: contract.Server},
	{Model: party.Model{Profile: "ea-07", Client: bgX509}, PeerRole: contract.Client},
	{Model: party.Model{Profile: "poc", Client: bgOnly}, PeerRole: contract.Server},
	{Model: party.Model{Profile: "poc", Client: bgOnly}, PeerRole: contract.Client},
}

// run runs a case within its deadline plus setup time.
func run(ctx context.Context, c Case) *Result {
	GinkgoHelper()
	r, err := env.Run(ctx, c)
	Expect(err).NotTo(HaveOccurred(), "setting up %s", c.ID())
	Expect(r.Peer).NotTo(BeNil())
	return r
}

func fileWithContent(path string) {
	GinkgoHelper()
	st, err := os.Stat(path)
	Expect(err).NotTo(HaveOccurred())
	Expect(st.Size()).To(BeNumerically(">", 0), "%s is empty", path)
}

// The positive cases are the pair specs `conformance run --peer reference`
// declares (DeclarePairs), for the subset above; each also keeps logs,
// key logs and a capture of each side.
var _ = func() bool {
	ref := &PeerDir{Manifest: &contract.Manifest{Name: "reference"}}
	DeclarePairs(PairOptions{
		Peers: []*PeerDir{ref},
		Env:   func(context.Context, *PeerDir) (*Env, error) { return env, nil },
		Cases: func(*PeerDir) []Case { return positive },
		After: func(c Case, r *Result) {
			for _, role := range []contract.Role{contract.Server, contract.Client} {
				for _, f := range []string{inputs.KeyLogFile, reference.PcapFile, reference.LogFile} {
					fileWithContent(filepath.Join(r.Dirs[role], f))
				}
			}
			fileWithContent(filepath.Join(r.Dirs[c.PeerRole], driver.StdoutFile))
			fileWithContent(filepath.Join(r.Dirs[c.PeerRole], driver.StderrFile))
		},
	})
	return true
}()

// realServices picks the cases with these IDs from those `make
// conformance` runs (--services real); a missing one panics.
func realServices(ids ...string) []Case {
	b, err := os.ReadFile(filepath.Join("..", "..", "peers", "reference", "manifest.json"))
	if err != nil {
		panic(err)
	}
	m, err := contract.ParseManifest(b)
	if err != nil {
		panic(err)
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var out []Case
	for _, c := range Matrix(m, true) {
		if want[c.ID()] {
			out = append(out, c)
			delete(want, c.ID())
		}
	}
	if len(want) > 0 {
		panic(fmt.Sprintf("realServices: no such cases in the matrix: %v", want))
	}
	return out
}

// With real services, each case's Veraison is every side's verifier and
// passport source, and the only verifier either side trusts, and each
// attesting side has a swtpm; After checks both sides' logs say so.
var _ = func() bool {
	ref := &PeerDir{Manifest: &contract.Manifest{Name: "reference"}}
	DeclarePairs(PairOptions{
		Peers: []*PeerDir{ref},
		Env:   func(context.Context, *PeerDir) (*Env, error) { return env, nil },
		// Cases where the Veraison is a passport source or takes both
		// sides' endorsements: the peer as passport attester and as relying
		// party of the reference's passport, and mutual models with the
		// peer as client and as server (the client waits at a gate until
		// both endorsements are in).
		Cases: func(*PeerDir) []Case {
			return realServices(
				"ta-07/server-attests/passport+attestation-only@server",
				"ta-07/client-attests/passport+x509@server",
				"ta-07/mutual/server=bg+x509,client=passport+x509@client",
				"ea-07/mutual/server=passport+x509,client=bg+x509@server",
				"ta-07/mutual/server=bg+attestation-only,client=bg+attestation-only@client")
		},
		After: func(c Case, r *Result) {
			for _, role := range []contract.Role{contract.Server, contract.Client} {
				fileWithContent(filepath.Join(r.Dirs[role], "veraison-trusted-verifiers.json"))
				b, err := os.ReadFile(filepath.Join(r.Dirs[role], reference.LogFile))
				Expect(err).NotTo(HaveOccurred())
				Expect(string(b)).To(MatchRegexp(`verifier "veraison:http://[^"]+", trusted verifiers from "[^"]*veraison-trusted-verifiers.json"`),
					"the %s did not use the case's Veraison", role)
				if role == contract.Server && c.Model.Server.Attests || role == contract.Client && c.Model.Client.Attests {
					Expect(string(b)).To(ContainSubstring(`TPM "swtpm:`), "the %s attested from no swtpm", role)
				}
			}
		},
	})
	return true
}()

var _ = Describe("A passport attester whose Veraison was never given its endorsement", Label("peers", "veraison"), func() {
	It("gets a result that is not affirming: the relying party aborts with bad_certificate and no application data flows", func(ctx SpecContext) {
		c := realServices("ta-07/server-attests/passport+attestation-only@server")[0]
		c.TestCase = c.Model.ID() + "/unendorsed-passport"
		c.Endorse = func(context.Context, parsectpm.Endorsement) error { return nil }
		r := run(ctx, c)
		Expect(r.Peer.Exit).To(Equal(contract.ExitFailed), r.Describe())
		Expect(r.Peer.Outcome).NotTo(BeNil(), r.Describe())
		Expect(r.Peer.Outcome.AppData).To(Equal(contract.AppDataNone))
		Expect(r.ReferenceExit).To(Equal(contract.ExitFailed), r.Describe())
		Expect(r.Reference.Handshake).To(Equal(contract.HandshakeFailed), r.Describe())
		Expect(r.Reference.AppData).To(Equal(contract.AppDataNone))
		// Veraison answers an unknown key with a result that is not
		// affirming; the relying party refuses it (ta-07: bad_certificate).
		Expect(r.Reference.AlertSent).To(HaveField("Name", "bad_certificate"), r.Describe())
		Expect(r.Reference.Verdict).NotTo(BeNil(), r.Describe())
		Expect(r.Reference.Verdict.Status).NotTo(Equal("affirming"), r.Describe())
		Expect(r.Peer.Outcome.AlertReceived).To(HaveField("Name", "bad_certificate"), r.Describe())
		AddReportEntry("peer", r.Peer.Describe())
	})
})

var _ = Describe("The peer against itself", Label("peers", "tshark"), func() {
	It("completes a mutual attested handshake through the suite's relay, judged from the capture, and a capture that does not decrypt fails the judgement", func(ctx SpecContext) {
		c := Selves(env.Manifest, Case{Model: party.Model{Profile: "ta-07", Server: ppX509, Client: bgOnly},
			PeerRole: contract.Server, Timeout: PairTimeout})[0]
		r := run(ctx, c)
		Expect(r.Client).NotTo(BeNil(), r.Peer.Describe())
		expectSelf(c, r)
		Expect(r.Peer.Outcome.Verdict).To(HaveField("Status", "affirming"))
		Expect(r.Client.Outcome.Verdict).To(HaveField("Status", "affirming"))
		fileWithContent(r.Pcap)

		// Another key log decrypts nothing: no Finished, no data.
		bad := *r
		bad.Dirs = map[contract.Role]string{contract.Server: r.Dirs[contract.Server], contract.Client: GinkgoT().TempDir()}
		other := strings.Repeat("ab", 32) + " " + strings.Repeat("cd", 32) + "\n"
		var log string
		for _, l := range keyLogLabels {
			log += l + " " + other
		}
		Expect(os.WriteFile(filepath.Join(bad.Dirs[contract.Client], inputs.KeyLogFile), []byte(log), 0o644)).To(Succeed())
		Expect(InterceptGomegaFailures(func() { expectSelf(c, &bad) })).NotTo(BeEmpty())
	})
})

var _ = Describe("A failing handshake across the peer boundary", Label("peers"), func() {
	It("fails closed on both sides when the peer binds its evidence to the wrong challenge", func(ctx SpecContext) {
		c := Case{Model: party.Model{Profile: "ta-07", Server: bgX509}, PeerRole: contract.Server,
			TestCase:  "ta-07/server-attests/bg+x509/wrong-challenge",
			Misbehave: map[contract.Role]string{contract.Server: contract.WrongChallenge}}
		r := run(ctx, c)
		Expect(r.ReferenceExit).To(Equal(contract.ExitFailed), r.Describe())
		Expect(r.Reference.AlertSent).To(HaveField("Name", "bad_certificate"))
		Expect(r.Reference.Verdict).NotTo(BeNil())
		Expect(r.Reference.Verdict.Reason).NotTo(BeEmpty())
		Expect(r.Peer.Exit).To(Equal(contract.ExitFailed), r.Describe())
		Expect(r.Peer.Outcome.AlertReceived).To(HaveField("Code", r.Reference.AlertSent.Code))
		Expect(r.Peer.Outcome.AppData).To(Equal(contract.AppDataNone))
	})

	It("fails closed when the peer's client attestation is not a CMW", func(ctx SpecContext) {
		c := Case{Model: party.Model{Profile: "ta-07", Client: bgX509}, PeerRole: contract.Client,
			TestCase:  "ta-07/client-attests/bg+x509/malformed-payload",
			Misbehave: map[contract.Role]string{contract.Client: contract.MalformedPayload}}
		r := run(ctx, c)
		Expect(r.ReferenceExit).To(Equal(contract.ExitFailed), r.Describe())
		Expect(r.Reference.AlertSent).NotTo(BeNil())
		Expect(r.Reference.AppData).To(Equal(contract.AppDataNone))
		Expect(r.Peer.Exit).To(Equal(contract.ExitFailed), r.Describe())
		Expect(r.Peer.Outcome.Handshake).To(Equal(contract.HandshakeFailed))
	})
})

var _ = Describe("The compliance probe", Label("peers", "probe"), func() {
	for _, role := range []contract.Role{contract.Server, contract.Client} {
		It(fmt.Sprintf("makes the peer as %s exit 127 within 10 s, without opening a port or connecting", role), func(ctx SpecContext) {
			m := party.Model{Profile: "ta-07", Server: bgX509}
			dir := filepath.Join(outDir, "cases", "probe", string(role))
			scfg, ccfg, err := env.Inputs.Configs(inputs.Pair{TestCase: m.ID(), Model: m, Timeout: 10 * time.Second,
				Dirs: map[contract.Role]string{contract.Server: filepath.Join(dir, "server"), contract.Client: filepath.Join(dir, "client")}})
			Expect(err).NotTo(HaveOccurred())
			cfg := scfg
			if role == contract.Client {
				cfg = ccfg
				cfg.Connect = "192.0.2.1:4433" // TEST-NET-1: a connection attempt would hang, not succeed
			}
			k, err := env.Driver.NewCase(ctx, "probe-"+string(role))
			Expect(err).NotTo(HaveOccurred())
			defer k.Close(context.WithoutCancel(ctx))
			start := time.Now()
			res, err := driver.Probe(ctx, k, driver.Spec{Peer: env.Peer, Config: cfg, In: env.Inputs.Dir,
				PeerOut: filepath.Join(dir, string(role.Other()))})
			Expect(err).NotTo(HaveOccurred(), "%v", res)
			Expect(time.Since(start)).To(BeNumerically("<", 10*time.Second))
			Expect(res.Exit).To(Equal(contract.ExitUnsupported), res.Describe())
			Expect(res.Outcome).NotTo(BeNil(), res.Describe())
			Expect(res.Outcome.Handshake).To(Equal(contract.HandshakeNone))
			Expect(string(res.Stderr)).NotTo(ContainSubstring("listening"))
			Expect(string(res.Stderr)).NotTo(ContainSubstring("connect"))
		})
	}
})

var _ = Describe("The unsupported exit code", Label("peers"), func() {
	m := party.Model{Profile: "ta-07", Server: bgX509}
	DescribeTable("is 127, promptly, for what the peer does not implement",
		func(ctx SpecContext, c Case) {
			r := run(ctx, c)
			Expect(r.Peer.Exit).To(Equal(contract.ExitUnsupported), r.Describe())
			Expect(r.Peer.Outcome).NotTo(BeNil(), r.Describe())
			Expect(r.Peer.Outcome.Handshake).To(Equal(contract.HandshakeNone))
			Expect(r.Peer.Outcome.Error).To(ContainSubstring("unsupported"))
			Expect(r.Peer.Took).To(BeNumerically("<", 10*time.Second)) // generous: CI shares 2 cores
		},
		Entry("a TPM it does not have", Case{Model: m, PeerRole: contract.Server, TestCase: m.ID() + "/device-tpm",
			Tweak: func(c *contract.Config) { c.TPM = "device:/dev/tpmrm0" }}),
		Entry("a misbehaviour it does not know", Case{Model: m, PeerRole: contract.Client, TestCase: m.ID() + "/dance",
			Misbehave: map[contract.Role]string{contract.Client: "dance"}}),
		Entry("a model the profile does not define", Case{Model: party.Model{Profile: "poc", Server: bgOnly}, PeerRole: contract.Client}),
		Entry("a TPM its static build lacks (the simulator needs cgo)", Case{Model: m, PeerRole: contract.Server, TestCase: m.ID() + "/simulator",
			Tweak: func(c *contract.Config) { c.TPM = "simulator" }}),
	)
})

var _ = Describe("Broken peers", Ordered, Label("peers", "faults"), func() {
	const deadline = 4 * time.Second
	fault := func(role contract.Role, f string) Case {
		return Case{Model: party.Model{Profile: "ta-07", Server: bgX509}, PeerRole: role,
			TestCase: "ta-07/server-attests/bg+x509/fault-" + f, PeerEnv: []string{reference.EnvFault + "=" + f},
			Timeout: 3 * time.Second, Deadline: deadline}
	}
	// failsWithLogs: the case fails within the deadline, plus what the
	// engine takes to kill a container and report it stopped (idle well
	// under 1 s; 3.6 and 7.5 s seen with fuzzers loading the 2 cores), and
	// the peer's logs are attached. Without the deadline a hang would
	// last until the spec's timeout (2 minutes).
	failsWithLogs := func(r *Result) {
		GinkgoHelper()
		Expect(r.Peer.Took).To(BeNumerically("<", deadline+20*time.Second), r.Describe())
		Expect(r.Peer.Outcome == nil || r.Peer.Exit != contract.ExitOK).To(BeTrue(), "a broken peer passed:\n%s", r.Describe())
		Expect(r.Peer.Describe()).To(ContainSubstring("committing fault"))
		for _, f := range []string{driver.StdoutFile, driver.StderrFile} {
			Expect(filepath.Join(r.Dirs[r.Peer.Role], f)).To(BeAnExistingFile())
		}
		AddReportEntry("peer", r.Peer.Describe())
	}

	It("a client that hangs is killed at its deadline", func(ctx SpecContext) {
		r := run(ctx, fault(contract.Client, reference.FaultHang))
		failsWithLogs(r)
		Expect(r.Peer.Killed).To(BeTrue(), r.Describe())
		Expect(r.Peer.Exit).To(Equal(128+9), r.Describe())
	})

	It("a server that accepts and hangs is killed at its deadline, and our client gives up at its timeout", func(ctx SpecContext) {
		r := run(ctx, fault(contract.Server, reference.FaultHang))
		failsWithLogs(r)
		Expect(r.Peer.Killed).To(BeTrue(), r.Describe())
		Expect(r.ReferenceExit).To(Equal(contract.ExitTimeout), r.Describe())
	})

	It("a peer that crashes fails with its exit code and no outcome", func(ctx SpecContext) {
		r := run(ctx, fault(contract.Client, reference.FaultCrash))
		failsWithLogs(r)
		Expect(r.Peer.Exit).To(Equal(134), r.Describe())
		Expect(r.Peer.Outcome).To(BeNil())
		Expect(r.Peer.OutcomeErr).To(HaveOccurred())
	})

	It("a peer that prints garbage fails: exit 0 without an outcome is no pass", func(ctx SpecContext) {
		r := run(ctx, fault(contract.Client, reference.FaultGarbage))
		failsWithLogs(r)
		Expect(r.Peer.Exit).To(Equal(contract.ExitOK))
		Expect(r.Peer.Outcome).To(BeNil())
		Expect(r.Peer.OutcomeErr).To(MatchError(ContainSubstring("not a JSON object")))
	})

	It("a server that never opens its port fails to start within its deadline", func(ctx SpecContext) {
		r := run(ctx, fault(contract.Server, reference.FaultNoListen))
		failsWithLogs(r)
		Expect(r.Peer.Err).To(MatchError(ContainSubstring("port")))
		Expect(r.ReferenceExit).To(Equal(-1), "the reference ran against a server that never started")
	})

	It("leaves no container, network or process behind, and the run goes on", func(ctx SpecContext) {
		switch d := env.Driver.(type) {
		case *driver.ContainerDriver:
			c, n, err := d.Leftovers(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect([]int{c, n}).To(Equal([]int{0, 0}), "containers and networks of this run after its cases closed")
		case *driver.ProcessDriver:
			Expect(d.Live()).To(BeZero())
		}
		r := run(ctx, positive[0])
		Expect(r.Peer.Exit).To(Equal(contract.ExitOK), r.Describe())
	})
})

// tshark decrypts a capture with the key log; the attestation extension
// shows in the decrypted handshake.
var _ = Describe("Captures", Label("peers", "tshark"), func() {
	It("decrypt with the key log in tshark, showing ta-07's evidence_request in EncryptedExtensions and attestation_evidence in Certificate", func(ctx SpecContext) {
		if _, err := exec.LookPath("tshark"); err != nil {
			missing("tshark", "install it with `make deps`", err)
		}
		r := run(ctx, positive[0]) // ta-07/server-attests/bg+x509, the peer serving
		Expect(r.Peer.Exit).To(Equal(contract.ExitOK), r.Describe())
		cp := codepoint.Default()
		for _, role := range []contract.Role{contract.Server, contract.Client} {
			dir := r.Dirs[role]
			By("reading the " + string(role) + "'s capture")
			pcap := filepath.Join(dir, reference.PcapFile)
			ee := extensionsIn(ctx, pcap, filepath.Join(dir, inputs.KeyLogFile), "8")
			// The server confirms the evidence type in its evidence_request.
			Expect(ee).To(ContainElement(fmt.Sprint(cp.TA07EvidenceRequest)), "EncryptedExtensions, decrypted")
			cert := extensionsIn(ctx, pcap, filepath.Join(dir, inputs.KeyLogFile), "11")
			Expect(cert).To(ContainElement(fmt.Sprint(cp.TA07AttestationEvidence)), "Certificate, decrypted")
			// Without the key log nothing of the encrypted handshake shows.
			Expect(extensionsIn(ctx, pcap, "", "11")).To(BeEmpty())
		}
	})
})

// extensionsIn lists the extension types tshark shows in the packets of
// pcap that carry a handshake message of type typ, decrypted with keylog
// ("" for none).
func extensionsIn(ctx context.Context, pcap, keylog, typ string) []string {
	GinkgoHelper()
	ps, err := tsharkDecrypt(ctx, pcap, keylog)
	Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, p := range ps {
		if slices.Contains(p.handshake, typ) {
			out = append(out, p.extensions...)
		}
	}
	return out
}

// The process driver runs the same cases without Docker (the fallback on
// machines without an engine), whichever driver the run selected.
var _ = Describe("The process driver", Label("peers", "processes"), func() {
	It("runs the reference peer as a process, both roles, and the probe", func(ctx SpecContext) {
		bin, err := images.Binary(ctx, runtime.GOOS, runtime.GOARCH)
		Expect(err).NotTo(HaveOccurred())
		pd := driver.NewProcesses(bin)
		defer pd.Close(ctx)
		pe := &Env{Driver: pd, Peer: driver.Peer{Name: env.Manifest.Name, Command: env.Manifest.Command},
			Manifest: env.Manifest, Inputs: env.Inputs, Out: filepath.Join(outDir, "processes")}
		for _, c := range []Case{positive[0], positive[2]} {
			r, err := pe.Run(ctx, c)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Peer.Exit).To(Equal(contract.ExitOK), r.Describe())
			Expect(r.ReferenceExit).To(Equal(contract.ExitOK), r.Describe())
		}
		r, err := pe.Run(ctx, hangingPeer(contract.Client))
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Peer.Killed).To(BeTrue(), r.Describe())
		Expect(pd.Live()).To(BeZero())
	})
})

func hangingPeer(role contract.Role) Case {
	return Case{Model: party.Model{Profile: "ta-07", Server: bgX509}, PeerRole: role, TestCase: "ta-07/server-attests/bg+x509/fault-hang",
		PeerEnv: []string{reference.EnvFault + "=" + reference.FaultHang}, Timeout: 2 * time.Second, Deadline: 2 * time.Second}
}

// missing ends a spec that cannot run without what: a skip, or under
// CI=true a failure (internal/needs).
func missing(what, how string, err error) {
	GinkgoHelper()
	msg, fail := needs.Explain(what, how, err)
	if fail {
		Fail(msg)
	}
	Skip(msg)
}
