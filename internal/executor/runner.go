package executor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
)

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
			c.stalled(context.WithoutCancel(ctx), err)
		}
	}()
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
		if stop, err := c.prebuild(ctx, ph); stop {
			return err
		}
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
			started, err := c.spawn(ctx, ready, results)
			inflight += started
			if err != nil {
				return err
			}
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

// spawn builds every step of a wave (the steps that may start now), then
// executes each in its own goroutine; each sends its error (nil unless the
// run cannot be recorded) to results. When a step of the wave cannot be
// built (recorded failed), none of the others starts: they are released
// and the run stops before applying anything beside the failed one. It
// returns how many steps it started, and an error when a transition could
// not be recorded.
func (c *runCtl) spawn(ctx context.Context, ready []*runbook.Step, results chan<- error) (int, error) {
	runs := make([]*stepRun, len(ready))
	hows := make([]prepared, len(ready))
	errs := make([]error, len(ready))
	var wg sync.WaitGroup
	for i, s := range ready {
		wg.Go(func() { runs[i], hows[i], errs[i] = c.prepare(ctx, s) })
	}
	wg.Wait()
	unbuilt := slices.Contains(hows, stepUnbuilt)
	started := 0
	for i, r := range runs {
		if hows[i] != stepReady || unbuilt {
			if hows[i] == stepReady {
				r.release()
			}
			c.mu.Lock()
			delete(c.flying, r.s.ID)
			c.mu.Unlock()
			continue
		}
		started++
		go func() {
			err := r.drive()
			c.mu.Lock()
			delete(c.flying, r.s.ID)
			c.mu.Unlock()
			results <- err
		}()
	}
	return started, errors.Join(errs...)
}

// prebuild builds every step of the phase that is still to run, before
// any of them is applied (as far as it can be: a step whose config waits
// for outputs of steps not run yet is built whole just before it runs). A
// step that cannot be built pauses the run here, with nothing of the phase
// applied; it reports whether the run stopped.
func (c *runCtl) prebuild(ctx context.Context, ph *runbook.Phase) (bool, error) {
	c.mu.Lock()
	vars := c.varsLocked()
	var todo []*runbook.Step
	for _, s := range ph.Steps {
		if st := c.states[s.ID]; !st.Status.Terminal() && st.Status != store.StepFailed {
			todo = append(todo, s)
		}
	}
	c.mu.Unlock()
	pl := c.e.Planner()
	problems := make([]string, len(todo))
	var wg sync.WaitGroup
	for i, s := range todo {
		if s.When != nil {
			if ok, err := s.When(vars); err == nil && !ok {
				continue
			}
		}
		wg.Go(func() {
			bctx, cancel := context.WithTimeoutCause(ctx, pl.CheckTimeout, fmt.Errorf("building the step took over %s", pl.CheckTimeout))
			defer cancel()
			if _, err := guard(bctx, "build step", func(ctx context.Context) ([]string, error) { return s.Preflight(ctx, vars) }); err != nil {
				problems[i] = fmt.Sprintf("cannot build step %s (%s): %s", s.ID, s.Kind, buildReason(s, err))
			}
		})
	}
	wg.Wait()
	problems = slices.DeleteFunc(problems, func(p string) bool { return p == "" })
	if len(problems) == 0 || ctx.Err() != nil {
		return ctx.Err() != nil, context.Cause(ctx)
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	reason := strings.Join(problems, "; ") + " — nothing of phase " + ph.ID + " was applied; fix it and resume, skip the step, or abort"
	err := c.runTransition(ctx, actorBot, string(events.RunPaused), events.Event{Type: events.RunPaused, Phase: ph.ID, Summary: reason},
		func(r *store.Run) error {
			if err := executing(r); err != nil {
				return err
			}
			r.State, r.StateReason = store.RunPaused, reason
			return nil
		})
	if err == nil {
		c.stopping()
	}
	return true, err
}

// stalled announces, once, that the run stopped because its transitions
// could not be recorded: nothing more is applied until they can, and the
// run goes on by itself then (takeover, Recover). It writes nothing: the
// store is what failed.
func (c *runCtl) stalled(ctx context.Context, err error) {
	e := c.e
	e.mu.Lock()
	again := e.stalled[c.id]
	e.stalled[c.id] = true
	e.mu.Unlock()
	if again {
		return
	}
	e.notify(ctx, c.announced(events.Event{Type: events.RunStalled, Error: e.scrub(err.Error()),
		Summary: "the bot cannot write to its store: nothing more is applied until it can; the run goes on by itself then"}))
}

// unstalled announces that a stalled run goes on (a step transition was
// recorded again).
func (c *runCtl) unstalled(ctx context.Context) {
	e := c.e
	e.mu.Lock()
	was := e.stalled[c.id]
	delete(e.stalled, c.id)
	e.mu.Unlock()
	if was {
		e.notify(ctx, c.announced(events.Event{Type: events.RunUnstalled, Summary: "the store can be written again: the run goes on"}))
	}
}
