package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/attested-tls/conformance/impl/attest/eaframe"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/peers/contract"
	"github.com/attested-tls/conformance/peers/inputs"
	"github.com/attested-tls/conformance/peers/reference"
	"github.com/attested-tls/conformance/suite/harness/wire"
)

// The verdict on a peer comes from what the in-process reference saw on
// the wire: its engine's alerts, the handshake messages, the application
// data the peer's records carried, and whatever the peer still sent after
// a failure. The peer's outcome line is only cross-checked against that:
// a line that contradicts the wire fails the spec.

// ExpectCompletes asserts a positive case from the wire: the reference's
// handshake completed, it read the peer's half of the exchange (ping or
// pong), no fatal alert crossed either way; the peer's exit and outcome
// line agree with that.
func ExpectCompletes(c Case, r *Result) {
	GinkgoHelper()
	Expect(r.Peer).NotTo(BeNil())
	completesOnWire(c, r)
	Expect(r.Peer.Exit).To(Equal(contract.ExitOK), "the peer's exit code contradicts the wire (the connection completed)\n%s", r.Describe())
	expectHonest(r)
	expectKeyLog(c, r)
}

// JudgeWire is the part of a positive or negative case's judgement that
// needs only what the reference saw (ExpectCompletes or ExpectAborts
// without the peer's exit code, outcome line and key log): all there is
// of a visitor to conformance serve.
func JudgeWire(c Case, r *Result) {
	GinkgoHelper()
	if c.Negative != nil {
		abortsOnWire(c, r)
		return
	}
	completesOnWire(c, r)
}

// completesOnWire: the reference's handshake completed, it read the
// peer's half of the exchange, and no fatal alert crossed.
func completesOnWire(c Case, r *Result) {
	GinkgoHelper()
	w := r.Wire
	Expect(r.ReferenceExit).To(Equal(contract.ExitOK), "the reference did not complete\n%s", r.Describe())
	Expect(w.Completed).To(BeTrue(), "the handshake did not complete on the wire\n%s", r.Describe())
	Expect(w.AlertReceived).To(BeZero(), "the peer sent %s\n%s", w.AlertReceived, r.Describe())
	Expect(w.AlertSent).To(BeZero(), "the reference sent %s\n%s", w.AlertSent, r.Describe())
	want := reference.Ping
	if c.PeerRole == contract.Server {
		want = reference.Pong
	}
	Expect(string(w.AppData)).To(Equal(want), "the peer's application data\n%s", r.Describe())
}

// keyLogLabels are the TLS 1.3 secrets a key log of a completed
// connection holds (NSS key log format).
var keyLogLabels = []string{"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
	"CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"}

// expectKeyLog: the peer's SSLKEYLOGFILE holds the connection's secrets,
// each the one the reference derived (its own key log), so the capture
// decrypts with either.
func expectKeyLog(c Case, r *Result) {
	GinkgoHelper()
	ours := readKeyLog(filepath.Join(r.Dirs[c.PeerRole.Other()], inputs.KeyLogFile))
	Expect(ours).To(HaveLen(1), "the reference's key log holds %d connections, want 1", len(ours))
	theirs := readKeyLog(filepath.Join(r.Dirs[c.PeerRole], inputs.KeyLogFile))
	for random, want := range ours {
		got := theirs[random]
		for _, label := range keyLogLabels {
			Expect(want).To(HaveKey(label), "the reference's key log lacks %s", label)
			Expect(got).To(HaveKeyWithValue(label, want[label]),
				"the peer's key log (SSLKEYLOGFILE) has no %s for the connection (client random %s), or another one than the reference derived\n%s",
				label, random, r.Describe())
		}
	}
}

// readKeyLog reads an NSS key log: client random → label → secret, all
// in lower-case hex. A missing file is an empty log.
func readKeyLog(path string) map[string]map[string]string {
	b, _ := os.ReadFile(path)
	out := map[string]map[string]string{}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) != 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		random := strings.ToLower(f[1])
		if out[random] == nil {
			out[random] = map[string]string{}
		}
		out[random][f[0]] = strings.ToLower(f[2])
	}
	return out
}

// ExpectAborts asserts a negative case from the wire: the peer sent the
// profile's fatal alert (the reference's engine read it), sent nothing
// after it, and released no application data although the reference
// kept offering it; the peer's exit and outcome line agree.
func ExpectAborts(c Case, r *Result) {
	GinkgoHelper()
	Expect(r.Peer).NotTo(BeNil())
	Expect(r.Peer.Exit).NotTo(Equal(contract.ExitUnsupported), "the peer does not run this case\n%s", r.Describe())
	abortsOnWire(c, r)
	Expect(r.Peer.Exit).To(Equal(contract.ExitFailed), "the peer's exit code contradicts the wire (it aborted)\n%s", r.Describe())
	expectHonest(r)
}

// abortsOnWire: the peer sent the negative case's alert, nothing after
// it and no application data, and the reference did not complete.
func abortsOnWire(c Case, r *Result) {
	GinkgoHelper()
	n, w := c.Negative, r.Wire
	Expect(w.AlertReceived).NotTo(BeZero(), "the peer sent no alert (want %s): it must abort with the alert the profile prescribes\n%s",
		alertName(n.Alert), r.Describe())
	Expect(w.AlertReceived).To(Equal(n.Alert), "the peer's alert on the wire is %s, want %s\n%s",
		alertName(w.AlertReceived), alertName(n.Alert), r.Describe())
	Expect(w.AppData).To(BeEmpty(), "the peer sent application data after the failure: %q\n%s", w.AppData, r.Describe())
	Expect(w.Trailing).To(BeZero(), "the peer sent %d record(s) (%d bytes) after its fatal alert: nothing may follow it\n%s",
		w.Trailing, w.TrailingRecordBytes, r.Describe())
	Expect(r.ReferenceExit).NotTo(Equal(contract.ExitOK), "the reference completed the exchange\n%s", r.Describe())
}

// expectReferenceAborts asserts a case whose peer answers what the
// reference cannot take: the peer sent no alert, the reference did, no
// application data crossed, and the peer's exit and outcome line agree.
func expectReferenceAborts(_ Case, r *Result) {
	GinkgoHelper()
	w := r.Wire
	Expect(r.Peer).NotTo(BeNil())
	Expect(w.AlertReceived).To(BeZero(), "the peer sent %s: it should have answered\n%s", alertName(w.AlertReceived), r.Describe())
	Expect(w.AlertSent).NotTo(BeZero(), "the reference did not abort\n%s", r.Describe())
	Expect(w.AppData).To(BeEmpty(), "the peer sent application data after the failure: %q\n%s", w.AppData, r.Describe())
	Expect(r.Peer.Exit).To(Equal(contract.ExitFailed), "the peer's exit code contradicts the wire (the reference aborted)\n%s", r.Describe())
	expectHonest(r)
}

// expectEither judges an acceptable input: a peer that rejects it does
// so as a negative case must, with alert; one that takes it goes on
// without an alert, whatever the reference then does.
func expectEither(alert tls13.AlertCode) func(Case, *Result) {
	return func(c Case, r *Result) {
		GinkgoHelper()
		Expect(r.Peer).NotTo(BeNil())
		if r.Wire.AlertReceived != 0 {
			c.Negative = &Negative{Alert: alert}
			ExpectAborts(c, r)
			return
		}
		if r.Wire.Completed && r.Wire.AlertSent == 0 {
			ExpectCompletes(c, r)
			return
		}
		expectReferenceAborts(c, r)
	}
}

// expectHonest fails when the peer's outcome line says something the
// wire contradicts: another handshake or exchange result, or an alert it
// did not send (or none where it sent one).
func expectHonest(r *Result) {
	w, res := r.Wire, r.Peer
	Expect(res.Outcome).NotTo(BeNil(), "the peer printed no outcome line\n%s", r.Describe())
	o := *res.Outcome
	var lies []string
	completed := w.Completed && w.AlertReceived == 0 && w.AlertSent == 0
	switch {
	case completed && o.Handshake != contract.HandshakeOK:
		lies = append(lies, fmt.Sprintf("handshake %q, but it completed", o.Handshake))
	case !completed && o.Handshake == contract.HandshakeOK:
		lies = append(lies, "handshake \"ok\", but it failed")
	}
	if o.AppData == contract.AppDataOK && (len(w.AppData) == 0 || !completed) {
		lies = append(lies, "app_data \"ok\", but no application data crossed")
	}
	sent := 0
	if o.AlertSent != nil {
		sent = o.AlertSent.Code
	}
	if sent != int(w.AlertReceived) {
		lies = append(lies, fmt.Sprintf("alert_sent %s, but the wire carried %s from it", alertName(tls13.AlertCode(sent)), alertName(w.AlertReceived)))
	}
	if w.AlertSent != 0 && o.AlertReceived != nil && o.AlertReceived.Code != int(w.AlertSent) {
		lies = append(lies, fmt.Sprintf("alert_received %d, but the reference sent %s", o.AlertReceived.Code, alertName(w.AlertSent)))
	}
	if v := o.Verdict; v != nil && completed && v.Status != "affirming" && v.Status != "warning" {
		lies = append(lies, fmt.Sprintf("verdict %q, but it went on with the connection", v.Status))
	}
	Expect(lies).To(BeEmpty(), "the peer's outcome line contradicts the wire: %s\n%s", strings.Join(lies, "; "), r.Describe())
}

func alertName(a tls13.AlertCode) string {
	if a == 0 {
		return "no alert"
	}
	return fmt.Sprintf("%s (%d)", a, uint8(a))
}

// Flights are the handshake messages the reference sent and those the
// peer sent, as the reference read them.
func (r *Result) Flights() (reference, peer wire.Flight) {
	flight := func(ms [][]byte) wire.Flight {
		f := make(wire.Flight, len(ms))
		for i, m := range ms {
			f[i] = m
		}
		return f
	}
	return flight(r.Wire.Sent), flight(r.Wire.Received)
}

// Frames are the post-handshake frames the reference sent (ours) or the
// peer sent, as the reference's wire recorder read them.
func (r *Result) Frames(ours bool) []eaframe.Frame {
	var out []eaframe.Frame
	for _, f := range r.Wire.Frames {
		if f.Sent == ours {
			out = append(out, f.Frame)
		}
	}
	return out
}

// wireSummary says what crossed: the handshake messages each way, the
// alerts, the peer's application data and anything after a failure.
func wireSummary(r *Result) string {
	w := r.Wire
	names := func(f wire.Flight) string {
		var out []string
		for _, m := range f {
			out = append(out, wire.Name(m.Type()))
		}
		if len(out) == 0 {
			return "nothing"
		}
		return strings.Join(out, ", ")
	}
	ours, theirs := r.Flights()
	s := fmt.Sprintf("the reference sent %s; the peer sent %s", names(ours), names(theirs))
	if len(w.Frames) > 0 {
		frames := func(fs []eaframe.Frame) string {
			var out []string
			for _, f := range fs {
				out = append(out, f.Type.String())
			}
			return strings.Join(out, ", ")
		}
		s += fmt.Sprintf("; after the handshake the reference sent the frames %s, the peer %s", frames(r.Frames(true)), frames(r.Frames(false)))
	}
	if w.FrameError != "" {
		s += "; the peer's stream stopped being frames: " + w.FrameError
	}
	if w.AlertReceived != 0 {
		s += "; then the peer's alert " + alertName(w.AlertReceived)
	}
	if w.AlertSent != 0 {
		s += "; the reference's alert " + alertName(w.AlertSent)
	}
	s += fmt.Sprintf("; handshake completed: %v; application data from the peer: %q", w.Completed, w.AppData)
	if w.Trailing+w.TrailingBytes > 0 {
		s += fmt.Sprintf("; after the failure the peer sent %d record(s), %d bytes, and %d stray bytes", w.Trailing, w.TrailingRecordBytes, w.TrailingBytes)
	}
	return s
}
