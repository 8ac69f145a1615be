package suite_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/suite/specs"
)

var _ = AfterSuite(func() { Expect(specs.CloseFixture()).To(Succeed()) })

// TestConformance runs the spec tree of package specs.
func TestConformance(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Attested TLS conformance")
}
