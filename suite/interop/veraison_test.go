package interop

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/moby/moby/client"

	"github.com/attested-tls/conformance/containers/images"
	"github.com/attested-tls/conformance/containers/services"
	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/driver"
	"github.com/attested-tls/conformance/peers/inputs"
)

// The peer under test attests from a swtpm and the in-process reference
// appraises through real Veraison, both started by the spec; the suite
// provisions the peer's endorsement (its ATLS_ENDORSEMENTS_OUT) between
// the two. The services listen on loopback, so the peer runs as a
// process whichever driver the run selected.
var _ = Describe("The reference peer on swtpm, appraised through Veraison", Ordered, Label("peers", "swtpm", "veraison"), func() {
	var (
		pe      *Env
		sw      *services.Swtpm
		svc     *services.Veraison
		trusted string
	)
	BeforeAll(func(ctx SpecContext) {
		if err := services.HaveSwtpm(); err != nil {
			missing("swtpm", "install it with `make deps`", err)
		}
		var err error
		sw, err = services.StartSwtpm(ctx, GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(sw.Close)
		bin, err := services.VeraisonBinaries(ctx)
		Expect(err).NotTo(HaveOccurred())
		svc, err = services.StartVeraison(ctx, services.VeraisonConfig{BinDir: bin})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(svc.Stop)
		// Trust comes from the suite, which started this Veraison, not
		// from Veraison's answer to discovery.
		id, err := attest.VerifierIdentity(svc.EARKey)
		Expect(err).NotTo(HaveOccurred())
		b, err := contract.MarshalTrustedVerifiers([]attest.TrustedVerifier{{ID: id, Key: svc.EARKey}})
		Expect(err).NotTo(HaveOccurred())
		trusted = filepath.Join(outDir, "veraison-trusted-verifiers.json")
		Expect(os.WriteFile(trusted, b, 0o644)).To(Succeed())

		bin, err = images.Binary(ctx, runtime.GOOS, runtime.GOARCH)
		Expect(err).NotTo(HaveOccurred())
		pd := driver.NewProcesses(bin)
		DeferCleanup(func(ctx context.Context) {
			Expect(pd.Live()).To(BeZero(), "peer processes left running")
			pd.Close(ctx)
		})
		pe = &Env{Driver: pd, Peer: driver.Peer{Name: env.Manifest.Name, Command: env.Manifest.Command},
			Manifest: env.Manifest, Inputs: env.Inputs, Out: filepath.Join(outDir, "swtpm-veraison")}
	}, NodeTimeout(5*time.Minute))

	// withServices points the attester (the peer) at swtpm and the relying
	// party (the reference) at Veraison; endorsed says whether the suite
	// provisions the attester's endorsement.
	withServices := func(c Case, endorsed bool) Case {
		c.Timeout = 20 * time.Second
		c.Tweak = func(cfg *contract.Config) { cfg.TPM = "swtpm:" + sw.Addr }
		c.TweakReference = func(cfg *contract.Config) {
			cfg.Verifier, cfg.VerifierKey, cfg.TrustedVerifiers, cfg.Endorsements = "veraison:"+svc.VerificationURL, "", trusted, ""
		}
		c.Endorse = func(ctx context.Context, e parsectpm.Endorsement) error {
			if !endorsed {
				return nil
			}
			_, err := veraison.ProvisionEndorsement(ctx, svc.ProvisioningURL, e, nil)
			return err
		}
		if !endorsed {
			c.TestCase = c.Model.ID() + "/unendorsed"
		}
		return c
	}

	DescribeTable("completes the handshake and ping/pong, Veraison affirming the peer's swtpm evidence",
		func(ctx SpecContext, c Case) {
			r, err := pe.Run(ctx, withServices(c, true))
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Peer.Exit).To(Equal(contract.ExitOK), r.Describe())
			Expect(r.ReferenceExit).To(Equal(contract.ExitOK), r.Describe())
			Expect(r.Reference.AppData).To(Equal(contract.AppDataOK))
			Expect(r.Reference.Verdict).To(HaveField("Status", "affirming"), r.Describe())
			Expect(string(r.Peer.Stderr)).To(ContainSubstring("wrote endorsement"))
		},
		Entry("ta-07, server attests, background check, X.509", Case{Model: party.Model{Profile: "ta-07", Server: bgX509}, PeerRole: contract.Server}),
		Entry("ea-07, server attests, background check, X.509", Case{Model: party.Model{Profile: "ea-07", Server: bgX509}, PeerRole: contract.Server}),
		Entry("poc, client attests, background check", Case{Model: party.Model{Profile: "poc", Client: bgOnly}, PeerRole: contract.Client}),
	)

	DescribeTable("rejects an attestation key Veraison was never given, with the profile's failure alert and no application data",
		func(ctx SpecContext, c Case, alert tls13.AlertCode) {
			r, err := pe.Run(ctx, withServices(c, false))
			Expect(err).NotTo(HaveOccurred())
			Expect(r.ReferenceExit).To(Equal(contract.ExitFailed), r.Describe())
			Expect(r.Peer.Exit).To(Equal(contract.ExitFailed), r.Describe())
			Expect(r.Reference.AlertSent).NotTo(BeNil(), r.Describe())
			Expect(r.Reference.AlertSent.Code).To(Equal(int(alert)), r.Describe())
			Expect(r.Reference.AppData).To(Equal(contract.AppDataNone))
			Expect(r.Peer.Outcome).NotTo(BeNil(), r.Describe())
			Expect(r.Peer.Outcome.AppData).To(Equal(contract.AppDataNone))
			Expect(r.Peer.Outcome.AlertReceived).To(HaveField("Code", int(alert)), r.Describe())
			Expect(r.Reference.Verdict).NotTo(HaveField("Status", "affirming"))
		},
		Entry("ta-07", Case{Model: party.Model{Profile: "ta-07", Server: bgX509}, PeerRole: contract.Server}, tls13.AlertBadCertificate),
		Entry("ea-07", Case{Model: party.Model{Profile: "ea-07", Server: bgX509}, PeerRole: contract.Server}, codepoint.Default().EA07AttestationFailed),
	)
})

// A relying party whose Veraison does not answer fails the case promptly
// (exit 1, naming the variable) instead of hanging or saying unsupported.
var _ = Describe("A verifier the peer cannot reach", Label("peers", "veraison"), func() {
	It("fails the peer with exit 1, promptly, naming ATLS_VERIFIER", func(ctx SpecContext) {
		m := party.Model{Profile: "ta-07", Server: bgX509}
		r := run(ctx, Case{Model: m, PeerRole: contract.Client, TestCase: m.ID() + "/veraison-unreachable", Timeout: 5 * time.Second,
			Tweak: func(c *contract.Config) { c.Verifier = "veraison:http://veraison.invalid:8080" }})
		Expect(r.Peer.Exit).To(Equal(contract.ExitFailed), r.Describe())
		Expect(r.Peer.Outcome).NotTo(BeNil(), r.Describe())
		Expect(r.Peer.Outcome.Handshake).To(Equal(contract.HandshakeNone))
		Expect(strings.Contains(r.Peer.Outcome.Error, contract.EnvVerifier)).To(BeTrue(), r.Describe())
		// Exit 1, not 3: it did not sit out its timeout (container start-up
		// time under load makes a wall-clock bound flaky).
		Expect(r.Peer.Killed).To(BeFalse(), r.Describe())
	})
})

// The same cases with the peer, its swtpm and Veraison as services of
// the run's driver. In containers the peer reaches the case's own swtpm
// container as tpm:2321 on the case's private network, and the in-process
// relying party reaches a Veraison container (one for these specs, in a
// case of its own) on the bridge: nothing runs on the host's loopback.
// Under the process driver the services are host processes.
var _ = Describe("The reference peer on its case's swtpm service, appraised through a Veraison service", Ordered, Label("peers", "swtpm", "veraison", "containers"), func() {
	var (
		v       *driver.Veraison
		trusted string
	)
	BeforeAll(func(ctx SpecContext) {
		if err := services.HaveSwtpm(); err != nil {
			missing("swtpm (on the host, for its image)", "install it with `make deps`", err)
		}
		Expect(driver.EnsureServiceImages(ctx, env.Driver)).To(Succeed())
		k, err := env.Driver.NewCase(ctx, "veraison-for-the-reference")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(k.Close)
		start := time.Now()
		v, err = driver.StartVeraison(ctx, k, driver.VeraisonOptions{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(v.Stop) // before the case's Close; needed for processes
		AddReportEntry("Veraison container start to READY", time.Since(start).String())
		// Trust comes from the suite, which made Veraison's key, not from
		// Veraison's answer to discovery.
		b, err := v.TrustedVerifiers()
		Expect(err).NotTo(HaveOccurred())
		trusted = filepath.Join(outDir, "veraison-trusted-verifiers-containers.json")
		Expect(os.WriteFile(trusted, b, 0o644)).To(Succeed())
	}, NodeTimeout(10*time.Minute))

	withContainers := func(c Case, endorsed bool) Case {
		c.Timeout = 20 * time.Second
		c.TestCase = c.Model.ID() + "/swtpm-container"
		if !endorsed {
			c.TestCase += "/unendorsed"
		}
		c.Services = func(ctx context.Context, k driver.Case, peer, _ *contract.Config) error {
			sw, err := driver.StartSwtpm(ctx, k)
			if err != nil {
				return err
			}
			DeferCleanup(sw.Stop)
			peer.TPM = "swtpm:" + sw.Addr
			return nil
		}
		c.TweakReference = func(cfg *contract.Config) {
			cfg.Verifier, cfg.VerifierKey, cfg.TrustedVerifiers, cfg.Endorsements = "veraison:"+v.VerificationURL, "", trusted, ""
		}
		c.Endorse = func(ctx context.Context, e parsectpm.Endorsement) error {
			if !endorsed {
				return nil
			}
			return v.Provision(ctx, e)
		}
		return c
	}

	DescribeTable("completes the handshake and ping/pong, Veraison affirming the evidence of the peer's swtpm container",
		func(ctx SpecContext, c Case) {
			r, err := env.Run(ctx, withContainers(c, true))
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Peer.Exit).To(Equal(contract.ExitOK), r.Describe())
			Expect(r.ReferenceExit).To(Equal(contract.ExitOK), r.Describe())
			Expect(r.Reference.AppData).To(Equal(contract.AppDataOK))
			Expect(r.Reference.Verdict).To(HaveField("Status", "affirming"), r.Describe())
		},
		Entry("ta-07, server attests, background check, X.509", Case{Model: party.Model{Profile: "ta-07", Server: bgX509}, PeerRole: contract.Server}),
		Entry("ea-07, server attests, background check, X.509", Case{Model: party.Model{Profile: "ea-07", Server: bgX509}, PeerRole: contract.Server}),
		Entry("poc, client attests, background check", Case{Model: party.Model{Profile: "poc", Client: bgOnly}, PeerRole: contract.Client}),
	)

	It("rejects an attestation key Veraison was never given (ta-07), with bad_certificate and no application data", func(ctx SpecContext) {
		r, err := env.Run(ctx, withContainers(Case{Model: party.Model{Profile: "ta-07", Server: bgX509}, PeerRole: contract.Server}, false))
		Expect(err).NotTo(HaveOccurred())
		Expect(r.ReferenceExit).To(Equal(contract.ExitFailed), r.Describe())
		Expect(r.Reference.AlertSent).To(HaveField("Code", int(tls13.AlertBadCertificate)), r.Describe())
		Expect(r.Reference.AppData).To(Equal(contract.AppDataNone))
		Expect(r.Reference.Verdict).NotTo(HaveField("Status", "affirming"))
		Expect(r.Peer.Outcome).NotTo(BeNil(), r.Describe())
		Expect(r.Peer.Outcome.AppData).To(Equal(contract.AppDataNone))
	})
})

// Both sides are driven peers on one case network with the case's own
// services: the attesting peer quotes from the case's swtpm, the
// relying-party peer appraises through the case's Veraison, reached by
// name (veraison:8080) — the suite only provisions the attester's
// endorsement. Under the process driver the same specs run with host
// processes on loopback.
var _ = Describe("Two reference peers with the case's own swtpm and Veraison", Label("peers", "swtpm", "veraison", "containers"), func() {
	type sides struct {
		attester, rp *driver.Result
		v            *driver.Veraison
	}
	// runOnServices runs one case with the server attesting (so its
	// endorsement is written before it listens, and provisioned before
	// the relying party dials).
	runOnServices := func(ctx context.Context, m party.Model, endorsed bool) (sides, string) {
		if err := services.HaveSwtpm(); err != nil {
			missing("swtpm", "install it with `make deps`", err)
		}
		tc := m.ID() + "/case-services"
		if !endorsed {
			tc += "/unendorsed"
		}
		name := unsafeChars.ReplaceAllString(tc, "_") + "@peers"
		dir := filepath.Join(outDir, "cases", unsafeChars.ReplaceAllString(tc, "_"), "peer-vs-peer")
		Expect(os.RemoveAll(dir)).To(Succeed())
		dirs := map[contract.Role]string{contract.Server: filepath.Join(dir, "server"), contract.Client: filepath.Join(dir, "client")}
		scfg, ccfg, err := env.Inputs.Configs(inputs.Pair{TestCase: tc, Model: m, Dirs: dirs, Timeout: 20 * time.Second})
		Expect(err).NotTo(HaveOccurred())
		Expect(scfg.EndorsementsOut).NotTo(BeEmpty(), "the server must attest")

		k, err := env.Driver.NewCase(ctx, name)
		Expect(err).NotTo(HaveOccurred())
		defer func() {
			Expect(k.Close(context.WithoutCancel(ctx))).To(Succeed())
			if cd, ok := env.Driver.(*driver.ContainerDriver); ok {
				c, n, err := cd.Count(ctx, client.Filters{}.Add("label", driver.LabelRun+"="+cd.RunID()).Add("label", driver.LabelCase+"="+name))
				Expect(err).NotTo(HaveOccurred())
				Expect([]int{c, n}).To(Equal([]int{0, 0}), "containers and networks of the case after its Close")
			}
		}()
		sw, err := driver.StartSwtpm(ctx, k)
		Expect(err).NotTo(HaveOccurred())
		defer sw.Stop(context.WithoutCancel(ctx))
		v, err := driver.StartVeraison(ctx, k, driver.VeraisonOptions{})
		Expect(err).NotTo(HaveOccurred())
		defer v.Stop(context.WithoutCancel(ctx))

		scfg.TPM = "swtpm:" + sw.Addr
		tv, err := v.TrustedVerifiers()
		Expect(err).NotTo(HaveOccurred())
		ccfg.TrustedVerifiers = filepath.Join(ccfg.Out, "veraison-trusted-verifiers.json")
		Expect(os.WriteFile(ccfg.TrustedVerifiers, tv, 0o644)).To(Succeed())
		ccfg.Verifier, ccfg.VerifierKey, ccfg.Endorsements = "veraison:"+v.PeerVerificationURL, "", ""

		srv, err := k.Start(ctx, driver.Spec{Peer: env.Peer, Config: scfg, In: env.Inputs.Dir, PeerOut: dirs[contract.Client]})
		if err != nil {
			Expect(srv).NotTo(BeNil(), err.Error())
			Fail(srv.Wait(ctx).Describe())
		}
		// The server wrote its endorsement before it listened.
		b, err := os.ReadFile(scfg.EndorsementsOut)
		Expect(err).NotTo(HaveOccurred())
		if endorsed {
			e, err := contract.ParseEndorsement(b)
			Expect(err).NotTo(HaveOccurred())
			Expect(v.Provision(ctx, e)).To(Succeed())
		}
		ccfg.Connect = srv.PeerAddr()
		cli, err := k.Start(ctx, driver.Spec{Peer: env.Peer, Config: ccfg, In: env.Inputs.Dir, PeerOut: dirs[contract.Server]})
		if err != nil && cli == nil {
			Fail(err.Error())
		}
		s := sides{rp: cli.Wait(ctx), attester: srv.Wait(ctx), v: v}
		return s, fmt.Sprintf("case folder %s\n%s\n%s", dir, s.rp.Describe(), s.attester.Describe())
	}

	DescribeTable("the relying-party peer appraises the attester's swtpm evidence through Veraison: affirming, handshake and ping/pong complete",
		func(ctx SpecContext, m party.Model) {
			s, why := runOnServices(ctx, m, true)
			Expect(s.attester.Exit).To(Equal(contract.ExitOK), why)
			Expect(s.rp.Exit).To(Equal(contract.ExitOK), why)
			Expect(s.rp.Outcome.AppData).To(Equal(contract.AppDataOK), why)
			Expect(s.rp.Outcome.Verdict).To(HaveField("Status", "affirming"), why)
			Expect(s.attester.Outcome.AppData).To(Equal(contract.AppDataOK), why)
		},
		Entry("ta-07, server attests, background check, X.509", party.Model{Profile: "ta-07", Server: bgX509}),
		Entry("ea-07, server attests, background check, X.509", party.Model{Profile: "ea-07", Server: bgX509}),
	)

	It("the relying-party peer rejects an attestation key Veraison was never given (contraindicated) with bad_certificate, and no application data flows", func(ctx SpecContext) {
		s, why := runOnServices(ctx, party.Model{Profile: "ta-07", Server: bgX509}, false)
		Expect(s.rp.Exit).To(Equal(contract.ExitFailed), why)
		Expect(s.rp.Outcome).NotTo(BeNil(), why)
		// The reference peer reports a verdict it rejected as status none,
		// reason result.status; Veraison's own status is in the error.
		Expect(s.rp.Outcome.Verdict).To(HaveField("Reason", "result.status"), why)
		Expect(s.rp.Outcome.Verdict.Status).NotTo(Equal("affirming"), why)
		Expect(s.rp.Outcome.Error).To(ContainSubstring("status contraindicated"), why)
		Expect(s.rp.Outcome.AlertSent).To(HaveField("Code", int(tls13.AlertBadCertificate)), why)
		Expect(s.rp.Outcome.AppData).To(Equal(contract.AppDataNone), why)
		Expect(s.attester.Exit).To(Equal(contract.ExitFailed), why)
		Expect(s.attester.Outcome).NotTo(BeNil(), why)
		Expect(s.attester.Outcome.AlertReceived).To(HaveField("Code", int(tls13.AlertBadCertificate)), why)
		Expect(s.attester.Outcome.AppData).To(Equal(contract.AppDataNone), why)
	})
})
