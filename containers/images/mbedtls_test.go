package images

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/attested-tls/conformance/internal/needs"
	"github.com/attested-tls/conformance/peers/contract"
)

func TestRelocate(t *testing.T) {
	files := []File{
		{Path: "root/.cache/attested-tls/mbedtls/peer-1/bin/atls-mbedtls-peer"},
		{Path: "root/.cache/attested-tls/mbedtls/peer-1/lib/libcurl.so.4"},
		{Path: "root/.cache/attested-tls/mbedtls/peer-10/lib/libother.so"},
		{Path: "lib/x86_64-linux-gnu/libc.so.6"},
	}
	got := relocate(files, "/root/.cache/attested-tls/mbedtls/peer-1/", MbedTLSDir)
	want := []string{"opt/atls-mbedtls/bin/atls-mbedtls-peer", "opt/atls-mbedtls/lib/libcurl.so.4",
		"root/.cache/attested-tls/mbedtls/peer-10/lib/libother.so", "lib/x86_64-linux-gnu/libc.so.6"}
	for i := range want {
		if got[i].Path != want[i] {
			t.Errorf("relocate: %q, want %q", got[i].Path, want[i])
		}
	}
	if files[0].Path != "root/.cache/attested-tls/mbedtls/peer-1/bin/atls-mbedtls-peer" {
		t.Error("relocate changed its input")
	}
}

// The mbedTLS peer image is built from build.sh's output with no
// registry, found again by its content tag, and its entrypoint speaks the
// contract: the compliance probe exits 127 with an outcome line.
func TestMbedTLSPeerImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the mbedTLS peer and an image, and runs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute) // a cold mbedTLS build on 2 loaded cores
	defer cancel()
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true") // Ryuk's image cannot be pulled here
	}
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err == nil {
		defer cli.Close()
		_, err = cli.Ping(ctx, client.PingOptions{})
	}
	if err != nil {
		needs.DockerEngine(t, err)
	}
	first, err := Ensure(ctx, cli, MbedTLSPeer, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	again, err := Ensure(ctx, cli, MbedTLSPeer, "amd64")
	if err != nil || !again.Cached || again.Ref != first.Ref {
		t.Fatalf("second Ensure: %+v, %v (first %+v)", again, err, first)
	}
	t.Logf("%s: first %v (cached=%v), again %v", first.Ref, first.Took, first.Cached, again.Took)
	if !first.Cached {
		Prune(ctx, cli, MbedTLSPeer, first.Ref)
	}

	ctr, err := testcontainers.Run(ctx, first.Ref,
		testcontainers.WithEnv(map[string]string{
			contract.EnvContract: "1", contract.EnvTestCase: contract.ProbeCase(), contract.EnvRole: "client",
			contract.EnvProfile: "ta-07", contract.EnvOut: "/atls/out",
		}),
		testcontainers.WithWaitStrategy(wait.ForExit().WithExitTimeout(30*time.Second)))
	if ctr != nil {
		defer ctr.Terminate(context.WithoutCancel(ctx), testcontainers.StopTimeout(0))
	}
	if err != nil {
		t.Fatal(err)
	}
	st, err := ctr.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cli.ContainerLogs(ctx, ctr.GetContainerID(), client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var stdout, stderr limited
	stdcopy.StdCopy(&stdout, &stderr, rc)
	if st.ExitCode != contract.ExitUnsupported {
		t.Fatalf("probe: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", st.ExitCode, contract.ExitUnsupported, stdout.b, stderr.b)
	}
	o, err := contract.ParseOutcome(stdout.b)
	if err != nil || o.Handshake != contract.HandshakeNone {
		t.Fatalf("probe outcome %+v, %v\nstdout:\n%s", o, err, stdout.b)
	}
}

type limited struct{ b []byte }

func (l *limited) Write(p []byte) (int, error) {
	if len(l.b) < 1<<20 {
		l.b = append(l.b, p...)
	}
	return len(p), nil
}

var _ io.Writer = (*limited)(nil)
