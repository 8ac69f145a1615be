package images

import (
	"slices"
	"testing"
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
