package attack

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/crypto/cryptobyte"

	"github.com/attested-tls/conformance/impl/attest/eaframe"
	"github.com/attested-tls/conformance/impl/attest/party"
	"github.com/attested-tls/conformance/impl/attest/profile"
	"github.com/attested-tls/conformance/impl/attest/profile/xp03"
	"github.com/attested-tls/conformance/impl/tls13"
	"github.com/attested-tls/conformance/suite/harness"
	"github.com/attested-tls/conformance/suite/harness/wire"
)

// Where the attestation follows the handshake (party.PostHandshake), the
// attacker sees the same messages inside the suite's frames on the
// application stream of the connections it terminates: the relying
// party's authenticator request, and the attester's authenticator
// (Certificate, CertificateVerify, Finished; RFC 9261 §5.2). Reading
// them there gives it what it reads from a handshake flight elsewhere,
// no more: the frames travel inside TLS, like the handshake's Certificate.

// postHandshake says m's attestation travels after the handshake.
func postHandshake(m party.Model) bool {
	d, err := profile.Describe(m.Profile)
	return err == nil && d.Phase == party.PostHandshake
}

// Flight is what the attester of m (the client, or the server) sent for
// its attestation in r: its handshake flight, or where the attestation
// follows the handshake, its authenticator's messages, read from the
// frames the attester sent or, for an attester seen only through the
// relying party (harness.Result.Foreign), the frames the relying party
// received.
func Flight(m party.Model, r *harness.Result) (wire.Flight, error) {
	client := m.Client.Attests
	if !postHandshake(m) {
		if client {
			return r.ClientSent, nil
		}
		return r.ServerSent, nil
	}
	cs, sent := r.Server, true
	if client {
		cs = r.Client
	}
	if r.Foreign {
		// Both states are the reference's: the relying party's, which
		// received the attester's frames.
		cs, sent = r.Client, false
		if client {
			cs = r.Server
		}
	}
	return AuthenticatorFlight(cs, sent)
}

// AuthenticatorFlight splits the first authenticator frame cs sent (sent)
// or received into its handshake messages.
func AuthenticatorFlight(cs tls13.ConnectionState, sent bool) (wire.Flight, error) {
	for _, f := range xp03.Frames(cs) {
		if f.Sent == sent && f.Frame.Type == eaframe.Authenticator {
			return splitMessages(f.Frame.Body)
		}
	}
	return nil, errors.New("attack: no authenticator frame on the connection")
}

// splitMessages cuts concatenated handshake messages at their headers.
func splitMessages(b []byte) (wire.Flight, error) {
	s := cryptobyte.String(b)
	var out wire.Flight
	for !s.Empty() {
		var typ uint8
		var body cryptobyte.String
		if !s.ReadUint8(&typ) || !s.ReadUint24LengthPrefixed(&body) {
			return nil, fmt.Errorf("attack: malformed authenticator")
		}
		m := append(wire.Message{typ, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
		out = append(out, m)
	}
	return out, nil
}

// Requests watches the frames of the attacker's connection with the
// victim, through the hook values the profile keeps them in.
type Requests struct {
	mu     sync.Mutex
	values map[string]any
}

// Watch makes the attacker's endpoint c, configured by its profile, keep
// its connection's values for q once its handshake is done.
func (q *Requests) Watch(c *tls13.Config) { c.NewHooks = q.hooks(c.NewHooks) }

func (q *Requests) hooks(next func() tls13.Hooks) func() tls13.Hooks {
	return func() tls13.Hooks {
		var h tls13.Hooks = tls13.NoHooks{}
		if next != nil {
			h = next()
		}
		return valuesHooks{Hooks: h, q: q}
	}
}

type valuesHooks struct {
	tls13.Hooks
	q *Requests
}

func (h valuesHooks) HandshakeDone(hs *tls13.HookState) error {
	h.q.mu.Lock()
	h.q.values = hs.Values
	h.q.mu.Unlock()
	return h.Hooks.HandshakeDone(hs)
}

// Context is the certificate_request_context of the last authenticator
// request the victim sent the attacker (nil before any): the victim's
// nonce in a background check, which the attacker may put in its own
// requests to the genuine attester as any relying party may.
func (q *Requests) Context() []byte {
	q.mu.Lock()
	values := q.values
	q.mu.Unlock()
	var ctx []byte
	for _, f := range xp03.Frames(tls13.ConnectionState{Values: values}) {
		if !f.Sent && f.Frame.Type == eaframe.AuthenticatorRequest {
			if c, err := tls13.AuthenticatorRequestContext(f.Frame.Body); err == nil {
				ctx = c
			}
		}
	}
	return ctx
}
