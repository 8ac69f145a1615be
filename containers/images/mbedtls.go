package images

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Where the mbedTLS peer lives in its image. The binary's rpath is
// $ORIGIN/../lib, so its private libraries sit beside it in lib/.
const (
	MbedTLSDir    = "/opt/atls-mbedtls"
	MbedTLSBinary = MbedTLSDir + "/bin/atls-mbedtls-peer"
)

// MbedTLSPeer is the patched mbedTLS contract peer (peers/mbedtls),
// FROM-scratch style: peers/mbedtls/build.sh's output (the
// peer and the shared libraries it ships in lib/: tpm2-tss, libcurl and
// its dependencies, jansson) at MbedTLSDir, and the rest of its closure
// (glibc and the loader) at the host's paths. The build is cached by
// build.sh, so with nothing changed this only hashes; the tag hashes the
// files, so a changed patch, peer source or host library makes a new
// image. Needs what build.sh needs (`make deps`).
var MbedTLSPeer = Recipe{
	Repository: "attested-tls/mbedtls-peer",
	Version:    "1",
	Files: func(ctx context.Context, arch string) ([]File, error) {
		if want := runtime.GOARCH; arch != want {
			return nil, fmt.Errorf("mbedtls-peer: the image is built on the host (%s), the engine runs %s", want, arch)
		}
		dist, err := BuildMbedTLSPeer(ctx)
		if err != nil {
			return nil, err
		}
		files, err := Closure(ctx, filepath.Join(dist, "bin", "atls-mbedtls-peer"))
		if err != nil {
			return nil, err
		}
		return append(relocate(files, dist, MbedTLSDir),
			File{Path: "tmp/", Mode: 0o1777},
			File{Path: "atls/in/", Mode: 0o755},
			File{Path: "atls/out/", Mode: 0o777},
			File{Path: "atls/peer/", Mode: 0o755}), nil
	},
	Changes: []string{`ENTRYPOINT ["` + MbedTLSBinary + `"]`, "ENV TMPDIR=/tmp", "WORKDIR /atls/out"},
}

// BuildMbedTLSPeer runs peers/mbedtls/build.sh (a cache hit when nothing
// changed) and returns its output folder: bin/atls-mbedtls-peer and lib/.
func BuildMbedTLSPeer(ctx context.Context) (string, error) {
	root, err := ModuleRoot(ctx)
	if err != nil {
		return "", err
	}
	script := filepath.Join(root, "peers", "mbedtls", "build.sh")
	cmd := exec.CommandContext(ctx, "bash", script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("bash %s: %v\n%s", script, err, lastLines(stderr.String(), 40))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	dist := lines[len(lines)-1]
	if !filepath.IsAbs(dist) {
		return "", fmt.Errorf("bash %s printed no output folder (last line %q)", script, dist)
	}
	return dist, nil
}

// relocate moves the files under the host folder from to the image
// folder to, so the image does not depend on where the build cache is.
func relocate(files []File, from, to string) []File {
	from = strings.TrimPrefix(filepath.Clean(from), "/") + "/"
	to = strings.Trim(to, "/") + "/"
	out := make([]File, len(files))
	for i, f := range files {
		if rest, ok := strings.CutPrefix(f.Path, from); ok {
			f.Path = to + rest
		}
		out[i] = f
	}
	return out
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
