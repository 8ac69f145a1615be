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
	"github.com/attested-tls/conformance/peers/capture"
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

	ep, err := setup(ctx, cfg, opt.Tweak)
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

// converse runs the handshake and the ping/pong exchange on raw.
func (ep *ours) converse(ctx context.Context, cfg contract.Config, raw net.Conn, o contract.Outcome, lg *logger, opt Options) (contract.Outcome, int) {
	tcfg := ep.tls.Clone()
	if cfg.KeyLog != "" {
		f, err := os.OpenFile(cfg.KeyLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			lg.printf("%s: %v", contract.EnvKeyLog, err)
		} else {
			defer f.Close()
			tcfg.KeyLogWriter = f
		}
	}
	if cfg.Out != "" {
		if f, err := os.Create(filepath.Join(cfg.Out, PcapFile)); err == nil {
			defer f.Close()
			if w, err := capture.New(f, raw.LocalAddr(), raw.RemoteAddr(), ep.isClient); err == nil {
				defer w.Close()
				tcfg.Trace = w
			}
		}
	}
	pcap := tcfg.Trace
	if opt.Wire != nil {
		tcfg.Trace = &recorder{w: opt.Wire, next: tcfg.Trace}
	}
	if opt.KeepSending {
		if !ep.isClient {
			tcfg.Bugs.EarlyApplicationData = []byte(HalfRTTData)
		}
		tcfg.Bugs.ApplicationDataAfterAlertReceived = []byte(AfterAlertData)
	}
	var c *tls13.Conn
	if ep.isClient {
		c = tls13.Client(raw, tcfg)
	} else {
		c = tls13.Server(raw, tcfg)
	}
	hsErr := c.HandshakeContext(ctx)
	var appErr error
	var got []byte
	appOK := false
	if hsErr == nil {
		lg.printf("handshake complete")
		appOK, got, appErr = exchange(c, ep.isClient)
		if !fatal(appErr) {
			// close_notify, then drain the peer's until EOF: a clean close on the wire.
			c.CloseWrite()
			drain(c)
		}
	}
	if opt.Wire != nil && (hsErr != nil || fatal(appErr)) {
		// What the peer still sends after the failure, straight off the
		// socket: our engine stopped reading at the alert.
		trailing(raw, TrailingWait, opt.Wire, pcap)
	}
	c.Close()

	cs := c.ConnectionState()
	o.Handshake = contract.HandshakeFailed
	if hsErr == nil && !fatal(appErr) {
		o.Handshake = contract.HandshakeOK
	}
	if appOK {
		o.AppData = contract.AppDataOK
	}
	for _, err := range []error{hsErr, appErr} {
		if ae, ok := tls13.AsAlert(err); ok && ae.Code != tls13.AlertCloseNotify {
			a := &contract.Alert{Code: int(ae.Code), Name: ae.Code.String()}
			if ae.Sent {
				o.AlertSent = a
			} else {
				o.AlertReceived = a
			}
		}
	}
	if w := opt.Wire; w != nil {
		w.Completed, w.AppData, w.State = hsErr == nil, got, cs
		if o.AlertSent != nil {
			w.AlertSent = tls13.AlertCode(o.AlertSent.Code)
		}
		if o.AlertReceived != nil {
			w.AlertReceived = tls13.AlertCode(o.AlertReceived.Code)
		}
	}
	o.Negotiated = negotiated(cs, ep.isClient)
	if cfg.PeerAttests() != contract.AttestsNone {
		o.Verdict = verdict(cs)
	}
	err := errors.Join(hsErr, appErr)
	code := contract.ExitOK
	if !appOK || o.Handshake != contract.HandshakeOK {
		if err == nil {
			err = errors.New("application data exchange incomplete")
		}
		o.Error = err.Error()
		code = exitForFailure(ctx, err)
	}
	lg.printf("handshake %s, application data %s, exit %d (%s)%s", o.Handshake, o.AppData, code,
		contract.ExitName(code), errSuffix(err))
	if cfg.Misbehave == contract.LieInOutcome {
		o, code = lie(o)
		lg.printf("misbehaving: reporting handshake %s, exit %d instead", o.Handshake, code)
	}
	return o, code
}

// lie turns an outcome into its opposite, consistently with itself: a
// success becomes a rejection we claim to have sent, a failure a clean
// success with an affirming verdict. Only the wire tells.
func lie(o contract.Outcome) (contract.Outcome, int) {
	if o.Handshake == contract.HandshakeOK {
		o.Handshake, o.AppData = contract.HandshakeFailed, contract.AppDataNone
		o.AlertSent = &contract.Alert{Code: int(tls13.AlertBadCertificate), Name: tls13.AlertBadCertificate.String()}
		o.Error = "rejected the peer's attestation"
		if o.Verdict != nil {
			o.Verdict = &contract.Verdict{Status: "contraindicated", Reason: "evidence.rejected"}
		}
		return o, contract.ExitFailed
	}
	o.Handshake, o.AppData, o.AlertSent, o.AlertReceived, o.Error = contract.HandshakeOK, contract.AppDataOK, nil, nil, ""
	if o.Verdict != nil {
		o.Verdict = &contract.Verdict{Status: "affirming"}
	}
	return o, contract.ExitOK
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}

// exchange sends ping and expects pong (client) or the other way round;
// it returns what it read.
func exchange(c *tls13.Conn, isClient bool) (bool, []byte, error) {
	want, reply := Ping, Pong
	if isClient {
		if _, err := c.Write([]byte(Ping)); err != nil {
			return false, nil, err
		}
		want, reply = Pong, ""
	}
	buf := make([]byte, len(want))
	n, err := io.ReadFull(c, buf)
	if err != nil {
		return false, buf[:n], err
	}
	if string(buf) != want {
		return false, buf, fmt.Errorf("got %q, want %q", buf, want)
	}
	if reply != "" {
		if _, err := c.Write([]byte(reply)); err != nil {
			return false, buf, err
		}
	}
	return true, buf, nil
}

// drain reads until the peer's close_notify or EOF, for at most a second.
func drain(c *tls13.Conn) {
	c.SetReadDeadline(time.Now().Add(time.Second))
	io.Copy(io.Discard, c)
}

// fatal reports whether an error after the handshake is an alert other
// than close_notify: the peer rejected the handshake after finishing it
// (a server appraising a client's attestation).
func fatal(err error) bool {
	ae, ok := tls13.AsAlert(err)
	return ok && ae.Code != tls13.AlertCloseNotify
}

func exitForFailure(ctx context.Context, err error) int {
	var ne net.Error
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return contract.ExitTimeout
	}
	return contract.ExitFailed
}

func negotiated(cs tls13.ConnectionState, isClient bool) *contract.Negotiated {
	if cs.CipherSuite == 0 {
		return nil
	}
	n := &contract.Negotiated{CipherSuite: tls13.CipherSuiteName(cs.CipherSuite)}
	describe := func(o party.Outcome, ok bool) *string {
		if !ok || o.Selected == "" {
			return nil
		}
		s := o.Topology.String() + ": " + o.Selected
		return &s
	}
	self, peer := describe(party.SelfOutcome(cs)), describe(party.PeerOutcome(cs))
	if isClient {
		n.ClientAttestation, n.ServerAttestation = self, peer
	} else {
		n.ServerAttestation, n.ClientAttestation = self, peer
	}
	return n
}

func verdict(cs tls13.ConnectionState) *contract.Verdict {
	o, ok := party.PeerOutcome(cs)
	if !ok {
		return &contract.Verdict{Status: "none", Reason: "not appraised"}
	}
	v := &contract.Verdict{Status: "none", Reason: string(o.Reason)}
	if o.Result != nil {
		v.Status = o.Result.Status.String()
	}
	return v
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
