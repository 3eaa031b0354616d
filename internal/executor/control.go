package executor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
)

// errAborted cancels the runner of an aborted run.
var errAborted = errors.New("run aborted")

// Start executes a run that the commands layer created and had approved
// (state pending_approval). It refuses with ErrStalePlan when rb's plan hash
// for the run's parameters differs from the one approved, takes the run's
// lease, records it as running and executes it in the background: use Wait
// to follow it.
func (e *Executor) Start(ctx context.Context, runID string, rb *runbook.Runbook) error {
	if rb == nil {
		return fmt.Errorf("start run %s: %w", runID, ErrNoRunbook)
	}
	// Refuse before touching anything: a refused start changes nothing.
	run, err := e.getRun(ctx, runID)
	if err != nil {
		return fmt.Errorf("start run %s: %w", runID, err)
	}
	if err := e.startable(rb, run); err != nil {
		return fmt.Errorf("start run %s: %w", runID, err)
	}
	c, err := e.ctl(ctx, runID, rb)
	if err != nil {
		return fmt.Errorf("start run %s: %w", runID, err)
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if err := e.startable(rb, c.snapshot()); err != nil {
		return fmt.Errorf("start run %s: %w", runID, err)
	}
	if err := c.claim(ctx); err != nil {
		return fmt.Errorf("start run %s: %w", runID, err)
	}
	now := e.cfg.Now()
	err = c.runTransition(ctx, actorBot, string(events.RunStarted), events.Event{Type: events.RunStarted, Summary: rb.Description},
		func(r *store.Run) error {
			if r.State != store.RunPending {
				return fmt.Errorf("%w (it is %s)", ErrNotPending, r.State)
			}
			r.State, r.StateReason, r.StartedAt = store.RunRunning, "", now
			return nil
		})
	if err != nil {
		return fmt.Errorf("start run %s: %w", runID, err)
	}
	c.startRunner()
	return nil
}

func (e *Executor) startable(rb *runbook.Runbook, run *store.Run) error {
	if run.Runbook != rb.Name {
		return fmt.Errorf("it is a run of runbook %s, not %s", run.Runbook, rb.Name)
	}
	if run.State != store.RunPending {
		return fmt.Errorf("%w (it is %s)", ErrNotPending, run.State)
	}
	return e.checkPlan(rb, run)
}

func (e *Executor) checkPlan(rb *runbook.Runbook, run *store.Run) error {
	h, err := e.Planner().Hash(rb, run.Params)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStalePlan, err)
	}
	if h != run.PlanHash {
		return fmt.Errorf("%w (approved plan %s, runbook now gives %s)", ErrStalePlan, short(run.PlanHash), short(h))
	}
	return nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// Pause stops a running run from starting new steps; steps in flight run
// to their end. The run is recorded paused at once.
func (e *Executor) Pause(ctx context.Context, runID, by string) error {
	c, err := e.ctl(ctx, runID, nil)
	if err != nil {
		return fmt.Errorf("pause run %s: %w", runID, err)
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if err := executing(c.snapshot()); err != nil {
		return fmt.Errorf("pause run %s: %w", runID, err)
	}
	c.mu.Lock()
	active := c.active
	c.mu.Unlock()
	if !active {
		// Running in the store but not here: take it over (fails if another
		// live executor owns it) so that the pause is ours to record.
		if err := c.claim(ctx); err != nil {
			return fmt.Errorf("pause run %s: %w", runID, err)
		}
	}
	reason := "paused by " + by
	err = c.runTransition(ctx, by, string(events.RunPaused), events.Event{Type: events.RunPaused, Summary: reason},
		func(r *store.Run) error {
			if err := executing(r); err != nil {
				return err
			}
			r.State, r.StateReason = store.RunPaused, reason
			return nil
		})
	if err != nil {
		return fmt.Errorf("pause run %s: %w", runID, err)
	}
	c.mu.Lock()
	c.pauseBy = by
	c.mu.Unlock()
	c.nudge()
	c.wakeGates()
	return nil
}

// Resume continues a paused run. It refuses with ErrStepFailed while a
// step has failed (retry it, skip it, or abort the run), and with
// ErrStalePlan when the runbook changed since approval.
func (e *Executor) Resume(ctx context.Context, runID, by string) error {
	c, err := e.ctl(ctx, runID, nil)
	if err != nil {
		return fmt.Errorf("resume run %s: %w", runID, err)
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	run := c.snapshot()
	if err := stateIs(run, store.RunPaused, ErrNotPaused); err != nil {
		return fmt.Errorf("resume run %s: %w", runID, err)
	}
	if failed := c.failedSteps(); len(failed) > 0 {
		return fmt.Errorf("resume run %s: step %s: %w", runID, failed[0], ErrStepFailed)
	}
	if err := c.resumeLocked(ctx, by, "resumed by "+by); err != nil {
		return fmt.Errorf("resume run %s: %w", runID, err)
	}
	return nil
}

// resumeLocked moves a paused run back to running and makes sure a runner
// executes it. The caller holds opMu.
func (c *runCtl) resumeLocked(ctx context.Context, by, summary string) error {
	c.mu.Lock()
	active, rb := c.active, c.rb
	c.mu.Unlock()
	if err := c.e.checkPlan(rb, c.snapshot()); err != nil {
		return err
	}
	if !active {
		if err := c.claim(ctx); err != nil {
			return err
		}
	}
	err := c.runTransition(ctx, by, string(events.RunResumed), events.Event{Type: events.RunResumed, Summary: summary},
		func(r *store.Run) error {
			if err := stateIs(r, store.RunPaused, ErrNotPaused); err != nil {
				return err
			}
			r.State, r.StateReason = store.RunRunning, ""
			return nil
		})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.pauseBy = ""
	c.mu.Unlock()
	if active {
		c.nudge()
	} else {
		c.startRunner()
	}
	return nil
}

// Abort stops a running or paused run: steps in flight are cancelled and
// the run ends aborted.
func (e *Executor) Abort(ctx context.Context, runID, by string) error {
	c, err := e.ctl(ctx, runID, nil)
	if err != nil {
		return fmt.Errorf("abort run %s: %w", runID, err)
	}
	c.opMu.Lock()
	run := c.snapshot()
	if !run.State.Active() {
		c.opMu.Unlock()
		return fmt.Errorf("abort run %s: %w (it is %s)", runID, ErrRunEnded, run.State)
	}
	if run.State == store.RunPending {
		c.opMu.Unlock()
		return fmt.Errorf("abort run %s: %w: it has not started (reject or cancel the request instead)", runID, ErrNotRunning)
	}
	wasActive := false
	for {
		c.mu.Lock()
		active, cancel, done := c.active, c.cancel, c.done
		c.mu.Unlock()
		if !active {
			break
		}
		wasActive = true
		// Wait for the runner without holding opMu: it may be waiting for
		// opMu itself to record a pause; cancelled, it records nothing.
		// A Resume may slip in while opMu is free and start a new runner:
		// loop until none is active, so no runner outlives the abort.
		cancel(errAborted)
		c.opMu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("abort run %s: waiting for its steps to stop: %w", runID, context.Cause(ctx))
		}
		c.opMu.Lock()
	}
	defer c.opMu.Unlock()
	if !wasActive && run.State.Executing() {
		if err := c.claim(ctx); err != nil {
			return fmt.Errorf("abort run %s: %w", runID, err)
		}
	}
	wctx, wcancel := detached(ctx)
	defer wcancel()
	reason := "aborted by " + by
	now := e.cfg.Now()
	err = c.runTransition(wctx, by, string(events.RunAborted), events.Event{Type: events.RunAborted, Summary: reason},
		func(r *store.Run) error {
			if !r.State.Active() {
				return fmt.Errorf("%w (it is %s)", ErrRunEnded, r.State)
			}
			r.State, r.StateReason, r.EndedAt = store.RunAborted, reason, now
			return nil
		})
	if err != nil {
		return fmt.Errorf("abort run %s: %w", runID, err)
	}
	e.forget(c)
	return nil
}

// forget drops an ended run's controller.
func (e *Executor) forget(c *runCtl) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.runs[c.id] == c {
		delete(e.runs, c.id)
	}
}

// RetryStep runs a failed step again from its Check; the run goes on if no
// other step has failed.
func (e *Executor) RetryStep(ctx context.Context, runID, stepID, by string) error {
	return e.stepOp(ctx, runID, stepID, by, "retry step", func(c *runCtl, st *store.StepState) (string, events.Event, error) {
		if st.Status != store.StepFailed {
			return "", events.Event{}, fmt.Errorf("%w (it is %s)", ErrStepNotFailed, st.Status)
		}
		// One step of an alternative chain at a time: not while another
		// step of the chain is being executed.
		if other := c.treeFlyingLocked(st.StepID); other != "" {
			return "", events.Event{}, fmt.Errorf("%w (%s, of the same alternative chain: retry when it has ended)", ErrStepInFlight, other)
		}
		st.Status, st.Error, st.EndedAt = store.StepPending, "", zeroTime
		return "step.retry", events.Event{Summary: "retry requested by " + by}, nil
	})
}

// SkipStep marks a failed or not yet started step skipped; steps that need
// it go on. A step being executed cannot be skipped (pause first).
func (e *Executor) SkipStep(ctx context.Context, runID, stepID, by string) error {
	return e.stepOp(ctx, runID, stepID, by, "skip step", func(c *runCtl, st *store.StepState) (string, events.Event, error) {
		if st.Status.Terminal() {
			return "", events.Event{}, fmt.Errorf("%w (it is %s)", ErrStepDone, st.Status)
		}
		st.Status, st.Summary, st.EndedAt = store.StepSkipped, "skipped by "+by, e.cfg.Now()
		return string(events.StepSkipped), events.Event{Type: events.StepSkipped, Summary: st.Summary}, nil
	})
}

// stepOp changes one step of an active run on an operator's request, then
// resumes the run if it was paused and no failed step remains.
func (e *Executor) stepOp(ctx context.Context, runID, stepID, by, what string,
	change func(c *runCtl, st *store.StepState) (string, events.Event, error)) error {
	c, err := e.ctl(ctx, runID, nil)
	if err != nil {
		return fmt.Errorf("%s %s of run %s: %w", what, stepID, runID, err)
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	run := c.snapshot()
	if !run.State.Active() {
		return fmt.Errorf("%s %s of run %s: %w (it is %s)", what, stepID, runID, ErrRunEnded, run.State)
	}
	if run.State == store.RunPending {
		return fmt.Errorf("%s %s of run %s: %w: it has not started", what, stepID, runID, ErrNotRunning)
	}
	c.mu.Lock()
	s := c.rb.Step(stepID)
	if s == nil {
		c.mu.Unlock()
		return fmt.Errorf("%s %s of run %s: %w in runbook %s", what, stepID, runID, ErrUnknownStep, c.rb.Name)
	}
	if c.flying[stepID] {
		c.mu.Unlock()
		return fmt.Errorf("%s %s of run %s: %w", what, stepID, runID, ErrStepInFlight)
	}
	st := cloneStep(c.states[stepID])
	auditType, ev, err := change(c, st)
	if err != nil {
		c.mu.Unlock()
		return fmt.Errorf("%s %s of run %s: %w", what, stepID, runID, err)
	}
	c.states[stepID] = cloneStep(st)
	c.mu.Unlock()
	ev.Phase = s.Phase
	if err := c.stepTransition(ctx, st, by, auditType, ev); err != nil {
		return fmt.Errorf("%s %s of run %s: %w", what, stepID, runID, err)
	}
	if run.State == store.RunPaused && len(c.failedSteps()) == 0 {
		if err := c.resumeLocked(ctx, by, fmt.Sprintf("resumed after %s %s by %s", what, stepID, by)); err != nil {
			return fmt.Errorf("%s %s of run %s: resume: %w", what, stepID, runID, err)
		}
		return nil
	}
	c.nudge()
	return nil
}

// failedSteps lists the failed steps that block the run: a failed step
// with no alternative left, and the alternatives of it that were tried and
// failed. A failed step whose next alternative is still to run does not
// block, nor does an alternative whose step has since been retried or has
// finished.
func (c *runCtl) failedSteps() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, s := range c.rb.AllSteps() {
		if _, blocked := c.blockedRootLocked(s); !blocked {
			continue
		}
		out = append(out, s.ID)
		for _, alt := range c.triedLocked(s.ID) {
			if c.states[alt.ID].Status == store.StepFailed {
				out = append(out, alt.ID)
			}
		}
	}
	slices.Sort(out)
	return out
}

func (c *runCtl) nudge() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// executing refuses, with ErrNotRunning, a run that is not executing
// (running, or waiting for a gate's approval).
func executing(r *store.Run) error {
	if r.State.Executing() {
		return nil
	}
	return stateIs(r, store.RunRunning, ErrNotRunning)
}

func stateIs(r *store.Run, want store.RunState, err error) error {
	if r.State == want {
		return nil
	}
	if !r.State.Active() {
		return fmt.Errorf("%w (it is %s)", ErrRunEnded, r.State)
	}
	return fmt.Errorf("%w (it is %s)", err, r.State)
}

var zeroTime time.Time
