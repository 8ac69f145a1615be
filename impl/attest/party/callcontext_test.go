package party

import (
	"context"
	"testing"
	"time"
)

// TestCallContextLeavesAlertRoom: a call ends AlertRoom before the
// handshake's deadline, or at Timeout if that is sooner.
func TestCallContextLeavesAlertRoom(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	outer, _ := ctx.Deadline()
	for _, tc := range []struct {
		p    Party
		want time.Time
	}{
		{Party{AlertRoom: time.Second}, outer.Add(-time.Second)},
		{Party{AlertRoom: time.Second, Timeout: time.Second}, time.Now().Add(time.Second)},
		{Party{}, outer},
	} {
		c, done := tc.p.callContext(ctx)
		d, _ := c.Deadline()
		done()
		if diff := d.Sub(tc.want); diff < -100*time.Millisecond || diff > 100*time.Millisecond {
			t.Errorf("%+v: call deadline %v from the handshake's, want %v", tc.p, outer.Sub(d), outer.Sub(tc.want))
		}
	}
}
