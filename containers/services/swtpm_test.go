package services

import (
	"context"
	"testing"
	"time"
)

// A swtpm that exits at once is an error, not a TPM.
func TestStartSwtpmFailure(t *testing.T) {
	old := SwtpmBinary
	defer func() { SwtpmBinary = old }()
	SwtpmBinary = "false"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if sw, err := StartSwtpm(ctx, t.TempDir()); err == nil {
		sw.Close()
		t.Fatal("started a swtpm that exits at once")
	}
}
