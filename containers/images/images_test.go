package images

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
)

// fakeEngine keeps imported layers by reference.
type fakeEngine struct {
	images  map[string][]byte
	changes map[string][]string
	imports int
}

func (f *fakeEngine) ImageInspect(ctx context.Context, ref string, _ ...client.ImageInspectOption) (client.ImageInspectResult, error) {
	if _, ok := f.images[ref]; ok {
		return client.ImageInspectResult{}, nil
	}
	return client.ImageInspectResult{}, errors.New("No such image: " + ref)
}

func (f *fakeEngine) ImageImport(ctx context.Context, src client.ImageImportSource, ref string, o client.ImageImportOptions) (client.ImageImportResult, error) {
	b, err := io.ReadAll(src.Source)
	if err != nil {
		return nil, err
	}
	f.imports++
	f.images[ref], f.changes[ref] = b, o.Changes
	return io.NopCloser(strings.NewReader(`{"status":"sha256:0"}`)), nil
}

func recipe(data string) Recipe {
	return Recipe{Repository: "test/x", Version: "1", Changes: []string{`ENTRYPOINT ["/x"]`},
		Files: func(context.Context, string) ([]File, error) {
			return []File{{Path: "x", Mode: 0o755, Data: []byte(data)}, {Path: "tmp/", Mode: 0o1777}}, nil
		}}
}

func TestEnsureCachesByContent(t *testing.T) {
	eng := &fakeEngine{images: map[string][]byte{}, changes: map[string][]string{}}
	ctx := context.Background()
	a, err := Ensure(ctx, eng, recipe("one"), "amd64")
	if err != nil || a.Cached || eng.imports != 1 {
		t.Fatalf("%+v %v imports=%d", a, err, eng.imports)
	}
	b, err := Ensure(ctx, eng, recipe("one"), "amd64")
	if err != nil || !b.Cached || b.Ref != a.Ref || eng.imports != 1 {
		t.Fatalf("rebuild with nothing changed: %+v %v imports=%d", b, err, eng.imports)
	}
	c, err := Ensure(ctx, eng, recipe("two"), "amd64")
	if err != nil || c.Cached || c.Ref == a.Ref || eng.imports != 2 {
		t.Fatalf("changed content: %+v %v", c, err)
	}
	if got := eng.changes[a.Ref]; len(got) != 2 || !strings.HasPrefix(got[0], "LABEL "+Label) {
		t.Fatalf("changes %q", got)
	}
	// The layer is a tar of exactly the files, owned by root, at the epoch.
	tr := tar.NewReader(bytes.NewReader(eng.images[a.Ref]))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || !h.ModTime.Equal(epoch) {
			t.Fatalf("%s: uid %d mtime %v", h.Name, h.Uid, h.ModTime)
		}
		names = append(names, h.Name)
	}
	if strings.Join(names, ",") != "x,tmp/" {
		t.Fatalf("entries %v", names)
	}
}

func TestLayerReproducible(t *testing.T) {
	files := []File{{Path: "a", Mode: 0o644, Data: []byte("a")}, {Path: "d/", Mode: 0o755}}
	x, _ := Layer(files)
	y, _ := Layer(files)
	if !bytes.Equal(x, y) {
		t.Fatal("same files, different layers")
	}
	for _, bad := range [][]File{{{Path: ""}}, {{Path: "../etc"}}, {{Path: "a"}, {Path: "/a"}}} {
		if _, err := Layer(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestImportErrorInStream(t *testing.T) {
	eng := &streamErrEngine{}
	if _, err := Ensure(context.Background(), eng, recipe("x"), "amd64"); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("got %v", err)
	}
}

type streamErrEngine struct{}

func (streamErrEngine) ImageInspect(context.Context, string, ...client.ImageInspectOption) (client.ImageInspectResult, error) {
	return client.ImageInspectResult{}, errors.New("no such image")
}
func (streamErrEngine) ImageImport(context.Context, client.ImageImportSource, string, client.ImageImportOptions) (client.ImageImportResult, error) {
	return io.NopCloser(strings.NewReader(`{"error":"disk full"}`)), nil
}

// The build flags make binaries reproducible: the same program in two
// folders gives the same bytes. (A fixed program, not cmd/conformance,
// whose sources others may be editing between two builds.)
func TestBuildReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build")
	}
	var bins [][]byte
	for range 2 {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\n\ngo 1.26\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { println(\"hello\") }\n"), 0o644)
		out := filepath.Join(dir, "hello")
		if err := buildStatic(context.Background(), dir, ".", "linux", "amd64", out); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		bins = append(bins, b)
	}
	if !bytes.Equal(bins[0], bins[1]) {
		t.Fatal("the same program built in two folders differs")
	}
}

// The reference peer recipe yields the binary and the contract's folders.
func TestReferencePeerFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the conformance binary")
	}
	defer RemoveBinaries()
	files, err := ReferencePeer.Files(context.Background(), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Path)
	}
	if strings.Join(names, ",") != "conformance,tmp/,atls/in/,atls/out/,atls/peer/" || len(files[0].Data) < 1<<20 {
		t.Fatalf("%v", names)
	}
}

// listEngine holds one image per tag, created in the order of tags.
type listEngine struct {
	tags    []string
	removed []string
}

func (l *listEngine) ImageList(context.Context, client.ImageListOptions) (client.ImageListResult, error) {
	var res client.ImageListResult
	for i, tag := range l.tags {
		res.Items = append(res.Items, image.Summary{RepoTags: []string{tag}, Created: int64(1000 + i)})
	}
	return res, nil
}

func (l *listEngine) ImageRemove(_ context.Context, ref string, _ client.ImageRemoveOptions) (client.ImageRemoveResult, error) {
	l.removed = append(l.removed, ref)
	return client.ImageRemoveResult{}, nil
}

func TestPruneKeepsCurrentAndNewestSpares(t *testing.T) {
	l := &listEngine{tags: []string{"test/x:oldest", "test/x:old", "other/y:1", "test/x:newer", "test/x:current", "test/x:newest"}}
	n := Prune(context.Background(), l, recipe(""), "test/x:current")
	slices.Sort(l.removed)
	if n != 2 || strings.Join(l.removed, ",") != "test/x:old,test/x:oldest" {
		t.Fatalf("removed %d: %v", n, l.removed)
	}
}

func TestPruneLeavesFewTags(t *testing.T) {
	l := &listEngine{tags: []string{"test/x:a", "test/x:b", "test/x:c"}}
	if n := Prune(context.Background(), l, recipe(""), "test/x:c"); n != 0 || len(l.removed) != 0 {
		t.Fatalf("removed %d: %v", n, l.removed)
	}
}
