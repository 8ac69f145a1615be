// Package reference is the project's Go implementation of attested TLS
// as a contract peer (peers/CONTRACT.md): given one case's configuration
// it builds the endpoint's attestation roles and engine configuration
// with the suite's own construction (suite/harness), runs exactly one
// connection with the ping/pong exchange, and returns the outcome and
// exit code. `conformance peer` runs it as a process or container; the
// suite runs it in-process as the other side of a case, so a peer-vs-peer
// run looks the same whoever is on either side.
//
// It supports every registered profile, ATLS_TPM=software, swtpm:<addr>
// and (built with cgo) simulator, and ATLS_VERIFIER=local and
// veraison:<URL>; the rest is unsupported (exit 127). Beside the
// contract's files it writes $ATLS_OUT/peer.log and, from the engine's
// trace, $ATLS_OUT/handshake.pcap (peers/capture).
package reference

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/verify/local"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
)

// The application data of the contract.
const (
	Ping = "ping\n"
	Pong = "pong\n"
)

// File names the peer writes under ATLS_OUT.
const (
	LogFile  = "peer.log"
	PcapFile = "handshake.pcap"
)

// Options adjust a run for the in-process peer of a case.
type Options struct {
	// Listener, for a server, is accepted on instead of listening on
	// cfg.Listen, so the caller knows the port before the client starts.
	// Run closes it.
	Listener net.Listener
	// Log also receives the progress lines written to peer.log.
	Log io.Writer
	// Wire, if set, is filled with what we saw on the connection.
	Wire *Wire
	// KeepSending makes us try to send application data whatever the
	// other side does: a server sends 0.5-RTT data right after its
	// flight, and either side sends more as soon as it receives a fatal
	// alert. A suite sets it where the other side must abort, so that
	// "no application data after a failure" is tested with data on offer.
	KeepSending bool
	// Tweak, if set, changes our party and engine configuration before
	// the profile configures them: a suite's way to make the reference
	// misbehave beyond the contract's misbehaviours.
	Tweak func(p *party.Party, c *tls13.Config) error
	// Attester, if set, is our attester instead of one opened on
	// cfg.TPM for this connection: a long-running server (conformance
	// serve) keeps one root of trust, so the endorsement it publishes
	// holds for every connection. Run does not close it.
	Attester parsectpm.Attester
}

// AlertRoom is how long before its deadline the peer stops waiting on its
// TPM or verifier, to send its alert in time.
const AlertRoom = time.Second

// The application data a KeepSending reference offers.
const (
	HalfRTTData    = "0.5-RTT data from the server\n"
	AfterAlertData = "application data after your alert\n"
)

// Run plays one case and returns its outcome and exit code.
func Run(ctx context.Context, cfg contract.Config, opt Options) (contract.Outcome, int) {
	o := contract.Outcome{Contract: contract.Version, TestCase: cfg.TestCase, Role: cfg.Role, Profile: cfg.Profile,
		Handshake: contract.HandshakeNone, AppData: contract.AppDataNone}
	lg, closeLog := newLogger(cfg.Out, opt.Log)
	defer closeLog()
	if opt.Listener != nil {
		defer opt.Listener.Close()
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	ep, err := setup(ctx, cfg, opt.Tweak, opt.Attester)
	if ep != nil {
		defer ep.close()
	}
	if err != nil {
		o.Error = err.Error()
		code := exitForSetup(ctx, err)
		lg.printf("%s: %v", contract.ExitName(code), err)
		return o, code
	}
	lg.printf("%s %s as %s (%s)", cfg.TestCase, cfg.Profile, cfg.Role, describeMisbehave(cfg.Misbehave))
	if cfg.TPM != "" || cfg.Verifier != "" {
		// Which root of trust and verifier a case really used.
		lg.printf("TPM %q, verifier %q, trusted verifiers from %q", cfg.TPM, cfg.Verifier, cfg.TrustedVerifiers)
	}
	if cfg.EndorsementsOut != "" && ep.attester != nil {
		if err := writeEndorsement(cfg.EndorsementsOut, ep.attester.Endorsement()); err != nil {
			o.Error = err.Error()
			return o, contract.ExitConfig
		}
		lg.printf("wrote endorsement to %s", cfg.EndorsementsOut)
	}

	raw, err := connect(ctx, cfg, opt.Listener, lg)
	if err != nil {
		o.Error = err.Error()
		lg.printf("no connection: %v", err)
		return o, exitForFailure(ctx, err)
	}
	defer raw.Close()
	if d, ok := ctx.Deadline(); ok {
		raw.SetDeadline(d)
	}
	return ep.converse(ctx, cfg, raw, o, lg, opt)
}

// ours is our side's configuration, ready for a connection.
type ours struct {
	isClient bool
	tls      *tls13.Config
	party    *party.Party
	// attest runs a post-handshake profile's attestation (nil: the
	// profile's attestation travels in the handshake).
	attest   func(ctx context.Context, c *tls13.Conn, isClient bool, p *party.Party) (io.ReadWriter, error)
	attester parsectpm.Attester
	verifier *local.Verifier
	closers  []func() error
}

func (ep *ours) close() {
	for _, c := range ep.closers {
		c()
	}
}

// exitForSetup: a TPM or verifier out of reach fails the connection (1,
// or 3 past the deadline); anything else is the configuration's fault.
func exitForSetup(ctx context.Context, err error) int {
	var ue *UnreachableError
	if errors.As(err, &ue) {
		return exitForFailure(ctx, err)
	}
	return contract.ExitFor(err)
}

func exitForFailure(ctx context.Context, err error) int {
	var ne net.Error
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return contract.ExitTimeout
	}
	return contract.ExitFailed
}

func describeMisbehave(name string) string {
	if name == "" {
		return "behaving"
	}
	return "misbehaving: " + name
}

// logger writes timestamped progress lines to peer.log and Options.Log.
type logger struct {
	mu sync.Mutex
	w  io.Writer
}

func newLogger(out string, extra io.Writer) (*logger, func()) {
	var ws []io.Writer
	if extra != nil {
		ws = append(ws, extra)
	}
	closeFn := func() {}
	if out != "" {
		if f, err := os.OpenFile(filepath.Join(out, LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			ws = append(ws, f)
			closeFn = func() { f.Close() }
		}
	}
	return &logger{w: io.MultiWriter(ws...)}, closeFn
}

func (l *logger) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s peer: %s\n", time.Now().UTC().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}
