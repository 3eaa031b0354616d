package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/executor"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
)

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
	v := AssessView(h.o.Planner.Assess(ctx, rb))
	h.respond(ctx, out, chat.Message{Text: assessText(v), View: v})
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
	params, err := rb.BindParams(cmd.Params)
	if err != nil {
		h.fail(ctx, out, h.o.Scrub(err.Error())+"\nUsage: "+Usage(cmd.Verb))
		return
	}
	plan, err := h.o.Planner.Plan(ctx, rb, params)
	if err != nil {
		h.fail(ctx, out, fmt.Sprintf("Dry run of %s failed: %s", rb.Name, h.o.Scrub(err.Error())))
		return
	}
	steps := PlanSteps(plan)
	v := &chat.PlanView{Runbook: rb.Name, Requester: req.User.ID, PlanHash: plan.Hash, Params: params, Steps: steps, Overlay: rb.OverlayDescription(),
		ExpectedDataLoss: expectedDataLoss(rb, nil, steps), Required: rb.Approval.Required,
		Preflight: PreflightView(h.o.Planner.Preflight(ctx, rb, params))}
	h.respond(ctx, out, chat.Message{Text: "Plan of " + rb.Name + " (dry run)", View: v})
}

func (h *Handler) start(ctx context.Context, req chat.Request, cmd *Command, out chat.Responder) {
	rb := h.runbookFor(ctx, cmd, out)
	if rb == nil {
		return
	}
	user := req.User.ID
	params, err := rb.BindParams(cmd.Params)
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
	// A run that could never finish must not start: nothing is posted for
	// approval and nothing runs.
	pf := h.o.Planner.Preflight(ctx, rb, params)
	if !pf.OK() {
		h.audit(ctx, "", user, "run.refused", fmt.Sprintf("start %s: preflight: %d step(s) cannot run", rb.Name, len(pf.Problems)),
			map[string]string{"runbook": rb.Name, "preflight": pf.String()})
		h.fail(ctx, out, fmt.Sprintf("Cannot start %s: %d of its %d steps and checks could never run, so nothing was started:\n%s",
			rb.Name, len(pf.Problems), pf.Checked, preflightLines(pf)))
		return
	}
	assessment := AssessView(h.o.Planner.Assess(ctx, rb))
	plan, err := h.o.Planner.Plan(ctx, rb, params)
	if err != nil {
		h.fail(ctx, out, fmt.Sprintf("Dry run of %s failed, nothing was started: %s", rb.Name, h.o.Scrub(err.Error())))
		return
	}
	steps := PlanSteps(plan)
	v := &chat.PlanView{Runbook: rb.Name, Requester: user, Reason: cmd.Reason, PlanHash: plan.Hash, Params: params, Overlay: rb.OverlayDescription(),
		Steps: steps, ExpectedDataLoss: expectedDataLoss(rb, assessment, steps), Assessment: assessment, Preflight: PreflightView(pf),
		Required: rb.Approval.Required, State: "pending", ApproveEmoji: h.o.ApproveEmoji, RejectEmoji: h.o.RejectEmoji}
	runReq := executor.RunRequest{Runbook: rb, Params: params, PlanHash: plan.Hash, Requester: user, Reason: cmd.Reason, Plan: encodePlan(v)}
	run, err := h.o.Executor.Request(ctx, runReq)
	if errors.Is(err, store.ErrActiveRun) && h.activeRun(ctx, rb.Name) == nil {
		run, err = h.o.Executor.Request(ctx, runReq) // the active one was a request past its expiry
	}
	if err != nil {
		h.fail(ctx, out, capitalize(h.o.Scrub(err.Error()))+".")
		return
	}
	log := h.log.With("run", run.ID, "runbook", rb.Name)
	v.RunID, v.ExpiresAt = run.ID, run.CreatedAt.Add(expiry(rb))

	channel := rb.Channel
	if channel == "" {
		channel = req.Channel
	}
	ref, err := h.o.Poster.Post(ctx, channel, chat.Message{Text: planText(v), View: v})
	if err != nil {
		log.ErrorContext(ctx, "post plan", h.errAttr(err))
		if _, err := h.o.Executor.Cancel(ctx, run.ID, "bot", "the plan could not be posted"); err != nil {
			log.WarnContext(ctx, "cancel the request", h.errAttr(err))
		}
		h.fail(ctx, out, fmt.Sprintf("Could not post the plan in %s, run %s was cancelled: %s", channel, run.ID, h.o.Scrub(err.Error())))
		return
	}
	if err := h.o.Executor.PlanPosted(ctx, run.ID, store.MessageRef{Channel: ref.Channel, TS: ref.TS},
		fmt.Sprintf("plan posted in %s; %s", channel, policyText(rb.Approval))); err != nil {
		log.ErrorContext(ctx, "store approval message", h.errAttr(err))
	}
	if rb.Approval.Required <= 0 {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.quorum(ctx, h.startBallot(run, rb), rb, nil)
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
	return runbook.DefaultExpiry
}

// capitalize makes an error message a sentence.
func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
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
	runs, err := h.o.Store.ListRuns(ctx, store.ListOptions{Runbook: rbName, States: store.ActiveStates, Limit: 5})
	if err != nil || len(runs) == 0 {
		return nil
	}
	r := runs[0]
	if r.State == store.RunPending && h.expireIfDue(ctx, r) {
		return nil
	}
	return r
}

// preflightLines lists a preflight's problems: "• step (kind): reason".
func preflightLines(pf executor.Preflight) string {
	var b strings.Builder
	for _, p := range pf.Problems {
		fmt.Fprintf(&b, "• %s (%s): %s\n", p.StepID, p.Kind, p.Reason)
	}
	return strings.TrimRight(b.String(), "\n")
}
