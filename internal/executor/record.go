package executor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
)

// actorBot is the audit actor of transitions the executor makes by itself.
const actorBot = "bot"

// runCtl is this executor's handle on one run: the cached run record and
// step states, and the runner goroutine while the run executes here.
type runCtl struct {
	e  *Executor
	id string

	// writeMu serialises run record writes of this process.
	writeMu sync.Mutex
	// opMu serialises control operations (pause, resume, abort, retry,
	// skip) with the runner's decisions to stop.
	opMu sync.Mutex

	mu      sync.Mutex
	rb      *runbook.Runbook
	run     *store.Run
	states  map[string]*store.StepState
	active  bool                     // a runner goroutine executes the run
	cancel  context.CancelCauseFunc  // cancels the runner
	done    chan struct{}            // closed when the runner exits
	pauseBy string                   // a pause was requested (runner stops launching)
	wake    chan struct{}            // nudges the runner after a control operation
	flying  map[string]bool          // steps being executed
	hung    map[string]chan struct{} // abandoned Apply calls, closed when they return
	gates   map[string]chan struct{} // gates waiting here, woken by a decision or a pause
	// leaseUntil is when the lease taken by the last successful claim ends.
	leaseUntil time.Time
	// approvers are the users whose approval of the run's plan counted
	// ({{ .run.approvers }}); nil until loaded by the first step.
	approvers []string
}

func newRunCtl(e *Executor, run *store.Run, rb *runbook.Runbook) *runCtl {
	return &runCtl{
		e:      e,
		id:     run.ID,
		rb:     rb,
		run:    run,
		states: map[string]*store.StepState{},
		wake:   make(chan struct{}, 1),
		flying: map[string]bool{},
		hung:   map[string]chan struct{}{},
		gates:  map[string]chan struct{}{},
		done:   closedChan(),
	}
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// loadSteps reads the persisted step states; steps with none are pending
// (a step's first record is written when it starts).
func (c *runCtl) loadSteps(ctx context.Context) error {
	var have []*store.StepState
	err := c.e.storeCall(ctx, func(ctx context.Context) error {
		var err error
		have, err = c.e.cfg.Store.Steps(ctx, c.id)
		return err
	})
	if err != nil {
		return fmt.Errorf("load steps of run %s: %w", c.id, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range have {
		c.states[s.StepID] = s
	}
	for _, s := range c.rb.AllSteps() {
		if c.states[s.ID] == nil {
			c.states[s.ID] = &store.StepState{RunID: c.id, StepID: s.ID, Status: store.StepPending}
		}
	}
	return nil
}

func cloneStep(s *store.StepState) *store.StepState {
	cp := *s
	cp.Outputs = maps.Clone(s.Outputs)
	return &cp
}

func cloneRun(r *store.Run) *store.Run {
	cp := *r
	cp.Params = maps.Clone(r.Params)
	return &cp
}

// snapshot returns a copy of the run record.
func (c *runCtl) snapshot() *store.Run {
	c.mu.Lock()
	defer c.mu.Unlock()
	return cloneRun(c.run)
}

// updateRun applies mutate to the run record and stores it. On a version
// conflict (another writer, or a lease renewal) it re-reads the run and
// applies mutate again; mutate may refuse by returning an error.
func (c *runCtl) updateRun(ctx context.Context, mutate func(r *store.Run) error) (*store.Run, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	cur := c.snapshot()
	for attempt := 0; ; attempt++ {
		next := cloneRun(cur)
		if err := mutate(next); err != nil {
			return nil, err
		}
		next.StateReason = c.e.scrub(next.StateReason)
		err := c.e.storeCall(ctx, func(ctx context.Context) error { return c.e.cfg.Store.UpdateRun(ctx, next) })
		if err == nil {
			c.mu.Lock()
			c.run = next
			c.mu.Unlock()
			return cloneRun(next), nil
		}
		if !errors.Is(err, store.ErrConflict) || attempt == 5 {
			return nil, fmt.Errorf("update run %s: %w", c.id, err)
		}
		if cur, err = c.e.getRun(ctx, c.id); err != nil {
			return nil, err
		}
		// A claim by another executor bumped the version: the run is
		// theirs now, and this stale writer must not overwrite it.
		if cur.Owner != "" && cur.Owner != c.e.owner && cur.LeaseUntil.After(c.e.cfg.Now()) {
			return nil, fmt.Errorf("update run %s: %w (owner %s)", c.id, store.ErrLeaseHeld, cur.Owner)
		}
	}
}

// putStep persists a copy of st (scrubbed) under the lock-free store path.
func (c *runCtl) putStep(ctx context.Context, st *store.StepState) error {
	st = cloneStep(st)
	st.Error = c.e.scrub(st.Error)
	st.Summary = c.e.scrub(st.Summary)
	// Outputs are stored scrubbed; the raw values, which later steps of
	// the run may need, stay in this process's memory (c.states) only.
	for k, v := range st.Outputs {
		st.Outputs[k] = c.e.scrub(v)
	}
	if err := c.e.storeCall(ctx, func(ctx context.Context) error { return c.e.cfg.Store.PutStep(ctx, st) }); err != nil {
		return fmt.Errorf("record step %s of run %s as %s: %w", st.StepID, c.id, st.Status, err)
	}
	return nil
}

// record appends an audit event and then announces the event, in that
// order, both scrubbed. Callers persist the state change first.
func (c *runCtl) record(ctx context.Context, actor, auditType string, ev events.Event) error {
	e := c.e
	now := e.cfg.Now()
	ev.Summary = e.scrub(ev.Summary)
	ev.Error = e.scrub(ev.Error)
	msg := ev.Summary
	if ev.Error != "" {
		if msg != "" {
			msg += ": "
		}
		msg += ev.Error
	}
	a := &store.AuditEvent{RunID: c.id, At: now, Actor: actor, Type: auditType, StepID: ev.StepID, Message: msg}
	if len(ev.Data) > 0 {
		scrubbed := make(map[string]string, len(ev.Data))
		for k, v := range ev.Data {
			scrubbed[k] = e.scrub(v)
		}
		ev.Data = scrubbed
		a.Data = maps.Clone(scrubbed)
	}
	if ev.Phase != "" {
		if a.Data == nil {
			a.Data = map[string]string{}
		}
		a.Data["phase"] = ev.Phase
	}
	if err := e.storeCall(ctx, func(ctx context.Context) error { return e.cfg.Store.Append(ctx, a) }); err != nil {
		return fmt.Errorf("append audit event %s of run %s: %w", auditType, c.id, err)
	}
	e.log.InfoContext(ctx, auditType, "run", c.id, "step", ev.StepID, "phase", ev.Phase, "actor", actor, "msg", msg)
	if ev.Type == "" {
		return nil
	}
	ev.Seq = a.Seq
	c.mu.Lock()
	ev.Runbook = c.run.Runbook
	started := c.run.StartedAt
	c.mu.Unlock()
	ev.At = now
	ev.RunID = c.id
	if !started.IsZero() {
		ev.Elapsed = now.Sub(started)
	}
	e.notify(ctx, ev)
	return nil
}

// notify hands ev to the sink; a sink that panics does not fail the run.
func (e *Executor) notify(ctx context.Context, ev events.Event) {
	defer func() {
		if p := recover(); p != nil {
			e.log.ErrorContext(ctx, "event sink panicked", "event", ev.Type, "run", ev.RunID, "panic", e.scrub(fmt.Sprint(p)))
		}
	}()
	e.cfg.Sink.Notify(context.WithoutCancel(ctx), ev)
}

// stepTransition stores a step state, then audits and announces it.
func (c *runCtl) stepTransition(ctx context.Context, st *store.StepState, actor, auditType string, ev events.Event) error {
	if err := c.putStep(ctx, st); err != nil {
		return err
	}
	ev.StepID = st.StepID
	if err := c.record(ctx, actor, auditType, ev); err != nil {
		return err
	}
	c.unstalled(ctx) // recorded again: a stalled run goes on
	return nil
}

// runTransition updates the run record, then audits and announces it.
func (c *runCtl) runTransition(ctx context.Context, actor, auditType string, ev events.Event, mutate func(r *store.Run) error) error {
	if _, err := c.updateRun(ctx, mutate); err != nil {
		return err
	}
	return c.record(ctx, actor, auditType, ev)
}

// detached returns a context for writes that must happen even though the
// run's context was cancelled (recording an abort).
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
}
