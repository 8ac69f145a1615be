package handshake

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// bufferedPipe is net.Pipe whose writes never wait for the reader: an
// unbounded queue each way, so two sides that both write before they read
// (a post-handshake profile's requests) do not deadlock.
func bufferedPipe() (net.Conn, net.Conn) {
	ab, ba := newQueue(), newQueue()
	return &pipeEnd{r: ba, w: ab}, &pipeEnd{r: ab, w: ba}
}

type queue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	buf    []byte
	closed bool
}

func newQueue() *queue {
	q := &queue{}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}

type pipeEnd struct {
	r, w     *queue
	mu       sync.Mutex
	deadline time.Time
}

func (p *pipeEnd) Read(b []byte) (int, error) {
	q := p.r
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.buf) == 0 && !q.closed {
		p.mu.Lock()
		d := p.deadline
		p.mu.Unlock()
		if !d.IsZero() && !time.Now().Before(d) {
			return 0, os.ErrDeadlineExceeded
		}
		// Wake at the deadline to notice it.
		var t *time.Timer
		if !d.IsZero() {
			t = time.AfterFunc(time.Until(d), q.cond.Broadcast)
		}
		q.cond.Wait()
		if t != nil {
			t.Stop()
		}
	}
	if len(q.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(b, q.buf)
	q.buf = q.buf[n:]
	return n, nil
}

func (p *pipeEnd) Write(b []byte) (int, error) {
	q := p.w
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0, io.ErrClosedPipe
	}
	q.buf = append(q.buf, b...)
	q.cond.Broadcast()
	return len(b), nil
}

// Close ends both directions: the peer reads EOF once it has read what
// was written, and our own reads end.
func (p *pipeEnd) Close() error {
	p.w.close()
	p.r.close()
	return nil
}

func (p *pipeEnd) LocalAddr() net.Addr  { return pipeAddr{} }
func (p *pipeEnd) RemoteAddr() net.Addr { return pipeAddr{} }
func (p *pipeEnd) SetDeadline(t time.Time) error {
	p.mu.Lock()
	p.deadline = t
	p.mu.Unlock()
	p.r.cond.Broadcast()
	return nil
}
func (p *pipeEnd) SetReadDeadline(t time.Time) error { return p.SetDeadline(t) }
func (p *pipeEnd) SetWriteDeadline(time.Time) error  { return nil }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }
