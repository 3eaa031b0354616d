package slack

import (
	"cmp"
	"fmt"
	"sort"
	"strings"

	"github.com/slack-go/slack"

	"github.com/failoverbot/failoverbot/internal/chat"
)

// Block Kit limits.
const (
	maxSectionText = 3000
	maxHeaderText  = 150
	maxBlocks      = 50
	maxFallback    = 4000
)

// Action IDs of the buttons the bot renders (chat.Action.ActionID).
const (
	ActionApprove = "approve"
	ActionReject  = "reject"
	ActionRetry   = "retry"
	ActionSkip    = "skip"
	ActionAbort   = "abort"
)

// Render turns m into a plain-text fallback and Block Kit blocks (none for
// a plain text message).
func Render(m chat.Message) (string, []slack.Block) {
	var text string
	var blocks []slack.Block
	switch v := m.View.(type) {
	case *chat.AssessView:
		text, blocks = renderAssess(v)
	case chat.AssessView:
		text, blocks = renderAssess(&v)
	case *chat.PlanView:
		text, blocks = renderPlan(v)
	case chat.PlanView:
		text, blocks = renderPlan(&v)
	case *chat.ProgressView:
		text, blocks = renderProgress(v)
	case chat.ProgressView:
		text, blocks = renderProgress(&v)
	case *chat.StepFailedView:
		text, blocks = renderStepFailed(v)
	case chat.StepFailedView:
		text, blocks = renderStepFailed(&v)
	case *chat.NoticeView:
		text, blocks = renderNotice(v)
	}
	if m.Text != "" {
		text = m.Text
	}
	if text == "" {
		text = " "
	}
	if len(blocks) > maxBlocks {
		blocks = append(blocks[:maxBlocks-1], section(fmt.Sprintf("_… %d more blocks not shown_", len(blocks)-maxBlocks+1)))
	}
	return truncate(text, maxFallback), blocks
}

func renderAssess(v *chat.AssessView) (string, []slack.Block) {
	verdict := "NO-GO"
	if v.Go {
		verdict = "GO"
	}
	passed := 0
	for _, c := range v.Checks {
		if c.OK {
			passed++
		}
	}
	text := fmt.Sprintf("Assessment of %s: %s (%d/%d checks passed)", v.Runbook, verdict, passed, len(v.Checks))
	emoji := ":octagonal_sign:"
	if v.Go {
		emoji = ":large_green_circle:"
	}
	blocks := []slack.Block{
		header(fmt.Sprintf("Assessment: %s — %s", v.Runbook, verdict)),
		section(fmt.Sprintf("%s *%s*: %d of %d checks passed", emoji, verdict, passed, len(v.Checks))),
	}
	blocks = append(blocks, checkLines(v.Checks)...)
	blocks = append(blocks, contextBlock(fmt.Sprintf("Checks ran in parallel in %s", dur(v.Took))))
	return text, blocks
}

func checkLines(checks []chat.CheckResult) []slack.Block {
	var lines []string
	for _, c := range checks {
		name := c.Name
		if name == "" {
			name = c.ID
		}
		line := fmt.Sprintf("%s *%s*", mark(c.OK), esc(name))
		if c.Summary != "" {
			line += " — " + esc(c.Summary)
		}
		if c.Error != "" {
			line += " — `" + esc(c.Error) + "`"
		}
		line += fmt.Sprintf(" _(%s)_", dur(c.Duration))
		lines = append(lines, line)
	}
	return chunkLines(lines)
}

func renderPlan(v *chat.PlanView) (string, []slack.Block) {
	title := "Plan: " + v.Runbook
	if v.State != "" {
		title = "Failover request: " + v.Runbook
	}
	text := fmt.Sprintf("%s (%d steps)", title, len(v.Steps))
	blocks := []slack.Block{header(title)}
	if fs := planFields(v); len(fs) > 0 {
		blocks = append(blocks, fields(fs...))
	}
	if v.Assessment != nil {
		blocks = append(blocks, section(assessmentLine(v.Assessment)))
	}
	blocks = append(blocks, slack.NewDividerBlock())
	blocks = append(blocks, chunkLines(planLines(v.Steps))...)
	if v.State == "" {
		return text, blocks
	}
	text, approval := planApproval(v, text)
	return text, append(append(blocks, slack.NewDividerBlock()), approval...)
}

// planFields are the request's facts: run, requester, reason, expected
// data loss, plan hash, parameters.
func planFields(v *chat.PlanView) []string {
	var fs []string
	if v.RunID != "" {
		fs = append(fs, "*Run*\n`"+esc(v.RunID)+"`")
	}
	if v.Requester != "" {
		fs = append(fs, "*Requested by*\n"+userMention(v.Requester))
	}
	if v.Reason != "" {
		fs = append(fs, "*Reason*\n"+esc(v.Reason))
	}
	if v.ExpectedDataLoss != "" {
		fs = append(fs, "*Expected data loss*\n"+esc(v.ExpectedDataLoss))
	}
	if v.PlanHash != "" {
		fs = append(fs, "*Plan hash*\n`"+esc(short(v.PlanHash))+"`")
	}
	if len(v.Params) > 0 {
		keys := make([]string, 0, len(v.Params))
		for k := range v.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var ps []string
		for _, k := range keys {
			ps = append(ps, fmt.Sprintf("`%s=%s`", esc(k), esc(v.Params[k])))
		}
		fs = append(fs, "*Parameters*\n"+strings.Join(ps, " "))
	}
	return fs
}

// assessmentLine sums up the assessment run before the plan.
func assessmentLine(a *chat.AssessView) string {
	passed := 0
	var failed []string
	for _, c := range a.Checks {
		if c.OK {
			passed++
		} else {
			failed = append(failed, esc(c.Name))
		}
	}
	verdict := ":large_green_circle: *GO*"
	if !a.Go {
		verdict = ":octagonal_sign: *NO-GO*"
	}
	line := fmt.Sprintf("*Assessment* %s: %d of %d checks passed", verdict, passed, len(a.Checks))
	if len(failed) > 0 {
		line += "; failed: " + strings.Join(failed, ", ")
	}
	return line
}

// planLines are the steps' verdicts, under their phases.
func planLines(steps []chat.PlanStep) []string {
	var lines []string
	phase := "\x00"
	for _, s := range steps {
		if s.Phase != phase {
			phase = s.Phase
			lines = append(lines, "*"+esc(s.Phase)+"*")
		}
		name := s.Name
		if name == "" {
			name = s.StepID
		}
		line := fmt.Sprintf("%s %s `%s` — _%s_", verdictIcon(s.Verdict), esc(name), esc(s.Kind), esc(s.Verdict))
		if s.Summary != "" {
			line += ": " + esc(s.Summary)
		}
		lines = append(lines, line)
	}
	return lines
}

// planApproval is the request's approval state: the buttons while it
// waits, the outcome after.
func planApproval(v *chat.PlanView, text string) (string, []slack.Block) {
	approvers := "none yet"
	if len(v.Approvers) > 0 {
		approvers = mentions(v.Approvers)
	}
	if v.State != "pending" {
		icon := map[string]string{"approved": ":white_check_mark:", "rejected": ":no_entry:", "expired": ":alarm_clock:"}[v.State]
		if icon == "" {
			icon = ":information_source:"
		}
		return fmt.Sprintf("%s — %s", text, v.State),
			[]slack.Block{section(fmt.Sprintf("%s *%s* — approvals: %s", icon, capitalize(v.State), approvers))}
	}
	approve, reject := cmp.Or(v.ApproveEmoji, "white_check_mark"), cmp.Or(v.RejectEmoji, "x")
	blocks := []slack.Block{
		section(fmt.Sprintf(":hourglass_flowing_sand: *Waiting for approval*: %d of %d (%s). React :%s: or press Approve; :%s: or Reject to refuse.",
			len(v.Approvers), v.Required, approvers, esc(approve), esc(reject))),
		slack.NewActionBlock("approval",
			button(ActionApprove, "Approve", v.RunID, "primary"),
			button(ActionReject, "Reject", v.RunID, "danger")),
	}
	if !v.ExpiresAt.IsZero() {
		blocks = append(blocks, contextBlock("Approvals expire at "+v.ExpiresAt.UTC().Format("15:04 MST, 2 Jan")))
	}
	return fmt.Sprintf("%s — waiting for approval (%d of %d)", text, len(v.Approvers), v.Required), blocks
}

func renderProgress(v *chat.ProgressView) (string, []slack.Block) {
	text := fmt.Sprintf("Failover %s (%s): %s", v.Runbook, v.RunID, v.State)
	if v.Current != "" {
		text += ", current step: " + v.Current
	}
	blocks := []slack.Block{header(fmt.Sprintf("Failover %s — %s", v.Runbook, v.State))}
	var fs []string
	fs = append(fs, "*Run*\n`"+esc(v.RunID)+"`")
	if v.Requester != "" {
		fs = append(fs, "*Requested by*\n"+userMention(v.Requester))
	}
	if len(v.Approvers) > 0 {
		fs = append(fs, "*Approved by*\n"+mentions(v.Approvers))
	}
	elapsed := dur(v.Elapsed)
	if v.Expected > 0 {
		elapsed += " of ~" + dur(v.Expected) + " expected"
	}
	fs = append(fs, "*Elapsed*\n"+elapsed)
	blocks = append(blocks, fields(fs...))
	if v.StateReason != "" {
		blocks = append(blocks, section(statusIcon(v.State)+" "+esc(v.StateReason)))
	}
	blocks = append(blocks, slack.NewDividerBlock())
	var lines []string
	for _, p := range v.Phases {
		lines = append(lines, fmt.Sprintf("%s *%s*", statusIcon(p.Status), esc(p.Name)))
		for _, s := range p.Steps {
			name := s.Name
			if name == "" {
				name = s.ID
			}
			line := fmt.Sprintf("      %s %s", statusIcon(s.Status), esc(name))
			if s.Summary != "" {
				line += " — " + esc(s.Summary)
			}
			lines = append(lines, line)
		}
	}
	blocks = append(blocks, chunkLines(lines)...)
	if v.Current != "" {
		blocks = append(blocks, contextBlock("Current step: *"+esc(v.Current)+"*"))
	}
	return text, blocks
}

func renderStepFailed(v *chat.StepFailedView) (string, []slack.Block) {
	text := fmt.Sprintf("Step %s of run %s failed: %s", v.StepID, v.RunID, v.Error)
	value := v.RunID + "/" + v.StepID
	return text, []slack.Block{
		section(fmt.Sprintf(":x: Step `%s` failed: %s", esc(v.StepID), esc(v.Error))),
		section("The run is paused. Retry the step, skip it, or abort the run."),
		slack.NewActionBlock("step_failed",
			button(ActionRetry, "Retry", value, "primary"),
			button(ActionSkip, "Skip", value, ""),
			button(ActionAbort, "Abort", v.RunID, "danger")),
	}
}
