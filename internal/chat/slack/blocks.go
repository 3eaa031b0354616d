package slack

import (
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/failoverbot/failoverbot/internal/chat"
)

// Block Kit building blocks and text helpers of the renderers.

// esc escapes the characters Slack's mrkdwn treats as control characters.
func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	for len(string(r)) > n-len("…") {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}

func header(s string) slack.Block {
	return slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, truncate(s, maxHeaderText), true, false))
}

func section(md string) *slack.SectionBlock {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, truncate(md, maxSectionText), false, false), nil, nil)
}

func fields(md ...string) slack.Block {
	var fs []*slack.TextBlockObject
	for _, f := range md {
		if len(fs) == 10 { // Block Kit allows 10 fields
			break
		}
		fs = append(fs, slack.NewTextBlockObject(slack.MarkdownType, truncate(f, 2000), false, false))
	}
	return slack.NewSectionBlock(nil, fs, nil)
}

func contextBlock(md string) slack.Block {
	return slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, truncate(md, maxSectionText), false, false))
}

func button(actionID, label, value, style string) *slack.ButtonBlockElement {
	b := slack.NewButtonBlockElement(actionID, value, slack.NewTextBlockObject(slack.PlainTextType, label, true, false))
	if style != "" {
		b.Style = slack.Style(style)
	}
	return b
}

func dur(d time.Duration) string {
	return chat.FormatDuration(d, time.Second)
}

func mark(ok bool) string {
	if ok {
		return ":white_check_mark:"
	}
	return ":x:"
}

// chunkLines packs lines into sections under the text limit.
func chunkLines(lines []string) []slack.Block {
	var blocks []slack.Block
	var b strings.Builder
	for _, l := range lines {
		if b.Len() > 0 && b.Len()+len(l)+1 > maxSectionText {
			blocks = append(blocks, section(b.String()))
			b.Reset()
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l)
	}
	if b.Len() > 0 {
		blocks = append(blocks, section(b.String()))
	}
	return blocks
}

func verdictIcon(v string) string {
	switch {
	case v == "will change":
		return ":arrow_forward:"
	case v == "already done":
		return ":white_check_mark:"
	case strings.HasPrefix(v, "cannot tell"):
		return ":warning:"
	default:
		return ":grey_question:"
	}
}

func statusIcon(s string) string {
	switch s {
	case "done", "succeeded":
		return ":white_check_mark:"
	case "running", "applying":
		return ":arrows_counterclockwise:"
	case "failed":
		return ":x:"
	case "skipped":
		return ":fast_forward:"
	case "replaced":
		return ":twisted_rightwards_arrows:"
	case "paused":
		return ":double_vertical_bar:"
	case "aborted":
		return ":no_entry:"
	default:
		return ":white_circle:"
	}
}

// userMention renders a user: Slack IDs become mentions, names stay text.
func userMention(u string) string {
	if len(u) > 1 && (u[0] == 'U' || u[0] == 'W') && strings.ToUpper(u) == u && !strings.ContainsAny(u, " .-_") {
		return "<@" + u + ">"
	}
	return esc(u)
}

func mentions(us []string) string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = userMention(u)
	}
	return strings.Join(out, ", ")
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
