package executor

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
)

// The approval request's half of a run's lifecycle: Request creates the
// run (pending approval), PlanPosted records where its plan is, and
// Approve, Reject, Expire or Cancel end the request. Approve starts the
// run (control.go has Start and the controls of a started run). The
// commands layer decides who may do what; these verbs only check that the
// run is in the state they apply to, and record every change in the run
// record, the audit trail and the event stream, in that order.

// RunRequest is what a start request asks for.
type RunRequest struct {
	Runbook *runbook.Runbook
	// Params are the bound parameters (runbook.BindParams).
	Params map[string]string
	// PlanHash is the hash of the plan shown to the approvers.
	PlanHash  string
	Requester string
	Reason    string
	// Plan is the plan as shown to the approvers, opaque to the executor:
	// it is kept in the audit trail so that the plan message can be
	// rendered again after a restart.
	Plan string
}

// idAlphabet avoids letters and digits that read alike (0/o, 1/l/i).
const idAlphabet = "23456789abcdefghjkmnpqrstuvwxyz"

// RandomRunID returns "<runbook>-<4 characters>", e.g. "lab-failover-k3x9".
func RandomRunID(runbook string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return runbook + "-" + string(b)
}

// Request creates a run of req.Runbook pending approval and records
// run.requested. It fails with an *ActiveRunError (store.ErrActiveRun)
// when the runbook already has an active run.
func (e *Executor) Request(ctx context.Context, req RunRequest) (*store.Run, error) {
	rb := req.Runbook
	var run *store.Run
	for attempt := 0; ; attempt++ {
		id := e.cfg.NewRunID(rb.Name)
		if _, err := e.getRun(ctx, id); err == nil && attempt < 5 {
			continue // taken: draw another
		}
		run = &store.Run{ID: id, Runbook: rb.Name, PlanHash: req.PlanHash, Params: req.Params, Requester: req.Requester,
			Reason: req.Reason, State: store.RunPending, CreatedAt: e.cfg.Now()}
		err := e.storeCall(ctx, func(ctx context.Context) error { return e.cfg.Store.CreateRun(ctx, run) })
		if err == nil {
			break
		}
		if errors.Is(err, store.ErrActiveRun) {
			return nil, e.activeRunError(ctx, rb.Name)
		}
		return nil, fmt.Errorf("create run of %s: %w", rb.Name, err)
	}
	c := newRunCtl(e, run, rb)
	err := c.record(ctx, req.Requester, string(events.RunRequested), events.Event{Type: events.RunRequested,
		Summary: fmt.Sprintf("%s requested %s: %s", req.Requester, rb.Name, req.Reason),
		Data: map[string]string{"runbook": rb.Name, "planHash": req.PlanHash, "params": paramString(req.Params),
			"reason": req.Reason, "plan": req.Plan}})
	if err != nil {
		return nil, err
	}
	return cloneRun(run), nil
}

// ActiveRunError is Request's refusal when the runbook already has an
// active run; it wraps store.ErrActiveRun.
type ActiveRunError struct {
	Runbook string
	// Run and State name the active run ("" when it could not be read).
	Run   string
	State store.RunState
}

func (e *ActiveRunError) Error() string {
	if e.Run == "" {
		return fmt.Sprintf("runbook %s already has an active run", e.Runbook)
	}
	return fmt.Sprintf("runbook %s already has an active run %s (%s)", e.Runbook, e.Run, e.State)
}

// Unwrap makes errors.Is(err, store.ErrActiveRun) hold.
func (e *ActiveRunError) Unwrap() error { return store.ErrActiveRun }

// activeRunError names the runbook's active run.
func (e *Executor) activeRunError(ctx context.Context, name string) error {
	var runs []*store.Run
	_ = e.storeCall(ctx, func(ctx context.Context) error {
		var err error
		runs, err = e.cfg.Store.ListRuns(ctx, store.ListOptions{Runbook: name,
			States: store.ActiveStates, Limit: 1})
		return err
	})
	ae := &ActiveRunError{Runbook: name}
	if len(runs) > 0 {
		ae.Run, ae.State = runs[0].ID, runs[0].State
	}
	return ae
}

// PlanPosted records where the plan of a pending run was posted for
// approval (the message approvers react to) and records
// approval.requested with summary.
func (e *Executor) PlanPosted(ctx context.Context, runID string, ref store.MessageRef, summary string) error {
	c, err := e.requestCtl(ctx, runID)
	if err != nil {
		return fmt.Errorf("record the plan message of run %s: %w", runID, err)
	}
	err = c.runTransition(ctx, actorBot, string(events.ApprovalRequested), events.Event{Type: events.ApprovalRequested, Summary: summary,
		Data: map[string]string{"channel": ref.Channel, "ts": ref.TS}},
		func(r *store.Run) error {
			if r.State != store.RunPending {
				return fmt.Errorf("%w (it is %s)", ErrNotPending, r.State)
			}
			r.ApprovalMsg = ref
			return nil
		})
	if err != nil {
		return fmt.Errorf("record the plan message of run %s: %w", runID, err)
	}
	return nil
}

// Approve records that approvers reached the quorum of a pending run and
// starts it (Start). When it cannot start, the request ends (expired for a
// stale plan, failed otherwise), so that it does not hold the runbook, and
// the error says why.
func (e *Executor) Approve(ctx context.Context, runID string, rb *runbook.Runbook, approvers []string) error {
	c, err := e.requestCtl(ctx, runID)
	if err != nil {
		if errors.Is(err, ErrRunEnded) && e.started(ctx, runID) {
			return nil // approved and run by another replica first
		}
		return fmt.Errorf("approve run %s: %w", runID, err)
	}
	// Two replicas may each count the reaction that made quorum: the first
	// records the approval (compare-and-swap on the run), the second finds
	// it recorded and only makes sure the run starts.
	err = c.runTransition(ctx, actorBot, string(events.RunApproved), events.Event{Type: events.RunApproved,
		Summary: "quorum reached: " + strings.Join(approvers, ", "), Data: map[string]string{"approvers": strings.Join(approvers, ",")}},
		func(r *store.Run) error {
			if r.State != store.RunPending {
				return fmt.Errorf("%w (it is %s)", ErrNotPending, r.State)
			}
			if strings.HasPrefix(r.StateReason, approvedPrefix) {
				return errApprovedBefore
			}
			r.StateReason = approvedPrefix + strings.Join(approvers, ", ")
			return nil
		})
	if (errors.Is(err, ErrNotPending) && e.started(ctx, runID)) || (errors.Is(err, store.ErrLeaseHeld) && e.startedWithin(ctx, runID)) {
		return nil // approved and started by another replica first
	}
	if err != nil && !errors.Is(err, errApprovedBefore) {
		return fmt.Errorf("approve run %s: %w", runID, err)
	}
	startErr := e.Start(ctx, runID, rb)
	if startErr == nil {
		return nil
	}
	// The other process that counted the quorum is starting it (it holds
	// the lease) or started it: it also ends the request if it cannot.
	if errors.Is(startErr, store.ErrLeaseHeld) && e.startedWithin(ctx, runID) {
		e.log.InfoContext(ctx, "another replica started the approved run", "run", runID)
		return nil
	}
	if errors.Is(startErr, ErrNotPending) && e.started(ctx, runID) {
		return nil
	}
	e.log.ErrorContext(ctx, "start run", "run", runID, "err", e.scrub(startErr.Error()))
	state, reason := store.RunFailed, "could not start: "+startErr.Error()
	if errors.Is(startErr, ErrStalePlan) {
		state, reason = store.RunExpired, "the runbook changed since the plan was approved: approvals are void"
	}
	if _, err := e.endRequest(ctx, runID, state, reason, actorBot, events.RunStartFailed, "start: "+startErr.Error()); err != nil {
		e.log.WarnContext(ctx, "end a run that could not start", "run", runID, "err", e.scrub(err.Error()))
	}
	return startErr
}

// started reports whether the run has started (read from the store).
func (e *Executor) started(ctx context.Context, runID string) bool {
	r, err := e.getRun(ctx, runID)
	return err == nil && !r.StartedAt.IsZero()
}

// startedWithin waits a little (startWait) for a run whose lease another
// executor took to be started by it: another replica that counted the same
// quorum is in its Start. A lease holder that does not start it is not one.
func (e *Executor) startedWithin(ctx context.Context, runID string) bool {
	deadline := time.Now().Add(startWait)
	for {
		if e.started(ctx, runID) {
			return true
		}
		if time.Now().After(deadline) || !sleep(ctx, 50*time.Millisecond) {
			return false
		}
	}
}

// startWait bounds startedWithin.
const startWait = 2 * time.Second

// approvedPrefix starts the reason of a pending run whose quorum was
// recorded (Start clears it).
const approvedPrefix = "approved by "

// errApprovedBefore: the quorum was recorded already (by another process).
var errApprovedBefore = errors.New("approval already recorded")

// Reject ends a pending run rejected by an approver.
func (e *Executor) Reject(ctx context.Context, runID, by string) (*store.Run, error) {
	return e.endRequest(ctx, runID, store.RunRejected, "rejected by "+by, by, events.RunRejected, "")
}

// Expire ends a pending run whose approval request expired (or whose
// approvals no longer count).
func (e *Executor) Expire(ctx context.Context, runID, reason string) (*store.Run, error) {
	return e.endRequest(ctx, runID, store.RunExpired, reason, actorBot, events.RunExpired, "")
}

// Cancel ends a pending run without running it: the request was withdrawn
// (by a person) or could not be posted (by "bot").
func (e *Executor) Cancel(ctx context.Context, runID, by, reason string) (*store.Run, error) {
	return e.endRequest(ctx, runID, store.RunAborted, reason, by, events.RunCancelled, "")
}

// endRequest moves a pending run to a final state and records it by
// actor as ev (run.rejected, run.expired, run.cancelled); with a non-empty
// startErr (why an approved run could not start) ev is run.start_failed,
// recorded with startErr, then run.<state>. It fails with ErrNotPending
// (wrapped) when the run has left pending_approval.
func (e *Executor) endRequest(ctx context.Context, runID string, state store.RunState, reason, actor string, ev events.Type, startErr string) (*store.Run, error) {
	c, err := e.requestCtl(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("end the request of run %s: %w", runID, err)
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	now := e.cfg.Now()
	if _, err := c.updateRun(ctx, func(r *store.Run) error {
		if r.State != store.RunPending {
			return fmt.Errorf("%w (it is %s)", ErrNotPending, r.State)
		}
		r.State, r.StateReason, r.EndedAt = state, reason, now
		return nil
	}); err != nil {
		return nil, fmt.Errorf("end the request of run %s: %w", runID, err)
	}
	if startErr != "" {
		// run.start_failed, then how the request ended.
		if err := c.record(ctx, actorBot, string(ev), events.Event{Type: ev, Error: startErr}); err != nil {
			return nil, err
		}
		if err := c.record(ctx, actor, "run."+string(state), events.Event{Summary: reason}); err != nil {
			return nil, err
		}
	} else if err := c.record(ctx, actor, string(ev), events.Event{Type: ev, Summary: reason}); err != nil {
		return nil, err
	}
	e.forget(c)
	return c.snapshot(), nil
}

// requestCtl returns the controller of a run for a request verb: one
// whose runbook is gone can still be ended.
func (e *Executor) requestCtl(ctx context.Context, runID string) (*runCtl, error) {
	c, err := e.ctl(ctx, runID, nil)
	if err == nil || !errors.Is(err, ErrNoRunbook) {
		return c, err
	}
	run, gerr := e.getRun(ctx, runID)
	if gerr != nil {
		return nil, gerr
	}
	return newRunCtl(e, run, &runbook.Runbook{Name: run.Runbook}), nil
}

// paramString is "k1=v1 k2=v2", sorted by name.
func paramString(p map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(p)) {
		parts = append(parts, k+"="+p[k])
	}
	return strings.Join(parts, " ")
}
