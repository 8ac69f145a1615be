package harness

// The suite runs as `go test ./suite/... -ginkgo.label-filter=...`, which
// hands Ginkgo's flags to every test binary under suite/: importing Ginkgo
// registers them on flag.CommandLine, so this package's tests accept them.
import _ "github.com/onsi/ginkgo/v2"
