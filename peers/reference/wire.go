package reference

import (
	"encoding/binary"
	"net"
	"slices"
	"sync"
	"time"

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
	// AppData is the application data we read from the peer.
	AppData []byte
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

// TrailingWait bounds how long a failed connection is read for records
// the peer sends after it.
const TrailingWait = time.Second

// recorder is the Trace that fills a Wire, passing everything on.
type recorder struct {
	mu   sync.Mutex
	w    *Wire
	next tls13.Trace
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
