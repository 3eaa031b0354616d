package slack

import (
	"cmp"
	"fmt"
	"regexp"
	"strings"

	"github.com/slack-go/slack"

	"github.com/failoverbot/failoverbot/internal/chat"
)

func renderProgress(v *chat.ProgressView) (string, []slack.Block) {
	text := fmt.Sprintf("Failover %s (%s): %s", v.Runbook, v.RunID, v.State)
	if v.Current != "" {
		text += ", current step: " + v.Current
	}
	blocks := []slack.Block{header(fmt.Sprintf("Failover %s — %s", v.Runbook, v.State))}
	fs := []md{mdf("*Run*\n`%s`", v.RunID)}
	if v.Requester != "" {
		fs = append(fs, mdf("*Requested by*\n%s", userMention(v.Requester)))
	}
	if len(v.Approvers) > 0 {
		fs = append(fs, mdf("*Approved by*\n%s", mentions(v.Approvers)))
	}
	elapsed := dur(v.Elapsed)
	if v.Expected > 0 {
		elapsed += mdf(" of ~%s expected", dur(v.Expected))
	}
	fs = append(fs, mdf("*Elapsed*\n%s", elapsed))
	blocks = append(blocks, fields(fs...))
	if v.StateReason != "" {
		blocks = append(blocks, section(mdf("%s %s", statusIcon(v.State), v.StateReason)))
	}
	blocks = append(blocks, slack.NewDividerBlock())
	var lines []md
	for _, p := range v.Phases {
		lines = append(lines, mdf("%s *%s*", statusIcon(p.Status), p.Name))
		for _, s := range p.Steps {
			line := mdf("      %s %s", statusIcon(s.Status), cmp.Or(s.Name, s.ID))
			if s.Summary != "" {
				line += mdf(" — %s", s.Summary)
			}
			lines = append(lines, line)
		}
	}
	blocks = append(blocks, chunkLines(lines)...)
	if v.Current != "" {
		blocks = append(blocks, contextBlock(mdf("Current step: *%s*", v.Current)))
	}
	for _, g := range v.Waiting {
		line := mdf(":hourglass_flowing_sand: *Waiting for approval* of `%s`: %d of %d from %s — %s", g.StepID, g.Approved, g.Required, g.Who, g.Message)
		if l := messageLink(g.Request); l != "" {
			line += mdf(" · %s", l)
		}
		blocks = append(blocks, section(line))
	}
	return text, blocks
}

// messageLink links a posted message ("" when it is not posted yet).
func messageLink(ref chat.MessageRef) md {
	if ref.Channel == "" || !tsPattern.MatchString(ref.TS) || !channelPattern.MatchString(ref.Channel) {
		return ""
	}
	return md("<https://slack.com/archives/" + ref.Channel + "/p" + strings.ReplaceAll(ref.TS, ".", "") + "|the approval request>")
}

var (
	tsPattern      = regexp.MustCompile(`^[0-9]+\.[0-9]+$`)
	channelPattern = regexp.MustCompile(`^[CGD][A-Z0-9]+$`)
)

// renderGate is a gate's approval request: what to do or check, who may
// approve, the approvals so far, and the buttons while it waits.
func renderGate(v *chat.GateView) (string, []slack.Block) {
	text := fmt.Sprintf("Gate %s of run %s: %s (%d of %d approvals, %s)", v.StepID, v.RunID, v.Message, len(v.Approvers), v.Required, v.State)
	blocks := []slack.Block{
		section(mdf(":raising_hand: *Approval needed in run `%s`*: %s", v.RunID, cmp.Or(v.Name, v.StepID))),
		section(mdf("%s", v.Message)),
	}
	approvers := md("none yet")
	if len(v.Approvers) > 0 {
		approvers = mentions(v.Approvers)
	}
	if v.State != "waiting" {
		icon := map[string]string{"approved": ":white_check_mark:", "rejected": ":no_entry:", "expired": ":alarm_clock:"}[v.State]
		return text, append(blocks, section(mdf("%s *%s* — approvals: %s", md(cmp.Or(icon, ":information_source:")), capitalize(v.State), approvers)))
	}
	approve, reject := cmp.Or(v.ApproveEmoji, "white_check_mark"), cmp.Or(v.RejectEmoji, "x")
	value := v.RunID + "/" + v.StepID
	blocks = append(blocks,
		section(mdf(":hourglass_flowing_sand: %d of %d approvals (%s) from %s. React :%s: or press Approve; :%s: or Reject to refuse.",
			len(v.Approvers), v.Required, approvers, v.Who, approve, reject)),
		slack.NewActionBlock("gate_approval",
			button(ActionApprove, "Approve", value, "primary"),
			button(ActionReject, "Reject", value, "danger")))
	if !v.ExpiresAt.IsZero() {
		blocks = append(blocks, contextBlock(mdf("Expires at %s", v.ExpiresAt.UTC().Format("15:04 MST, 2 Jan"))))
	}
	return text, blocks
}

func renderStepFailed(v *chat.StepFailedView) (string, []slack.Block) {
	text := fmt.Sprintf("Step %s of run %s failed: %s", v.StepID, v.RunID, v.Error)
	value := v.RunID + "/" + v.StepID
	return text, []slack.Block{
		section(mdf(":x: Step `%s` failed: %s", v.StepID, v.Error)),
		section("The run is paused. Retry the step, skip it, or abort the run."),
		slack.NewActionBlock("step_failed",
			button(ActionRetry, "Retry", value, "primary"),
			button(ActionSkip, "Skip", value, ""),
			button(ActionAbort, "Abort", v.RunID, "danger")),
	}
}

// fence opens and closes a code block in Markdown and in Slack's mrkdwn.
const fence = "```"

// renderDocument shows a document whole: its Markdown escaped and split at
// line ends into sections (a code block cut by a split is closed at the
// end of one section and opened again at the start of the next, so aligned
// columns stay aligned), the sections over as many messages as they need.
// Nothing is left out. (A file upload is the natural home of a long
// document; the seam is chat.DocumentView.)
func renderDocument(v *chat.DocumentView) []part {
	sections := docSections(v.Markdown)
	title := cmp.Or(v.Title, "Document")
	var parts []part
	blocks := []slack.Block{header(title)}
	for _, s := range sections {
		if len(blocks) == maxBlocks {
			parts = append(parts, part{blocks: blocks})
			blocks = nil
		}
		blocks = append(blocks, section(s))
	}
	parts = append(parts, part{blocks: blocks})
	for i := range parts {
		text := title
		if len(parts) > 1 {
			text += fmt.Sprintf(" (%d of %d)", i+1, len(parts))
		}
		parts[i].text = string(esc(text))
	}
	return parts
}

// docSections splits escaped Markdown into sections of at most
// maxSectionText bytes at line ends (a line longer than that over several),
// closing and reopening a code block that a split cuts.
func docSections(markdown string) []md {
	const closing = "\n" + fence
	var out []md
	var b strings.Builder
	inCode := false
	flush := func() {
		if b.Len() == 0 || (inCode && b.String() == fence) {
			b.Reset()
			return
		}
		if inCode {
			b.WriteString(closing)
		}
		out = append(out, md(b.String()))
		b.Reset()
	}
	// room says whether n more bytes fit, keeping space to close a block.
	room := func(n int) bool {
		need := b.Len() + n
		if b.Len() > 0 {
			need++
		}
		if inCode {
			need += len(closing)
		}
		return need <= maxSectionText
	}
	write := func(s string) {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(s)
	}
	for _, raw := range strings.Split(strings.TrimRight(markdown, "\n"), "\n") {
		line := string(esc(raw))
		if strings.HasPrefix(strings.TrimSpace(raw), fence) {
			if inCode {
				// A closing fence: flush closes the block itself when the
				// fence does not fit.
				if b.Len()+1+len(line) > maxSectionText {
					flush()
				} else {
					write(line)
				}
				inCode = false
				continue
			}
			if !room(len(line) + len(closing)) {
				flush()
			}
			write(line)
			inCode = true
			continue
		}
		for _, piece := range splitLong(line, maxSectionText-2*len(closing)-1) {
			if !room(len(piece)) {
				flush()
				if inCode {
					b.WriteString(fence)
				}
			}
			write(piece)
		}
	}
	flush()
	return out
}
