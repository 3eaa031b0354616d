package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
)

// expireIfDue ends a pending run whose approval request is past its
// expiry, and says so on the plan message.
func (h *Handler) expireIfDue(ctx context.Context, run *store.Run) bool {
	if run.State != store.RunPending {
		return false
	}
	exp := h.expiryOf(run)
	if h.o.Now().Before(run.CreatedAt.Add(exp)) {
		return false
	}
	ended := h.endRequest(ctx, run.ID, func() (*store.Run, error) {
		return h.o.Executor.Expire(ctx, run.ID, fmt.Sprintf("approval request expired after %s", exp))
	})
	if ended != nil {
		h.updatePlan(ctx, ended)
	}
	return true
}

// ExpirePending expires every approval request past its expiry.
func (h *Handler) ExpirePending(ctx context.Context) {
	runs, err := h.o.Store.ListRuns(ctx, store.ListOptions{States: []store.RunState{store.RunPending}})
	if err != nil {
		h.log.WarnContext(ctx, "list pending runs", h.errAttr(err))
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range runs {
		h.expireIfDue(ctx, r)
	}
}

// RunExpiry calls ExpirePending every interval until ctx is done.
func (h *Handler) RunExpiry(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.ExpirePending(ctx)
		}
	}
}

// updatePlan re-renders the plan message with the run's approvals and
// state.
func (h *Handler) updatePlan(ctx context.Context, run *store.Run) {
	if run.ApprovalMsg.TS == "" {
		return
	}
	v := h.planOf(ctx, run)
	by := h.approvedBy(ctx, &ballot{run: run})
	v.Approvers = by
	switch run.State {
	case store.RunPending:
		v.State = "pending"
	case store.RunRejected, store.RunExpired:
		v.State = string(run.State)
	case store.RunAborted, store.RunFailed:
		if run.StartedAt.IsZero() { // ended before it started
			v.State = string(run.State)
		} else {
			v.State = "approved"
		}
	default:
		v.State = "approved"
	}
	if err := h.o.Poster.Update(ctx, chat.MessageRef(run.ApprovalMsg), chat.Message{Text: planText(v), View: v}); err != nil {
		h.log.WarnContext(ctx, "update plan message", "run", run.ID, h.errAttr(err))
	}
}

// planOf recovers the plan posted for a run from its run.requested audit
// event.
func (h *Handler) planOf(ctx context.Context, run *store.Run) *chat.PlanView {
	evs, err := h.o.Store.Audit(ctx, run.ID)
	if err == nil {
		for _, e := range evs {
			if e.Type == "run.requested" && e.Data["plan"] != "" {
				var v chat.PlanView
				if json.Unmarshal([]byte(e.Data["plan"]), &v) == nil {
					// Recorded before the run had an ID.
					v.RunID, v.ExpiresAt = run.ID, run.CreatedAt.Add(h.expiryOf(run))
					return &v
				}
			}
		}
	}
	return &chat.PlanView{RunID: run.ID, Runbook: run.Runbook, Requester: run.Requester, Reason: run.Reason, PlanHash: run.PlanHash, Params: run.Params}
}

// expiryOf is how long the approval request of run stays open.
func (h *Handler) expiryOf(run *store.Run) time.Duration {
	if rb, err := h.o.Catalog.Get(run.Runbook); err == nil {
		return expiry(rb)
	}
	return runbook.DefaultExpiry
}
