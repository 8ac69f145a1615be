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
		// A second of room on a 5-second deadline is within the quarter;
		// on a short deadline the quarter wins.
	} {
		c, done := tc.p.callContext(ctx)
		d, _ := c.Deadline()
		done()
		if diff := d.Sub(tc.want); diff < -100*time.Millisecond || diff > 100*time.Millisecond {
			t.Errorf("%+v: call deadline %v from the handshake's, want %v", tc.p, outer.Sub(d), outer.Sub(tc.want))
		}
	}
}

func TestCallContextShortDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	outer, _ := ctx.Deadline()
	c, done := (&Party{AlertRoom: time.Second}).callContext(ctx)
	defer done()
	d, _ := c.Deadline()
	if room := outer.Sub(d); room > 150*time.Millisecond || room < 50*time.Millisecond {
		t.Errorf("room %v before a 400 ms deadline, want about a quarter", room)
	}
}
