package suite_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/suite/harness"
	"github.com/attested-tls/conformance/suite/specs"
)

var _ = AfterSuite(func() { Expect(specs.CloseFixture()).To(Succeed()) })

// TestConformance runs the spec tree of package specs.
// ATLS_ROOT_OF_TRUST and ATLS_VERIFIER choose its fixture.
func TestConformance(t *testing.T) {
	root, verifier, err := harness.FixtureFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	specs.UseFixture(root, verifier)
	RegisterFailHandler(Fail)
	RunSpecs(t, "Attested TLS conformance")
}
