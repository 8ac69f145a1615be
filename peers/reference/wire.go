package reference

import (
	"encoding/binary"
	"errors"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/attested-tls/conformance/impl/attest/eaframe"
	"github.com/attested-tls/conformance/impl/tls13"
)

// Wire is what the reference saw of its one connection, for a suite
// that judges the other side by the wire rather than by what it reports:
// the handshake messages each side sent, the application data the peer's
// records carried to us, the alerts, and whatever the peer still sent
// after the connection failed.
type Wire struct {
	// Sent and Received are complete handshake messages (4-byte header
	// included) in order: ours, and the peer's as we decrypted them.
	Sent, Received [][]byte
	// AppData is the application data we read from the peer; for a
	// post-handshake profile, the bodies of every application_data frame
	// it sent, whenever it sent them.
	AppData []byte
	// Frames are the post-handshake attestation frames (peers/CONTRACT.md)
	// both sides sent, in order, read from the plaintext of the
	// application data records (post-handshake profiles only).
	// FrameError says why the peer's stream stopped parsing as frames.
	Frames     []Frame
	FrameError string
	// AlertSent and AlertReceived are the fatal alerts (not close_notify)
	// we sent and read; 0 for none.
	AlertSent, AlertReceived tls13.AlertCode
	// Completed says our handshake completed.
	Completed bool
	// State is our connection state at the end.
	State tls13.ConnectionState
	// Trailing counts the records (and their bytes) the peer sent that our
	// engine never read: after the connection failed, the raw connection
	// is read until the peer closes it (at most TrailingWait). After a
	// fatal alert from the peer, any record is one it should not have
	// sent. TrailingBytes counts bytes that did not make up whole records.
	Trailing, TrailingRecordBytes, TrailingBytes int
}

// Frame is one frame of the application stream and who sent it.
type Frame struct {
	Sent bool
	eaframe.Frame
}

// TrailingWait bounds how long a failed connection is read for records
// the peer sends after it.
const TrailingWait = time.Second

// recorder is the Trace that fills a Wire, passing everything on.
type recorder struct {
	mu   sync.Mutex
	w    *Wire
	next tls13.Trace
	// frames: the application stream carries frames; stream holds each
	// direction's bytes not yet a whole frame (index 1: sent), and
	// broken the directions that stopped parsing.
	frames bool
	stream [2][]byte
	broken [2]bool
}

func (r *recorder) Message(sent bool, raw []byte) {
	r.mu.Lock()
	if sent {
		r.w.Sent = append(r.w.Sent, slices.Clone(raw))
	} else {
		r.w.Received = append(r.w.Received, slices.Clone(raw))
	}
	r.mu.Unlock()
	if r.next != nil {
		r.next.Message(sent, raw)
	}
}

func (r *recorder) Record(sent bool, raw []byte) {
	if r.next != nil {
		r.next.Record(sent, raw)
	}
}

// ApplicationData splits each direction's plaintext into frames.
func (r *recorder) ApplicationData(sent bool, data []byte) {
	if t, ok := r.next.(tls13.ApplicationDataTrace); ok {
		t.ApplicationData(sent, data)
	}
	if !r.frames {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	d := 0
	if sent {
		d = 1
	}
	if r.broken[d] {
		return
	}
	r.stream[d] = append(r.stream[d], data...)
	for {
		f, rest, err := eaframe.Next(r.stream[d])
		if errors.Is(err, eaframe.ErrShort) {
			return
		}
		if err != nil {
			r.broken[d] = true
			if !sent {
				r.w.FrameError = err.Error()
			}
			return
		}
		r.stream[d] = rest
		r.w.Frames = append(r.w.Frames, Frame{Sent: sent, Frame: f})
		if !sent && f.Type == eaframe.ApplicationData {
			r.w.AppData = append(r.w.AppData, f.Body...)
		}
	}
}

func (r *recorder) Secret(name string, value []byte) {
	if r.next != nil {
		r.next.Secret(name, value)
	}
}

// trailing reads raw until the peer closes it or wait passes, splits what
// came into records, and reports each to trace as received (so a capture
// shows them) and counts them in w.
func trailing(raw net.Conn, wait time.Duration, w *Wire, trace tls13.Trace) {
	raw.SetReadDeadline(time.Now().Add(wait))
	var buf []byte
	chunk := make([]byte, 16<<10)
	for len(buf) < 1<<20 {
		n, err := raw.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if err != nil { // the peer closed, or the wait is over
			break
		}
	}
	for len(buf) >= 5 {
		n := 5 + int(binary.BigEndian.Uint16(buf[3:5]))
		if len(buf) < n {
			break
		}
		if trace != nil {
			trace.Record(false, buf[:n])
		}
		w.Trailing++
		w.TrailingRecordBytes += n
		buf = buf[n:]
	}
	w.TrailingBytes = len(buf)
}
