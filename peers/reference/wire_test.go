package reference

import (
	"testing"

	"github.com/attested-tls/conformance/impl/attest/eaframe"
)

// The recorder splits each direction's application data into frames
// whatever the record boundaries, takes the peer's application_data
// bodies as its application data, and says where the peer's stream
// stopped being frames.
func TestRecorderFrames(t *testing.T) {
	w := &Wire{}
	r := &recorder{w: w, frames: true}
	att, _ := eaframe.Frame{Type: eaframe.Attested}.Marshal()
	ping, _ := eaframe.Frame{Type: eaframe.ApplicationData, Body: []byte("ping\n")}.Marshal()
	in := append(append([]byte(nil), att...), ping...)
	for _, b := range in { // one byte per record
		r.ApplicationData(false, []byte{b})
	}
	r.ApplicationData(true, att)
	if len(w.Frames) != 3 || w.Frames[0].Type != eaframe.Attested || w.Frames[0].Sent ||
		w.Frames[1].Type != eaframe.ApplicationData || !w.Frames[2].Sent {
		t.Fatalf("frames %+v", w.Frames)
	}
	if string(w.AppData) != "ping\n" {
		t.Errorf("application data %q, want the peer's ping", w.AppData)
	}
	r.ApplicationData(false, []byte{9, 0, 0, 0})
	r.ApplicationData(false, att)
	if w.FrameError == "" || len(w.Frames) != 3 {
		t.Errorf("after an unknown frame type: error %q, %d frames", w.FrameError, len(w.Frames))
	}
}
