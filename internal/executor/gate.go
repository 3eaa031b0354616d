package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/store"
)

// A gate (a step whose instance is a steps.Approval) is an approval inside
// the run. The executor does not poll it: it records the run as
// waiting_approval and the step as waiting (gate.waiting, announced so that
// the chat layer posts the request and records where with GatePosted), then
// waits for a decision — ApproveGate or RejectGate, which the commands
// layer calls once the gate's policy is met, from any process: decisions
// are audit records (gate.approved, gate.rejected) that the waiting
// process reads — or for the gate's expiry. A gate waiting when its
// process stops keeps waiting after a restart, with the approvals given.

// DefaultGateExpiry bounds a gate's wait when neither the gate nor its
// step says.
const DefaultGateExpiry = time.Hour

// ErrGateNotWaiting: ApproveGate, RejectGate or GatePosted on a step that
// is not a gate waiting for a decision.
var ErrGateNotWaiting = errors.New("no gate of that step is waiting for a decision")

// Audit types of gates besides their events'.
const auditGateParked = "gate.parked" // the run paused while the gate waited

// waitGate waits for a decision on the gate, until its expiry.
func (r *stepRun) waitGate(p steps.ApprovalPolicy) error {
	c, e := r.c, r.c.e
	r.gate = true
	ctx := r.run // a gate's wait is bounded by its expiry, not the step's timeout
	expiry := p.Expiry
	if expiry <= 0 {
		expiry = r.s.Timeout
	}
	if expiry <= 0 {
		expiry = DefaultGateExpiry
	}
	st := r.st
	rewait := st.Status == store.StepWaiting // a restart while it waited: the same wait
	if !rewait || st.StartedAt.IsZero() {
		st.StartedAt = e.cfg.Now()
	}
	until := st.StartedAt.Add(expiry)
	policy, _ := json.Marshal(p)
	wake := c.gateWaiter(r.s.ID)
	defer c.gateDone(r.s.ID)
	// The run is recorded waiting before the gate's wait is announced.
	if err := c.setWaiting(ctx); err != nil {
		return err
	}
	defer c.setRunning(context.WithoutCancel(ctx))
	ev := events.Event{Type: events.GateWaiting, Phase: r.s.Phase, StepID: r.s.ID, Summary: p.Message,
		Data: map[string]string{"policy": string(policy), "expires": until.UTC().Format(time.RFC3339),
			"channel": st.Message.Channel, "ts": st.Message.TS}}
	if rewait {
		e.notify(ctx, c.announced(ev))
	} else {
		st.Status, st.Error, st.EndedAt = store.StepWaiting, "", time.Time{}
		st.Summary = fmt.Sprintf("waiting for %s: %s", approvalsWord(p.Required), p.Message)
		if err := r.commit(string(events.GateWaiting), ev); err != nil {
			return err
		}
	}
	poll := time.NewTicker(e.cfg.GatePollInterval)
	defer poll.Stop()
	expired := time.NewTimer(time.Until(until))
	defer expired.Stop()
	for {
		d, err := c.gateDecision(ctx, r.s.ID)
		if err != nil && ctx.Err() == nil {
			e.log.WarnContext(ctx, "read the gate's decisions", "run", c.id, "step", r.s.ID, "err", e.scrub(err.Error()))
		}
		if d != nil || c.pausing() {
			// The run is running again before the gate's end is announced.
			c.gateDone(r.s.ID)
			c.setRunning(ctx)
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case d != nil && d.Type == string(events.GateApproved):
			by := d.Data["approvers"]
			return r.done(steps.Result{Done: true, Summary: "approved by " + strings.ReplaceAll(by, ",", ", "),
				Outputs: map[string]string{"confirmedBy": by}})
		case d != nil:
			return r.fail(steps.Permanentf("rejected by %s", d.Actor))
		case c.pausing():
			return r.parkGate("the run was paused while it waited; resuming asks again")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-poll.C:
		case <-expired.C:
			c.gateDone(r.s.ID)
			c.setRunning(ctx)
			return r.expireGate(p, expiry)
		}
	}
}

func approvalsWord(n int) string {
	if n == 1 {
		return "1 approval"
	}
	return fmt.Sprintf("%d approvals", n)
}

// expireGate ends a wait that reached its expiry: the step fails, or the
// run pauses with the gate to be asked again, as the policy says.
func (r *stepRun) expireGate(p steps.ApprovalPolicy, expiry time.Duration) error {
	c := r.c
	msg := fmt.Sprintf("gate %s expired: not approved within %s", r.s.ID, expiry)
	if err := c.record(r.run, actorBot, string(events.GateExpired), events.Event{Type: events.GateExpired, Phase: r.s.Phase, StepID: r.s.ID, Summary: msg}); err != nil {
		return err
	}
	if p.OnExpiry == steps.OnExpiryFail {
		return r.fail(steps.Permanent(errors.New(msg)))
	}
	if err := r.parkGate(msg + "; resume the run to ask again"); err != nil {
		return err
	}
	return c.pauseRun(r.run, r.s.Phase, msg+"; resume the run to ask again (the approvals given still count)")
}

// parkGate puts a gate that stops waiting back to pending: the next run
// of the step asks again.
func (r *stepRun) parkGate(why string) error {
	r.st.Status, r.st.Summary = store.StepPending, why
	return r.commit(auditGateParked, events.Event{Summary: why})
}

// pauseRun records the run paused by the bot, with reason, and stops its
// runner from starting steps.
func (c *runCtl) pauseRun(ctx context.Context, phase, reason string) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	err := c.runTransition(ctx, actorBot, string(events.RunPaused), events.Event{Type: events.RunPaused, Phase: phase, Summary: reason},
		func(r *store.Run) error {
			if err := executing(r); err != nil {
				return err
			}
			r.State, r.StateReason = store.RunPaused, reason
			return nil
		})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.pauseBy = actorBot
	c.mu.Unlock()
	c.nudge()
	return nil
}

// pausing reports whether a pause of the run was asked for.
func (c *runCtl) pausing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pauseBy != ""
}

// announced completes an event the way record does, for announcing a
// transition already recorded (a gate still waiting after a restart).
func (c *runCtl) announced(ev events.Event) events.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	ev.RunID, ev.Runbook, ev.At = c.id, c.run.Runbook, c.e.cfg.Now()
	if !c.run.StartedAt.IsZero() {
		ev.Elapsed = ev.At.Sub(c.run.StartedAt)
	}
	return ev
}

// gateWaiter registers the wait of a gate step and returns the channel
// that wakes it when a decision is recorded in this process.
func (c *runCtl) gateWaiter(stepID string) chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan struct{}, 1)
	c.gates[stepID] = ch
	return ch
}

func (c *runCtl) gateDone(stepID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.gates, stepID)
}

// wakeGates wakes every gate waiting in this process (a decision or a
// pause to look at).
func (c *runCtl) wakeGates() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range c.gates {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// setWaiting records the run waiting_approval while a gate waits.
func (c *runCtl) setWaiting(ctx context.Context) error {
	_, err := c.updateRun(ctx, func(r *store.Run) error {
		if r.State == store.RunRunning {
			r.State = store.RunWaiting
		}
		return nil
	})
	return err
}

// setRunning records the run running again when no gate waits any more.
func (c *runCtl) setRunning(ctx context.Context) {
	c.mu.Lock()
	waiting := len(c.gates) > 0
	c.mu.Unlock()
	if waiting {
		return
	}
	if _, err := c.updateRun(ctx, func(r *store.Run) error {
		if r.State == store.RunWaiting {
			r.State = store.RunRunning
		}
		return nil
	}); err != nil {
		c.e.log.WarnContext(ctx, "record the run running after its gate", "run", c.id, "err", c.e.scrub(err.Error()))
	}
}

// gateDecision returns the decision recorded on the gate's current wait
// (after its latest gate.waiting record), or nil.
func (c *runCtl) gateDecision(ctx context.Context, stepID string) (*store.AuditEvent, error) {
	var evs []*store.AuditEvent
	err := c.e.storeCall(ctx, func(ctx context.Context) error {
		var err error
		evs, err = c.e.cfg.Store.Audit(ctx, c.id)
		return err
	})
	if err != nil {
		return nil, err
	}
	var d *store.AuditEvent
	for _, a := range evs {
		if a.StepID != stepID {
			continue
		}
		switch a.Type {
		case string(events.GateWaiting), auditGateParked:
			d = nil
		case string(events.GateApproved), string(events.GateRejected):
			if d == nil {
				d = a
			}
		}
	}
	return d, nil
}

// ApproveGate records that the gate step of a run got the approvals its
// policy asks for (the commands layer counted them): the gate is done and
// the run goes on. It fails with ErrGateNotWaiting when the step is not a
// gate waiting for a decision.
func (e *Executor) ApproveGate(ctx context.Context, runID, stepID string, approvers []string) error {
	return e.decideGate(ctx, runID, stepID, actorBot, events.GateApproved,
		"approved by "+strings.Join(approvers, ", "), map[string]string{"approvers": strings.Join(approvers, ",")})
}

// RejectGate records that an approver rejected the gate step of a run: the
// step fails (retry, skip or abort it).
func (e *Executor) RejectGate(ctx context.Context, runID, stepID, by string) error {
	return e.decideGate(ctx, runID, stepID, by, events.GateRejected, "rejected by "+by, nil)
}

func (e *Executor) decideGate(ctx context.Context, runID, stepID, actor string, typ events.Type, summary string, data map[string]string) error {
	c, st, err := e.waitingGate(ctx, runID, stepID)
	if err != nil {
		return fmt.Errorf("decide gate %s of run %s: %w", stepID, runID, err)
	}
	if err := c.record(ctx, actor, string(typ), events.Event{Type: typ, Phase: phaseOf(c.rb, st.StepID), StepID: stepID, Summary: summary, Data: data}); err != nil {
		return fmt.Errorf("decide gate %s of run %s: %w", stepID, runID, err)
	}
	c.wakeGates()
	return nil
}

// GatePosted records where the approval request of a waiting gate was
// posted (the message approvers react to).
func (e *Executor) GatePosted(ctx context.Context, runID, stepID string, ref store.MessageRef) error {
	c, _, err := e.waitingGate(ctx, runID, stepID)
	if err != nil {
		return fmt.Errorf("record the message of gate %s of run %s: %w", stepID, runID, err)
	}
	c.mu.Lock()
	st := cloneStep(c.states[stepID])
	st.Message = ref
	c.states[stepID] = cloneStep(st)
	c.mu.Unlock()
	err = c.stepTransition(ctx, st, actorBot, string(events.GatePosted), events.Event{Type: events.GatePosted, Phase: phaseOf(c.rb, stepID),
		Summary: "approval request posted", Data: map[string]string{"channel": ref.Channel, "ts": ref.TS}})
	if err != nil {
		return fmt.Errorf("record the message of gate %s of run %s: %w", stepID, runID, err)
	}
	return nil
}

// waitingGate returns the run's controller and the state of step stepID,
// which must be a gate waiting for a decision.
func (e *Executor) waitingGate(ctx context.Context, runID, stepID string) (*runCtl, *store.StepState, error) {
	c, err := e.ctl(ctx, runID, nil)
	if err != nil {
		return nil, nil, err
	}
	var sts []*store.StepState
	err = e.storeCall(ctx, func(ctx context.Context) error {
		var err error
		sts, err = e.cfg.Store.Steps(ctx, runID)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	run, err := e.getRun(ctx, runID)
	if err != nil {
		return nil, nil, err
	}
	s := c.rb.Step(stepID)
	for _, st := range sts {
		if st.StepID == stepID && st.Status == store.StepWaiting && s != nil && isGate(s) && run.State.Executing() {
			return c, st, nil
		}
	}
	return nil, nil, ErrGateNotWaiting
}

// isGate reports whether s is of the gate kind.
func isGate(s *runbook.Step) bool { return s.Kind == "gate" }
