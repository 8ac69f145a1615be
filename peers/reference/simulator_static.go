//go:build !cgo

package reference

// haveSimulator: the static (CGO_ENABLED=0) build, as in the container
// image, has no simulator: ATLS_TPM=simulator is unsupported there.
var haveSimulator = false
