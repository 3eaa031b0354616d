package executor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/failoverbot/failoverbot/internal/store"
)

// A run executes only while this executor holds its lease in the store
// (store.ClaimRun), renewed every LeaseTTL/3 by renewLease. The lease is
// counted from before each claim was asked, by this process's clock, so
// that a renewal that took long never stretches it.

// errLeaseLost stops a runner whose run was taken over by another executor.
var errLeaseLost = errors.New("lease on the run was lost to another executor")

// errLeaseNotRenewed stops a runner whose lease ended before it could be
// renewed.
var errLeaseNotRenewed = errors.New("lease on the run expired without a renewal")

// claim takes or renews the run's lease and refreshes the cached record.
func (c *runCtl) claim(ctx context.Context) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	var run *store.Run
	asked := time.Now()
	err := c.e.storeCall(ctx, func(ctx context.Context) error {
		var err error
		run, err = c.e.cfg.Store.ClaimRun(ctx, c.id, c.e.owner, c.e.cfg.LeaseTTL)
		return err
	})
	if err != nil {
		return fmt.Errorf("claim run %s: %w", c.id, err)
	}
	c.mu.Lock()
	c.run = run
	c.leaseUntil = asked.Add(c.e.cfg.LeaseTTL)
	c.mu.Unlock()
	return nil
}

// leaseHeld reports whether this executor's lease on the run is still
// valid by its own clock (counted from before the claim was asked).
func (c *runCtl) leaseHeld() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Before(c.leaseUntil)
}

// renewLease keeps the run's lease while the runner lives. When the lease
// ends without a renewal (the store cannot be reached), it stops the
// runner, cancelling any Apply in flight: once the lease has expired
// another executor may take the run over and apply the same step.
func (c *runCtl) renewLease(ctx context.Context, stop context.CancelCauseFunc) {
	t := time.NewTicker(c.e.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		c.mu.Lock()
		until := c.leaseUntil
		c.mu.Unlock()
		expiry := time.NewTimer(time.Until(until))
		select {
		case <-ctx.Done():
			expiry.Stop()
			return
		case <-expiry.C:
			if !c.leaseHeld() {
				c.e.log.ErrorContext(ctx, "the run's lease expired without a renewal: stopping", "run", c.id)
				stop(errLeaseNotRenewed)
				return
			}
		case <-t.C:
			expiry.Stop()
			// A renewal that ends after the lease is of no use: bound it.
			rctx, cancel := context.WithDeadline(ctx, until)
			err := c.claim(rctx)
			cancel()
			switch {
			case err == nil:
			case errors.Is(err, store.ErrLeaseHeld):
				c.e.log.ErrorContext(ctx, "lost the run's lease: stopping", "run", c.id)
				stop(errLeaseLost)
				return
			case ctx.Err() == nil:
				c.e.log.WarnContext(ctx, "renew lease", "run", c.id, "err", c.e.scrub(err.Error()))
				if !c.leaseHeld() {
					c.e.log.ErrorContext(ctx, "the run's lease expired without a renewal: stopping", "run", c.id)
					stop(errLeaseNotRenewed)
					return
				}
			}
		}
	}
}
