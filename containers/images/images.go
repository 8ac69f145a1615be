// Package images builds the suite's container images on this machine,
// with no registry: the engine here has no images and cannot pull. An
// image is one layer made in Go (a tar with fixed owners, modes and
// times) imported with the engine's image import (`docker import`), and
// tagged with a hash of that layer and the recipe: building again with
// nothing changed produces the same tag, finds it, and imports nothing.
//
// The reference peer image is FROM-scratch style: the static conformance
// binary (CGO_ENABLED=0, -trimpath, no build ID or VCS stamp, so the same
// sources give the same bytes) and the folders the contract mounts. The
// mbedTLS peer image (mbedtls.go) is its build and library closure
// (closure.go), the same way. The Veraison image (veraison.go) is the Veraison services
// built by containers/veraison, their library closure and a static
// entrypoint (veraison-run) that starts them; peers/driver runs it for
// cases. None needs more than its closure and a file or two, so there is
// no Debian base (`debootstrap --variant=minbase`).
package images

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
)

// Label marks every image this package builds; its value is the recipe.
const Label = "org.attested-tls.conformance.image"

// Engine is the part of the Docker client this package needs.
type Engine interface {
	ImageInspect(ctx context.Context, ref string, opts ...client.ImageInspectOption) (client.ImageInspectResult, error)
	ImageImport(ctx context.Context, src client.ImageImportSource, ref string, opts client.ImageImportOptions) (client.ImageImportResult, error)
}

// File is one entry of an image's layer.
type File struct {
	Path string // relative, slash-separated; a trailing slash makes a folder
	Mode int64
	Data []byte
}

// Recipe says how to make one image.
type Recipe struct {
	// Repository is the image name without tag, e.g. "attested-tls/reference-peer".
	Repository string
	// Version changes the tag when the recipe changes in a way its files
	// do not show.
	Version string
	// Files makes the layer's content; arch is the engine's GOARCH.
	Files func(ctx context.Context, arch string) ([]File, error)
	// Changes are Dockerfile instructions applied on import (ENTRYPOINT, ENV…).
	Changes []string
}

// Image is a built (or found) image.
type Image struct {
	Ref    string // repository:tag
	Cached bool   // it existed: nothing was imported
	Took   time.Duration
}

// ReferencePeer is the reference peer: `conformance peer` as entrypoint.
var ReferencePeer = Recipe{
	Repository: "attested-tls/reference-peer",
	Version:    "1",
	Files: func(ctx context.Context, arch string) ([]File, error) {
		bin, err := Binary(ctx, "linux", arch)
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(bin)
		if err != nil {
			return nil, err
		}
		return []File{
			{Path: "conformance", Mode: 0o755, Data: b},
			{Path: "tmp/", Mode: 0o1777},
			{Path: "atls/in/", Mode: 0o755},
			{Path: "atls/out/", Mode: 0o777},
			{Path: "atls/peer/", Mode: 0o755},
		}, nil
	},
	Changes: []string{`ENTRYPOINT ["/conformance", "peer"]`, "ENV TMPDIR=/tmp", "WORKDIR /atls/out"},
}

// Ensure returns the image of r, importing it if the engine lacks it.
func Ensure(ctx context.Context, eng Engine, r Recipe, arch string) (Image, error) {
	start := time.Now()
	files, err := r.Files(ctx, arch)
	if err != nil {
		return Image{}, fmt.Errorf("images: %s: %w", r.Repository, err)
	}
	layer, err := Layer(files)
	if err != nil {
		return Image{}, fmt.Errorf("images: %s: %w", r.Repository, err)
	}
	ref := r.Repository + ":" + Tag(r, layer)
	if _, err := eng.ImageInspect(ctx, ref); err == nil {
		return Image{Ref: ref, Cached: true, Took: time.Since(start)}, nil
	}
	changes := append([]string{fmt.Sprintf("LABEL %s=%s", Label, r.Repository)}, r.Changes...)
	res, err := eng.ImageImport(ctx, client.ImageImportSource{Source: bytes.NewReader(layer), SourceName: "-"}, ref,
		client.ImageImportOptions{Changes: changes, Message: "attested-tls conformance " + r.Repository})
	if err != nil {
		return Image{}, fmt.Errorf("images: importing %s: %w", ref, err)
	}
	// The engine reports errors in the progress stream, not the status.
	var out bytes.Buffer
	out.ReadFrom(res)
	res.Close()
	if bytes.Contains(out.Bytes(), []byte(`"error"`)) {
		return Image{}, fmt.Errorf("images: importing %s: %s", ref, strings.TrimSpace(out.String()))
	}
	if _, err := eng.ImageInspect(ctx, ref); err != nil {
		return Image{}, fmt.Errorf("images: %s not found after import: %w", ref, err)
	}
	return Image{Ref: ref, Took: time.Since(start)}, nil
}

// Tag is the content tag of a recipe's layer: it changes when a byte of
// the layer, the recipe version or its import changes do.
func Tag(r Recipe, layer []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%q\x00", r.Repository, r.Version, r.Changes)
	h.Write(layer)
	return hex.EncodeToString(h.Sum(nil))[:20]
}

// epoch is every entry's modification time: reproducible layers.
var epoch = time.Unix(0, 0).UTC()

// Layer writes files as a tar whose bytes depend on nothing but them.
func Layer(files []File) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	seen := map[string]bool{}
	for _, f := range files {
		name := strings.TrimPrefix(f.Path, "/")
		if name == "" || seen[name] || strings.Contains(name, "..") {
			return nil, fmt.Errorf("bad or repeated layer path %q", f.Path)
		}
		seen[name] = true
		h := &tar.Header{Name: name, Mode: f.Mode, ModTime: epoch, Format: tar.FormatPAX, Uname: "root", Gname: "root"}
		if strings.HasSuffix(name, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var (
	binMu    sync.Mutex
	binCache = map[string]string{}
)

// Binary builds the static conformance binary for goos/goarch once per
// process and returns its path (in a folder removed by RemoveBinaries).
func Binary(ctx context.Context, goos, goarch string) (string, error) {
	return static(ctx, "./cmd/conformance", "conformance", goos, goarch)
}

// static builds the module's package pkg as a static binary called name,
// once per process and platform.
func static(ctx context.Context, pkg, name, goos, goarch string) (string, error) {
	binMu.Lock()
	defer binMu.Unlock()
	key := pkg + " " + goos + "/" + goarch
	if p, ok := binCache[key]; ok {
		return p, nil
	}
	root, err := ModuleRoot(ctx)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "conformance-bin-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, name)
	if err := buildStatic(ctx, root, pkg, goos, goarch, out); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	binCache[key] = out
	return out, nil
}

// buildStatic builds pkg of the module in dir as a static, reproducible
// binary: no cgo, no paths (-trimpath), no build ID or VCS stamp.
func buildStatic(ctx context.Context, dir, pkg, goos, goarch, out string) error {
	args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", out, pkg}
	env := append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	var b []byte
	var err error
	// A cold build cache has been seen to fail once with "could not import
	// embed (open : no such file or directory)" and succeed on the next
	// try; one retry costs nothing when the error is real.
	for range 2 {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir, cmd.Env = dir, env
		if b, err = cmd.CombinedOutput(); err == nil {
			return nil
		}
	}
	return fmt.Errorf("images: go build %s: %v\n%s", pkg, err, b)
}

// RemoveBinaries deletes the binaries Binary built.
func RemoveBinaries() {
	binMu.Lock()
	defer binMu.Unlock()
	for k, p := range binCache {
		os.RemoveAll(filepath.Dir(p))
		delete(binCache, k)
	}
}

// ModuleRoot is the folder of the main module's go.mod.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("images: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("images: not inside the conformance module")
	}
	return filepath.Dir(gomod), nil
}

// Lister lists and removes images (the Docker client).
type Lister interface {
	ImageList(ctx context.Context, opts client.ImageListOptions) (client.ImageListResult, error)
	ImageRemove(ctx context.Context, ref string, opts client.ImageRemoveOptions) (client.ImageRemoveResult, error)
}

// spareTags is how many other tags of a repository Prune leaves besides the
// one in use: another checkout sharing the engine may have just built one of
// them and be about to start it, and a tag is cheap to keep but not to rebuild.
const spareTags = 2

// Prune removes the images of r's repository other than keep and the
// spareTags newest others, so tags of earlier sources do not pile up. An
// image a container still uses stays: nothing is forced.
func Prune(ctx context.Context, l Lister, r Recipe, keep string) int {
	res, err := l.ImageList(ctx, client.ImageListOptions{Filters: client.Filters{}.Add("label", Label+"="+r.Repository)})
	if err != nil {
		return 0
	}
	items := slices.Clone(res.Items)
	slices.SortStableFunc(items, func(a, b image.Summary) int { return cmp.Compare(b.Created, a.Created) })
	n, spared := 0, 0
	for _, img := range items {
		for _, tag := range img.RepoTags {
			if tag == keep || !strings.HasPrefix(tag, r.Repository+":") {
				continue
			}
			if spared < spareTags {
				spared++
				continue
			}
			if _, err := l.ImageRemove(ctx, tag, client.ImageRemoveOptions{}); err == nil {
				n++
			}
		}
	}
	return n
}
