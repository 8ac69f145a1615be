package handshake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/attested-tls/conformance/impl/attest/codepoint"
	"github.com/attested-tls/conformance/impl/attest/evidence/parsectpm"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/impl/tls13"
)

// Application data each side writes once the handshake is done.
const (
	Ping = "ping from the client"
	Pong = "pong from the server"
)

// Timeout bounds one handshake and its application data exchange.
const Timeout = 20 * time.Second

// wireLog keeps what both sides sent, in one order: every record and
// message is logged before it is written, so the log is causal.
type wireLog struct {
	mu       sync.Mutex
	records  []loggedBytes
	messages []loggedBytes
}

type loggedBytes struct {
	client bool
	b      []byte
	// after is how many records the sender had read when it sent this
	// one: what a canonical order of both directions must put first.
	after int
}

// sideTrace is one side's tls13.Trace: it logs what the side sends to the
// shared log and keeps the side's own view.
type sideTrace struct {
	client bool
	log    *wireLog
	mu     sync.Mutex
	// secrets in the order the side derived them.
	secrets  []Value
	sent     [][]byte
	received [][]byte
	records  [][]byte // sent
	read     int      // records received
}

func (t *sideTrace) Message(sent bool, raw []byte) {
	b := slices.Clone(raw)
	t.mu.Lock()
	if sent {
		t.sent = append(t.sent, b)
	} else {
		t.received = append(t.received, b)
	}
	t.mu.Unlock()
	if sent && t.log != nil {
		t.log.mu.Lock()
		t.log.messages = append(t.log.messages, loggedBytes{client: t.client, b: b})
		t.log.mu.Unlock()
	}
}

func (t *sideTrace) Record(sent bool, raw []byte) {
	t.mu.Lock()
	if !sent {
		t.read++
		t.mu.Unlock()
		return
	}
	b := slices.Clone(raw)
	t.records = append(t.records, b)
	after := t.read
	t.mu.Unlock()
	if t.log != nil {
		t.log.mu.Lock()
		t.log.records = append(t.log.records, loggedBytes{t.client, b, after})
		t.log.mu.Unlock()
	}
}

func (t *sideTrace) Secret(name string, v []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.secrets {
		if s.Name == name {
			return // derived again (a second hook call): same value, first position
		}
	}
	t.secrets = append(t.secrets, Value{Name: name, Hex: slices.Clone(v)})
}

func (t *sideTrace) secret(name string) []byte {
	for _, s := range t.secrets {
		if s.Name == name {
			return s.Hex
		}
	}
	return nil
}

// session runs one side's part: the handshake, one write and one read of
// application data, then the closure in a fixed order (the client's
// close_notify first), so the records of both directions have one causal
// order.
// A post-handshake profile's attestation (Descriptor.Attest on p) runs
// between the handshake and the application data, which then flows on
// the stream it returns.
func session(ctx context.Context, c *tls13.Conn, client bool, p *party.Party, d party.Descriptor) error {
	if err := c.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("%s handshake: %w", sideName(client), err)
	}
	if d, ok := ctx.Deadline(); ok {
		c.SetDeadline(d)
	}
	var rw io.ReadWriter = c
	if d.Phase == party.PostHandshake {
		var err error
		if rw, err = d.Attest(ctx, c, client, p); err != nil {
			return fmt.Errorf("%s attestation: %w", sideName(client), err)
		}
	}
	want, send := Ping, Pong
	if client {
		want, send = Pong, Ping
		if _, err := rw.Write([]byte(send)); err != nil {
			return err
		}
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(rw, got); err != nil {
		return fmt.Errorf("%s reading application data: %w", sideName(client), err)
	}
	if string(got) != want {
		return fmt.Errorf("%s read %q, want %q", sideName(client), got, want)
	}
	if !client {
		if _, err := rw.Write([]byte(send)); err != nil {
			return err
		}
	} else if err := c.CloseWrite(); err != nil {
		return err
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: expected the peer's close_notify, got %v", sideName(client), err)
	}
	if !client {
		if err := c.CloseWrite(); err != nil {
			return err
		}
	}
	return nil
}

// outcome is one generated run.
type outcome struct {
	log       *wireLog
	traces    map[bool]*sideTrace
	endpoints map[bool]*endpoint
	states    map[bool]tls13.ConnectionState
}

// runBoth runs tr's client and server, both built from tr's inputs,
// against each other.
func runBoth(tr *Trace) (*outcome, error) {
	o := &outcome{log: &wireLog{}, traces: map[bool]*sideTrace{}, endpoints: map[bool]*endpoint{}, states: map[bool]tls13.ConnectionState{}}
	for _, client := range []bool{false, true} {
		o.traces[client] = &sideTrace{client: client, log: o.log}
		e, err := build(tr, client, o.traces[client])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sideName(client), err)
		}
		o.endpoints[client] = e
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	d := profile.MustDescribe(tr.Profile)
	// After a post-handshake profile's handshake both sides write before
	// they read (each its request); a synchronous pipe would deadlock.
	a, b := net.Pipe()
	if d.Phase == party.PostHandshake {
		a, b = bufferedPipe()
	}
	defer a.Close()
	defer b.Close()
	conns := map[bool]*tls13.Conn{true: tls13.Client(a, o.endpoints[true].cfg), false: tls13.Server(b, o.endpoints[false].cfg)}
	errs := make(chan error, 2)
	for _, client := range []bool{false, true} {
		go func() {
			err := session(ctx, conns[client], client, o.endpoints[client].party, d)
			if err != nil {
				// Unblock the other side.
				a.Close()
				b.Close()
			}
			errs <- err
		}()
	}
	var err error
	for range 2 {
		err = errors.Join(err, <-errs)
	}
	if err != nil {
		return nil, err
	}
	for client, c := range conns {
		o.states[client] = c.ConnectionState()
	}
	return o, nil
}

// Generate produces the trace of case c.
func Generate(c Case) (*Trace, error) {
	in, err := deriveInputs(c)
	if err != nil {
		return nil, fmt.Errorf("%s: inputs: %w", c.ID(), err)
	}
	table := codepoint.Default()
	codepoint.RegisterAlertNames(table)
	cps, err := table.MarshalJSON()
	if err != nil {
		return nil, err
	}
	tr := &Trace{ID: c.ID(), Profile: c.Profile, Draft: profile.MustDescribe(c.Profile).Title, Description: c.Description(),
		Model: c.Model, Codepoints: cps, Inputs: in}
	o, err := runBoth(tr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.ID(), err)
	}
	if err := o.fill(tr, c, table); err != nil {
		return nil, fmt.Errorf("%s: %w", c.ID(), err)
	}
	return tr, nil
}

// fill completes tr from a generated run.
func (o *outcome) fill(tr *Trace, c Case, table codepoint.Table) error {
	// Keep the nonces each side's verifier issued.
	for _, client := range []bool{false, true} {
		ep := &tr.Inputs.Server
		if client {
			ep = &tr.Inputs.Client
		}
		n, size := o.endpoints[client].nonces, tr.Inputs.Verifier.NonceSize
		used := int(n.Size()) - n.Len()
		if used%size != 0 || (used > 0 && used == int(n.Size())) {
			return fmt.Errorf("%s verifier read %d bytes of %d spare nonces", sideName(client), used, spareNonces)
		}
		ep.VerifierNonces = ep.VerifierNonces[:used/size]
		if n := o.endpoints[client].contexts.Len(); n != 0 {
			return fmt.Errorf("the %s left %d bytes of its authenticator contexts unused", sideName(client), n)
		}
		// The relying party side must have accepted the peer's attestation.
		if c.attests(!client) {
			out, ok := party.PeerOutcome(o.states[client])
			if !ok || out.Reason != "" || out.Result == nil {
				return fmt.Errorf("%s did not accept the peer's attestation: %+v", sideName(client), out)
			}
		}
	}
	cs := o.states[true].CipherSuite
	tr.CipherSuite = tls13.CipherSuiteName(cs)
	tr.Group = "x25519"
	if o.states[true].Group != tls13.X25519 {
		return fmt.Errorf("negotiated group %v, want x25519", o.states[true].Group)
	}
	for _, m := range o.log.messages {
		tr.Messages = append(tr.Messages, Message{Sender: sideName(m.client), Type: messageType(m.b[0]), Hex: m.b})
	}
	// Both sides must agree on every secret they both derived.
	srv, cli := o.traces[false], o.traces[true]
	for _, s := range srv.secrets {
		if v := cli.secret(s.Name); v != nil && !bytes.Equal(v, s.Hex) {
			return fmt.Errorf("secret %s differs between client and server", s.Name)
		}
	}
	post, err := postHandshake(tr)
	if err != nil {
		return err
	}
	verifiers := map[bool]*recordingVerifier{false: o.endpoints[false].verifier, true: o.endpoints[true].verifier}
	attestations := func() error {
		for _, client := range []bool{false, true} {
			if !c.attests(client) {
				continue
			}
			cert := attesterCertificate(tr, client)
			if cert == nil {
				return fmt.Errorf("the %s sent no Certificate", sideName(client))
			}
			a, err := attestationOf(c, client, table, cert, o.endpoints[client].attester, verifiers, selected(c, client, tr.Inputs))
			if err != nil {
				return err
			}
			if n := challengeNonce(tr, client); n != nil {
				a.Challenge.Nonce = n
			}
			tr.Attestations = append(tr.Attestations, a)
		}
		return nil
	}
	// An in-handshake profile's secrets derive from its attestations'
	// nonces; a post-handshake one's attestations are in its records.
	if !post {
		if err := attestations(); err != nil {
			return err
		}
	}
	if tr.TranscriptHashes, err = transcriptHashes(cs, tr.Messages); err != nil {
		return err
	}
	if tr.Secrets, err = secretsOf(tr, merged(srv, cli)); err != nil {
		return err
	}
	logged := o.log.records
	if post {
		if logged, err = causalOrder(logged); err != nil {
			return err
		}
	}
	if tr.Records, err = recordsOf(cs, logged, tr.Secrets); err != nil {
		return err
	}
	var frames []Frame
	if post {
		if tr.PostHandshake, err = postHandshakeOf(tr); err != nil {
			return err
		}
		frames = tr.PostHandshake.Frames
		if err := attestations(); err != nil {
			return err
		}
	}
	tr.ApplicationData = appDataOf(tr.Records, frames, post)
	return nil
}

// merged is the server's secrets followed by any only the client derived.
func merged(srv, cli *sideTrace) []Value {
	out := slices.Clone(srv.secrets)
	for _, s := range cli.secrets {
		if srv.secret(s.Name) == nil {
			out = append(out, s)
		}
	}
	return out
}

func certificateOf(msgs []Message, sender string) []byte {
	for _, m := range msgs {
		if m.Sender == sender && m.Type == "certificate" {
			return m.Hex
		}
	}
	return nil
}

var messageTypes = map[uint8]string{1: "client_hello", 2: "server_hello", 4: "new_session_ticket", 5: "end_of_early_data",
	8: "encrypted_extensions", 11: "certificate", 13: "certificate_request", 15: "certificate_verify", 20: "finished",
	24: "key_update"}

func messageType(t uint8) string {
	if n, ok := messageTypes[t]; ok {
		return n
	}
	return fmt.Sprintf("handshake(%d)", t)
}

// selected names what the handshake negotiated for side client's
// attestation, in the draft's terms (verifier identities in hex).
func selected(c Case, client bool, in Inputs) string {
	return c.describe().Selected(c.side(client), parsectpm.MediaType, in.Verifier.Identity)
}
