package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"time"

	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/store"
)

// errLeaseExpired stops a runner whose lease ran out before an Apply.
var errLeaseExpired = errors.New("lease on the run expired before Apply: not applying")

// errDeadline is the cause of a step context whose deadline passed.
var errDeadline = errors.New("deadline passed")

// stepRun executes one step of a run; it owns st while it runs.
type stepRun struct {
	c   *runCtl
	s   *runbook.Step
	st  *store.StepState
	run context.Context // the run's context: cancelled on abort and close
	// ctx is the step's: run's, under the step's deadline (cancel ends it).
	ctx    context.Context
	cancel context.CancelFunc
	// inst is the built step, from prepare until release.
	inst steps.Probe
	// startedAt is when the step first started ({{ now }} in its config).
	startedAt time.Time
	// gate: the step is a gate, done by a decision (never "already done").
	gate bool
}

// commit publishes st to the run's cache, persists it, then audits and
// announces the transition.
func (r *stepRun) commit(auditType string, ev events.Event) error {
	r.c.mu.Lock()
	if r.st.Message == (store.MessageRef{}) {
		// Where a gate asks for approval is recorded beside the step's
		// run (GatePosted): keep it.
		r.st.Message = r.c.states[r.s.ID].Message
	}
	r.c.states[r.s.ID] = cloneStep(r.st)
	r.c.mu.Unlock()
	ev.Phase = r.s.Phase
	return r.c.stepTransition(r.run, r.st, actorBot, auditType, ev)
}

// prepared says how prepare left a step.
type prepared int

const (
	stepReady   prepared = iota // built: drive it, or release it
	stepEnded                   // skipped by its condition, or the run stopped
	stepUnbuilt                 // its condition or its build failed: recorded failed
)

// prepare gets a step of a wave ready to run: it decides its `when` and
// builds its instance under the step's deadline. err is set only when a
// transition could not be recorded.
func (c *runCtl) prepare(ctx context.Context, s *runbook.Step) (r *stepRun, how prepared, err error) {
	if err := c.loadApprovers(ctx); err != nil {
		return &stepRun{c: c, s: s, cancel: func() {}}, stepEnded, err
	}
	c.mu.Lock()
	r = &stepRun{c: c, s: s, st: cloneStep(c.states[s.ID]), run: ctx}
	vars := c.varsLocked()
	c.mu.Unlock()
	r.startedAt = r.st.StartedAt
	if r.startedAt.IsZero() {
		r.startedAt = c.e.cfg.Now()
	}
	// {{ now }} is when the step first started, recorded with it: built
	// again after a restart, the step renders the same value.
	vars.Now = r.startedAt
	timeout := r.timeout()
	r.ctx, r.cancel = context.WithTimeoutCause(ctx, timeout, fmt.Errorf("step %s: %w (timeout %s)", s.ID, errDeadline, timeout))
	if s.When != nil {
		ok, err := s.When(vars)
		if err != nil {
			return r, stepUnbuilt, r.endPrepare(r.fail(fmt.Errorf("evaluate when: %w", err)))
		}
		if !ok {
			return r, stepEnded, r.endPrepare(r.skip("skipped: its when condition is false"))
		}
	}
	if s.Factory == nil {
		return r, stepUnbuilt, r.endPrepare(r.fail(fmt.Errorf("step %s has no factory", s.ID)))
	}
	e := r.c.e
	inst, err := buildStep(r.ctx, e.log, e.cfg.Redactor, s, vars)
	if err != nil {
		return r, stepUnbuilt, r.endPrepare(r.fail(buildFailed(err)))
	}
	r.inst = inst
	return r, stepReady, nil
}

// endPrepare releases a step that will not run and passes err on (nil
// when the run was stopped: the step's state stays as recorded).
func (r *stepRun) endPrepare(err error) error {
	r.release()
	if r.run.Err() != nil {
		return nil
	}
	return err
}

// release closes the step's instance and ends its deadline.
func (r *stepRun) release() {
	if r.inst != nil {
		closeStep(r.inst, r.c.e.log, r.c.e.cfg.Redactor, r.s.ID)
		r.inst = nil
	}
	r.cancel()
}

// drive runs a prepared step to done, skipped or failed. It returns nil
// when the step reached one of these (or the run was stopped), and an
// error only when a transition could not be recorded.
func (r *stepRun) drive() error {
	defer r.release()
	err := r.execute()
	if r.run.Err() != nil {
		return nil // aborted or closing: the step's state stays as recorded
	}
	return err
}

func (r *stepRun) execute() error {
	s, st, cfg := r.s, r.st, r.c.e.cfg
	ctx, inst := r.ctx, r.inst
	if g, ok := inst.(steps.Approval); ok {
		return r.waitGate(g.Policy())
	}
	step, mayApply := s.MayApply(inst)

	st.StartedAt = r.startedAt
	st.Status, st.Error, st.EndedAt = store.StepChecking, "", time.Time{}
	if err := r.commit("step.checking", events.Event{Type: events.StepStarted, Summary: s.Name}); err != nil {
		return err
	}

	errDelay := newBackoff(s.Retry.Backoff, s.Retry.MaxBackoff, cfg.RetryBackoff, cfg.MaxRetryBackoff, true)
	poll := newBackoff(s.Poll.Interval, s.Poll.Max, cfg.PollInterval, cfg.MaxPollInterval, false)
	w := &attempts{ctx: ctx, errDelay: errDelay}
	applied := false
	for {
		res, err := guard(ctx, "check", inst.Check)
		switch {
		case r.run.Err() != nil:
			return nil
		case err == nil && res.Done:
			return r.done(res)
		case err != nil:
			if stop, err := r.failed(w, "check", err, nil); stop {
				return err
			}
			continue
		}
		w.last = res.Summary
		if !mayApply || applied {
			if st.Status != store.StepWaiting || st.Summary != res.Summary {
				st.Status, st.Summary = store.StepWaiting, res.Summary
				if err := r.commit("step.waiting", events.Event{Summary: res.Summary}); err != nil {
					return err
				}
			}
			if !sleep(ctx, poll.next()) {
				return r.deadlineOrStop(w.last)
			}
			continue
		}

		if !r.c.leaseHeld() {
			// The lease could not be renewed in time: another executor may
			// own the run now. Never apply without it; stop, and let
			// whoever holds the lease (or Recover) go on.
			return fmt.Errorf("run %s: %w", r.c.id, errLeaseExpired)
		}
		st.Status, st.Summary = store.StepApplying, res.Summary
		st.Attempts++
		if err := r.commit(string(events.StepApplying), events.Event{Type: events.StepApplying, Summary: fmt.Sprintf("attempt %d: %s", st.Attempts, res.Summary)}); err != nil {
			return err
		}
		err = r.apply(ctx, step)
		switch {
		case r.run.Err() != nil:
			return nil
		case err == nil:
			// Check at once: most changes take effect quickly. The step is
			// recorded waiting only if that Check says not done yet (after a
			// crash, applying and waiting both mean: check again first).
			applied = true
			st.Error = ""
			continue
		}
		w.applyFailures++
		giveUp := func() error {
			if n := s.Retry.Attempts; n > 0 && w.applyFailures >= n {
				return fmt.Errorf("apply failed %d times, giving up: %w", w.applyFailures, err)
			}
			return nil
		}
		if stop, err := r.failed(w, "apply", err, giveUp); stop {
			return err
		}
		// Check again before the next Apply: the failed call may have
		// taken effect after all.
	}
}

// attempts is what a step's loop keeps across failed calls.
type attempts struct {
	ctx           context.Context // the step's context, under its deadline
	errDelay      *backoff
	applyFailures int
	last          string // the last observation, for the deadline's message
}

// failed handles an error of a Check or Apply call (what): past the
// deadline, on a permanent error, or when giveUp (optional) gives a reason,
// the step fails; otherwise the error is recorded as transient and the
// step backs off before its next call. It reports whether the step stops
// here, with the error to return.
func (r *stepRun) failed(w *attempts, what string, err error, giveUp func() error) (bool, error) {
	switch {
	case w.ctx.Err() != nil:
		return true, r.deadline(w.last, err)
	case steps.IsPermanent(err):
		return true, r.fail(fmt.Errorf("%s: %w", what, err))
	}
	if giveUp != nil {
		if why := giveUp(); why != nil {
			return true, r.fail(why)
		}
	}
	w.last = what + ": " + err.Error()
	if err := r.retrying(fmt.Errorf("%s: %w", what, err)); err != nil {
		return true, err
	}
	if !sleep(w.ctx, w.errDelay.next()) {
		return true, r.deadlineOrStop(w.last)
	}
	return false, nil
}

// apply calls Apply under ctx. An Apply that ignores its deadline is left
// running, and the step refuses to call Apply again until it returns: two
// Apply calls of one step never overlap.
func (r *stepRun) apply(ctx context.Context, inst steps.Step) error {
	c := r.c
	c.mu.Lock()
	prev := c.hung[r.s.ID]
	c.mu.Unlock()
	if prev != nil {
		select {
		case <-prev:
		default:
			return steps.Permanentf("the previous Apply of step %s has not returned yet (it ignored its deadline); retry the step later", r.s.ID)
		}
	}
	returned := make(chan struct{})
	_, err := guardLate(ctx, "apply", func(ctx context.Context) (struct{}, error) {
		defer close(returned)
		return struct{}{}, inst.Apply(ctx)
	}, nil)
	select {
	case <-returned:
	default: // abandoned: still running
		c.mu.Lock()
		c.hung[r.s.ID] = returned
		c.mu.Unlock()
	}
	return err
}

func (r *stepRun) retrying(err error) error {
	r.st.Error = err.Error()
	r.c.e.log.WarnContext(r.run, "transient step error, retrying", "run", r.c.id, "step", r.s.ID, "err", r.c.e.scrub(err.Error()))
	return r.commit(string(events.StepRetrying), events.Event{Type: events.StepRetrying, Error: err.Error()})
}

func (r *stepRun) done(res steps.Result) error {
	st := r.st
	st.Status = store.StepDone
	st.AlreadyDone = st.Attempts == 0 && !r.gate
	st.Summary = res.Summary
	st.Outputs = maps.Clone(res.Outputs)
	st.Error = ""
	st.EndedAt = r.c.e.cfg.Now()
	summary := res.Summary
	if st.AlreadyDone {
		summary = "already done: " + summary
	}
	return r.commit(string(events.StepDone), events.Event{Type: events.StepDone, Summary: summary})
}

func (r *stepRun) skip(why string) error {
	r.st.Status, r.st.Summary, r.st.EndedAt = store.StepSkipped, why, r.c.e.cfg.Now()
	summary := why
	if r.s.AlternativeOf != "" {
		// An alternative skipped by its condition passes the turn on.
		r.c.mu.Lock()
		if next := r.c.whatNextLocked(r.s.ID, store.StepSkipped); next != "" {
			summary += "; " + next
		}
		r.c.mu.Unlock()
	}
	return r.commit(string(events.StepSkipped), events.Event{Type: events.StepSkipped, Summary: summary})
}

func (r *stepRun) fail(err error) error {
	if r.run.Err() != nil {
		return nil
	}
	r.st.Status, r.st.Error, r.st.EndedAt = store.StepFailed, err.Error(), r.c.e.cfg.Now()
	r.c.e.log.WarnContext(r.run, "step failed", "run", r.c.id, "step", r.s.ID, "err", r.c.e.scrub(err.Error()))
	r.c.mu.Lock()
	summary := r.c.whatNextLocked(r.s.ID, store.StepFailed)
	r.c.mu.Unlock()
	return r.commit(string(events.StepFailed), events.Event{Type: events.StepFailed, Summary: summary, Error: r.st.Error})
}

func (r *stepRun) deadline(last string, err error) error {
	msg := fmt.Sprintf("not done within %s", r.timeout())
	if last != "" {
		msg += " (last: " + last + ")"
	}
	if err != nil && last == "" {
		msg += ": " + err.Error()
	}
	return r.fail(errors.New(msg))
}

func (r *stepRun) deadlineOrStop(last string) error {
	if r.run.Err() != nil {
		return nil
	}
	return r.deadline(last, nil)
}

func (r *stepRun) timeout() time.Duration {
	if r.s.Timeout > 0 {
		return r.s.Timeout
	}
	return r.c.e.cfg.StepTimeout
}

// closeStep releases what a step instance holds (its connections).
func closeStep(inst steps.Probe, log *slog.Logger, red *secret.Redactor, id string) {
	if c, ok := inst.(steps.Closer); ok {
		if err := c.Close(); err != nil {
			log.Warn("close step", "step", id, "err", red.Scrub(err.Error()))
		}
	}
}

// buildStep builds the step instance under ctx; an instance that arrives
// after ctx is done is closed. The factory's errors come back as a
// *buildError (a deadline or a panic does not).
func buildStep(ctx context.Context, log *slog.Logger, red *secret.Redactor, s *runbook.Step, vars runbook.Vars) (steps.Probe, error) {
	return guardLate(ctx, "build step", func(ctx context.Context) (steps.Probe, error) {
		inst, err := s.Factory.Build(ctx, vars)
		if err != nil {
			return nil, &buildError{err}
		}
		return inst, nil
	}, func(inst steps.Probe) { closeStep(inst, log, red, s.ID) })
}

// buildError marks an error of a step's factory (the runbook's says
// "build step <id> (<kind>): …"), for plans to tell it from a Check's.
type buildError struct{ err error }

func (e *buildError) Error() string { return e.err.Error() }
func (e *buildError) Unwrap() error { return e.err }

// buildFailed words a failed build once: the factory's error says "build
// step <id> (<kind>)" and a panic "build step panicked"; a deadline that
// passed during the build does not say it.
func buildFailed(err error) error {
	if be := (*buildError)(nil); errors.As(err, &be) || steps.IsPermanent(err) {
		return err
	}
	return fmt.Errorf("build step: %w", err)
}

// guard calls f in its own goroutine and returns when f returns or ctx is
// done, whichever comes first: a step that ignores its context cannot hold
// the run past its deadline. A panic in f becomes a permanent error.
func guard[T any](ctx context.Context, what string, f func(context.Context) (T, error)) (T, error) {
	return guardLate(ctx, what, f, nil)
}

// guardLate is guard; late, if set, gets the value f returns after ctx
// was done (to release it).
func guardLate[T any](ctx context.Context, what string, f func(context.Context) (T, error), late func(T)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- result{err: steps.Permanentf("%s panicked: %v", what, p)}
			}
		}()
		v, err := f(ctx)
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		if late != nil {
			go func() {
				if r := <-ch; r.err == nil {
					late(r.v)
				}
			}()
		}
		var zero T
		return zero, context.Cause(ctx)
	}
}

// backoff yields exponentially growing delays, with jitter when asked.
type backoff struct {
	cur, max time.Duration
	jitter   bool
}

func newBackoff(first, max, defFirst, defMax time.Duration, jitter bool) *backoff {
	if first <= 0 {
		first = defFirst
	}
	if max <= 0 {
		max = defMax
	}
	if max < first {
		max = first
	}
	return &backoff{cur: first, max: max, jitter: jitter}
}

// next returns the next delay: with jitter, uniformly in [d/2, d].
func (b *backoff) next() time.Duration {
	d := b.cur
	b.cur = min(b.cur*2, b.max)
	if b.jitter && d > 1 {
		d = d/2 + rand.N(d/2+1)
	}
	return d
}

// sleep waits d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
