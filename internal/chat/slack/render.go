package slack

import (
	"cmp"
	"fmt"
	"sort"
	"strings"

	"github.com/slack-go/slack"

	"github.com/failoverbot/failoverbot/internal/chat"
)

// Block Kit and Web API limits (shared/CONTRACTS.md), in bytes of escaped
// text, which is never fewer than Slack's characters.
const (
	maxSectionText = 3000
	maxFieldText   = 2000
	maxHeaderText  = 150
	maxBlocks      = 50
	// maxFallback bounds the fallback text of a message with blocks (what
	// notifications show; the blocks carry the content).
	maxFallback = 3000
	// maxText bounds the text of a message without blocks: Slack
	// truncates chat.postMessage text past 40,000 characters.
	maxText = 35000
)

// Action IDs of the buttons the bot renders (chat.Action.ActionID).
const (
	ActionApprove = "approve"
	ActionReject  = "reject"
	ActionRetry   = "retry"
	ActionSkip    = "skip"
	ActionAbort   = "abort"
)

// part is one Slack message: its text (escaped) and its blocks.
type part struct {
	text   string
	blocks []slack.Block
}

// Render turns m into a fallback text and Block Kit blocks (none for a
// plain text message), escaped for Slack. A message too long for one Slack
// message renders as several (renderAll); Render returns the first.
func Render(m chat.Message) (string, []slack.Block) {
	p := renderAll(m)[0]
	return p.text, p.blocks
}

// renderAll renders m as the Slack messages that show it whole: one, or
// several for a long text or document. This is the one place text becomes
// Slack text: the fallback text is escaped here, blocks are built from md.
func renderAll(m chat.Message) []part {
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
	case *chat.DocumentView:
		return renderDocument(v)
	case chat.DocumentView:
		return renderDocument(&v)
	case *chat.NoticeView:
		return renderNotice(v)
	case *chat.GateView:
		text, blocks = renderGate(v)
	}
	if m.Text != "" {
		text = m.Text
	}
	if len(blocks) == 0 {
		return textParts(esc(text))
	}
	if len(blocks) > maxBlocks {
		blocks = append(blocks[:maxBlocks-1], section(mdf("_… %d more blocks not shown_", len(blocks)-maxBlocks+1)))
	}
	return []part{{text: string(cutMD(esc(cmp.Or(text, " ")), maxFallback)), blocks: blocks}}
}

// textParts is a plain text message: one message, or several, each saying
// which part it is, when it is longer than Slack shows in one.
func textParts(text md) []part {
	if text == "" {
		text = " "
	}
	if len(text) <= maxText {
		return []part{{text: string(text)}}
	}
	var lines []md
	for _, l := range strings.Split(string(text), "\n") {
		lines = append(lines, md(l))
	}
	chunks := packLines(lines, maxText-40)
	out := make([]part, len(chunks))
	for i, c := range chunks {
		if i > 0 {
			c = mdf("_(continued, %d of %d)_\n", i+1, len(chunks)) + c
		}
		out[i] = part{text: string(c)}
	}
	return out
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
	emoji := md(":octagonal_sign:")
	if v.Go {
		emoji = ":large_green_circle:"
	}
	blocks := []slack.Block{
		header(fmt.Sprintf("Assessment: %s — %s", v.Runbook, verdict)),
		section(mdf("%s *%s*: %d of %d checks passed", emoji, verdict, passed, len(v.Checks))),
	}
	blocks = append(blocks, checkLines(v.Checks)...)
	blocks = append(blocks, contextBlock(mdf("Checks ran in parallel in %s", dur(v.Took))))
	return text, blocks
}

func checkLines(checks []chat.CheckResult) []slack.Block {
	var lines []md
	for _, c := range checks {
		icon := mark(c.OK)
		if c.NotRun {
			icon = ":warning:"
		}
		line := mdf("%s *%s*", icon, cmp.Or(c.Name, c.ID))
		if c.Summary != "" {
			line += mdf(" — %s", c.Summary)
		}
		if c.Error != "" {
			line += mdf(" — `%s`", c.Error)
		}
		line += mdf(" _(%s)_", dur(c.Duration))
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
	// What could never run comes first: nobody should approve past it.
	if pf := v.Preflight; pf != nil && len(pf.Problems) > 0 {
		blocks = append(blocks, preflightBlocks(pf)...)
	}
	if fs := planFields(v); len(fs) > 0 {
		blocks = append(blocks, fields(fs...))
	}
	if v.Overlay != "" {
		blocks = append(blocks, chunkLines([]md{mdf(":twisted_rightwards_arrows: *Connections overlay* %s", v.Overlay)})...)
	}
	if v.Assessment != nil {
		blocks = append(blocks, section(assessmentLine(v.Assessment)))
	}
	blocks = append(blocks, slack.NewDividerBlock())
	blocks = append(blocks, chunkLines(planLines(v.Steps))...)
	if pf := v.Preflight; pf != nil && len(pf.Problems) == 0 {
		blocks = append(blocks, contextBlock(preflightOK(pf)))
	}
	if v.State == "" {
		return text, blocks
	}
	text, approval := planApproval(v, text)
	return text, append(append(blocks, slack.NewDividerBlock()), approval...)
}

// preflightBlocks lists the steps that could never run.
func preflightBlocks(pf *chat.PreflightView) []slack.Block {
	lines := []md{mdf(":no_entry: *Preflight failed*: %d of %d steps and checks could never run — this run cannot start", len(pf.Problems), pf.Checked)}
	for _, p := range pf.Problems {
		lines = append(lines, mdf("• `%s` (%s): %s", p.StepID, p.Kind, p.Reason))
	}
	return chunkLines(lines)
}

// preflightOK is the line of a preflight that found nothing.
func preflightOK(pf *chat.PreflightView) md {
	s := mdf(":white_check_mark: Preflight: all %d steps and checks build", pf.Checked)
	if len(pf.Partial) > 0 {
		s += mdf(" (%d checked in part: they use earlier steps' outputs)", len(pf.Partial))
	}
	return s
}

// planFields are the request's facts: run, requester, reason, expected
// data loss, plan hash, parameters.
func planFields(v *chat.PlanView) []md {
	var fs []md
	if v.RunID != "" {
		fs = append(fs, mdf("*Run*\n`%s`", v.RunID))
	}
	if v.Requester != "" {
		fs = append(fs, mdf("*Requested by*\n%s", userMention(v.Requester)))
	}
	if v.Reason != "" {
		fs = append(fs, mdf("*Reason*\n%s", v.Reason))
	}
	if v.ExpectedDataLoss != "" {
		fs = append(fs, mdf("*Expected data loss*\n%s", v.ExpectedDataLoss))
	}
	if v.PlanHash != "" {
		fs = append(fs, mdf("*Plan hash*\n`%s`", short(v.PlanHash)))
	}
	if len(v.Params) > 0 {
		keys := make([]string, 0, len(v.Params))
		for k := range v.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var ps []md
		for _, k := range keys {
			ps = append(ps, mdf("`%s=%s`", k, v.Params[k]))
		}
		fs = append(fs, mdf("*Parameters*\n%s", joinMD(ps, " ")))
	}
	return fs
}

// assessmentLine sums up the assessment run before the plan.
func assessmentLine(a *chat.AssessView) md {
	passed := 0
	var failed []md
	for _, c := range a.Checks {
		if c.OK {
			passed++
		} else {
			failed = append(failed, esc(c.Name))
		}
	}
	verdict := md(":large_green_circle: *GO*")
	if !a.Go {
		verdict = ":octagonal_sign: *NO-GO*"
	}
	line := mdf("*Assessment* %s: %d of %d checks passed", verdict, passed, len(a.Checks))
	if len(failed) > 0 {
		line += mdf("; failed: %s", joinMD(failed, ", "))
	}
	return line
}

// planLines are the steps' verdicts, under their phases.
func planLines(steps []chat.PlanStep) []md {
	var lines []md
	phase := "\x00"
	for _, s := range steps {
		if s.Phase != phase {
			phase = s.Phase
			lines = append(lines, mdf("*%s*", s.Phase))
		}
		line := mdf("%s %s `%s` — _%s_", verdictIcon(s.Verdict), cmp.Or(s.Name, s.StepID), s.Kind, s.Verdict)
		if s.Summary != "" {
			line += mdf(": %s", s.Summary)
		}
		lines = append(lines, line)
	}
	return lines
}

// planApproval is the request's approval state: the buttons while it
// waits, the outcome after.
func planApproval(v *chat.PlanView, text string) (string, []slack.Block) {
	approvers := md("none yet")
	if len(v.Approvers) > 0 {
		approvers = mentions(v.Approvers)
	}
	if v.State != "pending" {
		icon := map[string]md{"approved": ":white_check_mark:", "rejected": ":no_entry:", "expired": ":alarm_clock:"}[v.State]
		if icon == "" {
			icon = ":information_source:"
		}
		return fmt.Sprintf("%s — %s", text, v.State),
			[]slack.Block{section(mdf("%s *%s* — approvals: %s", icon, capitalize(v.State), approvers))}
	}
	approve, reject := cmp.Or(v.ApproveEmoji, "white_check_mark"), cmp.Or(v.RejectEmoji, "x")
	blocks := []slack.Block{
		section(mdf(":hourglass_flowing_sand: *Waiting for approval*: %d of %d (%s). React :%s: or press Approve; :%s: or Reject to refuse.",
			len(v.Approvers), v.Required, approvers, approve, reject)),
		slack.NewActionBlock("approval",
			button(ActionApprove, "Approve", v.RunID, "primary"),
			button(ActionReject, "Reject", v.RunID, "danger")),
	}
	if !v.ExpiresAt.IsZero() {
		blocks = append(blocks, contextBlock(mdf("Approvals expire at %s", v.ExpiresAt.UTC().Format("15:04 MST, 2 Jan"))))
	}
	return fmt.Sprintf("%s — waiting for approval (%d of %d)", text, len(v.Approvers), v.Required), blocks
}
