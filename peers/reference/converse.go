package reference

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/capture"
	"github.com/attested-tls/conformance/peers/contract"
)

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
		tcfg.Trace = &recorder{w: opt.Wire, next: tcfg.Trace, frames: ep.attest != nil}
	}
	if opt.KeepSending {
		// 0.5-RTT data would reach a post-handshake profile's peer as a
		// frame out of turn (unexpected_message) before it could judge
		// the attestation, which is what the case is about.
		if !ep.isClient && ep.attest == nil {
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
	var rw io.ReadWriter = c
	if hsErr == nil && ep.attest != nil {
		lg.printf("handshake complete; attesting after it")
		if rw, hsErr = ep.attest(ctx, c, ep.isClient, ep.party); hsErr != nil {
			rw = c
		}
	}
	if hsErr == nil {
		lg.printf("handshake complete")
		appOK, got, appErr = exchange(rw, ep.isClient)
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
		w.Completed, w.State = hsErr == nil, cs
		if ep.attest == nil {
			w.AppData = got // a post-handshake profile's came in frames
		}
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
func exchange(c io.ReadWriter, isClient bool) (bool, []byte, error) {
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
