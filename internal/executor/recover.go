package executor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
)

// Recover takes over the runs left running by a process that stopped (or
// by this deployment before a restart) once their leases have expired, and
// continues them. Afterwards,
// every Config.TakeoverInterval until Close, it also takes over the runs
// whose lease expired (another executor sharing the store died). A step recorded
// as checking, applying or waiting is checked again before anything is
// applied. lookup finds a runbook by name; it is also used later to resume
// runs this process did not start. Runs owned by another live executor are
// left alone; a run whose runbook is missing or changed since approval is
// paused with the reason.
func (e *Executor) Recover(ctx context.Context, lookup func(name string) (*runbook.Runbook, error)) error {
	e.mu.Lock()
	if lookup != nil {
		e.lookup = lookup
	}
	startLoop := !e.takingOver && e.cfg.TakeoverInterval > 0 && !e.closed
	e.takingOver = e.takingOver || startLoop
	e.mu.Unlock()
	_, err := e.recoverRuns(ctx, lookup, false)
	if startLoop {
		e.runWG.Go(func() { e.takeoverLoop(lookup) })
	}
	return err
}

// recoverRuns takes over the runs left running; with expiredOnly, only
// those whose lease has expired (a live executor renews its lease). It
// returns the earliest end of a lease it left alone (zero if none), when
// the run may be taken over if its owner is dead.
func (e *Executor) recoverRuns(ctx context.Context, lookup func(string) (*runbook.Runbook, error), expiredOnly bool) (time.Time, error) {
	var runs []*store.Run
	err := e.storeCall(ctx, func(ctx context.Context) error {
		var err error
		runs, err = e.cfg.Store.ListRuns(ctx, store.ListOptions{States: []store.RunState{store.RunRunning, store.RunWaiting}})
		return err
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("recover: list running runs: %w", err)
	}
	var errs []error
	var next time.Time
	held := func(until time.Time) {
		if next.IsZero() || until.Before(next) {
			next = until
		}
	}
	for _, run := range runs {
		if expiredOnly && run.LeaseUntil.After(e.cfg.Now()) {
			if run.Owner != e.owner {
				held(run.LeaseUntil)
			}
			continue
		}
		until, err := e.recoverRun(ctx, run, lookup)
		if err != nil {
			errs = append(errs, err)
		}
		if !until.IsZero() {
			held(until)
		}
	}
	return next, errors.Join(errs...)
}

// takeoverLoop takes over the runs of executors that died (their lease
// expired), every TakeoverInterval and as soon as a lease it saw held
// ends, until Close.
func (e *Executor) takeoverLoop(lookup func(string) (*runbook.Runbook, error)) {
	next := time.Time{}
	for {
		wait := e.cfg.TakeoverInterval
		if !next.IsZero() {
			// A little after the lease ends, by this process's clock.
			wait = min(wait, time.Until(next)+e.cfg.LeaseTTL/10)
		}
		t := time.NewTimer(max(wait, 10*time.Millisecond))
		select {
		case <-e.base.Done():
			t.Stop()
			return
		case <-t.C:
		}
		var err error
		if next, err = e.recoverRuns(e.base, lookup, true); err != nil && e.base.Err() == nil {
			e.log.WarnContext(e.base, "take over runs of a dead executor", "err", e.scrub(err.Error()))
		}
	}
}

// recoverRun takes run over and continues it, unless another live
// executor holds its lease: it then returns when that lease ends.
func (e *Executor) recoverRun(ctx context.Context, run *store.Run, lookup func(string) (*runbook.Runbook, error)) (time.Time, error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return time.Time{}, ErrClosed
	}
	c := e.runs[run.ID]
	e.mu.Unlock()
	if c != nil {
		c.mu.Lock()
		active := c.active
		c.mu.Unlock()
		if active {
			return time.Time{}, nil
		}
	}
	log := e.log.With("run", run.ID, "runbook", run.Runbook)
	var rb *runbook.Runbook
	var rbErr error
	if lookup == nil {
		rbErr = ErrNoRunbook
	} else if rb, rbErr = lookup(run.Runbook); rbErr == nil && rb == nil {
		rbErr = ErrNoRunbook
	}
	if rbErr != nil {
		// Without its runbook the run cannot go on: pause it, visibly.
		c = newRunCtl(e, run, &runbook.Runbook{Name: run.Runbook})
	} else {
		var err error
		if c, err = e.ctl(ctx, run.ID, rb); err != nil {
			return time.Time{}, fmt.Errorf("recover run %s: %w", run.ID, err)
		}
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if err := c.claim(ctx); err != nil {
		if errors.Is(err, store.ErrLeaseHeld) {
			cur, gerr := e.getRun(ctx, run.ID)
			if gerr != nil {
				return time.Time{}, fmt.Errorf("recover run %s: %w", run.ID, gerr)
			}
			log.InfoContext(ctx, "run is held by another executor: leaving it; it is taken over if that lease ends without a renewal",
				"owner", cur.Owner, "until", cur.LeaseUntil.Format(time.RFC3339Nano), "self", e.owner)
			return cur.LeaseUntil, nil
		}
		return time.Time{}, fmt.Errorf("recover run %s: %w", run.ID, err)
	}
	if !c.snapshot().State.Executing() {
		return time.Time{}, nil
	}
	why := ""
	if rbErr != nil {
		why = fmt.Sprintf("cannot continue after restart: runbook %s: %v", run.Runbook, rbErr)
	} else if err := e.checkPlan(rb, c.snapshot()); err != nil {
		why = "cannot continue after restart: " + err.Error() + "; abort the run and start a new one"
	}
	if why != "" {
		log.WarnContext(ctx, "pausing recovered run", "why", e.scrub(why))
		err := c.runTransition(ctx, actorBot, string(events.RunPaused), events.Event{Type: events.RunPaused, Summary: why},
			func(r *store.Run) error {
				r.State, r.StateReason = store.RunPaused, why
				return nil
			})
		if err != nil {
			return time.Time{}, fmt.Errorf("recover run %s: %w", run.ID, err)
		}
		return time.Time{}, nil
	}
	log.InfoContext(ctx, "taking over run", "from", run.Owner, "self", e.owner)
	summary := "taken over by " + e.owner
	if run.Owner != "" {
		summary += " from " + run.Owner + ", whose lease ended (it stopped or restarted)"
	}
	// A run that waited for a gate is running again until its gate waits
	// again.
	err := c.runTransition(ctx, actorBot, string(events.RunResumed), events.Event{Type: events.RunResumed, Summary: summary},
		func(r *store.Run) error {
			if r.State == store.RunWaiting {
				r.State = store.RunRunning
			}
			return nil
		})
	if err != nil {
		return time.Time{}, fmt.Errorf("recover run %s: %w", run.ID, err)
	}
	c.startRunner()
	return time.Time{}, nil
}
