package images

import (
	"context"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"

	"github.com/attested-tls/conformance/impl/attest/evidence/tpm"
	"github.com/attested-tls/conformance/internal/needs"
)

func TestLddPaths(t *testing.T) {
	out := []byte("\tlinux-vdso.so.1 (0x00007ffd)\n" +
		"\tlibtpms.so.0 => /lib/x86_64-linux-gnu/libtpms.so.0 (0x00007f8b)\n" +
		"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f8c)\n" +
		"\t/lib64/ld-linux-x86-64.so.2 (0x00007f8d)\n")
	got, err := lddPaths(out)
	want := []string{"/lib/x86_64-linux-gnu/libtpms.so.0", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("lddPaths = %q, %v; want %q", got, err, want)
	}
	if _, err := lddPaths([]byte("\tlibfoo.so.1 => not found\n")); err == nil {
		t.Fatal("a missing library was accepted")
	}
}

// The swtpm image is built from the host's swtpm, cached by content, and
// answers TPM commands from a container on a private network.
func TestSwtpmImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs an image")
	}
	needs.Tool(t, tpm.SwtpmBinary) // the image is built from the host's
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true") // Ryuk's image cannot be pulled here
	}
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		needs.DockerEngine(t, err)
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		needs.DockerEngine(t, err)
	}
	first, err := Ensure(ctx, cli, Swtpm, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	again, err := Ensure(ctx, cli, Swtpm, "amd64")
	if err != nil || !again.Cached || again.Ref != first.Ref {
		t.Fatalf("second Ensure: %+v, %v (first %+v)", again, err, first)
	}
	t.Logf("%s: first %v (cached=%v), again %v", first.Ref, first.Took, first.Cached, again.Took)

	nw, err := network.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer nw.Remove(context.WithoutCancel(ctx))
	ctr, err := testcontainers.Run(ctx, first.Ref, network.WithNetwork([]string{"tpm"}, nw))
	if ctr != nil {
		// swtpm as PID 1 ignores SIGTERM: kill at once.
		defer ctr.Terminate(context.WithoutCancel(ctx), testcontainers.StopTimeout(0))
	}
	if err != nil {
		t.Fatal(err)
	}
	logs := func() string {
		r, err := ctr.Logs(ctx)
		if err != nil {
			return err.Error()
		}
		defer r.Close()
		b, _ := io.ReadAll(r)
		return string(b)
	}
	ip, err := ctr.ContainerIP(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The host reaches the container on the bridge, as the driver does.
	addr := net.JoinHostPort(ip, strconv.Itoa(SwtpmPort))
	for {
		c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if ctx.Err() != nil || !ctr.IsRunning() {
			t.Fatalf("swtpm at %s: %v; logs:\n%s", addr, err, logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	a, err := tpm.Open(ctx, tpm.Config{Transport: tpm.TransportSwtpm, Addr: addr})
	if err != nil {
		t.Fatalf("%v; logs:\n%s", err, logs())
	}
	defer a.Close()
	if e := a.Endorsement(); e.AttestationKey == nil || len(e.ReferencePCRs) == 0 {
		t.Fatalf("endorsement from the container's TPM: %+v", e)
	}
}
