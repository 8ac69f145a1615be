//go:build tools

// Package veraison pins the Veraison services commands this module builds.
// The build tag keeps the file out of every build; it only makes the
// command packages (and so their whole dependency graph) requirements of
// this module, so go.sum stays complete and `go mod tidy` keeps them.
package veraison

import (
	_ "github.com/veraison/services/management/cmd/management-service"
	_ "github.com/veraison/services/provisioning/cmd/provisioning-service"
	_ "github.com/veraison/services/verification/cmd/verification-service"
	_ "github.com/veraison/services/vts/cmd/vts-service"
)
