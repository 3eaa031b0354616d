package aws

import (
	"context"
	"fmt"
	"time"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// cadence is how often a wait inside Apply describes the resource: first
// after min, each next delay 1.5 times the last, at most max. With the
// defaults (1s, 3s) a state change is seen within about 3s plus a call,
// and a minute of waiting costs about 22 describe calls (20 a minute
// after the first).
type cadence struct{ min, max time.Duration }

// ticker yields the delays of one wait.
type ticker struct {
	c    cadence
	next time.Duration
}

func (c cadence) start() *ticker { return &ticker{c: c, next: c.min} }

// sleep waits for the next delay; false when ctx ended first.
func (t *ticker) sleep(ctx context.Context) bool {
	d := t.next
	t.next = min(t.next*3/2, t.c.max)
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// observation is one look at a resource during a wait.
type observation struct {
	done bool
	// state is what was seen, for the log and the deadline's message
	// ("modifying", "PENDING").
	state string
}

// waitFor describes a resource at the client's cadence until observe says
// done, observe fails permanently, or ctx (the step's deadline) ends. A
// transient error of one look is logged and the wait goes on; it is
// returned if the deadline comes before the resource is done. what names
// the wait ("until maip-prod-postgres-replica is available").
func (c *client) waitFor(ctx context.Context, what string, observe func(ctx context.Context) (observation, error)) error {
	t := c.poll.start()
	last, lastState := error(nil), ""
	for {
		if !t.sleep(ctx) {
			if last != nil {
				return fmt.Errorf("%s: waited %s; the step's deadline came: %w", c.kind, what, last)
			}
			return fmt.Errorf("%s: waited %s; still %s when the step's deadline came: %w", c.kind, what, lastState, context.Cause(ctx))
		}
		o, err := observe(ctx)
		switch {
		case err != nil && steps.IsPermanent(err):
			return err
		case err != nil:
			if last == nil || last.Error() != err.Error() {
				c.log.WarnContext(ctx, "waiting: a look failed, looking again", "wait", what, "error", err)
			}
			last = err
			continue
		}
		last = nil
		if o.state != lastState {
			c.log.InfoContext(ctx, "waiting", "wait", what, "state", o.state)
			lastState = o.state
		}
		if o.done {
			return nil
		}
	}
}
