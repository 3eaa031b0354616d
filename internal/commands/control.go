package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/report"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
)

// resolveRun finds the run an argument names; "last" is the newest run.
func (h *Handler) resolveRun(ctx context.Context, arg string, out chat.Responder) *store.Run {
	if arg == "last" {
		runs, err := h.o.Store.ListRuns(ctx, store.ListOptions{Limit: 1})
		if err != nil || len(runs) == 0 {
			h.fail(ctx, out, "There are no runs yet.")
			return nil
		}
		return runs[0]
	}
	r, err := h.o.Store.GetRun(ctx, arg)
	if errors.Is(err, store.ErrNotFound) {
		h.fail(ctx, out, fmt.Sprintf("Unknown run %q. `/failover history` lists the runs.", arg))
		return nil
	}
	if err != nil {
		h.fail(ctx, out, fmt.Sprintf("Could not read run %s: %s", arg, h.o.Scrub(err.Error())))
		return nil
	}
	return r
}

// runbookOf returns the run's runbook, or nil when it is gone.
func (h *Handler) runbookOf(r *store.Run) *runbook.Runbook {
	rb, err := h.o.Catalog.Get(r.Runbook)
	if err != nil {
		return nil
	}
	return rb
}

func (h *Handler) status(ctx context.Context, cmd *Command, out chat.Responder) {
	if len(cmd.Args) == 0 {
		runs, err := h.o.Store.ListRuns(ctx, store.ListOptions{States: store.ActiveStates})
		if err != nil {
			h.fail(ctx, out, "Could not list runs: "+h.o.Scrub(err.Error()))
			return
		}
		if len(runs) == 0 {
			h.respond(ctx, out, chat.Message{Text: "No active runs. `/failover history` lists past runs."})
			return
		}
		var b strings.Builder
		b.WriteString("Active runs:\n")
		for _, r := range runs {
			fmt.Fprintf(&b, "• %s  %s  %s  requested by %s %s\n", r.ID, r.Runbook, runStateWord(r), r.Requester, r.CreatedAt.UTC().Format("15:04:05Z"))
		}
		h.respond(ctx, out, chat.Message{Text: strings.TrimRight(b.String(), "\n")})
		return
	}
	run := h.resolveRun(ctx, cmd.Args[0], out)
	if run == nil {
		return
	}
	if run.State == store.RunPending {
		h.expireIfDue(ctx, run)
	}
	v, err := report.Progress(ctx, h.o.Store, h.runbookOf(run), run.ID, h.o.Now())
	if err != nil {
		h.fail(ctx, out, "Could not read run "+run.ID+": "+h.o.Scrub(err.Error()))
		return
	}
	text := fmt.Sprintf("Run %s of %s: %s", v.RunID, v.Runbook, v.State)
	for _, g := range v.Waiting {
		text += fmt.Sprintf("; waiting for gate %s: %d of %d approvals from %s", g.StepID, g.Approved, g.Required, g.Who)
	}
	h.respond(ctx, out, chat.Message{Text: text, View: v})
}

func (h *Handler) control(ctx context.Context, user chat.User, cmd *Command, out chat.Responder) {
	run := h.resolveRun(ctx, cmd.Args[0], out)
	if run == nil {
		return
	}
	stepID := ""
	if len(cmd.Args) > 1 {
		stepID = cmd.Args[1]
		if rb := h.runbookOf(run); rb != nil && rb.Step(stepID) == nil {
			h.fail(ctx, out, fmt.Sprintf("Runbook %s has no step %q.\nUsage: %s", run.Runbook, stepID, Usage(cmd.Verb)))
			return
		}
	}
	by := user.ID
	if cmd.Verb == VerbAbort && run.State == store.RunPending {
		h.mu.Lock()
		ended := h.endRequest(ctx, run.ID, func() (*store.Run, error) {
			return h.o.Executor.Cancel(ctx, run.ID, by, "approval request cancelled by "+by)
		})
		h.mu.Unlock()
		if ended == nil {
			h.fail(ctx, out, fmt.Sprintf("Run %s is no longer pending approval; try again.", run.ID))
			return
		}
		h.updatePlan(ctx, ended)
		h.respond(ctx, out, chat.Message{Text: fmt.Sprintf("%s cancelled the approval request of run %s.", by, run.ID)})
		return
	}
	if run.State == store.RunPending && cmd.Verb != VerbAbort {
		h.fail(ctx, out, fmt.Sprintf("Run %s is waiting for approval; it can only be aborted.", run.ID))
		return
	}
	var err error
	var done string
	switch cmd.Verb {
	case VerbPause:
		err, done = h.o.Executor.Pause(ctx, run.ID, by), "paused"
	case VerbResume:
		err, done = h.o.Executor.Resume(ctx, run.ID, by), "resumed"
	case VerbAbort:
		err, done = h.o.Executor.Abort(ctx, run.ID, by), "aborted"
	case VerbRetry:
		err, done = h.o.Executor.RetryStep(ctx, run.ID, stepID, by), "is retrying step "+stepID+" of"
	case VerbSkip:
		err, done = h.o.Executor.SkipStep(ctx, run.ID, stepID, by), "skipped step "+stepID+" of"
	}
	if err != nil {
		h.audit(ctx, run.ID, by, "command.failed", fmt.Sprintf("%s: %v", cmd.Verb, err), map[string]string{"step": stepID})
		h.fail(ctx, out, fmt.Sprintf("Could not %s run %s: %s", cmd.Verb, run.ID, h.o.Scrub(err.Error())))
		return
	}
	h.respond(ctx, out, chat.Message{Text: fmt.Sprintf("%s %s run %s.", by, done, run.ID)})
}

func (h *Handler) history(ctx context.Context, out chat.Responder) {
	runs, err := h.o.Store.ListRuns(ctx, store.ListOptions{Limit: 20})
	if err != nil {
		h.fail(ctx, out, "Could not list runs: "+h.o.Scrub(err.Error()))
		return
	}
	if len(runs) == 0 {
		h.respond(ctx, out, chat.Message{Text: "No runs yet."})
		return
	}
	var b strings.Builder
	b.WriteString("Latest runs (newest first):\n")
	for _, r := range runs {
		fmt.Fprintf(&b, "• %s  %-18s %-17s requested by %s at %s", r.ID, r.Runbook, runStateWord(r), r.Requester, r.CreatedAt.UTC().Format("2006-01-02 15:04Z"))
		if !r.StartedAt.IsZero() && !r.EndedAt.IsZero() {
			fmt.Fprintf(&b, ", took %s", r.EndedAt.Sub(r.StartedAt).Round(report.Precision))
		}
		b.WriteString("\n")
	}
	h.respond(ctx, out, chat.Message{Text: strings.TrimRight(b.String(), "\n")})
}

func (h *Handler) report(ctx context.Context, req chat.Request, cmd *Command, out chat.Responder) {
	run := h.resolveRun(ctx, cmd.Args[0], out)
	if run == nil {
		return
	}
	t, err := report.Build(ctx, h.o.Store, run.ID, h.runbookOf(run))
	if err != nil {
		h.fail(ctx, out, "Could not build the report of "+run.ID+": "+h.o.Scrub(err.Error()))
		return
	}
	// One document, posted whole (chat.DocumentView): the chat splits it
	// over several messages when it is long, and never cuts it.
	doc := t.Document()
	doc.Markdown = h.o.Scrub(doc.Markdown)
	h.respond(ctx, out, chat.Message{View: doc})
	h.shareChart(ctx, req, run, t, out)
}

// shareChart shares the run's timeline chart where the report was asked
// for, when the chat can share files; if it cannot, it says where the
// chart shared at the run's end is.
func (h *Handler) shareChart(ctx context.Context, req chat.Request, run *store.Run, t *report.Timeline, out chat.Responder) {
	up, ok := h.o.Poster.(chat.Uploader)
	if !ok || run.StartedAt.IsZero() || req.Channel == "" {
		return
	}
	files, err := t.Files(h.o.Scrub)
	if err != nil || len(files) < 2 {
		h.log.WarnContext(ctx, "draw the timeline chart", "run", run.ID, h.errAttr(err))
		return
	}
	if err := up.Upload(ctx, chat.MessageRef{Channel: req.Channel}, files[1]); err != nil {
		h.log.WarnContext(ctx, "share the timeline chart", "run", run.ID, h.errAttr(err))
		where := "the run's thread"
		if pl, ok := h.o.Poster.(chat.Permalinker); ok && run.Card.TS != "" {
			if link, err := pl.Permalink(ctx, chat.MessageRef(run.Card)); err == nil {
				where = link
			}
		}
		h.fail(ctx, out, fmt.Sprintf("The timeline chart could not be shared here (%s); the one shared when the run ended is in %s.",
			h.o.Scrub(err.Error()), where))
	}
}

// RunStatus answers a chat adapter's question about a run (the console's
// /approve and /wait): arg is a run ID or "last", the newest run.
func (h *Handler) RunStatus(ctx context.Context, arg string) (chat.RunStatus, error) {
	var run *store.Run
	if arg == "last" {
		runs, err := h.o.Store.ListRuns(ctx, store.ListOptions{Limit: 1})
		if err != nil {
			return chat.RunStatus{}, fmt.Errorf("list runs: %w", err)
		}
		if len(runs) == 0 {
			return chat.RunStatus{}, errors.New("there are no runs yet")
		}
		run = runs[0]
	} else {
		r, err := h.o.Store.GetRun(ctx, arg)
		if err != nil {
			return chat.RunStatus{}, fmt.Errorf("run %s: %w", arg, err)
		}
		run = r
	}
	st := chat.RunStatus{ID: run.ID, State: string(run.State), Reason: run.StateReason, Approval: chat.MessageRef(run.ApprovalMsg),
		Stopped: run.State != store.RunPending && !run.State.Executing(), Succeeded: run.State == store.RunSucceeded}
	if run.State == store.RunWaiting {
		// The approval it waits for is its gate's.
		sts, err := h.o.Store.Steps(ctx, run.ID)
		if err != nil {
			return chat.RunStatus{}, fmt.Errorf("steps of run %s: %w", run.ID, err)
		}
		audit, err := h.o.Store.Audit(ctx, run.ID)
		if err != nil {
			return chat.RunStatus{}, fmt.Errorf("audit of run %s: %w", run.ID, err)
		}
		for _, s := range sts {
			if s.Status == store.StepWaiting && s.Message.TS != "" {
				// Awaiting people until a decision is recorded (the gate
				// then ends at once).
				st.Approval, st.AwaitingApproval = chat.MessageRef(s.Message), !gateDecided(audit, s.StepID)
			}
		}
	}
	return st, nil
}

// gateDecided reports whether the current wait of gate stepID has a
// decision recorded (gate.approved or gate.rejected after its latest
// gate.waiting).
func gateDecided(audit []*store.AuditEvent, stepID string) bool {
	decided := false
	for _, e := range audit {
		if e.StepID != stepID {
			continue
		}
		switch events.Type(e.Type) {
		case events.GateWaiting:
			decided = false
		case events.GateApproved, events.GateRejected:
			decided = true
		}
	}
	return decided
}
