package interop

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/peers/driver"
)

// EnvOut keeps the run's cases (logs, key logs, pcaps) in this folder;
// unset, they go to a temporary folder removed after a passing run.
const EnvOut = "CONFORMANCE_OUT"

func TestInterop(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Peers: contract, drivers, images, captures")
}

var (
	env     *Env
	outDir  string
	tempOut bool
)

var _ = BeforeSuite(func(ctx SpecContext) {
	outDir = os.Getenv(EnvOut)
	if outDir == "" {
		var err error
		outDir, err = os.MkdirTemp("", "conformance-peers-")
		Expect(err).NotTo(HaveOccurred())
		tempOut = true
	} else {
		outDir = outDir + "/peers"
		Expect(os.MkdirAll(outDir, 0o755)).To(Succeed())
	}
	logf := func(format string, args ...any) { fmt.Fprintf(GinkgoWriter, format+"\n", args...) }
	var err error
	env, err = Setup(ctx, driver.ChoiceFromEnv(), outDir, logf)
	Expect(err).NotTo(HaveOccurred())
	AddReportEntry("driver", env.Driver.Kind())
	AddReportEntry("output", outDir)
	if cd, ok := env.Driver.(*driver.ContainerDriver); ok {
		AddReportEntry("image", fmt.Sprintf("%s cached=%v took=%v", env.Image.Ref, env.Image.Cached, env.Image.Took))
		c, n, err := cd.Leftovers(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect([]int{c, n}).To(Equal([]int{0, 0}), "a new run's label is already in use")
	}
}, NodeTimeout(10*time.Minute))

// The run leaves nothing behind: once its cases closed, no container or
// network carries the run's label, and the driver's final sweep finds
// nothing it cannot remove. (Counting by run label, not all labelled
// objects: another run may share the engine.)
var _ = AfterSuite(func(ctx SpecContext) {
	if env == nil {
		return
	}
	switch d := env.Driver.(type) {
	case *driver.ContainerDriver:
		c, n, err := d.Leftovers(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect([]int{c, n}).To(Equal([]int{0, 0}), "containers and networks of run %s after the run", d.RunID())
	case *driver.ProcessDriver:
		Expect(d.Live()).To(BeZero(), "peer processes left running")
	}
	Expect(env.Close(ctx)).To(Succeed())
}, NodeTimeout(2*time.Minute))

var _ = ReportAfterSuite("remove a passing run's temporary output", func(r Report) {
	if tempOut && r.SuiteSucceeded {
		os.RemoveAll(outDir)
	}
})

// ctxFor bounds one spec's calls.
func ctxFor(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, d)
}
