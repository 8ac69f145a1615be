package tls13

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Conn is a TLS 1.3 connection over a net.Conn. Reads and writes may run
// concurrently with each other; the handshake runs once, on the first
// Read, Write or HandshakeContext.
type Conn struct {
	conn     net.Conn
	config   *Config
	isClient bool

	handshakeMu   sync.Mutex
	handshakeErr  error
	handshakeDone atomic.Bool

	inMu                sync.Mutex
	in                  halfConn
	hsIn                []byte // handshake bytes not yet parsed into a message
	appIn               []byte // application data not yet read
	closeNotifyReceived bool
	readErr             error // sticky

	outMu    sync.Mutex
	out      halfConn
	hsOut    []byte // handshake messages waiting for the next flush
	writeErr error  // sticky
	failOnce sync.Once
	failErr  error

	// Negotiated state, written during the handshake.
	helloSeen        bool // the first ClientHello was sent (client) or received (server)
	suite            *cipherSuite
	group            CurveID
	clientRandom     []byte
	serverName       string
	alpn             string
	helloRetried     bool
	peerCert         *PeerCertificate
	clientCertType   CertificateType
	serverCertType   CertificateType
	ks               *keySchedule
	exporterSecret   []byte
	earlyExporter    []byte
	resumptionSecret []byte

	// For post-handshake authentication (RFC 8446 §4.6.2).
	transcript        *transcriptHash // through the client's Finished
	hooks             Hooks
	hookState         *HookState
	offeredPHA        bool // client sent post_handshake_auth
	peerOfferedPHA    bool // server saw it
	postHandshakeAuth sync.Mutex

	// For spontaneous exported authenticators (RFC 9261 §5.2): the
	// extension types and signature_algorithms of the ClientHello the
	// handshake completed with (sent, on a client; received, on a server).
	helloExts    []uint16
	helloSigAlgs []SignatureScheme
	ea           authenticatorState
}

// Client returns a client-side Conn over conn.
func Client(conn net.Conn, config *Config) *Conn {
	return &Conn{conn: conn, config: config, isClient: true}
}

// Server returns a server-side Conn over conn.
func Server(conn net.Conn, config *Config) *Conn {
	return &Conn{conn: conn, config: config}
}

// Handshake runs the handshake with no deadline beyond the conn's own.
func (c *Conn) Handshake() error { return c.HandshakeContext(context.Background()) }

// HandshakeContext runs the handshake if it has not run; ctx bounds it and
// is given to the hooks.
func (c *Conn) HandshakeContext(ctx context.Context) (err error) {
	c.handshakeMu.Lock()
	defer c.handshakeMu.Unlock()
	if c.handshakeDone.Load() || c.handshakeErr != nil {
		return c.handshakeErr
	}
	stop := c.watchContext(ctx)
	if c.isClient {
		err = c.clientHandshake(ctx)
	} else {
		err = c.serverHandshake(ctx)
	}
	if cerr := stop(); err != nil && cerr != nil {
		err = fmt.Errorf("tls13: handshake: %w (%v)", cerr, err)
	}
	if err != nil {
		c.handshakeErr = err
		return err
	}
	c.handshakeDone.Store(true)
	return nil
}

// watchContext makes blocking I/O honour ctx. The returned func undoes it
// and returns ctx's error if ctx ended (or its deadline passed) meanwhile.
func (c *Conn) watchContext(ctx context.Context) func() error {
	if ctx.Done() == nil {
		return func() error { return nil }
	}
	deadline, hasDeadline := ctx.Deadline()
	if hasDeadline {
		c.conn.SetDeadline(deadline)
	}
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-ctx.Done():
			c.conn.SetDeadline(time.Unix(1, 0)) // wake blocked reads and writes
		case <-done:
		}
	}()
	return func() error {
		close(done)
		// The watcher may not have run yet, and ctx may end before it does
		// (a caller's deferred cancel right after the handshake): wait for
		// it, so that it cannot wake, that is break, the connection later.
		<-exited
		c.conn.SetDeadline(time.Time{})
		if err := ctx.Err(); err != nil {
			return err
		}
		// The conn's deadline can fire a moment before ctx's timer does.
		if hasDeadline && !time.Now().Before(deadline) {
			return context.DeadlineExceeded
		}
		return nil
	}
}

// fail ends the connection on a fatal error: it sends the alert err
// carries (internal_error for other errors), unless the peer sent one or
// the transport broke, and returns the error to report.
func (c *Conn) fail(err error) error {
	c.failOnce.Do(func() {
		c.failErr = c.sendFatal(err)
		c.inMu.Lock()
		if c.readErr == nil {
			c.readErr = c.failErr
		}
		c.inMu.Unlock()
	})
	return c.failErr
}

// Fail ends the connection as the engine ends it on its own fatal errors:
// it sends the alert err carries (internal_error for other errors) and
// returns the error to report, an *AlertError when the alert went out.
// It is for checks an application makes after the handshake on the
// engine's behalf, such as validating an exported authenticator (RFC
// 9261 §7 leaves the alert to the application). Later reads and writes
// fail.
func (c *Conn) Fail(err error) error {
	if err == nil {
		err = errors.New("tls13: connection failed")
	}
	return c.fail(err)
}

func (c *Conn) sendFatal(err error) error {
	ae, isAlert := AsAlert(err)
	if isAlert && ae.received {
		return err
	}
	var ne net.Error
	if !isAlert && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne) || errors.Is(err, net.ErrClosed)) {
		return err
	}
	code := AlertInternalError
	if isAlert {
		code = ae.Code
	}
	b := &c.config.Bugs
	if b.SendAlert != 0 {
		code = b.SendAlert
	}
	c.outMu.Lock()
	defer c.outMu.Unlock()
	sent := !b.NoAlert && c.writeErr == nil
	if sent {
		c.hsOut = nil
		sent = c.writeRecords(recordAlert, []byte{2, byte(code)}) == nil
		if sent && b.ApplicationDataAfterAlert != nil {
			c.writeRecords(recordApplicationData, b.ApplicationDataAfterAlert)
		}
	}
	c.writeErr = net.ErrClosed
	if !sent {
		return err
	}
	return &AlertError{Code: code, Sent: true, Err: err, Name: c.config.alertName(code)}
}

// readRecordInto reads and dispatches one record: handshake bytes to
// hsIn, application data to appIn (only once the handshake is done, or
// when allowAppData says a post-handshake exchange is under way).
func (c *Conn) readRecordInto(allowAppData bool) error {
	rec, err := c.readRecord()
	if err != nil {
		return err
	}
	var typ uint8
	var data []byte
	if rec[0] == recordAlert && c.in.aead != nil && c.in.seq == 0 && !c.handshakeDone.Load() {
		// A peer that rejected our hello before it had keys alerts in the
		// clear (RFC 8446 §6): take it rather than misreport the failure.
		typ, data = recordAlert, rec[recordHeaderLen:]
	} else if typ, data, err = c.in.open(rec); err != nil {
		return err
	}
	switch typ {
	case recordAlert:
		if len(data) != 2 {
			return Alertf(AlertDecodeError, "alert of %d bytes", len(data))
		}
		code := AlertCode(data[1])
		switch code {
		case AlertCloseNotify:
			c.closeNotifyReceived = true
			return io.EOF
		case AlertUserCanceled:
			return nil // a close_notify follows
		}
		if d := c.config.Bugs.ApplicationDataAfterAlertReceived; d != nil {
			c.outMu.Lock()
			c.writeRecords(recordApplicationData, d)
			c.outMu.Unlock()
		}
		return &AlertError{Code: code, received: true, Name: c.config.alertName(code)}
	case recordChangeCipherSpec:
		// RFC 8446 §5: a plaintext 0x01 is dropped between the first
		// ClientHello and the peer's Finished (the handshake is done once
		// that Finished is read); anything else is unexpected_message.
		// §5.1 forbids it inside a fragmented handshake message.
		switch {
		case len(data) != 1 || data[0] != 1:
			return Alertf(AlertUnexpectedMessage, "change_cipher_spec of value %x", data)
		case !c.helloSeen:
			return Alertf(AlertUnexpectedMessage, "change_cipher_spec before the first ClientHello")
		case c.handshakeDone.Load():
			return Alertf(AlertUnexpectedMessage, "change_cipher_spec after the peer's Finished")
		case len(c.hsIn) > 0:
			return Alertf(AlertUnexpectedMessage, "change_cipher_spec inside a fragmented handshake message")
		}
		return nil
	case recordHandshake:
		if len(data) == 0 {
			return Alertf(AlertUnexpectedMessage, "empty handshake record")
		}
		if len(c.hsIn)+len(data) > maxHandshakeLength+4 {
			return Alertf(AlertUnexpectedMessage, "handshake message too large")
		}
		c.hsIn = append(c.hsIn, data...)
		return nil
	case recordApplicationData:
		// What the peer sent, whether or not it may send it now.
		c.traceAppData(false, data)
		if !allowAppData || len(c.hsIn) > 0 {
			return Alertf(AlertUnexpectedMessage, "application data during the handshake")
		}
		c.appIn = append(c.appIn, data...)
		return nil
	}
	return Alertf(AlertUnexpectedMessage, "record of type %d", typ)
}

// readHandshakeBytes returns the next complete handshake message.
func (c *Conn) readHandshakeBytes(allowAppData bool) ([]byte, error) {
	for {
		if len(c.hsIn) >= 4 {
			n := int(c.hsIn[1])<<16 | int(c.hsIn[2])<<8 | int(c.hsIn[3])
			if n > maxHandshakeLength {
				return nil, Alertf(AlertUnexpectedMessage, "handshake message of %d bytes", n)
			}
			if len(c.hsIn) >= 4+n {
				raw := append([]byte(nil), c.hsIn[:4+n]...)
				c.hsIn = c.hsIn[4+n:]
				if c.config.Trace != nil {
					c.config.Trace.Message(false, raw)
				}
				return raw, nil
			}
		}
		if err := c.readRecordInto(allowAppData); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// readMessage returns the next handshake message, which must be one of want.
func (c *Conn) readMessage(want ...uint8) (handshakeMessage, error) {
	raw, err := c.readHandshakeBytes(false)
	if err != nil {
		return nil, err
	}
	if !containsUint8(want, raw[0]) {
		return nil, Alertf(AlertUnexpectedMessage, "got handshake message type %d, want %v", raw[0], want)
	}
	return c.parseMessage(raw)
}

// parseMessage decodes a received handshake message and checks where its
// extensions may appear (Config.HookExtensions).
func (c *Conn) parseMessage(raw []byte) (handshakeMessage, error) {
	m := newHandshakeMessage(raw[0])
	if m == nil {
		return nil, Alertf(AlertUnexpectedMessage, "unknown handshake message type %d", raw[0])
	}
	if err := m.unmarshal(raw); err != nil {
		return nil, err
	}
	if err := c.config.checkReceivedExtensions(m); err != nil {
		return nil, err
	}
	return m, nil
}

// requireKeyChangeBoundary enforces RFC 8446 §5.1: a message that changes
// keys must end its record.
func (c *Conn) requireKeyChangeBoundary() error {
	if len(c.hsIn) > 0 {
		return Alertf(AlertUnexpectedMessage, "handshake data after a key change in the same record")
	}
	return nil
}

// writeHandshake queues a message for the next flush.
func (c *Conn) writeHandshake(raw []byte) {
	if c.config.Trace != nil {
		c.config.Trace.Message(true, raw)
	}
	c.hsOut = append(c.hsOut, raw...)
}

// flushBeforeCredential sends what is queued when
// Config.FlushBeforeCredential asks for it.
func (c *Conn) flushBeforeCredential() error {
	if !c.config.FlushBeforeCredential {
		return nil
	}
	return c.flush()
}

func (c *Conn) flush() error {
	if len(c.hsOut) == 0 {
		return nil
	}
	data := c.hsOut
	c.hsOut = nil
	err := c.writeRecords(recordHandshake, data)
	if err != nil && !c.handshakeDone.Load() {
		return c.alertBehind(err)
	}
	return err
}

// alertBehind explains a write the peer refused: a peer that aborted
// sends its alert and closes, and our next write (the rest of a flight,
// or application data right after our Finished) meets its reset. What it
// sent before the reset is still ours to read, so the alert it carried
// is the error, not the reset.
//
// It reads as the reader: a Read under way will see the alert itself,
// so then the write error stands. Callers must not hold outMu (reading
// an alert may write, as Bugs ask).
func (c *Conn) alertBehind(werr error) error {
	if !errors.Is(werr, syscall.EPIPE) && !errors.Is(werr, syscall.ECONNRESET) {
		return werr
	}
	if !c.inMu.TryLock() {
		return werr
	}
	defer c.inMu.Unlock()
	// Anything it sent is already here: do not wait for more.
	c.conn.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
	for range 8 {
		err := c.readRecordInto(false)
		if ae, ok := AsAlert(err); ok && ae.received {
			if c.readErr == nil {
				c.readErr = err // a later Read reports it too
			}
			return err
		}
		if err != nil {
			break
		}
	}
	return werr
}

// Read reads application data.
func (c *Conn) Read(b []byte) (int, error) {
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	c.inMu.Lock()
	defer c.inMu.Unlock()
	for len(c.appIn) == 0 {
		if c.readErr != nil {
			return 0, c.readErr
		}
		if err := c.readRecordInto(true); err != nil {
			c.inMu.Unlock()
			err = c.readFailed(err)
			c.inMu.Lock()
			return 0, err
		}
		if len(c.hsIn) > 0 {
			if err := c.handlePostHandshake(); err != nil {
				c.inMu.Unlock()
				err = c.fail(err)
				c.inMu.Lock()
				return 0, err
			}
		}
	}
	n := copy(b, c.appIn)
	c.appIn = c.appIn[n:]
	return n, nil
}

func (c *Conn) readFailed(err error) error {
	if errors.Is(err, io.EOF) {
		c.inMu.Lock()
		c.readErr = io.EOF
		c.inMu.Unlock()
		return io.EOF
	}
	return c.fail(err)
}

// Write writes application data.
func (c *Conn) Write(b []byte) (int, error) {
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	c.outMu.Lock()
	if err := c.writeErr; err != nil {
		c.outMu.Unlock()
		return 0, err
	}
	err := c.writeRecords(recordApplicationData, b)
	if err != nil {
		c.writeErr = err
	}
	c.outMu.Unlock()
	if err != nil {
		return 0, c.alertBehind(err)
	}
	return len(b), nil
}

// CloseWrite sends close_notify.
func (c *Conn) CloseWrite() error {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if c.writeErr != nil {
		return nil
	}
	err := c.writeRecords(recordAlert, []byte{1, byte(AlertCloseNotify)})
	c.writeErr = net.ErrClosed
	return err
}

// Close sends close_notify if the handshake completed, then closes the transport.
func (c *Conn) Close() error {
	if c.handshakeDone.Load() {
		c.CloseWrite()
	}
	return c.conn.Close()
}

func (c *Conn) LocalAddr() net.Addr                { return c.conn.LocalAddr() }
func (c *Conn) RemoteAddr() net.Addr               { return c.conn.RemoteAddr() }
func (c *Conn) SetDeadline(t time.Time) error      { return c.conn.SetDeadline(t) }
func (c *Conn) SetReadDeadline(t time.Time) error  { return c.conn.SetReadDeadline(t) }
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

// NetConn returns the underlying transport.
func (c *Conn) NetConn() net.Conn { return c.conn }

// ConnectionState describes a connection after its handshake.
type ConnectionState struct {
	HandshakeComplete     bool
	CipherSuite           uint16
	Group                 CurveID
	ServerName            string
	NegotiatedProtocol    string
	HelloRetried          bool
	ClientCertificateType CertificateType
	ServerCertificateType CertificateType
	// PeerCertificate is the peer's Certificate message as verified (nil if
	// the peer sent none).
	PeerCertificate *PeerCertificate
	// Values is what the hooks stored in HookState.Values.
	Values map[string]any
}

func (c *Conn) ConnectionState() ConnectionState {
	c.handshakeMu.Lock()
	defer c.handshakeMu.Unlock()
	st := ConnectionState{
		HandshakeComplete: c.handshakeDone.Load(), Group: c.group, ServerName: c.serverName,
		NegotiatedProtocol: c.alpn, HelloRetried: c.helloRetried, PeerCertificate: c.peerCert,
		ClientCertificateType: c.clientCertType, ServerCertificateType: c.serverCertType,
	}
	if c.suite != nil {
		st.CipherSuite = c.suite.id
	}
	if c.hookState != nil {
		st.Values = c.hookState.Values
	}
	return st
}

// ExportKeyingMaterial is the RFC 8446 §7.5 exporter.
func (c *Conn) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	if !c.handshakeDone.Load() {
		return nil, errors.New("tls13: ExportKeyingMaterial before the handshake completed")
	}
	return exportKeyingMaterial(c.suite.hash, c.exporterSecret, label, context, length), nil
}

// ExportEarlyKeyingMaterial is the RFC 8446 §7.5 early exporter. Without a
// PSK its secret derives from an all-zero early secret, which the drafts
// note gives no secrecy; it exists to test them.
func (c *Conn) ExportEarlyKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	if !c.handshakeDone.Load() {
		return nil, errors.New("tls13: ExportEarlyKeyingMaterial before the handshake completed")
	}
	return exportKeyingMaterial(c.suite.hash, c.earlyExporter, label, context, length), nil
}
