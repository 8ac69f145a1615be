//go:build cgo

package reference

// haveSimulator: the in-process MS reference TPM needs cgo, which process
// peers have and the static container binary does not.
var haveSimulator = true
