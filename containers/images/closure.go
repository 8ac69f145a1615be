package images

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Closure is bin and every shared library it loads (the dynamic loader
// included), each at the path the loader finds it, symlinks resolved to
// their content: enough to run bin in an empty image.
func Closure(ctx context.Context, bin string) ([]File, error) {
	return closure(ctx, []string{bin}, true)
}

// Libraries is the union of the shared libraries the binaries load,
// without the binaries themselves, each once.
func Libraries(ctx context.Context, bins ...string) ([]File, error) {
	return closure(ctx, bins, false)
}

func closure(ctx context.Context, bins []string, withBins bool) ([]File, error) {
	seen := map[string]bool{}
	var paths []string
	for _, bin := range bins {
		out, err := exec.CommandContext(ctx, "ldd", bin).Output()
		if err != nil {
			return nil, fmt.Errorf("ldd %s: %w", bin, err)
		}
		libs, err := lddPaths(out)
		if err != nil {
			return nil, fmt.Errorf("ldd %s: %w", bin, err)
		}
		if withBins {
			libs = append(libs, bin)
		}
		for _, p := range libs {
			if !seen[p] {
				seen[p] = true
				paths = append(paths, p)
			}
		}
	}
	sort.Strings(paths)
	var files []File
	for _, p := range paths {
		f, err := hostFile(p, strings.TrimPrefix(filepath.Clean(p), "/"))
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// hostFile is the host's file p at path in the image, with its
// permissions; symlinks are followed: the image holds content.
func hostFile(p, path string) (File, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return File{}, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return File{}, err
	}
	return File{Path: path, Mode: int64(st.Mode().Perm()), Data: b}, nil
}

// lddPaths reads the absolute paths out of ldd's output: "name => /path
// (addr)" and the loader's "/path (addr)"; the vDSO has none. A library
// ldd cannot find is an error, not a broken image.
func lddPaths(out []byte) ([]string, error) {
	var paths []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.Contains(line, "not found") {
			return nil, fmt.Errorf("missing library: %s", line)
		}
		if _, after, ok := strings.Cut(line, "=> "); ok {
			line = after
		}
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], "/") {
			paths = append(paths, f[0])
		}
	}
	return paths, sc.Err()
}
