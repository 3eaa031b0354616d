package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/store"
)

// A ballot is one approval a run asks for: its start request (gate "")
// or one of its gate steps. Both are decided by the same mechanism
// (decide): who may approve, self and earlier approvers, bots, one person
// counting once, the plan hash, rejection, withdrawal, and the quorum,
// re-checked against the directory when it is reached.
type ballot struct {
	run *store.Run
	// gate is the gate step decided on ("" for the start request).
	gate string
	// msg is the message approvals are given on.
	msg chat.MessageRef
	// open: the ballot still takes decisions (the request is pending, the
	// gate waits).
	open bool
	// policy is who may decide and how many must approve.
	required       int
	access         Access
	allowRequester bool
	allowEarlier   bool
	// message is what a gate asks the approvers (empty for the start).
	message string
	// expires is when a gate stops waiting (zero for the start: expiry
	// is decided by expireIfDue).
	expires time.Time
}

// what names the ballot in replies: "run X" or "gate G of run X".
func (b *ballot) what() string {
	if b.gate == "" {
		return "run " + b.run.ID
	}
	return fmt.Sprintf("gate %s of run %s", b.gate, b.run.ID)
}

// startBallot is the start request of run.
func (h *Handler) startBallot(run *store.Run, rb *runbook.Runbook) *ballot {
	b := &ballot{run: run, msg: chat.MessageRef(run.ApprovalMsg), open: run.State == store.RunPending}
	if rb != nil {
		b.required, b.access, b.allowRequester = rb.Approval.Required, approvers(rb, h.o.Responders), rb.Approval.AllowRequester
	}
	return b
}

// gateBallot is the gate step stepID of run, its policy read from the
// audit record of its wait (gate.waiting, which the executor wrote with
// the gate's expanded config).
func (h *Handler) gateBallot(ctx context.Context, run *store.Run, rb *runbook.Runbook, st *store.StepState) (*ballot, error) {
	evs, err := h.o.Store.Audit(ctx, run.ID)
	if err != nil {
		return nil, fmt.Errorf("read the audit trail of run %s: %w", run.ID, err)
	}
	var wait *store.AuditEvent
	for _, e := range evs {
		if e.StepID == st.StepID && e.Type == string(events.GateWaiting) {
			wait = e
		}
	}
	if wait == nil {
		return nil, fmt.Errorf("gate %s of run %s has not asked for approval", st.StepID, run.ID)
	}
	var p steps.ApprovalPolicy
	if err := json.Unmarshal([]byte(wait.Data["policy"]), &p); err != nil {
		return nil, fmt.Errorf("gate %s of run %s: its policy: %w", st.StepID, run.ID, err)
	}
	b := &ballot{run: run, gate: st.StepID, msg: chat.MessageRef(st.Message),
		open:     st.Status == store.StepWaiting && run.State.Executing(),
		required: p.Required, access: Access{Groups: p.Groups, Users: p.Users},
		allowRequester: p.AllowRequester, allowEarlier: p.AllowEarlierApprovers, message: p.Message}
	if len(b.access.Groups) == 0 && len(b.access.Users) == 0 && rb != nil {
		b.access = approvers(rb, h.o.Responders)
	}
	if t, err := time.Parse(time.RFC3339, wait.Data["expires"]); err == nil {
		b.expires = t
	}
	return b, nil
}

// ballotByMessage finds the ballot whose message is ref: a plan message,
// or the approval request of a gate of an active run.
func (h *Handler) ballotByMessage(ctx context.Context, ref chat.MessageRef) *ballot {
	if run := h.runByMessage(ctx, ref); run != nil {
		rb, _ := h.o.Catalog.Get(run.Runbook)
		return h.startBallot(run, rb)
	}
	runs, err := h.o.Store.ListRuns(ctx, store.ListOptions{States: store.ActiveStates})
	if err != nil {
		h.log.ErrorContext(ctx, "list runs", h.errAttr(err))
		return nil
	}
	for _, run := range runs {
		sts, err := h.o.Store.Steps(ctx, run.ID)
		if err != nil {
			h.log.ErrorContext(ctx, "read steps", "run", run.ID, h.errAttr(err))
			continue
		}
		for _, st := range sts {
			if st.Message.TS != "" && chat.MessageRef(st.Message) == ref {
				rb, _ := h.o.Catalog.Get(run.Runbook)
				b, err := h.gateBallot(ctx, run, rb, st)
				if err != nil {
					h.log.WarnContext(ctx, "gate ballot", "run", run.ID, "step", st.StepID, h.errAttr(err))
					return nil
				}
				return b
			}
		}
	}
	return nil
}

// ballotByButton finds the ballot a button's value names: "runID" for
// the start request, "runID/stepID" for a gate.
func (h *Handler) ballotByButton(ctx context.Context, value string) (*ballot, error) {
	runID, stepID, _ := strings.Cut(value, "/")
	run, err := h.o.Store.GetRun(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("unknown run %q", runID)
	}
	rb, _ := h.o.Catalog.Get(run.Runbook)
	if stepID == "" {
		return h.startBallot(run, rb), nil
	}
	sts, err := h.o.Store.Steps(ctx, run.ID)
	if err != nil {
		return nil, fmt.Errorf("read steps of run %s: %w", run.ID, err)
	}
	for _, st := range sts {
		if st.StepID == stepID {
			return h.gateBallot(ctx, run, rb, st)
		}
	}
	return nil, fmt.Errorf("run %s has no gate %q waiting", run.ID, stepID)
}

// decisions returns the decisions given on the ballot, by user.
func (h *Handler) decisions(ctx context.Context, b *ballot) map[string]*store.Approval {
	list, err := h.o.Store.Approvals(ctx, b.run.ID)
	if err != nil {
		h.log.ErrorContext(ctx, "list approvals", "run", b.run.ID, h.errAttr(err))
	}
	out := map[string]*store.Approval{}
	for _, a := range list {
		if a.Gate == b.gate {
			out[a.User] = a
		}
	}
	return out
}

// approvedBy lists who approved the ballot for the run's plan, oldest
// first.
func (h *Handler) approvedBy(ctx context.Context, b *ballot) []string {
	list, err := h.o.Store.Approvals(ctx, b.run.ID)
	if err != nil {
		h.log.ErrorContext(ctx, "list approvals", "run", b.run.ID, h.errAttr(err))
	}
	var by []string
	for _, a := range list {
		if a.Gate == b.gate && a.Decision == store.Approve && a.PlanHash == b.run.PlanHash {
			by = append(by, a.User)
		}
	}
	return by
}

// earlierApprovers are the people who approved the run's start or one of
// its other gates.
func (h *Handler) earlierApprovers(ctx context.Context, b *ballot) []string {
	list, err := h.o.Store.Approvals(ctx, b.run.ID)
	if err != nil {
		h.log.ErrorContext(ctx, "list approvals", "run", b.run.ID, h.errAttr(err))
	}
	var out []string
	for _, a := range list {
		if a.Gate != b.gate && a.Decision == store.Approve && !slices.Contains(out, a.User) {
			out = append(out, a.User)
		}
	}
	return out
}

// eligible says why user may not decide on b ("" when they may), as a
// refusal code and text; decision is what they gave. It asks the directory
// whether user is in the approver groups.
func (h *Handler) eligible(ctx context.Context, b *ballot, user chat.User, decision store.Decision) (code, text string) {
	switch {
	case user.IsBot:
		return "bot", fmt.Sprintf("Bots cannot approve or reject %s.", b.what())
	case user.ID == b.run.Requester && !b.allowRequester && decision == store.Approve:
		if b.gate == "" {
			return "self_approval", fmt.Sprintf("You requested run %s: someone else must approve it.", b.run.ID)
		}
		return "self_approval", fmt.Sprintf("You requested run %s: someone else must approve %s.", b.run.ID, b.what())
	case b.gate != "" && !b.allowEarlier && decision == store.Approve && slices.Contains(h.earlierApprovers(ctx, b), user.ID):
		return "earlier_approver", fmt.Sprintf("You approved an earlier step of run %s: %s needs someone else.", b.run.ID, b.what())
	}
	ok, err := h.allowed(ctx, b.access, user)
	if err != nil {
		return "directory_error", fmt.Sprintf("Could not check whether you may approve %s: %s", b.what(), h.o.Scrub(err.Error()))
	}
	if !ok {
		if b.gate == "" {
			return "not_approver", fmt.Sprintf("You are not an approver of %s (approvers: %s).", b.run.Runbook, h.describeAccess(b.access))
		}
		return "not_approver", fmt.Sprintf("You may not approve %s (approvers: %s).", b.what(), h.describeAccess(b.access))
	}
	return "", ""
}

// quorumOf re-checks every counted approver of b against the policy and
// the directory as they are now (someone removed from the group since they
// approved no longer counts), records who is dropped and why, and returns
// those who still count.
func (h *Handler) quorumOf(ctx context.Context, b *ballot) []string {
	var counted []string
	for _, id := range h.approvedBy(ctx, b) {
		user, lookupErr := h.lookupUser(ctx, chat.User{ID: id})
		code, text := "directory_error", ""
		if lookupErr != nil {
			text = fmt.Sprintf("could not check %s: %s", id, h.o.Scrub(lookupErr.Error()))
		} else {
			code, text = h.eligible(ctx, b, user, store.Approve)
		}
		if text == "" {
			counted = append(counted, id)
			continue
		}
		h.audit(ctx, b.run.ID, "bot", "approval.dropped", fmt.Sprintf("%s's approval of %s no longer counts: %s", id, b.what(), text),
			map[string]string{"user": id, "reason": code, "gate": b.gate})
	}
	return counted
}
