package console

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
)

// Render returns a message as terminal text: its view if it has one,
// else its text.
func Render(m chat.Message) string {
	switch v := m.View.(type) {
	case *chat.AssessView:
		return renderAssess(v)
	case *chat.PlanView:
		return renderPlan(v)
	case *chat.ProgressView:
		return renderProgress(v)
	case *chat.StepFailedView:
		return renderStepFailed(v)
	case *chat.DocumentView:
		return renderDocument(v)
	case *chat.NoticeView:
		return renderNotice(v)
	case *chat.GateView:
		return renderGate(v)
	}
	return m.Text
}

// renderGate shows a gate's approval request and how to answer it.
func renderGate(v *chat.GateView) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Gate %s of run %s — %s (%d/%d approvals)", v.StepID, v.RunID, strings.ToUpper(v.State), len(v.Approvers), v.Required)
	fmt.Fprintf(&b, "\n  %s", v.Message)
	fmt.Fprintf(&b, "\n  may approve: %s", v.Who)
	if len(v.Approvers) > 0 {
		fmt.Fprintf(&b, "\n  approved by: %s", strings.Join(v.Approvers, ", "))
	}
	if v.State == "waiting" {
		fmt.Fprintf(&b, "\n  approve: /approve %s --as <approver>   reject: /reject %s --as <approver>", v.RunID, v.RunID)
		if !v.ExpiresAt.IsZero() {
			fmt.Fprintf(&b, "   (expires %s)", v.ExpiresAt.UTC().Format("15:04:05Z"))
		}
	}
	return b.String()
}

// renderDocument prints a document's Markdown whole, without its code
// fences (a terminal lines the columns up by itself).
func renderDocument(v *chat.DocumentView) string {
	var lines []string
	for _, l := range strings.Split(v.Markdown, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "```") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

func dur(d time.Duration) string {
	return chat.FormatDuration(d, 100*time.Millisecond)
}

// idWidth is the width of the widest check ID.
func idWidth(checks []chat.CheckResult) int {
	w := 0
	for _, c := range checks {
		w = max(w, len(c.ID))
	}
	return w
}

// hang indents the continuation lines of a multi-line text by n spaces,
// so that they stay in their column.
func hang(s string, n int) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+strings.Repeat(" ", n))
}

// checkMark is ✓, ✗, or ! for a check that could not run.
func checkMark(c chat.CheckResult) string {
	if c.NotRun {
		return "!"
	}
	return mark(c.OK)
}

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

func renderAssess(v *chat.AssessView) string {
	var b strings.Builder
	verdict := "GO"
	if !v.Go {
		verdict = "NO-GO"
	}
	fmt.Fprintf(&b, "Assessment of %s: %s (%d checks in %s)", v.Runbook, verdict, len(v.Checks), dur(v.Took))
	w := idWidth(v.Checks)
	for _, c := range v.Checks {
		text := c.Summary
		if c.Error != "" {
			text = c.Error
		}
		fmt.Fprintf(&b, "\n  %s %-*s  %s (%s)", checkMark(c), w, c.ID, hang(text, w+6), dur(c.Duration))
	}
	return b.String()
}

func renderPlan(v *chat.PlanView) string {
	var b strings.Builder
	switch {
	case v.RunID == "":
		fmt.Fprintf(&b, "Plan of %s (dry run, nothing is started)", v.Runbook)
	default:
		state := strings.ToUpper(v.State)
		if v.State == "pending" {
			state = "PENDING APPROVAL"
		}
		fmt.Fprintf(&b, "Plan of %s — run %s — %s (%d/%d approvals)", v.Runbook, v.RunID, state, len(v.Approvers), v.Required)
		fmt.Fprintf(&b, "\n  requested by %s", v.Requester)
		if v.Reason != "" {
			fmt.Fprintf(&b, ": %s", v.Reason)
		}
	}
	if len(v.Params) > 0 {
		var ps []string
		for _, k := range slices.Sorted(maps.Keys(v.Params)) {
			ps = append(ps, k+"="+v.Params[k])
		}
		fmt.Fprintf(&b, "\n  params: %s", strings.Join(ps, " "))
	}
	if v.PlanHash != "" {
		h := v.PlanHash
		if len(h) > 12 {
			h = h[:12]
		}
		fmt.Fprintf(&b, "\n  plan hash: %s", h)
	}
	if v.Overlay != "" {
		fmt.Fprintf(&b, "\n  connections overlay: %s", v.Overlay)
	}
	if a := v.Assessment; a != nil {
		verdict := "GO"
		if !a.Go {
			verdict = "NO-GO"
		}
		fmt.Fprintf(&b, "\n  assessment: %s", verdict)
		w := idWidth(a.Checks)
		for _, c := range a.Checks {
			text := c.Summary
			if c.Error != "" {
				text = c.Error
			}
			fmt.Fprintf(&b, "\n    %s %-*s  %s", checkMark(c), w, c.ID, hang(text, w+8))
		}
	}
	if pf := v.Preflight; pf != nil {
		if len(pf.Problems) > 0 {
			fmt.Fprintf(&b, "\n  preflight: FAILED, %d of %d steps and checks could never run:", len(pf.Problems), pf.Checked)
			for _, p := range pf.Problems {
				fmt.Fprintf(&b, "\n    ✗ %s (%s): %s", p.StepID, p.Kind, p.Reason)
			}
		} else {
			fmt.Fprintf(&b, "\n  preflight: all %d steps and checks build", pf.Checked)
			if len(pf.Partial) > 0 {
				fmt.Fprintf(&b, " (%d in part, until the steps whose outputs they use have run: %s)", len(pf.Partial), strings.Join(pf.Partial, ", "))
			}
		}
	}
	if v.ExpectedDataLoss != "" {
		fmt.Fprintf(&b, "\n  expected data loss (replication lag): %s", v.ExpectedDataLoss)
	}
	b.WriteString("\n  steps:")
	pw, sw := 0, 0
	for _, s := range v.Steps {
		pw, sw = max(pw, len(s.Phase)), max(sw, len(s.StepID))
	}
	for _, s := range v.Steps {
		text := s.Verdict
		if s.Summary != "" {
			text += " — " + s.Summary
		}
		fmt.Fprintf(&b, "\n    %-*s  %-*s  %s", pw, s.Phase, sw, s.StepID, hang(text, pw+sw+8))
	}
	if len(v.Approvers) > 0 {
		fmt.Fprintf(&b, "\n  approved by: %s", strings.Join(v.Approvers, ", "))
	}
	if v.RunID != "" && v.State == "pending" {
		fmt.Fprintf(&b, "\n  approve: /approve %s --as <approver>   reject: /reject %s --as <approver>", v.RunID, v.RunID)
		if !v.ExpiresAt.IsZero() {
			fmt.Fprintf(&b, "   (expires %s)", v.ExpiresAt.UTC().Format("15:04:05Z"))
		}
	}
	return b.String()
}

var statusMark = map[string]string{
	"pending": "○", "running": "▶", "done": "✓", "failed": "✗", "skipped": "⤼", "replaced": "↺",
}

func renderProgress(v *chat.ProgressView) string {
	var b strings.Builder
	fmt.Fprintf(&b, "┌ run %s · %s · %s", v.RunID, v.Runbook, strings.ToUpper(v.State))
	if v.StateReason != "" {
		fmt.Fprintf(&b, " (%s)", v.StateReason)
	}
	fmt.Fprintf(&b, "\n│ asked by %s", v.Requester)
	if len(v.Approvers) > 0 {
		fmt.Fprintf(&b, " · approved by %s", strings.Join(v.Approvers, ", "))
	}
	fmt.Fprintf(&b, "\n│ elapsed %s", dur(v.Elapsed))
	if v.Expected > 0 {
		fmt.Fprintf(&b, " of expected %s", v.Expected)
	}
	for _, p := range v.Phases {
		fmt.Fprintf(&b, "\n│ %s %s", statusMark[p.Status], p.Name)
		for _, s := range p.Steps {
			line := fmt.Sprintf("\n│     %s %s", statusMark[s.Status], s.ID)
			if s.Summary != "" {
				line += " — " + s.Summary
			}
			b.WriteString(line)
		}
	}
	if v.Current != "" {
		fmt.Fprintf(&b, "\n│ now: %s", v.Current)
	}
	for _, g := range v.Waiting {
		fmt.Fprintf(&b, "\n│ waiting for approval of %s: %d/%d from %s — %s", g.StepID, g.Approved, g.Required, g.Who, g.Message)
	}
	b.WriteString("\n└")
	return b.String()
}

func renderStepFailed(v *chat.StepFailedView) string {
	return fmt.Sprintf("✗ step %s of run %s failed: %s\n  retry: /failover retry %s %s · skip: /failover skip %s %s · abort: /failover abort %s",
		v.StepID, v.RunID, v.Error, v.RunID, v.StepID, v.RunID, v.StepID, v.RunID)
}
