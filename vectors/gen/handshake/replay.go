package handshake

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/attested-tls/conformance/impl/attest"
	"github.com/attested-tls/conformance/impl/attest/cmw"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/impl/attest/result"
	"github.com/attested-tls/conformance/impl/tls13"
)

// Check verifies a trace against the implementation: the file is
// consistent with itself (transcript hashes, records, attestations), and
// each side of the engine, built from the trace's inputs alone and played
// against the other side's recorded records, sends exactly the recorded
// records and messages and derives exactly the recorded secrets and
// attestation results.
func Check(tr *Trace) error {
	if err := Consistent(tr); err != nil {
		return fmt.Errorf("%s: %w", tr.ID, err)
	}
	for _, client := range []bool{true, false} {
		if err := Replay(tr, client); err != nil {
			return fmt.Errorf("%s: replaying the %s: %w", tr.ID, sideName(client), err)
		}
	}
	return nil
}

// Replay runs our client (client=true) or server, built from tr's inputs,
// against the other side's records of tr, the way impl/tls13's RFC 8448
// tests replay the RFC's traces.
func Replay(tr *Trace, client bool) error {
	ours := sideName(client)
	st := &sideTrace{client: client}
	e, err := build(tr, client, st)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var conn *tls13.Conn
	if client {
		conn = tls13.Client(a, e.cfg)
	} else {
		conn = tls13.Server(a, e.cfg)
	}
	peerErr := make(chan error, 1)
	go func() {
		err := playPeer(ctx, b, tr.Records, ours)
		if err != nil {
			b.Close() // unblock our side
		}
		peerErr <- err
	}()
	err = session(ctx, conn, client, e.party, profile.MustDescribe(tr.Profile))
	a.Close() // ends the peer's wait for more records
	if perr := <-peerErr; perr != nil {
		return perr // the first divergence on the wire explains the rest
	}
	if err != nil {
		return err
	}
	if got := tls13.CipherSuiteName(conn.ConnectionState().CipherSuite); got != tr.CipherSuite {
		return fmt.Errorf("cipher suite %s, the trace has %s", got, tr.CipherSuite)
	}
	if err := compareMessages(tr.Messages, ours, st.sent, st.received); err != nil {
		return err
	}
	secrets, err := secretsOf(tr, st.secrets)
	if err != nil {
		return err
	}
	if err := compareValues("secret", secrets, tr.Secrets); err != nil {
		return err
	}
	if n := e.nonces.Len(); n != 0 {
		return fmt.Errorf("the %s verifier issued %d bytes fewer nonces than the trace lists", ours, n)
	}
	if n := e.contexts.Len(); n != 0 {
		return fmt.Errorf("the %s used %d bytes fewer authenticator contexts than the trace lists", ours, n)
	}
	if err := compareExported(tr, conn); err != nil {
		return err
	}
	return compareAttestations(tr, client, e)
}

// playPeer plays the side that is not ours: it writes that side's records
// and reads ours, each in trace order, comparing them byte for byte; then
// any further record from our side is one the trace does not have. Its
// writes go through a queue, so an alert our side sends while the peer is
// still writing is read rather than deadlocking the pipe.
func playPeer(ctx context.Context, c net.Conn, records []Record, ours string) error {
	if d, ok := ctx.Deadline(); ok {
		c.SetDeadline(d)
	}
	out := make(chan []byte, len(records))
	defer close(out)
	go func() {
		for b := range out {
			if _, err := c.Write(b); err != nil {
				return // our side stopped reading; its error explains why
			}
		}
	}()
	for i, r := range records {
		if r.Sender != ours {
			out <- r.Hex
			continue
		}
		got, err := readRecord(c)
		if err != nil {
			return fmt.Errorf("record %d (%s %s): %w", i, r.Sender, r.ContentType, err)
		}
		if !bytes.Equal(got, r.Hex) {
			return fmt.Errorf("record %d (%s %s %s seq %d) differs:\n got %x\nwant %x", i, r.Sender, r.Protection, r.ContentType, r.Sequence, got, []byte(r.Hex))
		}
	}
	if got, err := readRecord(c); err == nil {
		return fmt.Errorf("our side sent a record the trace does not have: %x", got)
	}
	return nil
}

func readRecord(c net.Conn) ([]byte, error) {
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(c, hdr); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint16(hdr[3:]))
	if _, err := io.ReadFull(c, body); err != nil {
		return nil, err
	}
	return append(hdr, body...), nil
}

func compareMessages(want []Message, ours string, sent, received [][]byte) error {
	var wantSent, wantReceived [][]byte
	for _, m := range want {
		if m.Sender == ours {
			wantSent = append(wantSent, m.Hex)
		} else {
			wantReceived = append(wantReceived, m.Hex)
		}
	}
	for _, d := range []struct {
		what      string
		got, want [][]byte
	}{{"sent", sent, wantSent}, {"received", received, wantReceived}} {
		if len(d.got) != len(d.want) {
			return fmt.Errorf("%s %d handshake messages, the trace has %d", d.what, len(d.got), len(d.want))
		}
		for i := range d.want {
			if !bytes.Equal(d.got[i], d.want[i]) {
				return fmt.Errorf("%s handshake message %d (%s) differs:\n got %x\nwant %x", d.what, i, messageType(d.want[i][0]), d.got[i], d.want[i])
			}
		}
	}
	return nil
}

func compareValues(what string, got, want []Value) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d %ss, the trace has %d", len(got), what, len(want))
	}
	for i := range want {
		if got[i].Name != want[i].Name || !bytes.Equal(got[i].Hex, want[i].Hex) {
			return fmt.Errorf("%s %d: got %s=%x, the trace has %s=%x", what, i, got[i].Name, []byte(got[i].Hex), want[i].Name, []byte(want[i].Hex))
		}
	}
	return nil
}

func sameJSON(what string, got, want any) error {
	g, err := json.Marshal(got)
	if err != nil {
		return err
	}
	w, err := json.Marshal(want)
	if err != nil {
		return err
	}
	if !bytes.Equal(g, w) {
		return fmt.Errorf("%s differs:\n got %s\nwant %s", what, g, w)
	}
	return nil
}

func attestationBy(tr *Trace, attester string) (Attestation, bool) {
	for _, a := range tr.Attestations {
		if a.Attester == attester {
			return a, true
		}
	}
	return Attestation{}, false
}

// compareAttestations checks what our side produced off the wire: as
// attester, its challenge and evidence (and, for a passport, the EAR its
// verifier issued); as a background-check relying party, the EAR its
// verifier issued for the peer's evidence.
func compareAttestations(tr *Trace, client bool, e *endpoint) error {
	c := Case{Profile: tr.Profile, Model: tr.Model}
	if c.attests(client) {
		want, ok := attestationBy(tr, sideName(client))
		if !ok {
			return fmt.Errorf("the trace has no attestation by the %s", sideName(client))
		}
		if len(e.attester.calls) != 1 {
			return fmt.Errorf("our attester produced %d pieces of evidence, want 1", len(e.attester.calls))
		}
		call := e.attester.calls[0]
		ch, err := challengeOf(call.ch)
		if err != nil {
			return err
		}
		if n := challengeNonce(tr, client); n != nil {
			ch.Nonce = n
		}
		if err := sameJSON("our attester's challenge", ch, want.Challenge); err != nil {
			return err
		}
		ev, err := evidenceOf(call.ev)
		if err != nil {
			return err
		}
		if err := sameJSON("our evidence", ev, want.Evidence); err != nil {
			return err
		}
		if c.topology(client) == party.Passport {
			if err := sameEAR(e.verifier, call.ev.Data, want.EAR.JWT); err != nil {
				return err
			}
		}
	}
	if c.attests(!client) && c.topology(!client) == party.BackgroundCheck {
		want, ok := attestationBy(tr, sideName(!client))
		if !ok {
			return fmt.Errorf("the trace has no attestation by the %s", sideName(!client))
		}
		if err := sameEAR(e.verifier, want.Evidence.Hex, want.EAR.JWT); err != nil {
			return err
		}
		// The relying party binds the same value; it may not know the
		// attested key beforehand (attestation-only credentials).
		for _, ap := range e.verifier.calls {
			if !bytes.Equal(ap.ev.Data, want.Evidence.Hex) {
				continue
			}
			ch, err := challengeOf(ap.ch)
			if err != nil {
				return err
			}
			if len(ch.TIK) == 0 {
				ch.TIK = want.Challenge.TIK
			}
			if err := sameJSON("our verifier's challenge", ch, want.Challenge); err != nil {
				return err
			}
		}
	}
	return nil
}

// compareExported checks our engine's own exporter against each
// exchange's exported_value: the binding's input, from the live
// connection rather than from the trace's exporter_master_secret.
func compareExported(tr *Trace, conn *tls13.Conn) error {
	if tr.PostHandshake == nil {
		return nil
	}
	for _, x := range tr.PostHandshake.Exchanges {
		label, want := valueOf(x.Values, "label"), valueOf(x.Values, "exported_value")
		got, err := conn.ExportKeyingMaterial(string(label), x.CertificateRequestContext, len(want))
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("our exporter gives %x for the %s's request, the trace has %x", got, x.Requester, want)
		}
	}
	return nil
}

func sameEAR(v *recordingVerifier, evidence []byte, want string) error {
	for _, ap := range v.calls {
		if bytes.Equal(ap.ev.Data, evidence) {
			if string(ap.ear) != want {
				return fmt.Errorf("our verifier's EAR differs:\n got %s\nwant %s", ap.ear, want)
			}
			return nil
		}
	}
	return errors.New("our verifier never appraised the trace's evidence")
}

// Consistent checks a trace against itself: message headers, transcript
// hashes, record protection under the published keys, application data,
// and each attestation against the Certificate message, the attester's
// endorsement and the verifier's key.
func Consistent(tr *Trace) error {
	cs, err := suiteByName(tr.CipherSuite)
	if err != nil {
		return err
	}
	for i, m := range tr.Messages {
		if len(m.Hex) < 4 || int(m.Hex[1])<<16|int(m.Hex[2])<<8|int(m.Hex[3]) != len(m.Hex)-4 || messageType(m.Hex[0]) != m.Type {
			return fmt.Errorf("message %d is not a whole %s", i, m.Type)
		}
		if m.Sender != "client" && m.Sender != "server" {
			return fmt.Errorf("message %d: sender %q", i, m.Sender)
		}
	}
	th, err := transcriptHashes(cs, tr.Messages)
	if err != nil {
		return err
	}
	if err := compareValues("transcript hash", th, tr.TranscriptHashes); err != nil {
		return err
	}
	var logged []loggedBytes
	for _, r := range tr.Records {
		logged = append(logged, loggedBytes{client: r.Sender == "client", b: r.Hex})
	}
	recs, err := recordsOf(cs, logged, tr.Secrets)
	if err != nil {
		return err
	}
	if err := sameJSON("records", recs, tr.Records); err != nil {
		return err
	}
	// The handshake records carry exactly the messages, in order.
	for _, side := range []string{"client", "server"} {
		var fromRecords, fromMessages []byte
		for _, r := range tr.Records {
			if r.Sender == side && r.ContentType == "handshake" {
				fromRecords = append(fromRecords, r.Content...)
			}
		}
		for _, m := range tr.Messages {
			if m.Sender == side {
				fromMessages = append(fromMessages, m.Hex...)
			}
		}
		if !bytes.Equal(fromRecords, fromMessages) {
			return fmt.Errorf("the %s's handshake records do not carry its messages", side)
		}
	}
	post, err := postHandshake(tr)
	if err != nil {
		return err
	}
	var frames []Frame
	switch {
	case post && tr.PostHandshake == nil:
		return errors.New("a post-handshake profile's trace without post_handshake")
	case !post && tr.PostHandshake != nil:
		return errors.New("post_handshake in a trace of an in-handshake profile")
	case post:
		ph, err := postHandshakeOf(tr)
		if err != nil {
			return err
		}
		if err := sameJSON("post_handshake", ph, tr.PostHandshake); err != nil {
			return err
		}
		frames = ph.Frames
	}
	if err := sameJSON("application data", appDataOf(tr.Records, frames, post), tr.ApplicationData); err != nil {
		return err
	}
	return consistentAttestations(tr)
}

func consistentAttestations(tr *Trace) error {
	c := Case{Profile: tr.Profile, Model: tr.Model}
	table, err := codepointsOf(tr.Codepoints)
	if err != nil {
		return err
	}
	vk, err := newVerifier(tr.Inputs.Verifier, time.Time{}, nil)
	if err != nil {
		return err
	}
	n := 0
	for _, client := range []bool{false, true} {
		if !c.attests(client) {
			continue
		}
		n++
		a, ok := attestationBy(tr, sideName(client))
		if !ok {
			return fmt.Errorf("no attestation by the %s", sideName(client))
		}
		ep := tr.Inputs.Server
		if client {
			ep = tr.Inputs.Client
		}
		if ep.Attester == nil {
			return fmt.Errorf("inputs.%s has no attester", sideName(client))
		}
		payload, err := cmwIn(c, client, table, attesterCertificate(tr, client))
		if err != nil {
			return err
		}
		if !bytes.Equal(payload, a.CMW) {
			return fmt.Errorf("the %s's attestation.cmw is not what its Certificate carries", sideName(client))
		}
		msg, err := cmw.Unwrap(payload)
		if err != nil {
			return err
		}
		if msg.Format.String() != a.CMWFormat || msg.Type.String() != a.CMWType {
			return fmt.Errorf("the %s's CMW is a %s of %s, the trace says %s of %s", sideName(client), msg.Format, msg.Type, a.CMWFormat, a.CMWType)
		}
		inner := []byte(a.Evidence.Hex)
		if a.Topology == Passport {
			inner = []byte(a.EAR.JWT)
		}
		if !bytes.Equal(msg.Value, inner) {
			return fmt.Errorf("the %s's CMW does not carry its %s", sideName(client), a.Topology)
		}
		ev, err := evidenceOf(attest.Evidence{MediaType: a.Evidence.MediaType, Data: a.Evidence.Hex})
		if err != nil {
			return err
		}
		if err := sameJSON("evidence tokens", ev, a.Evidence); err != nil {
			return err
		}
		sw, err := newAttester(ep.Attester)
		if err != nil {
			return err
		}
		pev, _ := parsectpm.Decode(a.Evidence.Hex)
		qd := a.Challenge.Binder
		if len(qd) == 0 {
			qd = a.Challenge.Nonce
		}
		if !bytes.Equal(qd, a.Challenge.QualifyingData) {
			return fmt.Errorf("the %s's qualifying_data is neither its binder nor its nonce", sideName(client))
		}
		if err := parsectpm.Verify(pev, sw.Endorsement(), a.Challenge.QualifyingData, sw.Identity().Public()); err != nil {
			return fmt.Errorf("the %s's evidence does not verify against its inputs: %w", sideName(client), err)
		}
		res, err := result.Verify([]byte(a.EAR.JWT), []attest.TrustedVerifier{vk.v.Trusted()})
		if err != nil {
			return fmt.Errorf("the %s's EAR: %w", sideName(client), err)
		}
		claims, err := earOf([]byte(a.EAR.JWT))
		if err != nil {
			return err
		}
		if err := sameJSON("EAR claims", canonical(claims.Claims), canonical(a.EAR.Claims)); err != nil {
			return err
		}
		if qd := a.Challenge.QualifyingData; len(qd) >= 8 && len(qd) <= 64 && !bytes.Equal(res.Nonce, qd) {
			return fmt.Errorf("the %s's EAR eat_nonce is not the qualifying data", sideName(client))
		}
	}
	if n != len(tr.Attestations) {
		return fmt.Errorf("%d attestations, the model has %d", len(tr.Attestations), n)
	}
	return nil
}

// canonical decodes JSON text so that two spellings of one value compare
// equal once re-encoded (encoding/json sorts object keys).
func canonical(raw json.RawMessage) any {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return string(raw)
	}
	return v
}
