// Package mbedtls_test runs the interop specs between the patched mbedTLS
// peer (peers/mbedtls, a C program that speaks the peer contract) and the
// Go reference (configured through suite/harness, impl/attest/party and
// the profile registry), with TPM evidence from swtpm and Veraison as
// every relying party's verifier.
//
// The peer runs through peers/driver: in its container image
// (containers/images.MbedTLSPeer) on a private network per test, with an
// swtpm container beside it, when a Docker engine answers; as a process
// with a host swtpm otherwise (CI=true without an engine fails). One
// Veraison serves the run on the host's loopback; a container reaches it,
// and the test process's listeners, through forwarders on its network's
// gateway (TestVeraisonService runs Veraison as a service of the case).
package mbedtls_test

import (
	"context"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attested-tls/conformance/containers/images"
	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/endpoint"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/evidence/tpm"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison"
	"github.com/attested-tls/conformance/impl/attest/verify/veraison/service"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/driver"
)

// ServerName is the name the server is certified for, both sides.
const ServerName = "server.attested.test"

// world is what every spec shares: the built peer, one Veraison, the
// run's CA, and the Go side's TPM attester (its own swtpm).
type world struct {
	peer     string // the peer binary (build.sh's output on the host)
	drv      driver.Driver
	mb       driver.Peer // the peer as the driver starts it
	swtpmImg string      // containers: the swtpm service image
	dir      string      // the run's inputs (read-only /atls/in)
	trusted  string      // ATLS_TRUSTED_VERIFIERS: Veraison's EAR key
	svc      *service.Services
	verifier *veraison.Verifier
	ca       *endpoint.CA
	caCert   string // PEM files the peer reads
	caKey    string
	swtpm    *tpm.Swtpm
	attester *tpm.Attester
	before   [2]int // containers, networks of the run before the tests
}

var (
	worldOnce sync.Once
	shared    *world
	worldErr  error
)

// TestMain also checks the run left nothing behind: no container or
// network of its run label once every test closed its case (counted
// before the driver's final sweep, which would hide them).
func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		if cd, ok := shared.drv.(*driver.ContainerDriver); ok {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			c, n, err := cd.Leftovers(ctx)
			cancel()
			fmt.Fprintf(os.Stderr, "mbedtls: containers and networks of run %s left after the tests: %d, %d (before: %d, %d)\n",
				cd.RunID(), c, n, shared.before[0], shared.before[1])
			if err != nil || c+n > 0 {
				fmt.Fprintf(os.Stderr, "FAIL: leftovers (%v)\n", err)
				code = 1
			}
		}
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
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "mbedtls: "+format+"\n", args...) }
	if w.drv, err = driver.Select(ctx, "", logf); err != nil {
		return w, err
	}
	w.mb = driver.Peer{Name: "mbedtls", Command: []string{w.peer}}
	if cd, ok := w.drv.(*driver.ContainerDriver); ok {
		if w.before[0], w.before[1], err = cd.Leftovers(ctx); err != nil {
			return w, err
		}
		img, err := images.Ensure(ctx, cd.Client(), images.MbedTLSPeer, cd.Arch())
		if err != nil {
			return w, err
		}
		state := "cached"
		if !img.Cached {
			state = fmt.Sprintf("built, %d older tags removed", images.Prune(ctx, cd.Client(), images.MbedTLSPeer, img.Ref))
		}
		logf("image %s (%s in %v)", img.Ref, state, img.Took.Round(time.Millisecond))
		w.mb.Image = img.Ref
		sw, err := images.Ensure(ctx, cd.Client(), images.Swtpm, cd.Arch())
		if err != nil {
			return w, err
		}
		w.swtpmImg = sw.Ref
	}
	if w.svc, err = service.Start(ctx, service.Config{}); err != nil {
		return w, fmt.Errorf("starting Veraison: %w", err)
	}
	// The relying parties trust this Veraison because the suite started
	// it, not because it answers discovery.
	id, err := attest.VerifierIdentity(w.svc.EARKey)
	if err != nil {
		return w, err
	}
	if w.trusted, err = writeTrusted(w.dir, "trusted-verifiers.json", attest.TrustedVerifier{ID: id, Key: w.svc.EARKey}); err != nil {
		return w, err
	}
	if w.verifier, err = veraison.New(ctx, veraison.Config{VerificationURL: w.svc.VerificationURL}); err != nil {
		return w, err
	}
	if w.ca, err = endpoint.NewCA(); err != nil {
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

// writeTrusted writes an ATLS_TRUSTED_VERIFIERS file into dir.
func writeTrusted(dir, name string, vs ...attest.TrustedVerifier) (string, error) {
	b, err := contract.MarshalTrustedVerifiers(vs)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, b, 0o644)
}

func (w *world) close() {
	if w.drv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := w.drv.Close(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "mbedtls: %v\n", err)
		}
		cancel()
	}
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
	dist, err := images.BuildMbedTLSPeer(ctx)
	if err != nil {
		return "", fmt.Errorf("building the mbedTLS peer failed: %w", err)
	}
	bin := filepath.Join(dist, "bin", "atls-mbedtls-peer")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("build.sh printed no peer directory: %v", err)
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
