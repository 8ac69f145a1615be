package services

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/attested-tls/conformance/impl/attest/evidence/parsecac"
)

// ParsecDir is where make deps unpacks the Parsec service 1.4.1
// (containers/services/parsec-deb.sh): the binary is usr/bin/parsec and
// the libmbedcrypto it links is under usr/lib. ATLS_PARSEC_DIR overrides
// it.
var ParsecDir = "/var/cache/atls/parsec-1.4.1"

// Parsec is a Parsec service started by StartParsec on a swtpm of its
// own: its TPM provider holds the keys, its socket is Socket.
type Parsec struct {
	// Socket is the service's Unix socket.
	Socket string
	// Dir is the state directory (configuration, key info, socket, log);
	// Close removes it.
	Dir string
	// TPM is the swtpm the TPM provider talks to.
	TPM *Swtpm

	process
}

func parsecDir() string {
	if d := os.Getenv("ATLS_PARSEC_DIR"); d != "" {
		return d
	}
	return ParsecDir
}

// HaveParsec reports whether the unpacked Parsec service is there, for
// tests that skip without it.
func HaveParsec() error {
	bin := filepath.Join(parsecDir(), "usr/bin/parsec")
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("parsec service not unpacked at %s (run make deps): %w", bin, err)
	}
	return HaveSwtpm()
}

// StartParsec starts a swtpm (as StartSwtpm does) and the Parsec service
// on it, with its TPM provider as the only key store and a
// configuration, key-info database and socket in a fresh state directory
// under dir (os.TempDir() if empty), and waits until it answers a ping or
// ctx ends. Close stops both and removes the state.
func StartParsec(ctx context.Context, dir string) (*Parsec, error) {
	if err := HaveParsec(); err != nil {
		return nil, err
	}
	state, err := os.MkdirTemp(dir, "parsec-")
	if err != nil {
		return nil, fmt.Errorf("parsec: %w", err)
	}
	tpm, err := startSwtpmAdjacent(ctx, state)
	if err != nil {
		os.RemoveAll(state)
		return nil, fmt.Errorf("parsec: %w", err)
	}
	_, tpmPort, err := net.SplitHostPort(tpm.Addr)
	if err != nil {
		tpm.Close()
		os.RemoveAll(state)
		return nil, fmt.Errorf("parsec: %w", err)
	}
	p := &Parsec{
		Socket: filepath.Join(state, "parsec.sock"),
		Dir:    state,
		TPM:    tpm,
	}
	// The owner hierarchy's auth is a fresh swtpm's, empty. allow_root:
	// the suite may run as root (CI containers). The listener sleeps this
	// long whenever no connection waits, which bounds every call's
	// latency: 1 ms, not the default 10, since each call is a connection.
	conf := fmt.Sprintf(`[core_settings]
log_level = "warn"
allow_root = true
thread_pool_size = 4
idle_listener_sleep_duration = 1

[listener]
listener_type = "DomainSocket"
timeout = 10000
socket_path = %q

[authenticator]
auth_type = "UnixPeerCredentials"

[[key_manager]]
name = "sqlite-manager"
manager_type = "SQLite"
sqlite_db_path = %q

[[provider]]
name = "tpm-provider"
provider_type = "Tpm"
key_info_manager = "sqlite-manager"
tcti = "swtpm:host=127.0.0.1,port=%s"
owner_hierarchy_auth = ""
`, p.Socket, filepath.Join(state, "kim.sqlite3"), tpmPort)
	cfg := filepath.Join(state, "config.toml")
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		p.Close()
		return nil, fmt.Errorf("parsec: %w", err)
	}
	out, err := os.Create(filepath.Join(state, "output"))
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("parsec: %w", err)
	}
	defer out.Close()
	root := parsecDir()
	cmd := exec.Command(filepath.Join(root, "usr/bin/parsec"), "-c", cfg)
	cmd.Env = append(os.Environ(),
		"LD_LIBRARY_PATH="+filepath.Join(root, "usr/lib/x86_64-linux-gnu"),
		"RUST_LOG=warn")
	if err := p.start(cmd, out); err != nil {
		tpm.Close()
		os.RemoveAll(state)
		return nil, fmt.Errorf("parsec: %w", err)
	}
	if err := p.waitReady(ctx); err != nil {
		detail, _ := os.ReadFile(filepath.Join(state, "output"))
		p.Close()
		return nil, fmt.Errorf("parsec: %w (output %q)", err, detail)
	}
	return p, nil
}

// waitReady polls until the service answers a ping.
func (p *Parsec) waitReady(ctx context.Context) error {
	c := parsecac.NewClient(p.Socket)
	return p.process.waitReady(ctx, 10*time.Millisecond, 200*time.Millisecond,
		func(ctx context.Context) error {
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			_, _, err := c.Ping(pctx)
			return err
		})
}

// Close stops the service and its swtpm and removes the state.
func (p *Parsec) Close() error {
	p.kill()
	return errors.Join(p.TPM.Close(), os.RemoveAll(p.Dir))
}
