package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/store"
)

// runState is what the pipeline knows of one run. The dispatcher goroutine
// creates and changes it, under Pipeline.mu.
type runState struct {
	id     string
	run    *store.Run
	plan   Plan
	queues map[string]*queue
	order  []*queue
	// seen holds target+"\x00"+key of what was dispatched in this process.
	seen     map[string]bool
	caughtUp bool
	ended    bool
	// stopAt is when retrying stops (zero: not yet known).
	stopAt time.Time
	// stopSeen: the last run-level news dispatched was that the run
	// stopped (ended, paused, a step failed).
	stopSeen bool
	// links caches permalinks by message.
	links map[chat.MessageRef]string
}

func (rs *runState) stopBy(t time.Time) {
	if rs.stopAt.IsZero() || t.Before(rs.stopAt) {
		rs.stopAt = t
	}
}

// announced are the event types the executor announces (and records in the
// audit trail under the same name).
var announced = map[events.Type]bool{
	events.RunRequested: true, events.ApprovalRequested: true, events.RunApproved: true, events.RunRejected: true,
	events.RunExpired: true, events.RunCancelled: true, events.RunStartFailed: true, events.RunStarted: true,
	events.RunResumed: true, events.RunPaused: true, events.RunSucceeded: true, events.RunFailed: true,
	events.RunAborted: true, events.PhaseStarted: true, events.PhaseDone: true, events.StepStarted: true,
	events.StepApplying: true, events.StepDone: true, events.StepFailed: true, events.StepSkipped: true,
	events.StepRetrying: true, GateWaitingEvent: true,
}

// failures carry their message in Error.
var failures = map[events.Type]bool{events.StepFailed: true, events.RunFailed: true, events.StepRetrying: true,
	events.RunStartFailed: true}

// eventOfAudit rebuilds the event an audit record announced (false when it
// announced none).
func eventOfAudit(a *store.AuditEvent, run *store.Run, afterStartFailed bool) (events.Event, bool) {
	t := events.Type(a.Type)
	if a.Type == "step.replaced" {
		t = events.StepDone
	}
	if !announced[t] {
		return events.Event{}, false
	}
	// After run.start_failed the executor records how the request ended
	// (run.failed, run.expired, run.aborted) without announcing it.
	if afterStartFailed && (t == events.RunFailed || t == events.RunExpired || t == events.RunAborted) {
		return events.Event{}, false
	}
	e := events.Event{Type: t, At: a.At, RunID: a.RunID, Runbook: run.Runbook, Phase: a.Data["phase"],
		StepID: a.StepID, Data: a.Data, Seq: a.Seq}
	if failures[t] {
		e.Error = a.Message
	} else {
		e.Summary = a.Message
	}
	if !run.StartedAt.IsZero() && a.At.After(run.StartedAt) {
		e.Elapsed = a.At.Sub(run.StartedAt)
	}
	return e, true
}

// keyOf names an event within its run: its audit Seq.
func (p *Pipeline) keyOf(e events.Event) string {
	if e.Seq > 0 {
		return strconv.FormatInt(e.Seq, 10)
	}
	// Not recorded (the standalone card's events, a test's): unique in
	// this process only.
	return "x" + strconv.FormatInt(p.unrecorded.Add(1), 10)
}

func (p *Pipeline) dispatchEvent(ctx context.Context, e events.Event) {
	defer func() {
		p.mu.Lock()
		if p.waiting[e.RunID]--; p.waiting[e.RunID] <= 0 {
			delete(p.waiting, e.RunID)
		}
		p.mu.Unlock()
	}()
	switch e.Type {
	case events.RunStalled, events.RunUnstalled:
		// Said in the run's thread at once, with no delivery log: the
		// store is what cannot be written.
		p.mu.Lock()
		rs := p.runs[e.RunID]
		p.mu.Unlock()
		if rs == nil {
			rs = p.newRun(ctx, e.RunID, e.Runbook)
		}
		if e.Type == events.RunStalled {
			p.report(rs, fmt.Sprintf("Run %s is stalled: %s (%s).", e.RunID, e.Summary, e.Error), true)
		} else {
			p.report(rs, fmt.Sprintf("Run %s goes on: %s.", e.RunID, e.Summary), false)
		}
		return
	}
	rs := p.ensureRun(ctx, e.RunID, e.Runbook, e.Seq)
	p.dispatch(ctx, rs, e, nil, nil)
}

// ensureRun returns the run's state, planning it and catching it up from
// the audit trail (events before seq; all with seq 0) the first time.
func (p *Pipeline) ensureRun(ctx context.Context, runID, runbook string, seq int64) *runState {
	p.mu.Lock()
	rs := p.runs[runID]
	p.mu.Unlock()
	if rs != nil && rs.caughtUp {
		return rs
	}
	if rs == nil {
		rs = p.newRun(ctx, runID, runbook)
	}
	p.catchUp(ctx, rs, seq)
	return rs
}

func (p *Pipeline) newRun(ctx context.Context, runID, runbook string) *runState {
	sctx, cancel := p.storeCtx(ctx)
	run, err := p.o.Runs.GetRun(sctx, runID)
	cancel()
	if err != nil {
		p.log.WarnContext(ctx, "read run for notifications", "run", runID, "err", err)
		run = &store.Run{ID: runID, Runbook: runbook}
	}
	plan := p.o.Plan(ctx, run)
	rs := &runState{id: runID, run: run, plan: plan, queues: map[string]*queue{}, seen: map[string]bool{},
		links: map[chat.MessageRef]string{}}
	for _, t := range plan.Targets {
		if _, dup := rs.queues[t.Name]; dup || t.Notifier == nil {
			p.log.ErrorContext(ctx, "notifier named twice, or without a notifier: skipped", "run", runID, "notifier", t.Name)
			continue
		}
		q := &queue{p: p, rs: rs, t: t, wake: make(chan struct{}, 1), state: &state{p: p, runID: runID, notifier: t.Name}}
		rs.queues[t.Name] = q
		rs.order = append(rs.order, q)
	}
	if !run.State.Active() && !run.EndedAt.IsZero() {
		rs.ended = true
		rs.stopBy(run.EndedAt.Add(p.o.EndGrace))
	}
	p.mu.Lock()
	p.runs[runID] = rs
	p.mu.Unlock()
	if plan.Err != nil {
		p.log.WarnContext(ctx, "some notifiers of the run could not be set up", "run", runID, "err", p.scrub(plan.Err.Error()))
		p.reportAsync(rs, fmt.Sprintf("Notifications: %s. The run is not affected.", p.scrub(plan.Err.Error())))
	}
	return rs
}

// catchUp dispatches what the run's audit trail holds before seq (all of
// it for seq 0) and the log has not delivered, and what the log holds
// queued with no audit record.
func (p *Pipeline) catchUp(ctx context.Context, rs *runState, seq int64) {
	rows := map[string]*store.Delivery{}
	var queued []*store.Delivery
	sctx, cancel := p.storeCtx(ctx)
	ds, err := p.o.Log.Deliveries(sctx, rs.id)
	cancel()
	if err != nil {
		p.log.WarnContext(ctx, "read the delivery log; the run is not caught up now", "run", rs.id, "err", err)
		return
	}
	// A run that has ended is caught up only for the notifiers that had
	// heard of it: not for one added to the runbook since, nor for a run
	// that ended before this bot had a delivery log.
	var only map[string]bool
	p.mu.Lock()
	ended := !rs.run.State.Active() && rs.run.State != ""
	p.mu.Unlock()
	if ended {
		only = map[string]bool{}
	}
	for _, d := range ds {
		rows[d.Notifier+"\x00"+d.Key] = d
		if d.Status == store.DeliveryQueued {
			queued = append(queued, d)
		}
		if only != nil {
			only[d.Notifier] = true
		}
	}
	if p.o.Audit != nil {
		sctx, cancel := p.storeCtx(ctx)
		trail, err := p.o.Audit.Audit(sctx, rs.id)
		cancel()
		if err != nil {
			p.log.WarnContext(ctx, "read the audit trail; the run is not caught up now", "run", rs.id, "err", err)
			return
		}
		startFailed := false
		for _, a := range trail {
			if seq > 0 && a.Seq >= seq {
				break
			}
			if a.Type == string(events.RunStartFailed) {
				startFailed = true
			}
			if e, ok := eventOfAudit(a, rs.run, startFailed); ok {
				p.dispatch(ctx, rs, e, rows, only)
			}
		}
	}
	// Queued rows the trail did not name (events without a Seq, or no
	// Audit): resent from their payload, in order.
	sort.SliceStable(queued, func(i, j int) bool { return lessKey(queued[i].Key, queued[j].Key) })
	for _, d := range queued {
		q := rs.queues[d.Notifier]
		id := d.Notifier + "\x00" + d.Key
		if q == nil || rs.seen[id] {
			continue
		}
		var e events.Event
		if err := json.Unmarshal(d.Payload, &e); err != nil {
			p.log.WarnContext(ctx, "queued notification has no readable payload: dropped", "run", rs.id, "notifier", d.Notifier, "key", d.Key)
			continue
		}
		if seq > 0 && e.Seq >= seq {
			continue // the live event is dispatched next
		}
		rs.seen[id] = true
		p.enqueue(q, &item{n: p.notification(rs, e), logged: true, redelivery: true, attempts: d.Attempts})
	}
	p.mu.Lock()
	rs.caughtUp = true
	p.mu.Unlock()
}

// lessKey orders keys by Seq, numerically.
func lessKey(a, b string) bool {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	if errA == nil && errB == nil {
		return x < y
	}
	return errA == nil || (errB != nil && a < b)
}

// dispatch queues e for each target that wants it and has not had it. rows,
// when catching up, is the run's delivery log; only, if not nil, the
// targets to catch up.
func (p *Pipeline) dispatch(ctx context.Context, rs *runState, e events.Event, rows map[string]*store.Delivery, only map[string]bool) {
	n := p.notification(rs, e)
	var payload []byte
	for _, q := range rs.order {
		if !q.t.wants(&n) || (only != nil && !only[q.t.Name]) {
			continue
		}
		id := q.t.Name + "\x00" + n.Key
		p.mu.Lock()
		seen := rs.seen[id]
		rs.seen[id] = true
		p.mu.Unlock()
		if seen {
			continue
		}
		it := &item{n: n}
		if d, ok := rows[id]; ok {
			if d.Status != store.DeliveryQueued {
				continue
			}
			var was events.Event
			if json.Unmarshal(d.Payload, &was) == nil && was.Type != "" {
				it.n = p.notification(rs, was)
			}
			it.logged, it.redelivery, it.attempts = true, true, d.Attempts
			p.enqueue(q, it)
			continue
		}
		if payload == nil {
			payload, _ = json.Marshal(e)
		}
		d := &store.Delivery{RunID: rs.id, Notifier: q.t.Name, Key: n.Key, Payload: payload, QueuedAt: p.o.Now()}
		sctx, cancel := p.storeCtx(ctx)
		queued, err := p.o.Log.QueueDelivery(sctx, d)
		cancel()
		switch {
		case err != nil:
			// Sent anyway: a delivery log that cannot be written must not
			// silence the status page; only its restart safety is lost.
			p.log.WarnContext(ctx, "delivery log: queue a notification", "run", rs.id, "notifier", q.t.Name, "key", n.Key, "err", err)
		case !queued:
			if d.Status != store.DeliveryQueued {
				continue // delivered (or given up) before
			}
			it.logged, it.redelivery, it.attempts = true, true, d.Attempts
		default:
			it.logged = true
		}
		p.enqueue(q, it)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	m := n.Milestone
	if m.Terminal() {
		rs.ended = true
		rs.stopBy(p.o.Now().Add(p.o.EndGrace))
	}
	if !e.Type.PreStart() || m.Terminal() {
		rs.stopSeen = m.Stops()
	}
}

// notification builds what the notifiers get for e.
func (p *Pipeline) notification(rs *runState, e events.Event) Notification {
	n := Notification{Key: p.keyOf(e), Event: e, Milestone: MilestoneOf(e.Type)}
	if s := n.Subject(); s != "" {
		n.Public = rs.plan.Public[s]
	}
	p.mu.Lock()
	r := rs.run
	p.mu.Unlock()
	n.Run = RunInfo{ID: rs.id, Runbook: r.Runbook, Requester: r.Requester, Reason: r.Reason, Params: r.Params,
		Channel: rs.plan.Channel, StartedAt: r.StartedAt, Expected: rs.plan.Expected,
		PhaseName: rs.plan.Names[e.Phase], StepName: rs.plan.Names[e.StepID]}
	if n.Run.Runbook == "" {
		n.Run.Runbook = e.Runbook
	}
	return n
}

// rescan catches up the runs with work left that no live process owns:
// every run with a queued delivery, and the runs active or recently ended.
func (p *Pipeline) rescan(ctx context.Context) {
	ids := map[string]bool{}
	var order []string
	add := func(id string) {
		if !ids[id] {
			ids[id] = true
			order = append(order, id)
		}
	}
	sctx, cancel := p.storeCtx(ctx)
	queued, err := p.o.Log.QueuedDeliveries(sctx)
	cancel()
	if err != nil {
		p.log.WarnContext(ctx, "delivery log: list queued notifications", "err", err)
	}
	for _, d := range queued {
		add(d.RunID)
	}
	if p.o.Audit != nil {
		sctx, cancel := p.storeCtx(ctx)
		runs, err := p.o.Audit.ListRuns(sctx, store.ListOptions{Limit: 50})
		cancel()
		if err != nil {
			p.log.WarnContext(ctx, "list runs to catch up their notifications", "err", err)
		}
		for _, r := range runs {
			if r.State.Active() || r.EndedAt.After(p.o.Now().Add(-p.o.EndGrace)) {
				add(r.ID)
			}
		}
	}
	for _, id := range order {
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		rs := p.runs[id]
		p.mu.Unlock()
		if rs != nil && rs.caughtUp {
			continue
		}
		if held, err := p.heldElsewhere(ctx, id); err != nil || held {
			continue
		}
		p.ensureRun(ctx, id, "", 0)
	}
}

// heldElsewhere reports whether another live process owns the run (it
// notifies for it).
func (p *Pipeline) heldElsewhere(ctx context.Context, runID string) (bool, error) {
	sctx, cancel := p.storeCtx(ctx)
	defer cancel()
	r, err := p.o.Runs.GetRun(sctx, runID)
	if errors.Is(err, store.ErrNotFound) {
		return true, err // nothing to notify for
	}
	if err != nil {
		return false, err
	}
	if r.Owner == "" || r.Owner == p.o.Owner() {
		return false, nil
	}
	if r.LeaseUntil.After(p.o.Now()) {
		return true, nil
	}
	if p.o.Alive == nil {
		return false, nil
	}
	// Its lease ended (the run ended, or paused), but the process that
	// held it may still be retrying the run's notifications.
	return p.o.Alive(ctx, r.Owner)
}

// catchUpOverflow catches up the runs whose events found the queue full.
func (p *Pipeline) catchUpOverflow(ctx context.Context) {
	p.mu.Lock()
	var ids []string
	for id := range p.overflow {
		ids = append(ids, id)
	}
	p.mu.Unlock()
	for _, id := range ids {
		p.mu.Lock()
		delete(p.overflow, id)
		rs := p.runs[id]
		p.mu.Unlock()
		if rs == nil {
			p.ensureRun(ctx, id, "", 0)
			continue
		}
		if p.o.Audit == nil {
			p.log.ErrorContext(ctx, "notifications lost to a full queue (no audit trail to catch up from)", "run", id)
			continue
		}
		p.catchUp(ctx, rs, 0)
	}
}
