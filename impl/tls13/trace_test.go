package tls13

import (
	"io"
	"sync"
	"testing"
)

// appDataRecorder is a Trace that keeps the application data plaintext.
type appDataRecorder struct {
	*recorder
	mu             sync.Mutex
	sent, received []byte
}

func (r *appDataRecorder) ApplicationData(sent bool, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if sent {
		r.sent = append(r.sent, data...)
	} else {
		r.received = append(r.received, data...)
	}
}

// An ApplicationDataTrace sees the plaintext of every application data
// record both ways, including data larger than one record; a plain Trace
// is not asked for it.
func TestApplicationDataTrace(t *testing.T) {
	pki := getPKI(t)
	ccfg, scfg := pki.clientConfig(), pki.serverConfig()
	tr := &appDataRecorder{recorder: newRecorder()}
	ccfg.Trace = tr
	scfg.Trace = newRecorder()
	cli, srv, cerr, serr := runPair(t, ccfg, scfg)
	if cerr != nil || serr != nil {
		t.Fatalf("handshake: %v, %v", cerr, serr)
	}
	big := make([]byte, maxPlaintext+100)
	for i := range big {
		big[i] = byte(i)
	}
	go func() {
		buf := make([]byte, len(big))
		if _, err := io.ReadFull(srv, buf); err == nil {
			srv.Write([]byte("pong"))
		}
	}()
	if _, err := cli.Write(big); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(cli, got); err != nil {
		t.Fatal(err)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if string(tr.sent) != string(big) {
		t.Errorf("traced %d sent bytes, want the %d written", len(tr.sent), len(big))
	}
	if string(tr.received) != "pong" {
		t.Errorf("traced %q received, want %q", tr.received, "pong")
	}
}
