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
// by this deployment before a restart) and continues them. Afterwards,
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
	err := e.recoverRuns(ctx, lookup, false)
	if startLoop {
		e.runWG.Go(func() { e.takeoverLoop(lookup) })
	}
	return err
}

// recoverRuns takes over the runs left running; with expiredOnly, only
// those whose lease has expired (a live executor, even one with the same
// Owner, renews its lease).
func (e *Executor) recoverRuns(ctx context.Context, lookup func(string) (*runbook.Runbook, error), expiredOnly bool) error {
	var runs []*store.Run
	err := e.storeCall(ctx, func(ctx context.Context) error {
		var err error
		runs, err = e.cfg.Store.ListRuns(ctx, store.ListOptions{States: []store.RunState{store.RunRunning}})
		return err
	})
	if err != nil {
		return fmt.Errorf("recover: list running runs: %w", err)
	}
	var errs []error
	for _, run := range runs {
		if expiredOnly && run.LeaseUntil.After(e.cfg.Now()) {
			continue
		}
		if err := e.recoverRun(ctx, run, lookup); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// takeoverLoop takes over, every TakeoverInterval, the runs of executors
// that died (their lease expired), until Close.
func (e *Executor) takeoverLoop(lookup func(string) (*runbook.Runbook, error)) {
	t := time.NewTicker(e.cfg.TakeoverInterval)
	defer t.Stop()
	for {
		select {
		case <-e.base.Done():
			return
		case <-t.C:
			if err := e.recoverRuns(e.base, lookup, true); err != nil && e.base.Err() == nil {
				e.log.WarnContext(e.base, "take over runs of a dead executor", "err", e.scrub(err.Error()))
			}
		}
	}
}

func (e *Executor) recoverRun(ctx context.Context, run *store.Run, lookup func(string) (*runbook.Runbook, error)) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrClosed
	}
	c := e.runs[run.ID]
	e.mu.Unlock()
	if c != nil {
		c.mu.Lock()
		active := c.active
		c.mu.Unlock()
		if active {
			return nil
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
			return fmt.Errorf("recover run %s: %w", run.ID, err)
		}
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if err := c.claim(ctx); err != nil {
		if errors.Is(err, store.ErrLeaseHeld) {
			log.InfoContext(ctx, "run is owned by another live executor; leaving it")
			return nil
		}
		return fmt.Errorf("recover run %s: %w", run.ID, err)
	}
	if c.snapshot().State != store.RunRunning {
		return nil
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
			return fmt.Errorf("recover run %s: %w", run.ID, err)
		}
		return nil
	}
	log.InfoContext(ctx, "taking over run")
	if err := c.record(ctx, actorBot, string(events.RunResumed), events.Event{Type: events.RunResumed, Summary: "taken over by " + e.cfg.Owner + " after a restart"}); err != nil {
		return fmt.Errorf("recover run %s: %w", run.ID, err)
	}
	c.startRunner()
	return nil
}
