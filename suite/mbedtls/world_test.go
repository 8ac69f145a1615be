// Package mbedtls_test runs the interop specs between the patched mbedTLS
// peer (peers/mbedtls, a C program started as a process through the peer
// contract's environment) and the Go reference (configured through
// suite/harness, impl/attest/party and the profile registry), with TPM
// evidence from swtpm and Veraison as every relying party's verifier.
package mbedtls_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/tpm"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison/service"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/suite/harness"
)

// ServerName is the name the server is certified for, both sides.
const ServerName = "server.attested.test"

// world is what every spec shares: the built peer, one Veraison, the
// run's CA, and the Go side's TPM attester (its own swtpm).
type world struct {
	peer     string // the peer binary
	dir      string
	svc      *service.Services
	verifier *veraison.Verifier
	ca       *harness.CA
	caCert   string // PEM files the peer reads
	caKey    string
	swtpm    *tpm.Swtpm
	attester *tpm.Attester
}

var (
	worldOnce sync.Once
	shared    *world
	worldErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.close()
	}
	os.Exit(code)
}

// env returns the shared world, setting it up on first use; a spec fails
// (never skips) when any part cannot be had.
func env(t *testing.T) *world {
	t.Helper()
	worldOnce.Do(func() { shared, worldErr = newWorld() })
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return shared
}

func newWorld() (w *world, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	w = &world{}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	if w.peer, err = buildPeer(ctx); err != nil {
		return w, err
	}
	if w.dir, err = os.MkdirTemp("", "atls-mbedtls-specs-"); err != nil {
		return w, err
	}
	if w.svc, err = service.Start(ctx, service.Config{}); err != nil {
		return w, fmt.Errorf("starting Veraison: %w", err)
	}
	if w.verifier, err = veraison.New(ctx, veraison.Config{VerificationURL: w.svc.VerificationURL}); err != nil {
		return w, err
	}
	if w.ca, err = harness.NewCA(); err != nil {
		return w, err
	}
	w.caCert = filepath.Join(w.dir, "ca.pem")
	w.caKey = filepath.Join(w.dir, "ca-key.pem")
	if err := os.WriteFile(w.caCert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.ca.Cert.Raw}), 0o644); err != nil {
		return w, err
	}
	key, err := contract.MarshalPrivateKeyPEM(w.ca.Key)
	if err != nil {
		return w, err
	}
	if err := os.WriteFile(w.caKey, key, 0o600); err != nil {
		return w, err
	}
	if w.swtpm, err = tpm.StartSwtpm(ctx, w.dir); err != nil {
		return w, err
	}
	if w.attester, err = tpm.Open(ctx, tpm.Config{Transport: tpm.TransportSwtpm, Addr: w.swtpm.Addr}); err != nil {
		return w, err
	}
	if _, err := veraison.ProvisionEndorsement(ctx, w.svc.ProvisioningURL, w.attester.Endorsement(), nil); err != nil {
		return w, fmt.Errorf("endorsing the Go attester: %w", err)
	}
	return w, nil
}

func (w *world) close() {
	if w.attester != nil {
		w.attester.Close()
	}
	if w.swtpm != nil {
		w.swtpm.Close()
	}
	if w.svc != nil {
		w.svc.Stop()
	}
	if w.dir != "" {
		os.RemoveAll(w.dir)
	}
}

// buildPeer runs peers/mbedtls/build.sh (a cache hit when nothing
// changed) and returns the peer binary. A failed build is an error that
// carries the command and its output.
func buildPeer(ctx context.Context) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	script := filepath.Join(root, "peers", "mbedtls", "build.sh")
	cmd := exec.CommandContext(ctx, "bash", script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the mbedTLS peer failed: bash %s: %v\n%s", script, err, tail(stderr.String(), 40))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	bin := filepath.Join(lines[len(lines)-1], "bin", "atls-mbedtls-peer")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("bash %s printed no peer directory: %v", script, err)
	}
	return bin, nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the test directory")
		}
		dir = parent
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// endorsing is the Go relying party's verifier when the mbedTLS peer
// attests: it provisions Veraison with the peer's endorsement (the file
// the peer writes before it connects or listens) on first use, then
// appraises as the Veraison adapter does.
type endorsing struct {
	*veraison.Verifier
	provisioning, path string
	once               sync.Once
	err                error
}

func (e *endorsing) Appraise(ctx context.Context, ev attest.Evidence, ch attest.Challenge) (*attest.Result, error) {
	e.once.Do(func() { e.err = provision(ctx, e.provisioning, e.path) })
	if e.err != nil {
		return nil, e.err
	}
	return e.Verifier.Appraise(ctx, ev, ch)
}

// provision reads an attester's endorsement file (the contract's JSON)
// and gives it to Veraison.
func provision(ctx context.Context, provisioningURL, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("the peer's endorsement: %w", err)
	}
	e, err := contract.ParseEndorsement(b)
	if err != nil {
		return err
	}
	_, err = veraison.ProvisionEndorsement(ctx, provisioningURL, e, nil)
	return err
}

// mediaTypes is every evidence type our sides offer.
var mediaTypes = []string{parsectpm.MediaType}

// freeAddr is a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
