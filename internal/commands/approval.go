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
	b        *ballot
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
	b := h.ballotByMessage(ctx, r.Message)
	if b == nil {
		return
	}
	user, lookupErr := h.lookupUser(ctx, r.User)
	h.decide(ctx, attempt{b: b, user: user, decision: d, added: r.Added,
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
		b, err := h.ballotByButton(ctx, a.Value)
		if err != nil {
			h.ephemeral(ctx, a.Message.Channel, user.ID, capitalize(h.o.Scrub(err.Error()))+".", true)
			return
		}
		at := attempt{b: b, user: user, decision: d, added: true, via: "button", channel: a.Message.Channel, lookupErr: lookupErr}
		// The value names the run (and gate); the button counts only on
		// its own request message.
		if a.Message != b.msg {
			what := "the plan of run " + b.run.ID
			if b.gate != "" {
				what = "the approval request of " + b.what()
			}
			h.refuse(ctx, at, "wrong_message", fmt.Sprintf("This message is not %s: your %s was not counted.", what, d))
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
	h.audit(ctx, a.b.run.ID, a.user.ID, "approval.refused", text, map[string]string{
		"reason": code, "decision": string(a.decision), "via": a.via, "event": a.eventID, "gate": a.b.gate})
	h.ephemeral(ctx, a.channel, a.user.ID, text, true)
}

func (h *Handler) decide(ctx context.Context, a attempt) {
	h.mu.Lock()
	defer h.mu.Unlock()
	log := h.log.With("run", a.b.run.ID, "gate", a.b.gate, "user", a.user.ID, "decision", a.decision, "added", a.added)
	if a.eventID != "" && h.seenEvent(ctx, a.b.run.ID, a.eventID) {
		log.InfoContext(ctx, "duplicate event ignored", "event", a.eventID)
		return
	}
	// Read the ballot again under h.mu: another decision may have moved it.
	b, err := h.refresh(ctx, a.b)
	if err != nil {
		log.ErrorContext(ctx, "read the ballot", h.errAttr(err))
		return
	}
	a.b = b
	run := b.run
	if a.channel == "" {
		a.channel = b.msg.Channel
	}
	rb, rbErr := h.o.Catalog.Get(run.Runbook)
	if !a.added {
		h.withdraw(ctx, a)
		return
	}
	if !b.open {
		h.refuse(ctx, a, "already_decided", fmt.Sprintf("%s is already %s: your %s was not counted.", capitalize(b.what()), stateWord(b), a.decision))
		return
	}
	if b.gate == "" && h.expireIfDue(ctx, run) {
		h.refuse(ctx, a, "expired", fmt.Sprintf("The approval request for run %s expired; start a new run.", run.ID))
		return
	}
	if a.lookupErr != nil {
		// Unknown whether this is a bot: refuse rather than count it.
		h.refuse(ctx, a, "directory_error", fmt.Sprintf("Could not check whether you may approve %s: %s", b.what(), h.o.Scrub(a.lookupErr.Error())))
		return
	}
	if a.user.IsBot {
		h.refuse(ctx, a, "bot", fmt.Sprintf("Bots cannot approve or reject %s.", b.what()))
		return
	}
	if rbErr != nil {
		h.refuse(ctx, a, "no_runbook", fmt.Sprintf("Runbook %s is no longer available, so %s cannot be approved: %s", run.Runbook, b.what(), h.o.Scrub(rbErr.Error())))
		return
	}
	if code, text := h.eligible(ctx, b, a.user, a.decision); code != "" {
		h.refuse(ctx, a, code, text)
		return
	}
	if hash, err := h.o.Planner.Hash(rb, run.Params); err != nil || hash != run.PlanHash {
		if b.gate == "" {
			reason := fmt.Sprintf("runbook %s changed since the plan was posted: approvals of run %s are void", rb.Name, run.ID)
			if ended := h.endRequest(ctx, run.ID, func() (*store.Run, error) { return h.o.Executor.Expire(ctx, run.ID, reason) }); ended != nil {
				h.updatePlan(ctx, ended)
			}
			h.refuse(ctx, a, "stale_plan", fmt.Sprintf("The runbook %s changed since this plan was posted: approvals of run %s are void. Start a new run to see the new plan.", rb.Name, run.ID))
			return
		}
		h.refuse(ctx, a, "stale_plan", fmt.Sprintf("The runbook %s changed since run %s was approved: %s cannot be approved under the new plan; abort the run and start a new one.", rb.Name, run.ID, b.what()))
		return
	}
	if a.decision == store.Reject {
		h.reject(ctx, a)
		return
	}
	h.approve(ctx, a, rb)
}

// refresh reads b again from the store.
func (h *Handler) refresh(ctx context.Context, b *ballot) (*ballot, error) {
	run, err := h.o.Store.GetRun(ctx, b.run.ID)
	if err != nil {
		return nil, err
	}
	rb, _ := h.o.Catalog.Get(run.Runbook)
	if b.gate == "" {
		return h.startBallot(run, rb), nil
	}
	sts, err := h.o.Store.Steps(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	for _, st := range sts {
		if st.StepID == b.gate {
			return h.gateBallot(ctx, run, rb, st)
		}
	}
	return nil, fmt.Errorf("run %s has no step %s", run.ID, b.gate)
}

// runStateWord is a run's state for people: "pending approval", "running".
func runStateWord(r *store.Run) string {
	if r.State == store.RunPending {
		return "pending approval"
	}
	return string(r.State)
}

// stateWord is what a closed ballot became: "running", "approved", …
func stateWord(b *ballot) string {
	if b.gate != "" {
		if b.open {
			return "waiting for approval"
		}
		return "decided"
	}
	return runStateWord(b.run)
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

func (h *Handler) approve(ctx context.Context, a attempt, rb *runbook.Runbook) {
	b := a.b
	run := b.run
	if d := h.decisions(ctx, b)[a.user.ID]; d != nil && d.Decision == store.Approve {
		h.refuse(ctx, a, "already_approved", fmt.Sprintf("You already approved %s; one person counts once.", b.what()))
		return
	}
	if err := h.o.Store.PutApproval(ctx, &store.Approval{RunID: run.ID, Gate: b.gate, User: a.user.ID, Decision: store.Approve,
		PlanHash: run.PlanHash, Via: a.via, At: h.o.Now()}); err != nil {
		h.log.ErrorContext(ctx, "put approval", "run", run.ID, h.errAttr(err))
		h.ephemeral(ctx, a.channel, a.user.ID, "Your approval could not be recorded: "+h.o.Scrub(err.Error()), true)
		return
	}
	by := h.approvedBy(ctx, b)
	granted := fmt.Sprintf("%s approved (%d/%d)", a.user.ID, len(by), b.required)
	if b.gate != "" {
		granted = fmt.Sprintf("%s approved gate %s (%d/%d)", a.user.ID, b.gate, len(by), b.required)
	}
	h.audit(ctx, run.ID, a.user.ID, "approval.granted", granted,
		map[string]string{"via": a.via, "event": a.eventID, "planHash": run.PlanHash, "gate": b.gate})
	h.ephemeral(ctx, a.channel, a.user.ID, fmt.Sprintf("Your approval of %s is recorded (%d/%d).", b.what(), len(by), b.required), false)
	if len(by) >= b.required {
		// The quorum counts who may approve now, not when they did.
		if counted := h.quorumOf(ctx, b); len(counted) >= b.required {
			h.quorum(ctx, b, rb, counted)
			return
		}
	}
	h.updateBallot(ctx, b)
}

func (h *Handler) reject(ctx context.Context, a attempt) {
	b := a.b
	run := b.run
	if err := h.o.Store.PutApproval(ctx, &store.Approval{RunID: run.ID, Gate: b.gate, User: a.user.ID, Decision: store.Reject,
		PlanHash: run.PlanHash, Via: a.via, At: h.o.Now()}); err != nil {
		h.log.ErrorContext(ctx, "put rejection", "run", run.ID, h.errAttr(err))
	}
	if b.gate == "" {
		h.audit(ctx, run.ID, a.user.ID, "approval.rejected", a.user.ID+" rejected the plan", map[string]string{"via": a.via, "event": a.eventID})
		if ended := h.endRequest(ctx, run.ID, func() (*store.Run, error) { return h.o.Executor.Reject(ctx, run.ID, a.user.ID) }); ended != nil {
			h.updatePlan(ctx, ended)
		}
	} else {
		h.audit(ctx, run.ID, a.user.ID, "approval.rejected", a.user.ID+" rejected "+b.what(), map[string]string{"via": a.via, "event": a.eventID, "gate": b.gate})
		if err := h.o.Executor.RejectGate(ctx, run.ID, b.gate, a.user.ID); err != nil {
			h.log.WarnContext(ctx, "reject gate", "run", run.ID, "gate", b.gate, h.errAttr(err))
		}
	}
	h.ephemeral(ctx, a.channel, a.user.ID, fmt.Sprintf("You rejected %s.", b.what()), false)
}

// withdraw handles a removed reaction: it withdraws only an approval that
// a reaction gave (not a button's), while the ballot is open.
func (h *Handler) withdraw(ctx context.Context, a attempt) {
	b := a.b
	run := b.run
	d := h.decisions(ctx, b)[a.user.ID]
	if d == nil || d.Decision != a.decision || (d.Via != "" && d.Via != "reaction") {
		return // nothing of theirs that a reaction gave
	}
	if !b.open || a.decision != store.Approve {
		h.refuse(ctx, a, "already_decided", fmt.Sprintf("%s is already %s: removing your reaction changes nothing.", capitalize(b.what()), stateWord(b)))
		return
	}
	if err := h.o.Store.DeleteApproval(ctx, run.ID, b.gate, a.user.ID); err != nil {
		h.log.ErrorContext(ctx, "delete approval", "run", run.ID, h.errAttr(err))
		return
	}
	by := h.approvedBy(ctx, b)
	h.audit(ctx, run.ID, a.user.ID, "approval.withdrawn", a.user.ID+" withdrew their approval", map[string]string{"via": a.via, "event": a.eventID, "gate": b.gate})
	h.ephemeral(ctx, a.channel, a.user.ID, fmt.Sprintf("Your approval of %s is withdrawn (%d approval(s) left).", b.what(), len(by)), false)
	h.updateBallot(ctx, b)
}

// updateBallot re-renders the ballot's message.
func (h *Handler) updateBallot(ctx context.Context, b *ballot) {
	if b.gate == "" {
		h.updatePlan(ctx, b.run)
		return
	}
	h.updateGate(ctx, b)
}

// quorum acts on a ballot that got its approvals: the run starts, or its
// gate is done. Called with h.mu held.
func (h *Handler) quorum(ctx context.Context, b *ballot, rb *runbook.Runbook, by []string) {
	if b.gate != "" {
		if err := h.o.Executor.ApproveGate(ctx, b.run.ID, b.gate, by); err != nil {
			h.log.WarnContext(ctx, "approve gate", "run", b.run.ID, "gate", b.gate, h.errAttr(err))
		}
		return // the gate's message is updated on its gate.approved event
	}
	runID := b.run.ID
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
