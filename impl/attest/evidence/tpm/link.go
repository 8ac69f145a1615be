package tpm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpmutil"
)

// A link is one open connection to a TPM, shared by every Attester in the
// process that uses the same TPM: the simulator is a process-wide
// singleton, swtpm serves one connection at a time, and without a resource
// manager the attesters must share the TPM's few object slots.
type link struct {
	key string
	// sem admits one exchange (a group of commands) at a time; a channel
	// rather than a mutex so waiting for it honours the context.
	sem chan struct{}
	// exchange sends one command and returns the response within ctx.
	exchange func(ctx context.Context, cmd []byte) ([]byte, error)
	closer   func() error

	// Guarded by sem.
	broken  error     // set when the byte stream may be out of step
	loaded  []*object // transient objects in TPM slots, least recent first
	maxLoad int

	refs int // guarded by links.mu

	retries atomic.Int64 // commands sent again on TPM_RC_RETRY and kin
	sent    atomic.Int64 // commands sent, retries included
	busy    atomic.Int64 // nanoseconds spent in exchanges with the TPM
}

// object is a transient key this package created. Its saved context lets
// it be evicted from its slot and loaded again on demand.
type object struct {
	name    tpm2.TPM2BName
	public  []byte // marshalled TPMT_PUBLIC, exactly as the TPM returned it
	saved   tpm2.TPMSContext
	handle  tpm2.TPMHandle // 0 while not loaded
	primary tpm2.TPMHandle // hierarchy it was created in
}

// objectSlots is the number of transient objects the MS reference TPM
// and libtpms (swtpm) hold at once (MAX_LOADED_OBJECTS); a kernel
// resource manager virtualises more, but three is all this package needs.
const objectSlots = 3

var links = struct {
	sync.Mutex
	m map[string]*link
}{m: map[string]*link{}}

// acquireLink returns the process's link to the TPM cfg names, opening it
// on first use.
func acquireLink(ctx context.Context, cfg Config) (*link, error) {
	key, err := linkKey(cfg)
	if err != nil {
		return nil, err
	}
	links.Lock()
	defer links.Unlock()
	if l := links.m[key]; l != nil {
		l.refs++
		return l, nil
	}
	l := &link{key: key, sem: make(chan struct{}, 1), maxLoad: objectSlots, refs: 1}
	switch cfg.Transport {
	case TransportSimulator:
		err = l.openSimulator()
	case TransportSwtpm:
		err = l.openTCP(ctx, cfg.Addr)
	case TransportDevice:
		err = l.openDevice(cfg.Path)
	}
	if err != nil {
		return nil, err
	}
	links.m[key] = l
	return l, nil
}

func linkKey(cfg Config) (string, error) {
	switch cfg.Transport {
	case TransportSimulator:
		return "simulator", nil
	case TransportSwtpm:
		if cfg.Addr == "" {
			return "", errors.New("tpm: swtpm transport needs Addr")
		}
		return "swtpm:" + cfg.Addr, nil
	case TransportDevice:
		if cfg.Path == "" {
			cfg.Path = DefaultDevice
		}
		return "device:" + cfg.Path, nil
	}
	return "", fmt.Errorf("tpm: unknown transport %q (want %q, %q or %q)", cfg.Transport, TransportSimulator, TransportSwtpm, TransportDevice)
}

// release drops one reference; the last one closes the connection (for
// the simulator: TPM2_Shutdown, and the next Open starts a fresh TPM).
func (l *link) release() error {
	links.Lock()
	defer links.Unlock()
	l.refs--
	if l.refs > 0 {
		return nil
	}
	delete(links.m, l.key)
	return l.closer()
}

// openSimulator uses the in-process MS reference TPM. It runs a command
// synchronously and cannot stall, so a context check before each command
// is its whole deadline.
func (l *link) openSimulator() error {
	sim, err := simulator.Get()
	if err != nil {
		return fmt.Errorf("tpm: simulator: %w", err)
	}
	l.exchange = func(ctx context.Context, cmd []byte) ([]byte, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return tpmutil.RunCommandRaw(sim, cmd)
	}
	l.closer = sim.Close
	return nil
}

// openTCP speaks raw TPM commands to swtpm's server socket (what
// transport.FromReadWriteCloser over a net.Conn does), with the framing
// done here so a response split across reads is read whole and the
// context's deadline bounds every write and read.
func (l *link) openTCP(ctx context.Context, addr string) error {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("tpm: swtpm: %w", err)
	}
	l.exchange = tcpExchange(conn)
	l.closer = conn.Close
	return nil
}

// tcpExchange sends a command on a stream connection and reads one
// response, within the context.
func tcpExchange(conn net.Conn) func(ctx context.Context, cmd []byte) ([]byte, error) {
	return func(ctx context.Context, cmd []byte) ([]byte, error) {
		if d, ok := ctx.Deadline(); ok {
			conn.SetDeadline(d)
		}
		// Cancellation without a deadline also unblocks the read.
		stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
		defer stop()
		_, err := conn.Write(cmd)
		var rsp []byte
		if err == nil {
			rsp, err = readResponse(conn)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The socket's deadline is the context's: report it as such
			// even if the socket noticed first.
			cause := ctx.Err()
			if cause == nil {
				cause = context.DeadlineExceeded
			}
			err = fmt.Errorf("%w (%v)", cause, err)
		}
		return rsp, err
	}
}

// openDevice uses a kernel TPM device. A read there cannot be given a
// deadline, so each command runs in its own goroutine and a late answer
// is abandoned (the link is then broken: the device may still reply).
func (l *link) openDevice(path string) error {
	if path == "" {
		path = DefaultDevice
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("tpm: device: %w", err)
	}
	if fi.Mode()&os.ModeDevice == 0 {
		return fmt.Errorf("tpm: device: %s is not a device", path)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("tpm: device: %w", err)
	}
	l.exchange = func(ctx context.Context, cmd []byte) ([]byte, error) {
		type answer struct {
			rsp []byte
			err error
		}
		c := make(chan answer, 1)
		go func() {
			rsp, err := tpmutil.RunCommandRaw(f, cmd)
			c <- answer{rsp, err}
		}()
		select {
		case a := <-c:
			return a.rsp, a.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	l.closer = f.Close
	return nil
}

// session is exclusive use of a link for a group of commands, so handles
// it loads stay loaded until it ends.
type session struct {
	l   *link
	ctx context.Context
}

// DefaultTimeout bounds a TPM operation whose context has no deadline,
// and those that take no context (Identity().Sign, Extend) unless
// Config.Timeout sets another bound.
const DefaultTimeout = 10 * time.Second

// with runs f with exclusive use of the link, within ctx (and at most
// DefaultTimeout when ctx has no deadline).
func (l *link) with(ctx context.Context, f func(s *session) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting for the TPM: %w", ctx.Err())
	}
	defer func() { <-l.sem }()
	if l.broken != nil {
		return fmt.Errorf("TPM connection unusable after an earlier failure: %w", l.broken)
	}
	return f(&session{l: l, ctx: ctx})
}

// Send implements transport.TPM for go-tpm's commands. A transport error
// (not a TPM response code) leaves the stream in an unknown state, so the
// link refuses every later command.
//
// A TPM may answer "not now" (TPM_RC_RETRY, YIELDED, TESTING; swtpm 0.7.1
// answers TPM_RC_RETRY to an occasional TPM2_Certify); the command is sent
// again after a growing pause, until ctx ends.
func (s *session) Send(cmd []byte) ([]byte, error) {
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		// Out of time before sending: the stream is still in step.
		if err := s.ctx.Err(); err != nil {
			return nil, err
		}
		s.l.sent.Add(1)
		t0 := time.Now()
		rsp, err := s.l.exchange(s.ctx, cmd)
		s.l.busy.Add(int64(time.Since(t0)))
		if err != nil {
			if ctxErr := s.ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
				err = fmt.Errorf("%w (%v)", ctxErr, err)
			}
			s.l.broken = err
			return nil, err
		}
		if !retryLater(rsp) {
			return rsp, nil
		}
		s.l.retries.Add(1)
		select {
		case <-s.ctx.Done():
			return rsp, nil // go-tpm reports the warning code
		case <-time.After(delay):
		}
	}
}

// retryLater reports whether a response carries a warning asking for the
// command to be sent again.
func retryLater(rsp []byte) bool {
	if len(rsp) < responseHeaderSize {
		return false
	}
	switch tpm2.TPMRC(binary.BigEndian.Uint32(rsp[6:10])) {
	case tpm2.TPMRCRetry, tpm2.TPMRCYielded, tpm2.TPMRCTesting:
		return true
	}
	return false
}

var _ transport.TPM = (*session)(nil)

// run executes one TPM command and names it in any error.
func run[R any](s *session, op string, f func(t transport.TPM) (R, error)) (R, error) {
	r, err := f(s)
	if err != nil {
		var zero R
		return zero, fmt.Errorf("%s: %w", op, err)
	}
	return r, nil
}

// load makes o resident, evicting the least recently used object of this
// link if the slots are full, and returns its handle.
func (s *session) load(o *object) (tpm2.TPMHandle, error) {
	l := s.l
	for i, x := range l.loaded {
		if x == o {
			l.loaded = append(append(l.loaded[:i:i], l.loaded[i+1:]...), o)
			return o.handle, nil
		}
	}
	if err := s.makeRoom(); err != nil {
		return 0, err
	}
	rsp, err := run(s, "TPM2_ContextLoad", func(t transport.TPM) (*tpm2.ContextLoadResponse, error) {
		return tpm2.ContextLoad{Context: o.saved}.Execute(t)
	})
	if err != nil {
		return 0, err
	}
	o.handle = rsp.LoadedHandle
	l.loaded = append(l.loaded, o)
	return o.handle, nil
}

// makeRoom frees a slot if all are taken.
func (s *session) makeRoom() error {
	l := s.l
	if len(l.loaded) < l.maxLoad {
		return nil
	}
	return s.evict(l.loaded[0])
}

// evict flushes o from its slot; its saved context remains.
func (s *session) evict(o *object) error {
	l := s.l
	for i, x := range l.loaded {
		if x != o {
			continue
		}
		if _, err := run(s, "TPM2_FlushContext", func(t transport.TPM) (*tpm2.FlushContextResponse, error) {
			return tpm2.FlushContext{FlushHandle: o.handle}.Execute(t)
		}); err != nil {
			return err
		}
		l.loaded = append(l.loaded[:i:i], l.loaded[i+1:]...)
		o.handle = 0
		return nil
	}
	return nil
}

// createPrimary creates a key from a template in a hierarchy, saves its
// context and leaves it loaded.
func (s *session) createPrimary(hierarchy tpm2.TPMHandle, tmpl tpm2.TPMTPublic) (*object, error) {
	if err := s.makeRoom(); err != nil {
		return nil, err
	}
	rsp, err := run(s, "TPM2_CreatePrimary", func(t transport.TPM) (*tpm2.CreatePrimaryResponse, error) {
		return tpm2.CreatePrimary{PrimaryHandle: hierarchy, InPublic: tpm2.New2B(tmpl)}.Execute(t)
	})
	if err != nil {
		return nil, err
	}
	o := &object{name: rsp.Name, public: rsp.OutPublic.Bytes(), handle: rsp.ObjectHandle, primary: hierarchy}
	s.l.loaded = append(s.l.loaded, o)
	saved, err := run(s, "TPM2_ContextSave", func(t transport.TPM) (*tpm2.ContextSaveResponse, error) {
		return tpm2.ContextSave{SaveHandle: rsp.ObjectHandle}.Execute(t)
	})
	if err != nil {
		s.evict(o)
		return nil, err
	}
	o.saved = saved.Context
	return o, nil
}

// Probe reports whether a TPM answers TPM2_GetRandom on the TCP command
// socket addr (a swtpm's) before ctx ends.
func Probe(ctx context.Context, addr string) error {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	l := &link{sem: make(chan struct{}, 1), exchange: tcpExchange(conn)}
	return l.with(ctx, func(ss *session) error {
		_, err := tpm2.GetRandom{BytesRequested: 8}.Execute(ss)
		return err
	})
}
