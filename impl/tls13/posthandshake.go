package tls13

import (
	"context"
	"errors"
	"io"
)

// handlePostHandshake processes the complete handshake messages in hsIn
// after the handshake (RFC 8446 §4.6). Called with inMu held.
func (c *Conn) handlePostHandshake() error {
	for len(c.hsIn) >= 4 {
		n := int(c.hsIn[1])<<16 | int(c.hsIn[2])<<8 | int(c.hsIn[3])
		if n > maxHandshakeLength {
			return Alertf(AlertUnexpectedMessage, "handshake message of %d bytes", n)
		}
		if len(c.hsIn) < 4+n {
			return nil // the rest arrives in later records
		}
		raw := append([]byte(nil), c.hsIn[:4+n]...)
		c.hsIn = c.hsIn[4+n:]
		if c.config.Trace != nil {
			c.config.Trace.Message(false, raw)
		}
		var err error
		switch raw[0] {
		case typeNewSessionTicket:
			if !c.isClient {
				return Alertf(AlertUnexpectedMessage, "NewSessionTicket from a client")
			}
			// The engine does not resume sessions: a valid ticket is dropped.
			_, err = c.parseMessage(raw)
		case typeKeyUpdate:
			err = c.handleKeyUpdate(raw)
		case typeCertificateRequest:
			if !c.isClient || !c.offeredPHA {
				return Alertf(AlertUnexpectedMessage, "post-handshake CertificateRequest not offered")
			}
			err = c.answerPostHandshakeCertificateRequest(raw)
		default:
			return Alertf(AlertUnexpectedMessage, "post-handshake message of type %d", raw[0])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *Conn) handleKeyUpdate(raw []byte) error {
	var m keyUpdateMsg
	if err := m.unmarshal(raw); err != nil {
		return err
	}
	if err := c.requireKeyChangeBoundary(); err != nil {
		return err
	}
	c.in.setTrafficSecret(c, c.suite, nextTrafficSecret(c.suite.hash, c.in.secret), c.peerSide()+"_application")
	if m.updateRequested {
		return c.sendKeyUpdate(false)
	}
	return nil
}

func (c *Conn) peerSide() string {
	if c.isClient {
		return "server"
	}
	return "client"
}

func (c *Conn) ourSide() string {
	if c.isClient {
		return "client"
	}
	return "server"
}

// KeyUpdate updates our traffic keys (RFC 8446 §4.6.3), asking the peer to
// update theirs too when requestPeer is set.
func (c *Conn) KeyUpdate(requestPeer bool) error {
	if !c.handshakeDone.Load() {
		return errors.New("tls13: KeyUpdate before the handshake completed")
	}
	return c.sendKeyUpdate(requestPeer)
}

func (c *Conn) sendKeyUpdate(requestPeer bool) error {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if c.writeErr != nil {
		return c.writeErr
	}
	raw, err := (&keyUpdateMsg{updateRequested: requestPeer}).marshal()
	if err != nil {
		return err
	}
	c.writeHandshake(raw)
	if err := c.flush(); err != nil {
		return err
	}
	c.out.setTrafficSecret(c, c.suite, nextTrafficSecret(c.suite.hash, c.out.secret), c.ourSide()+"_application")
	return nil
}

// postHandshakeState returns a handshake state for an exchange after the
// handshake: the transcript continues from the client's Finished.
func (c *Conn) postHandshakeState(ctx context.Context) *handshakeState {
	st := &handshakeState{c: c, ctx: ctx, hooks: c.hooks, transcript: c.transcript.clone()}
	hs := *c.hookState
	hs.ctx, hs.transcript, hs.postHandshake = ctx, st.transcript, true
	hs.sentCertificateRequest, hs.peerRequestedCert = false, false
	st.hs = &hs
	return st
}

// answerPostHandshakeCertificateRequest sends the client's Certificate,
// CertificateVerify and Finished for a post-handshake CertificateRequest.
// Called with inMu held, from Read.
func (c *Conn) answerPostHandshakeCertificateRequest(raw []byte) error {
	m, err := c.parseMessage(raw)
	if err != nil {
		return err
	}
	cr := m.(*certificateRequestMsg)
	st := c.postHandshakeState(context.Background())
	st.transcript.write(raw)
	st.hs.peerRequestedCert = true
	if err := hookError(st.hooks.ReadCertificateRequest(st.hs, cr.exts)); err != nil {
		return err
	}
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if err := st.sendClientCertificate(cr); err != nil {
		return err
	}
	if err := st.sendFinished(c.out.secret); err != nil {
		return err
	}
	return c.flush()
}

// RequestClientCertificate sends a post-handshake CertificateRequest
// (RFC 8446 §4.6.2) and waits, within ctx, for the client's answer.
// Application data arriving meanwhile is kept for Read. Call it while no
// Read is in progress.
func (c *Conn) RequestClientCertificate(ctx context.Context) error {
	if c.isClient || !c.handshakeDone.Load() {
		return errors.New("tls13: RequestClientCertificate is for a server after its handshake")
	}
	if !c.peerOfferedPHA {
		return errors.New("tls13: the client did not offer post_handshake_auth")
	}
	c.postHandshakeAuth.Lock()
	defer c.postHandshakeAuth.Unlock()
	st := c.postHandshakeState(ctx)
	context := make([]byte, 8)
	if _, err := io.ReadFull(c.config.rand(), context); err != nil {
		return err
	}
	cr, err := st.certificateRequest(context)
	if err != nil {
		return c.fail(err)
	}
	st.transcript.write(cr.raw)
	c.outMu.Lock()
	c.writeHandshake(cr.raw)
	err = c.flush()
	c.outMu.Unlock()
	if err != nil {
		return c.fail(err)
	}
	stop := c.watchContext(ctx)
	defer stop()
	c.inMu.Lock()
	defer c.inMu.Unlock()
	if err := c.readPostHandshakeAuth(st, context); err != nil {
		c.inMu.Unlock()
		err = c.fail(err)
		c.inMu.Lock()
		return err
	}
	return nil
}

func (c *Conn) readPostHandshakeAuth(st *handshakeState, context []byte) error {
	// Read messages through readHandshakeBytes with application data allowed.
	next := func(want uint8) (handshakeMessage, error) {
		raw, err := c.readHandshakeBytes(true)
		if err != nil {
			return nil, err
		}
		if raw[0] != want {
			return nil, Alertf(AlertUnexpectedMessage, "got handshake message type %d, want %d", raw[0], want)
		}
		m, err := c.parseMessage(raw)
		if err != nil {
			return nil, err
		}
		st.transcript.write(raw)
		return m, nil
	}
	st.next = next
	defer func() { st.next = nil }()
	if err := st.readClientCertificate(context); err != nil {
		return err
	}
	return st.readFinished(c.in.secret)
}

// WriteSessionTicket sends a NewSessionTicket (server only). The engine
// does not resume sessions; this exists so traces that contain a ticket
// (RFC 8448 §3) and peers' ticket handling can be reproduced.
func (c *Conn) WriteSessionTicket(lifetime, ageAdd uint32, nonce, ticket []byte, exts []Extension) error {
	if c.isClient || !c.handshakeDone.Load() {
		return errors.New("tls13: WriteSessionTicket is for a server after its handshake")
	}
	raw, err := (&newSessionTicketMsg{lifetime: lifetime, ageAdd: ageAdd, nonce: nonce, ticket: ticket, exts: exts}).marshal()
	if err != nil {
		return err // nothing was sent: the connection goes on
	}
	c.outMu.Lock()
	defer c.outMu.Unlock()
	c.writeHandshake(raw)
	return c.flush()
}
