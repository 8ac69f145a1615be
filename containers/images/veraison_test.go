package images

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/attested-tls/conformance/containers/services"
	"github.com/attested-tls/conformance/internal/needs"
)

// The Veraison layer holds the services, their libraries, the static
// entrypoint and the one system file they read, and nothing of the host's
// paths; the same binaries give the same tag.
func TestVeraisonFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Veraison binaries and builds the entrypoint")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := services.VeraisonBinaries(ctx); err != nil {
		needs.VeraisonBinaries(t, err)
	}
	defer RemoveBinaries()
	files, err := Veraison.Files(ctx, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]File{}
	for _, f := range files {
		have[f.Path] = f
		if strings.Contains(f.Path, ".cache") {
			t.Errorf("host cache path in the image: %s", f.Path)
		}
	}
	for _, want := range []string{"veraison/bin/vts-service", "veraison/bin/provisioning-service", "veraison/bin/verification-service",
		"veraison/bin/management-service", "veraison/bin/kvstore-init", "veraison/bin/veraison-run", "etc/machine-id",
		"lib64/ld-linux-x86-64.so.2", "tmp/", "veraison/state/"} {
		f, ok := have[want]
		if !ok {
			t.Errorf("%s missing", want)
			continue
		}
		if strings.HasPrefix(want, "veraison/bin/") && f.Mode&0o111 == 0 {
			t.Errorf("%s not executable (%o)", want, f.Mode)
		}
	}
	// veraison-run is static: no interpreter (PT_INTERP names the loader).
	if run := have["veraison/bin/veraison-run"].Data; len(run) == 0 || strings.Contains(string(run[:min(len(run), 4096)]), "ld-linux") {
		t.Error("veraison-run is not a static binary")
	}
	la, err := Layer(files)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Veraison.Files(ctx, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	lb, _ := Layer(again)
	if Tag(Veraison, la) != Tag(Veraison, lb) {
		t.Fatal("same binaries, different tags")
	}
	if _, err := Veraison.Files(ctx, "arm64"); err == nil {
		t.Fatal("an arm64 image from amd64 binaries")
	}
}

// Building the image: cold (no image of these files on the engine) and
// warm (found by its tag), with the times logged.
func TestVeraisonImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	needs.DockerEngine(t, err)
	defer cli.Close()
	_, err = cli.Ping(ctx, client.PingOptions{})
	needs.DockerEngine(t, err)
	if _, err := services.VeraisonBinaries(ctx); err != nil {
		needs.VeraisonBinaries(t, err)
	}
	defer RemoveBinaries()
	first, err := Ensure(ctx, cli, Veraison, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	again, err := Ensure(ctx, cli, Veraison, "amd64")
	if err != nil || !again.Cached || again.Ref != first.Ref {
		t.Fatalf("second Ensure: %+v, %v (first %+v)", again, err, first)
	}
	n := Prune(ctx, cli, Veraison, first.Ref)
	t.Logf("%s: first %v (cached=%v), again %v; %d older tags removed", first.Ref, first.Took, first.Cached, again.Took, n)
	ins, err := cli.ImageInspect(ctx, first.Ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(ins.Config.ExposedPorts) != 0 {
		t.Errorf("the image exposes %v: testcontainers would publish them on the host", ins.Config.ExposedPorts)
	}
	if ins.Config.Labels[Label] != Veraison.Repository {
		t.Errorf("labels %v", ins.Config.Labels)
	}
}
