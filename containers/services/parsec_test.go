package services

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest/evidence/parsecac"
	"github.com/attested-tls/conformance/internal/needs"
)

// The service starts on its swtpm, answers, and leaves nothing behind.
func TestStartParsec(t *testing.T) {
	needs.Missing(t, "the Parsec service", "unpack it with `"+needs.Deps+"`", HaveParsec())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := StartParsec(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	maj, min, err := parsecac.NewClient(p.Socket).Ping(ctx)
	if err != nil || maj != 1 {
		t.Errorf("ping: %d.%d, %v", maj, min, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.Dir); !os.IsNotExist(err) {
		t.Errorf("state left behind: %v", err)
	}
}

// Without the unpacked service the error says what to do.
func TestStartParsecMissing(t *testing.T) {
	t.Setenv("ATLS_PARSEC_DIR", t.TempDir())
	_, err := StartParsec(context.Background(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "make deps") {
		t.Fatalf("got %v, want an error naming make deps", err)
	}
}
