package executor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
)

// errLeaseLost stops a runner whose run was taken over by another executor.
var errLeaseLost = errors.New("lease on the run was lost to another executor")

// errLeaseNotRenewed stops a runner whose lease ended before it could be
// renewed.
var errLeaseNotRenewed = errors.New("lease on the run expired without a renewal")

// startRunner executes the run in a new goroutine. The caller holds opMu
// and has persisted the run as running.
func (c *runCtl) startRunner() {
	ctx, cancel := context.WithCancelCause(c.e.base)
	done := make(chan struct{})
	c.mu.Lock()
	c.active = true
	c.cancel = cancel
	c.done = done
	c.pauseBy = ""
	c.mu.Unlock()
	c.e.runWG.Add(1)
	go func() {
		defer c.e.runWG.Done()
		defer close(done)
		defer cancel(nil)
		go c.renewLease(ctx, cancel)
		err := c.execute(ctx)
		c.mu.Lock()
		if c.done == done { // not already replaced by a new runner (resume)
			c.active = false
		}
		ended := !c.run.State.Active()
		c.mu.Unlock()
		if ended {
			c.e.forget(c)
		}
		log := c.e.log.With("run", c.id)
		switch cause := context.Cause(ctx); {
		case err == nil:
		case errors.Is(cause, errClosing):
			log.InfoContext(ctx, "run left running for the next process", "why", "executor closing")
		case errors.Is(cause, errAborted):
		default:
			log.ErrorContext(context.WithoutCancel(ctx), "run stopped executing; it stays running in the store and is resumed by Recover", "err", c.e.scrub(err.Error()))
		}
	}()
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

// execute runs the phases in order until the run ends, pauses or ctx is
// cancelled. A non-nil error means the run could not be recorded and stays
// running in the store.
func (c *runCtl) execute(ctx context.Context) error {
	results := make(chan error)
	inflight := 0
	drain := func() {
		for ; inflight > 0; inflight-- {
			<-results
		}
	}
	defer drain()
	for _, ph := range c.rb.Phases {
		if c.phaseComplete(ph) {
			continue
		}
		announced := !c.phaseFresh(ph)
		for {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			if err := c.reconcile(ctx, ph); err != nil {
				return err
			}
			ready := c.claimReady(ctx, ph)
			if len(ready) > 0 && !announced {
				// Announced when its first steps start, not before: a phase
				// reached while the run is pausing is not started.
				announced = true
				if err := c.record(ctx, actorBot, string(events.PhaseStarted), events.Event{Type: events.PhaseStarted, Phase: ph.ID, Summary: ph.Name}); err != nil {
					c.unclaim(ready)
					return err
				}
			}
			c.spawn(ctx, ready, results)
			inflight += len(ready)
			if inflight > 0 {
				select {
				case err := <-results:
					inflight--
					if err != nil {
						// The store cannot record transitions: stop the other
						// steps too; the run stays running for Recover.
						c.mu.Lock()
						cancel := c.cancel
						c.mu.Unlock()
						cancel(err)
						return err
					}
				case <-c.wake:
				case <-ctx.Done():
				}
				continue
			}
			if c.phaseComplete(ph) {
				break
			}
			if stop, err := c.maybeStop(ctx, ph); stop {
				return err
			}
		}
		if err := c.record(ctx, actorBot, string(events.PhaseDone), events.Event{Type: events.PhaseDone, Phase: ph.ID, Summary: ph.Name}); err != nil {
			return err
		}
	}
	return c.finish(ctx)
}

// finish records the run's success.
func (c *runCtl) finish(ctx context.Context) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	now := c.e.cfg.Now()
	return c.runTransition(ctx, actorBot, string(events.RunSucceeded), events.Event{Type: events.RunSucceeded, Summary: "all steps done"},
		func(r *store.Run) error {
			r.State = store.RunSucceeded
			r.StateReason = ""
			r.EndedAt = now
			return nil
		})
}

// maybeStop is called when nothing is in flight and the phase is not
// complete: it pauses the run on a failed step, stops on a requested pause,
// or fails the run when no remaining step can ever start.
func (c *runCtl) maybeStop(ctx context.Context, ph *runbook.Phase) (bool, error) {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if ctx.Err() != nil {
		return true, context.Cause(ctx)
	}
	c.mu.Lock()
	reason, blocked := c.blockingLocked(ph)
	paused := c.pauseBy != ""
	ready := len(c.readyLocked(ph)) > 0
	c.mu.Unlock()
	switch {
	case blocked:
		err := c.runTransition(ctx, actorBot, string(events.RunPaused), events.Event{Type: events.RunPaused, Phase: ph.ID, Summary: reason},
			func(r *store.Run) error {
				r.State = store.RunPaused
				r.StateReason = reason
				return nil
			})
		if err == nil {
			c.stopping()
		}
		return true, err
	case paused:
		c.stopping()
		return true, nil
	case ready:
		return false, nil
	}
	reason = "no remaining step can start: " + c.stuckReason(ph)
	now := c.e.cfg.Now()
	err := c.runTransition(ctx, actorBot, string(events.RunFailed), events.Event{Type: events.RunFailed, Phase: ph.ID, Error: reason},
		func(r *store.Run) error {
			r.State = store.RunFailed
			r.StateReason = reason
			r.EndedAt = now
			return nil
		})
	return true, err
}

// stopping marks the runner as gone while the caller holds opMu, so that a
// control operation that follows (Resume, RetryStep) starts a new runner
// rather than nudging this one, which is about to return.
func (c *runCtl) stopping() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.active = false
}

func (c *runCtl) stuckReason(ph *runbook.Phase) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for _, s := range ph.Steps {
		if st := c.states[s.ID]; !st.Status.Terminal() {
			parts = append(parts, fmt.Sprintf("%s (%s, needs %s)", s.ID, st.Status, strings.Join(s.Needs, ", ")))
		}
	}
	return strings.Join(parts, "; ")
}

// phaseFresh reports whether no step of the phase has started yet.
func (c *runCtl) phaseFresh(ph *runbook.Phase) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range ph.Steps {
		if c.states[s.ID].Status != store.StepPending {
			return false
		}
	}
	return true
}

func (c *runCtl) phaseComplete(ph *runbook.Phase) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range ph.Steps {
		if !c.states[s.ID].Status.Terminal() {
			return false
		}
	}
	return true
}

// blockingLocked reports the failed steps of the phase that no alternative
// can replace any more (see alternatives.go), as a pause reason.
func (c *runCtl) blockingLocked(ph *runbook.Phase) (string, bool) {
	var reasons []string
	for _, s := range ph.Steps {
		if r, blocked := c.blockedRootLocked(s); blocked {
			reasons = append(reasons, r)
		}
	}
	return strings.Join(reasons, "; "), len(reasons) > 0
}

// alternativesOf returns the direct alternatives of step id, in runbook
// order.
func (c *runCtl) alternativesOf(id string) []*runbook.Step {
	var out []*runbook.Step
	for _, s := range c.rb.AllSteps() {
		if s.AlternativeOf == id {
			out = append(out, s)
		}
	}
	return out
}

// readyLocked returns the phase's steps that may start now.
func (c *runCtl) readyLocked(ph *runbook.Phase) []*runbook.Step {
	var out []*runbook.Step
	for _, s := range ph.Steps {
		st := c.states[s.ID]
		if c.flying[s.ID] || st.Status.Terminal() || st.Status == store.StepFailed {
			continue
		}
		if s.AlternativeOf != "" {
			// One link of the chain at a time: only the alternative its
			// tree tries now.
			if root := c.rootOfLocked(s.ID); root == "" || c.nextAlternativeLocked(root) != s {
				continue
			}
		}
		ok := true
		for _, n := range s.Needs {
			if ns := c.states[n]; ns == nil || !ns.Status.Terminal() {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

// claimReady returns the steps that may start now, marked in flight, or
// none while the run is stopping (a failure to handle, a pause).
func (c *runCtl) claimReady(ctx context.Context, ph *runbook.Phase) []*runbook.Step {
	if ctx.Err() != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, blocked := c.blockingLocked(ph); blocked || c.pauseBy != "" {
		return nil
	}
	ready := c.readyLocked(ph)
	for _, s := range ready {
		c.flying[s.ID] = true
	}
	return ready
}

func (c *runCtl) unclaim(ready []*runbook.Step) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range ready {
		delete(c.flying, s.ID)
	}
}

// spawn executes each step in its own goroutine; each sends its error
// (nil unless the run cannot be recorded) to results.
func (c *runCtl) spawn(ctx context.Context, ready []*runbook.Step, results chan<- error) {
	for _, s := range ready {
		go func() {
			err := c.runStep(ctx, s)
			c.mu.Lock()
			delete(c.flying, s.ID)
			c.mu.Unlock()
			results <- err
		}()
	}
}

// reconcile settles alternatives until nothing changes: a failed step
// whose alternative is done (or was itself replaced further down the
// chain) becomes replaced; an alternative whose step finished is not
// needed. Each change makes a step terminal, so it ends.
func (c *runCtl) reconcile(ctx context.Context, ph *runbook.Phase) error {
	for {
		changed, err := c.reconcileOnce(ctx, ph)
		if err != nil || !changed {
			return err
		}
	}
}

func (c *runCtl) reconcileOnce(ctx context.Context, ph *runbook.Phase) (bool, error) {
	changed := false
	for _, alt := range ph.Steps {
		if alt.AlternativeOf == "" {
			continue
		}
		c.mu.Lock()
		as, ts := c.states[alt.ID], c.states[alt.AlternativeOf]
		if c.flying[alt.ID] || ts == nil {
			c.mu.Unlock()
			continue
		}
		now := c.e.cfg.Now()
		var err error
		switch {
		case (as.Status == store.StepDone || as.Status == store.StepReplaced) && ts.Status == store.StepFailed:
			t := cloneStep(ts)
			t.Status = store.StepReplaced
			t.Summary = c.replacedSummaryLocked(alt)
			t.Outputs = maps.Clone(as.Outputs)
			t.EndedAt = now
			c.states[t.StepID] = t
			c.mu.Unlock()
			changed = true
			err = c.stepTransition(ctx, t, actorBot, "step.replaced", events.Event{Type: events.StepDone, Phase: phaseOf(c.rb, t.StepID), Summary: t.Summary})
		case as.Status == store.StepPending && ts.Status.Terminal():
			// Not needed: settled in memory only, so that an alternative
			// that never ran leaves no record (progress cards omit it).
			a := cloneStep(as)
			a.Status = store.StepSkipped
			a.Summary = fmt.Sprintf("not needed: %s is %s", alt.AlternativeOf, ts.Status)
			c.states[a.StepID] = a
			c.mu.Unlock()
			changed = true
		case !as.Status.Terminal() && ts.Status.Terminal():
			// It ran (and failed, or was cut short) before its step was
			// retried or skipped: record that it is no longer needed.
			a := cloneStep(as)
			a.Status = store.StepSkipped
			a.Summary = fmt.Sprintf("not needed: %s is %s", alt.AlternativeOf, ts.Status)
			a.EndedAt = now
			c.states[a.StepID] = a
			c.mu.Unlock()
			changed = true
			err = c.stepTransition(ctx, a, actorBot, string(events.StepSkipped), events.Event{Type: events.StepSkipped, Phase: alt.Phase, Summary: a.Summary})
		default:
			c.mu.Unlock()
		}
		if err != nil {
			return changed, err
		}
	}
	return changed, nil
}

func phaseOf(rb *runbook.Runbook, stepID string) string {
	if s := rb.Step(stepID); s != nil {
		return s.Phase
	}
	return ""
}

// varsLocked returns the template data of the run: its parameters (with
// the runbook's defaults) and the outputs of finished steps.
func (c *runCtl) varsLocked() runbook.Vars {
	v := runbook.Vars{Params: paramsWithDefaults(c.rb, c.run.Params), Outputs: map[string]map[string]string{}}
	for id, st := range c.states {
		if st.Status == store.StepDone || st.Status == store.StepReplaced {
			v.Outputs[id] = maps.Clone(st.Outputs)
			if v.Outputs[id] == nil {
				v.Outputs[id] = map[string]string{}
			}
		}
	}
	return v
}

// paramsWithDefaults returns every declared parameter's value (given,
// else its default, else ""), as runbook.BindParams does, keeping any
// other given value.
func paramsWithDefaults(rb *runbook.Runbook, given map[string]string) map[string]string {
	out := maps.Clone(given)
	if out == nil {
		out = map[string]string{}
	}
	for _, p := range rb.Params {
		if _, ok := out[p.Name]; !ok {
			out[p.Name] = p.Default
		}
	}
	return out
}
