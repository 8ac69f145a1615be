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

	"github.com/attested-tls/conformance/containers/images"
	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/tpm"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison/service"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/driver"
	"github.com/attested-tls/conformance/suite/harness"
)

// The peer under test attests from a swtpm and the in-process reference
// appraises through real Veraison, both started by the spec; the suite
// provisions the peer's endorsement (its ATLS_ENDORSEMENTS_OUT) between
// the two. The services listen on loopback, so the peer runs as a
// process whichever driver the run selected.
var _ = Describe("The reference peer on swtpm, appraised through Veraison", Ordered, Label("peers", "swtpm", "veraison"), func() {
	var (
		pe      *Env
		sw      *tpm.Swtpm
		svc     *service.Services
		trusted string
	)
	BeforeAll(func(ctx SpecContext) {
		if err := tpm.HaveSwtpm(); err != nil {
			Skip("no swtpm: " + err.Error())
		}
		var err error
		sw, err = tpm.StartSwtpm(ctx, GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(sw.Close)
		bin, err := service.Binaries(ctx)
		Expect(err).NotTo(HaveOccurred())
		svc, err = service.Start(ctx, service.Config{BinDir: bin})
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
		Entry("ta-07, server attests, background check, X.509", Case{Model: harness.Model{Profile: "ta-07", Server: bgX509}, PeerRole: contract.Server}),
		Entry("ea-07, server attests, background check, X.509", Case{Model: harness.Model{Profile: "ea-07", Server: bgX509}, PeerRole: contract.Server}),
		Entry("poc, client attests, background check", Case{Model: harness.Model{Profile: "poc", Client: bgOnly}, PeerRole: contract.Client}),
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
		Entry("ta-07", Case{Model: harness.Model{Profile: "ta-07", Server: bgX509}, PeerRole: contract.Server}, tls13.AlertBadCertificate),
		Entry("ea-07", Case{Model: harness.Model{Profile: "ea-07", Server: bgX509}, PeerRole: contract.Server}, codepoint.Default().EA07AttestationFailed),
	)
})

// A relying party whose Veraison does not answer fails the case promptly
// (exit 1, naming the variable) instead of hanging or saying unsupported.
var _ = Describe("A verifier the peer cannot reach", Label("peers", "veraison"), func() {
	It("fails the peer with exit 1, promptly, naming ATLS_VERIFIER", func(ctx SpecContext) {
		m := harness.Model{Profile: "ta-07", Server: bgX509}
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

// The same cases with the peer and swtpm in containers on the case's
// private network (the peer reaches swtpm as tpm:2321); Veraison runs on
// the host's loopback for the in-process relying party.
var _ = Describe("The reference peer container on an swtpm container, appraised through Veraison", Ordered, Label("peers", "swtpm", "veraison", "containers"), func() {
	var (
		swtpmImage string
		svc        *service.Services
		trusted    string
	)
	BeforeAll(func(ctx SpecContext) {
		cd, ok := env.Driver.(*driver.ContainerDriver)
		if !ok {
			Skip("the run uses processes")
		}
		if err := tpm.HaveSwtpm(); err != nil {
			Skip("no swtpm on the host for the image: " + err.Error())
		}
		img, err := images.Ensure(ctx, cd.Client(), images.Swtpm, cd.Arch())
		Expect(err).NotTo(HaveOccurred())
		AddReportEntry("swtpm image", fmt.Sprintf("%s cached=%v took=%v", img.Ref, img.Cached, img.Took))
		swtpmImage = img.Ref
		bin, err := service.Binaries(ctx)
		Expect(err).NotTo(HaveOccurred())
		svc, err = service.Start(ctx, service.Config{BinDir: bin})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(svc.Stop)
		id, err := attest.VerifierIdentity(svc.EARKey)
		Expect(err).NotTo(HaveOccurred())
		b, err := contract.MarshalTrustedVerifiers([]attest.TrustedVerifier{{ID: id, Key: svc.EARKey}})
		Expect(err).NotTo(HaveOccurred())
		trusted = filepath.Join(outDir, "veraison-trusted-verifiers-containers.json")
		Expect(os.WriteFile(trusted, b, 0o644)).To(Succeed())
	}, NodeTimeout(5*time.Minute))

	withContainers := func(c Case, endorsed bool) Case {
		c.Timeout = 20 * time.Second
		c.TestCase = c.Model.ID() + "/swtpm-container"
		if !endorsed {
			c.TestCase += "/unendorsed"
		}
		c.Services = func(ctx context.Context, k driver.Case, peer *contract.Config) error {
			sc, ok := k.(driver.ServiceCase)
			if !ok {
				return fmt.Errorf("the %s driver runs no services", env.Driver.Kind())
			}
			if _, err := sc.StartService(ctx, driver.Service{Image: swtpmImage, Alias: "tpm", Port: images.SwtpmPort}); err != nil {
				return err
			}
			peer.TPM = fmt.Sprintf("swtpm:tpm:%d", images.SwtpmPort)
			return nil
		}
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
		return c
	}

	DescribeTable("completes the handshake and ping/pong, Veraison affirming the evidence of the peer's swtpm container",
		func(ctx SpecContext, c Case) {
			r, err := env.Run(ctx, withContainers(c, true))
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Peer.Exit).To(Equal(contract.ExitOK), r.Describe())
			Expect(r.ReferenceExit).To(Equal(contract.ExitOK), r.Describe())
			Expect(r.Reference.Verdict).To(HaveField("Status", "affirming"), r.Describe())
		},
		Entry("ta-07, server attests, background check, X.509", Case{Model: harness.Model{Profile: "ta-07", Server: bgX509}, PeerRole: contract.Server}),
		Entry("ea-07, server attests, background check, X.509", Case{Model: harness.Model{Profile: "ea-07", Server: bgX509}, PeerRole: contract.Server}),
		Entry("poc, client attests, background check", Case{Model: harness.Model{Profile: "poc", Client: bgOnly}, PeerRole: contract.Client}),
	)

	It("rejects an attestation key Veraison was never given (ta-07), with bad_certificate and no application data", func(ctx SpecContext) {
		r, err := env.Run(ctx, withContainers(Case{Model: harness.Model{Profile: "ta-07", Server: bgX509}, PeerRole: contract.Server}, false))
		Expect(err).NotTo(HaveOccurred())
		Expect(r.ReferenceExit).To(Equal(contract.ExitFailed), r.Describe())
		Expect(r.Reference.AlertSent).To(HaveField("Code", int(tls13.AlertBadCertificate)), r.Describe())
		Expect(r.Reference.AppData).To(Equal(contract.AppDataNone))
		Expect(r.Peer.Outcome).NotTo(BeNil(), r.Describe())
		Expect(r.Peer.Outcome.AppData).To(Equal(contract.AppDataNone))
	})
})
