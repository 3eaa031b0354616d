package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
)

// DefaultExpiry is how long an approval request stays open when the
// runbook does not say.
const DefaultExpiry = 15 * time.Minute

func (h *Handler) list(ctx context.Context, out chat.Responder) {
	rbs := h.o.Catalog.List()
	if len(rbs) == 0 {
		h.fail(ctx, out, "No runbooks are loaded.")
		return
	}
	var b strings.Builder
	b.WriteString("Runbooks:\n")
	for _, rb := range rbs {
		fmt.Fprintf(&b, "• %s — %s", rb.Name, rb.Description)
		if rb.Severity != "" {
			fmt.Fprintf(&b, " [%s]", rb.Severity)
		}
		fmt.Fprintf(&b, "\n    params: %s; approvals: %s", paramList(rb), policyText(rb.Approval))
		if rb.ExpectedDuration > 0 {
			fmt.Fprintf(&b, "; expected %s", rb.ExpectedDuration)
		}
		b.WriteString("\n")
	}
	if le, ok := h.o.Catalog.(interface{ LoadError() error }); ok && le.LoadError() != nil {
		fmt.Fprintf(&b, "⚠ some runbook files do not load:\n%s\n", h.o.Scrub(le.LoadError().Error()))
	}
	h.respond(ctx, out, chat.Message{Text: strings.TrimRight(b.String(), "\n")})
}

func policyText(p runbook.ApprovalPolicy) string {
	if p.Required == 0 {
		return "none"
	}
	var who []string
	for _, g := range p.Groups {
		who = append(who, "group "+g)
	}
	who = append(who, p.Users...)
	s := fmt.Sprintf("%d", p.Required)
	if len(who) > 0 {
		s += " from " + joinOr(who)
	}
	return s
}

// runbookFor resolves the runbook argument; with none given, the only
// runbook there is.
func (h *Handler) runbookFor(ctx context.Context, cmd *Command, out chat.Responder) *runbook.Runbook {
	if len(cmd.Args) == 0 {
		rbs := h.o.Catalog.List()
		if len(rbs) == 1 {
			return rbs[0]
		}
		var names []string
		for _, rb := range rbs {
			names = append(names, rb.Name)
		}
		h.fail(ctx, out, fmt.Sprintf("Which runbook? One of: %s.\nUsage: %s", strings.Join(names, ", "), Usage(cmd.Verb)))
		return nil
	}
	rb, err := h.o.Catalog.Get(cmd.Args[0])
	if err != nil {
		h.fail(ctx, out, h.o.Scrub(err.Error())+"\nUsage: "+Usage(cmd.Verb))
		return nil
	}
	return rb
}

func (h *Handler) assess(ctx context.Context, cmd *Command, out chat.Responder) {
	rb := h.runbookFor(ctx, cmd, out)
	if rb == nil {
		return
	}
	v := h.o.Executor.Assess(ctx, rb)
	h.respond(ctx, out, chat.Message{Text: assessText(&v), View: &v})
}

func assessText(v *chat.AssessView) string {
	verdict := "GO"
	if !v.Go {
		verdict = "NO-GO"
	}
	return fmt.Sprintf("Assessment of %s: %s", v.Runbook, verdict)
}

// expectedDataLoss is the replication lag the assessment's
// postgres.replicationLag check measured (its lag output, else its
// summary), else what the dry run of such a step said.
func expectedDataLoss(rb *runbook.Runbook, a *chat.AssessView, plan []chat.PlanStep) string {
	lagChecks := map[string]bool{}
	for _, s := range rb.Assess {
		if s.Kind == lagKind {
			lagChecks[s.ID] = true
		}
	}
	if a != nil {
		for _, c := range a.Checks {
			if !lagChecks[c.ID] || c.Error != "" {
				continue
			}
			if lag := c.Outputs["lag"]; lag != "" {
				return lag
			}
			if c.Summary != "" {
				return c.Summary
			}
		}
	}
	for _, s := range plan {
		if s.Kind == lagKind && s.Summary != "" && !strings.HasPrefix(s.Verdict, "cannot tell") {
			return s.Summary
		}
	}
	return ""
}

const lagKind = "postgres.replicationLag"

func (h *Handler) plan(ctx context.Context, req chat.Request, cmd *Command, out chat.Responder) {
	rb := h.runbookFor(ctx, cmd, out)
	if rb == nil {
		return
	}
	params, err := bindParams(rb, cmd.Params)
	if err != nil {
		h.fail(ctx, out, h.o.Scrub(err.Error())+"\nUsage: "+Usage(cmd.Verb))
		return
	}
	plan, err := h.o.Executor.Plan(ctx, rb, params)
	if err != nil {
		h.fail(ctx, out, fmt.Sprintf("Dry run of %s failed: %s", rb.Name, h.o.Scrub(err.Error())))
		return
	}
	hash, _ := PlanHash(rb, params)
	v := &chat.PlanView{Runbook: rb.Name, Requester: req.User.ID, PlanHash: hash, Params: params, Steps: plan.Steps,
		ExpectedDataLoss: expectedDataLoss(rb, nil, plan.Steps), Required: rb.Approval.Required}
	h.respond(ctx, out, chat.Message{Text: "Plan of " + rb.Name + " (dry run)", View: v})
}

func (h *Handler) start(ctx context.Context, req chat.Request, cmd *Command, out chat.Responder) {
	rb := h.runbookFor(ctx, cmd, out)
	if rb == nil {
		return
	}
	user := req.User.ID
	params, err := bindParams(rb, cmd.Params)
	if err != nil {
		h.fail(ctx, out, h.o.Scrub(err.Error())+"\nUsage: "+Usage(cmd.Verb))
		return
	}
	if err := checkSecrets(rb, h.o.Secrets); err != nil {
		h.audit(ctx, "", user, "run.refused", fmt.Sprintf("start %s: %v", rb.Name, err), nil)
		h.fail(ctx, out, fmt.Sprintf("Cannot start %s: %s", rb.Name, h.o.Scrub(err.Error())))
		return
	}
	if active := h.activeRun(ctx, rb.Name); active != nil {
		h.fail(ctx, out, fmt.Sprintf("Runbook %s already has an active run %s (%s).", rb.Name, active.ID, active.State))
		return
	}
	assessment := h.o.Executor.Assess(ctx, rb)
	plan, err := h.o.Executor.Plan(ctx, rb, params)
	if err != nil {
		h.fail(ctx, out, fmt.Sprintf("Dry run of %s failed, nothing was started: %s", rb.Name, h.o.Scrub(err.Error())))
		return
	}
	hash, err := PlanHash(rb, params)
	if err != nil {
		h.fail(ctx, out, fmt.Sprintf("Cannot compute the plan hash of %s: %s", rb.Name, h.o.Scrub(err.Error())))
		return
	}
	run, err := h.createRun(ctx, rb, params, hash, user, cmd.Reason)
	if err != nil {
		h.fail(ctx, out, h.o.Scrub(err.Error()))
		return
	}
	log := h.log.With("run", run.ID, "runbook", rb.Name)
	v := &chat.PlanView{RunID: run.ID, Runbook: rb.Name, Requester: user, Reason: cmd.Reason, PlanHash: hash, Params: params,
		Steps: plan.Steps, ExpectedDataLoss: expectedDataLoss(rb, &assessment, plan.Steps), Assessment: &assessment,
		Required: rb.Approval.Required, ExpiresAt: run.CreatedAt.Add(expiry(rb)), State: "pending"}
	h.audit(ctx, run.ID, user, "run.requested", fmt.Sprintf("%s requested %s: %s", user, rb.Name, cmd.Reason), map[string]string{
		"runbook": rb.Name, "planHash": hash, "params": paramString(params), "reason": cmd.Reason, "plan": encodePlan(v),
	})

	channel := rb.Channel
	if channel == "" {
		channel = req.Channel
	}
	ref, err := h.o.Poster.Post(ctx, channel, chat.Message{Text: planText(v), View: v})
	if err != nil {
		log.ErrorContext(ctx, "post plan", h.errAttr(err))
		h.endRun(ctx, run.ID, store.RunAborted, "the plan could not be posted", "bot")
		h.fail(ctx, out, fmt.Sprintf("Could not post the plan in %s, run %s was cancelled: %s", channel, run.ID, h.o.Scrub(err.Error())))
		return
	}
	if _, err := h.updateRun(ctx, run.ID, func(r *store.Run) error {
		r.ApprovalMsg = store.MessageRef{Channel: ref.Channel, TS: ref.TS}
		return nil
	}); err != nil {
		log.ErrorContext(ctx, "store approval message", h.errAttr(err))
	}
	h.audit(ctx, run.ID, "bot", "approval.requested", fmt.Sprintf("plan posted in %s; %s", channel, policyText(rb.Approval)), map[string]string{"channel": ref.Channel, "ts": ref.TS})
	if rb.Approval.Required <= 0 {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.quorum(ctx, run.ID, rb, nil)
		_ = out.Ephemeral(ctx, chat.Message{Text: fmt.Sprintf("Run %s of %s needs no approval: started.", run.ID, rb.Name)})
		return
	}
	_ = out.Ephemeral(ctx, chat.Message{Text: fmt.Sprintf("Run %s of %s requested. The plan is posted in %s; it needs %s within %s (react :%s: or press Approve; :%s: or Reject rejects).",
		run.ID, rb.Name, channel, approvalsNeeded(rb, h.o.Responders, h), expiry(rb), h.o.ApproveEmoji, h.o.RejectEmoji)})
}

// approvalsNeeded says who must approve: "2 approvals from group oncall".
func approvalsNeeded(rb *runbook.Runbook, responders Access, h *Handler) string {
	n := "1 approval"
	if rb.Approval.Required != 1 {
		n = fmt.Sprintf("%d approvals", rb.Approval.Required)
	}
	n += " from " + h.describeAccess(approvers(rb, responders))
	if !rb.Approval.AllowRequester {
		n += " (not the requester)"
	}
	return n
}

func expiry(rb *runbook.Runbook) time.Duration {
	if rb.Approval.Expiry > 0 {
		return rb.Approval.Expiry
	}
	return DefaultExpiry
}

func paramString(p map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(p)) {
		parts = append(parts, k+"="+p[k])
	}
	return strings.Join(parts, " ")
}

func planText(v *chat.PlanView) string {
	return fmt.Sprintf("Plan of %s (run %s), requested by %s: %d step(s); approvals %d/%d", v.Runbook, v.RunID, v.Requester, len(v.Steps), len(v.Approvers), v.Required)
}

// encodePlan keeps the plan in the audit trail, so that the plan message
// can be re-rendered after a restart.
func encodePlan(v *chat.PlanView) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// activeRun returns the runbook's active run, expiring it first if it is
// an approval request past its expiry.
func (h *Handler) activeRun(ctx context.Context, rbName string) *store.Run {
	runs, err := h.o.Store.ListRuns(ctx, store.ListOptions{Runbook: rbName, States: []store.RunState{store.RunPending, store.RunRunning, store.RunPaused}, Limit: 5})
	if err != nil || len(runs) == 0 {
		return nil
	}
	r := runs[0]
	if r.State == store.RunPending && h.expireIfDue(ctx, r) {
		return nil
	}
	return r
}

func (h *Handler) createRun(ctx context.Context, rb *runbook.Runbook, params map[string]string, hash, user, reason string) (*store.Run, error) {
	for attempt := 0; ; attempt++ {
		id := h.o.NewRunID(rb.Name)
		if _, err := h.o.Store.GetRun(ctx, id); err == nil && attempt < 5 {
			continue // taken: draw another
		}
		run := &store.Run{ID: id, Runbook: rb.Name, PlanHash: hash, Params: params, Requester: user, Reason: reason,
			State: store.RunPending, CreatedAt: h.o.Now()}
		err := h.o.Store.CreateRun(ctx, run)
		switch {
		case err == nil:
			return run, nil
		case errors.Is(err, store.ErrActiveRun):
			if active := h.activeRun(ctx, rb.Name); active != nil || attempt > 0 {
				if active != nil {
					return nil, fmt.Errorf("runbook %s already has an active run %s (%s)", rb.Name, active.ID, active.State)
				}
				return nil, fmt.Errorf("runbook %s already has an active run", rb.Name)
			}
		default:
			return nil, fmt.Errorf("create run of %s: %w", rb.Name, err)
		}
	}
}

// updateRun reads the run, applies mutate and stores it, retrying on a
// concurrent change.
func (h *Handler) updateRun(ctx context.Context, id string, mutate func(r *store.Run) error) (*store.Run, error) {
	for attempt := 0; ; attempt++ {
		r, err := h.o.Store.GetRun(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("get run %s: %w", id, err)
		}
		if err := mutate(r); err != nil {
			return r, err
		}
		err = h.o.Store.UpdateRun(ctx, r)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, store.ErrConflict) || attempt >= 10 {
			return nil, fmt.Errorf("update run %s: %w", id, err)
		}
	}
}

// errNotPending stops updateRun when the run has left pending_approval.
var errNotPending = errors.New("run is no longer pending approval")

// endRun moves a pending run to a final state.
func (h *Handler) endRun(ctx context.Context, id string, state store.RunState, reason, actor string) *store.Run {
	r, err := h.updateRun(ctx, id, func(r *store.Run) error {
		if r.State != store.RunPending {
			return errNotPending
		}
		r.State, r.StateReason, r.EndedAt = state, h.o.Scrub(reason), h.o.Now()
		return nil
	})
	if err != nil {
		h.log.WarnContext(ctx, "end run", "run", id, "state", state, h.errAttr(err))
		return nil
	}
	h.audit(ctx, id, actor, "run."+string(state), reason, nil)
	return r
}
