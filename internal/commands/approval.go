package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/executor"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
)

// attempt is one approve/reject gesture: a reaction added or removed, or
// a button pressed.
type attempt struct {
	run      *store.Run
	user     chat.User
	decision store.Decision
	added    bool
	eventID  string
	via      string // "reaction" or "button"
	channel  string
	// lookupErr is why the directory could not say who user is (then
	// whether it is a bot is unknown).
	lookupErr error
}

// HandleReaction counts ✅ (approve) and ❌ (reject) reactions on a plan
// message; a removed reaction withdraws an approval before quorum. Other
// emoji and reactions on other messages are ignored.
func (h *Handler) HandleReaction(ctx context.Context, r chat.Reaction) {
	var d store.Decision
	switch r.Emoji {
	case h.o.ApproveEmoji:
		d = store.Approve
	case h.o.RejectEmoji:
		d = store.Reject
	default:
		return
	}
	run := h.runByMessage(ctx, r.Message)
	if run == nil {
		return
	}
	user, lookupErr := h.lookupUser(ctx, r.User)
	h.decide(ctx, attempt{run: run, user: user, decision: d, added: r.Added,
		eventID: r.EventID, via: "reaction", channel: r.Message.Channel, lookupErr: lookupErr})
}

// HandleAction handles the buttons: approve/reject (value: run ID) on the
// plan, retry/skip/abort (value: "runID/stepID") on a failed step.
func (h *Handler) HandleAction(ctx context.Context, a chat.Action) {
	user, lookupErr := h.lookupUser(ctx, a.User)
	switch a.ActionID {
	case "approve", "reject":
		d := store.Approve
		if a.ActionID == "reject" {
			d = store.Reject
		}
		run, err := h.o.Store.GetRun(ctx, a.Value)
		if err != nil {
			h.ephemeral(ctx, a.Message.Channel, user.ID, fmt.Sprintf("Unknown run %q.", a.Value), true)
			return
		}
		at := attempt{run: run, user: user, decision: d, added: true, via: "button", channel: a.Message.Channel, lookupErr: lookupErr}
		// The value names the run; the button counts only on that run's
		// plan message.
		if a.Message != chat.MessageRef(run.ApprovalMsg) {
			h.refuse(ctx, at, "wrong_message", fmt.Sprintf("This message is not the plan of run %s: your %s was not counted.", run.ID, d))
			return
		}
		h.decide(ctx, at)
	case "retry", "skip", "abort":
		runID, stepID, _ := strings.Cut(a.Value, "/")
		cmd := &Command{Verb: Verb(a.ActionID), Args: []string{runID}}
		if a.ActionID != "abort" {
			cmd.Args = append(cmd.Args, stepID)
		}
		out := &ephemeralOut{h: h, channel: a.Message.Channel, user: user.ID}
		ok, err := h.isResponder(ctx, user)
		if err != nil || !ok {
			h.audit(ctx, runID, user.ID, "command.refused", "not a responder: button "+a.ActionID, nil)
			h.fail(ctx, out, fmt.Sprintf("Only responders may %s (%s).", a.ActionID, h.describeAccess(h.o.Responders)))
			return
		}
		h.control(ctx, user, cmd, out)
	default:
		h.log.WarnContext(ctx, "unknown action", "action", a.ActionID)
	}
}

// ephemeralOut answers a button press: every reply is shown to the
// presser only.
type ephemeralOut struct {
	h             *Handler
	channel, user string
}

func (o *ephemeralOut) Respond(ctx context.Context, m chat.Message) error {
	return o.h.o.Poster.Ephemeral(ctx, o.channel, o.user, m)
}

func (o *ephemeralOut) Ephemeral(ctx context.Context, m chat.Message) error {
	return o.h.o.Poster.Ephemeral(ctx, o.channel, o.user, m)
}

// lookupUser completes a user known by ID only (name, bot flag). When the
// directory fails it returns u as given and the error.
func (h *Handler) lookupUser(ctx context.Context, u chat.User) (chat.User, error) {
	full, err := h.o.Directory.User(ctx, u.ID)
	if err != nil {
		h.log.WarnContext(ctx, "look up user", "user", u.ID, h.errAttr(err))
		return u, err
	}
	full.IsBot = full.IsBot || u.IsBot
	if full.ID == "" {
		full.ID = u.ID
	}
	return full, nil
}

// runByMessage finds the run whose plan message is ref.
func (h *Handler) runByMessage(ctx context.Context, ref chat.MessageRef) *store.Run {
	want := store.MessageRef{Channel: ref.Channel, TS: ref.TS}
	for _, opts := range []store.ListOptions{{States: []store.RunState{store.RunPending}}, {Limit: 200}} {
		runs, err := h.o.Store.ListRuns(ctx, opts)
		if err != nil {
			h.log.ErrorContext(ctx, "list runs", h.errAttr(err))
			return nil
		}
		for _, r := range runs {
			if r.ApprovalMsg == want {
				return r
			}
		}
	}
	return nil
}

func (h *Handler) ephemeral(ctx context.Context, channel, user, text string, isErr bool) {
	if err := h.o.Poster.Ephemeral(ctx, channel, user, chat.Message{Text: text, Error: isErr}); err != nil {
		h.log.WarnContext(ctx, "ephemeral", "user", user, h.errAttr(err))
	}
}

// refuse records a refused attempt and tells the person why.
func (h *Handler) refuse(ctx context.Context, a attempt, code, text string) {
	h.audit(ctx, a.run.ID, a.user.ID, "approval.refused", text, map[string]string{
		"reason": code, "decision": string(a.decision), "via": a.via, "event": a.eventID})
	h.ephemeral(ctx, a.channel, a.user.ID, text, true)
}

func (h *Handler) decide(ctx context.Context, a attempt) {
	h.mu.Lock()
	defer h.mu.Unlock()
	log := h.log.With("run", a.run.ID, "user", a.user.ID, "decision", a.decision, "added", a.added)
	if a.eventID != "" && h.seenEvent(ctx, a.run.ID, a.eventID) {
		log.InfoContext(ctx, "duplicate event ignored", "event", a.eventID)
		return
	}
	run, err := h.o.Store.GetRun(ctx, a.run.ID)
	if err != nil {
		log.ErrorContext(ctx, "get run", h.errAttr(err))
		return
	}
	a.run = run
	if a.channel == "" {
		a.channel = run.ApprovalMsg.Channel
	}
	rb, rbErr := h.o.Catalog.Get(run.Runbook)
	if !a.added {
		h.withdraw(ctx, a)
		return
	}
	if run.State != store.RunPending {
		h.refuse(ctx, a, "already_decided", fmt.Sprintf("Run %s is already %s: your %s was not counted.", run.ID, stateWord(run), a.decision))
		return
	}
	if h.expireIfDue(ctx, run) {
		h.refuse(ctx, a, "expired", fmt.Sprintf("The approval request for run %s expired; start a new run.", run.ID))
		return
	}
	if a.lookupErr != nil {
		// Unknown whether this is a bot: refuse rather than count it.
		h.refuse(ctx, a, "directory_error", fmt.Sprintf("Could not check whether you may approve run %s: %s", run.ID, h.o.Scrub(a.lookupErr.Error())))
		return
	}
	if a.user.IsBot {
		h.refuse(ctx, a, "bot", fmt.Sprintf("Bots cannot approve or reject run %s.", run.ID))
		return
	}
	if rbErr != nil {
		h.refuse(ctx, a, "no_runbook", fmt.Sprintf("Runbook %s is no longer available, so run %s cannot be approved: %s", run.Runbook, run.ID, h.o.Scrub(rbErr.Error())))
		return
	}
	if a.user.ID == run.Requester && !rb.Approval.AllowRequester && a.decision == store.Approve {
		h.refuse(ctx, a, "self_approval", fmt.Sprintf("You requested run %s: someone else must approve it.", run.ID))
		return
	}
	ok, err := h.allowed(ctx, approvers(rb, h.o.Responders), a.user)
	if err != nil {
		h.refuse(ctx, a, "directory_error", fmt.Sprintf("Could not check whether you may approve run %s: %s", run.ID, h.o.Scrub(err.Error())))
		return
	}
	if !ok {
		h.refuse(ctx, a, "not_approver", fmt.Sprintf("You are not an approver of %s (approvers: %s).", rb.Name, h.describeAccess(approvers(rb, h.o.Responders))))
		return
	}
	if rb.PlanHash(run.Params) != run.PlanHash {
		reason := fmt.Sprintf("runbook %s changed since the plan was posted: approvals of run %s are void", rb.Name, run.ID)
		if ended := h.endRequest(ctx, run.ID, func() (*store.Run, error) { return h.o.Executor.Expire(ctx, run.ID, reason) }); ended != nil {
			h.updatePlan(ctx, ended)
		}
		h.refuse(ctx, a, "stale_plan", fmt.Sprintf("The runbook %s changed since this plan was posted: approvals of run %s are void. Start a new run to see the new plan.", rb.Name, run.ID))
		return
	}
	if a.decision == store.Reject {
		h.reject(ctx, a)
		return
	}
	h.approve(ctx, a, rb)
}

func stateWord(r *store.Run) string {
	if r.State == store.RunPending {
		return "pending approval"
	}
	return string(r.State)
}

// approvers is the runbook's approver list, or the responders when it
// names nobody.
func approvers(rb *runbook.Runbook, responders Access) Access {
	if len(rb.Approval.Groups) == 0 && len(rb.Approval.Users) == 0 {
		return responders
	}
	return Access{Groups: rb.Approval.Groups, Users: rb.Approval.Users}
}

// seenEvent reports whether a reaction event was already handled: its ID
// is in the run's audit trail.
func (h *Handler) seenEvent(ctx context.Context, runID, eventID string) bool {
	evs, err := h.o.Store.Audit(ctx, runID)
	if err != nil {
		h.log.WarnContext(ctx, "read audit trail", "run", runID, h.errAttr(err))
		return false
	}
	for _, e := range evs {
		if e.Data["event"] == eventID {
			return true
		}
	}
	return false
}

func (h *Handler) approvalsOf(ctx context.Context, run *store.Run) (approvedBy []string, decided map[string]store.Decision) {
	list, err := h.o.Store.Approvals(ctx, run.ID)
	if err != nil {
		h.log.ErrorContext(ctx, "list approvals", "run", run.ID, h.errAttr(err))
	}
	decided = map[string]store.Decision{}
	for _, ap := range list {
		decided[ap.User] = ap.Decision
		if ap.Decision == store.Approve && ap.PlanHash == run.PlanHash {
			approvedBy = append(approvedBy, ap.User)
		}
	}
	return approvedBy, decided
}

func (h *Handler) approve(ctx context.Context, a attempt, rb *runbook.Runbook) {
	run := a.run
	_, decided := h.approvalsOf(ctx, run)
	if decided[a.user.ID] == store.Approve {
		h.refuse(ctx, a, "already_approved", fmt.Sprintf("You already approved run %s; one person counts once.", run.ID))
		return
	}
	if err := h.o.Store.PutApproval(ctx, &store.Approval{RunID: run.ID, User: a.user.ID, Decision: store.Approve, PlanHash: run.PlanHash, At: h.o.Now()}); err != nil {
		h.log.ErrorContext(ctx, "put approval", "run", run.ID, h.errAttr(err))
		h.ephemeral(ctx, a.channel, a.user.ID, "Your approval could not be recorded: "+h.o.Scrub(err.Error()), true)
		return
	}
	by, _ := h.approvalsOf(ctx, run)
	h.audit(ctx, run.ID, a.user.ID, "approval.granted", fmt.Sprintf("%s approved (%d/%d)", a.user.ID, len(by), rb.Approval.Required),
		map[string]string{"via": a.via, "event": a.eventID, "planHash": run.PlanHash})
	h.ephemeral(ctx, a.channel, a.user.ID, fmt.Sprintf("Your approval of run %s is recorded (%d/%d).", run.ID, len(by), rb.Approval.Required), false)
	if len(by) >= rb.Approval.Required {
		h.quorum(ctx, run.ID, rb, by)
		return
	}
	h.updatePlan(ctx, run)
}

func (h *Handler) reject(ctx context.Context, a attempt) {
	run := a.run
	if err := h.o.Store.PutApproval(ctx, &store.Approval{RunID: run.ID, User: a.user.ID, Decision: store.Reject, PlanHash: run.PlanHash, At: h.o.Now()}); err != nil {
		h.log.ErrorContext(ctx, "put rejection", "run", run.ID, h.errAttr(err))
	}
	h.audit(ctx, run.ID, a.user.ID, "approval.rejected", a.user.ID+" rejected the plan", map[string]string{"via": a.via, "event": a.eventID})
	if ended := h.endRequest(ctx, run.ID, func() (*store.Run, error) { return h.o.Executor.Reject(ctx, run.ID, a.user.ID) }); ended != nil {
		h.updatePlan(ctx, ended)
	}
	h.ephemeral(ctx, a.channel, a.user.ID, fmt.Sprintf("You rejected run %s.", run.ID), false)
}

// withdraw handles a removed reaction.
func (h *Handler) withdraw(ctx context.Context, a attempt) {
	run := a.run
	_, decided := h.approvalsOf(ctx, run)
	if decided[a.user.ID] != a.decision {
		return // nothing of theirs to withdraw
	}
	if run.State != store.RunPending || a.decision != store.Approve {
		h.refuse(ctx, a, "already_decided", fmt.Sprintf("Run %s is already %s: removing your reaction changes nothing.", run.ID, stateWord(run)))
		return
	}
	if err := h.o.Store.DeleteApproval(ctx, run.ID, "", a.user.ID); err != nil {
		h.log.ErrorContext(ctx, "delete approval", "run", run.ID, h.errAttr(err))
		return
	}
	by, _ := h.approvalsOf(ctx, run)
	h.audit(ctx, run.ID, a.user.ID, "approval.withdrawn", a.user.ID+" withdrew their approval", map[string]string{"via": a.via, "event": a.eventID})
	h.ephemeral(ctx, a.channel, a.user.ID, fmt.Sprintf("Your approval of run %s is withdrawn (%d approval(s) left).", run.ID, len(by)), false)
	h.updatePlan(ctx, run)
}

// quorum starts an approved run. Called with h.mu held.
func (h *Handler) quorum(ctx context.Context, runID string, rb *runbook.Runbook, by []string) {
	err := h.o.Executor.Approve(ctx, runID, rb, by)
	if errors.Is(err, executor.ErrNotPending) {
		h.log.WarnContext(ctx, "approve run", "run", runID, h.errAttr(err))
		return
	}
	run, gerr := h.o.Store.GetRun(ctx, runID)
	if gerr != nil {
		h.log.WarnContext(ctx, "read run", "run", runID, h.errAttr(gerr))
		return
	}
	if err != nil {
		h.log.ErrorContext(ctx, "start run", "run", runID, h.errAttr(err))
		if run.ApprovalMsg.TS != "" {
			_, _ = h.o.Poster.Reply(ctx, chat.MessageRef(run.ApprovalMsg), chat.Message{Text: fmt.Sprintf("Run %s was approved but could not start: %s", runID, h.o.Scrub(err.Error())), Error: true})
		}
	} else if h.o.Cards != nil {
		// Post the card now rather than on the first event, so that it
		// is there when the approvers look for it.
		if err := h.o.Cards.Open(ctx, runID); err != nil {
			h.log.WarnContext(ctx, "open progress card", "run", runID, h.errAttr(err))
		}
	}
	h.updatePlan(ctx, run)
}

// endRequest ends a pending run with one of the executor's verbs; it logs
// a failure and returns nil then (the run has left pending meanwhile).
func (h *Handler) endRequest(ctx context.Context, runID string, verb func() (*store.Run, error)) *store.Run {
	r, err := verb()
	if err != nil {
		h.log.WarnContext(ctx, "end the approval request", "run", runID, h.errAttr(err))
		return nil
	}
	return r
}
