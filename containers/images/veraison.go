package images

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"

	"github.com/attested-tls/conformance/containers/services"
)

// Where the Veraison image's services listen (every interface of the
// container) and where it expects the files a case gives it. VTS
// listens on the container's loopback only: the API services are its only
// clients.
const (
	VeraisonVerificationPort = 8080
	VeraisonProvisioningPort = 8888
	VeraisonManagementPort   = 8088
	veraisonVTSAddr          = "127.0.0.1:50051"

	// VeraisonConfig and VeraisonKey are copied into each container
	// before it starts: the config (ConfigYAML of VeraisonLayout) and the
	// case's EAR signing key (services.JWK).
	VeraisonConfig = "/veraison/config.yaml"
	VeraisonKey    = "/veraison/ear-signer.jwk"

	veraisonBin     = "/veraison/bin"
	veraisonState   = "/veraison/state"
	veraisonPoStore = veraisonState + "/po-store.sql"
	// veraisonMachineID is the image's /etc/machine-id (any 128-bit hex).
	veraisonMachineID = "a77e57ed7150c0f0a77e57ed7150c0f0"
)

// VeraisonLayout is the services' layout inside the image, for
// services.ConfigYAML.
func VeraisonLayout(logLevel string) services.Layout {
	all := func(p int) string { return "0.0.0.0:" + strconv.Itoa(p) }
	return services.Layout{
		VTS:          veraisonVTSAddr,
		Provisioning: all(VeraisonProvisioningPort),
		Verification: all(VeraisonVerificationPort),
		Management:   all(VeraisonManagementPort),
		Key:          VeraisonKey,
		PoStore:      veraisonPoStore,
		LogLevel:     logLevel,
	}
}

// veraisonServices are the binaries the image carries, as the build names
// them (containers/veraison).
var veraisonServices = []string{"vts-service", "provisioning-service", "verification-service", "management-service", "kvstore-init"}

// Veraison is the four Veraison services (v0.0.2501, builtin scheme
// loader) built by containers/veraison (services.Binaries: cached, minutes
// when cold), their shared-library closure (libc and the loader: they use
// cgo for sqlite) and veraison-run, a static entrypoint written here that
// starts them all. No shell, no package manager, no CA certificates or
// time zones: the services speak plain HTTP to the suite, log in UTC and
// resolve no names; the one system file they read is /etc/machine-id. The state (po-store) lives in the container and
// goes with it.
var Veraison = Recipe{
	Repository: "attested-tls/veraison",
	Version:    "1",
	Files: func(ctx context.Context, arch string) ([]File, error) {
		if want := runtime.GOARCH; arch != want {
			return nil, fmt.Errorf("veraison: the image is the host's Veraison build (%s), the engine runs %s", want, arch)
		}
		dir, err := services.VeraisonBinaries(ctx)
		if err != nil {
			return nil, err
		}
		var bins []string
		for _, n := range veraisonServices {
			bins = append(bins, filepath.Join(dir, n))
		}
		files, err := Libraries(ctx, bins...)
		if err != nil {
			return nil, err
		}
		for i, b := range bins {
			f, err := hostFile(b, "veraison/bin/"+veraisonServices[i])
			if err != nil {
				return nil, err
			}
			files = append(files, f)
		}
		run, err := static(ctx, "./containers/images/veraison-run", "veraison-run", "linux", arch)
		if err != nil {
			return nil, err
		}
		f, err := hostFile(run, "veraison/bin/veraison-run")
		if err != nil {
			return nil, err
		}
		f.Mode = 0o755
		return append(files, f,
			// The verification service's session manager reads it
			// (denisbrodbeck/machineid): without it newSession answers 500.
			// Fixed, so the layer stays reproducible.
			File{Path: "etc/machine-id", Mode: 0o444, Data: []byte(veraisonMachineID + "\n")},
			File{Path: "tmp/", Mode: 0o1777},
			File{Path: "veraison/state/", Mode: 0o777}), nil
	},
	Changes: []string{
		fmt.Sprintf(`ENTRYPOINT ["%s/veraison-run", "-bin", "%s", "-config", "%s", "-po-store", "%s"]`,
			veraisonBin, veraisonBin, VeraisonConfig, veraisonPoStore),
		"ENV TMPDIR=/tmp",
		"WORKDIR " + veraisonState,
		// No EXPOSE: testcontainers publishes exposed ports on the host's
		// interfaces; the suite reaches the container on its network.
	},
}
