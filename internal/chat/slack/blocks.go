package slack

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/failoverbot/failoverbot/internal/chat"
)

// Block Kit building blocks and text helpers of the renderers.

// md is Slack mrkdwn that is safe to send. Text from anywhere (a reason,
// a parameter, a step's summary, an error) enters it only escaped, through
// esc or mdf; what is not escaped is the renderers' own markup: format
// strings, emoji, and the mentions userMention builds. Every mrkdwn text
// object is built from an md (section, fields, contextBlock), so a new
// renderer cannot send user input unescaped by accident.
type md string

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// esc escapes the characters Slack's mrkdwn treats as control characters:
// no <!channel>, <@U…> or <url|label> survives it.
func esc(s string) md { return md(escaper.Replace(s)) }

// mdf is fmt.Sprintf for mrkdwn: string (and error, fmt.Stringer)
// arguments are escaped, md arguments are kept, numbers are formatted.
func mdf(format string, args ...any) md {
	safe := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case md:
			safe[i] = string(v)
		case string:
			safe[i] = string(esc(v))
		case error:
			safe[i] = string(esc(v.Error()))
		case fmt.Stringer:
			safe[i] = string(esc(v.String()))
		default:
			safe[i] = v
		}
	}
	return md(fmt.Sprintf(format, safe...))
}

// joinMD joins md values.
func joinMD(ms []md, sep string) md {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = string(m)
	}
	return md(strings.Join(parts, sep))
}

// clip shortens plain text (a header) to n bytes, ending in "…".
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return cutAt(s, n-len("…")) + "…"
}

// cutMD shortens mrkdwn to n bytes, saying how much it left out; it never
// cuts an entity (&amp;) in two.
func cutMD(m md, n int) md {
	if len(m) <= n {
		return m
	}
	const note = "… _(cut: %d more characters)_"
	keep := cutAt(string(m), n-len(note)-8)
	return md(keep) + mdf(note, utf8.RuneCountInString(string(m)[len(keep):]))
}

// cutAt returns the longest prefix of s of at most n bytes that ends on a
// rune boundary and not inside an HTML entity of esc.
func cutAt(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	if amp := strings.LastIndexByte(s[:n], '&'); amp >= 0 && n-amp < len("&amp;") && !strings.Contains(s[amp:n], ";") {
		n = amp
	}
	return s[:n]
}

func header(s string) slack.Block {
	return slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, clip(s, maxHeaderText), true, false))
}

func section(m md) *slack.SectionBlock {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, string(cutMD(m, maxSectionText)), false, false), nil, nil)
}

func fields(ms ...md) slack.Block {
	var fs []*slack.TextBlockObject
	for _, f := range ms {
		if len(fs) == 10 { // Block Kit allows 10 fields
			break
		}
		fs = append(fs, slack.NewTextBlockObject(slack.MarkdownType, string(cutMD(f, maxFieldText)), false, false))
	}
	return slack.NewSectionBlock(nil, fs, nil)
}

func contextBlock(m md) slack.Block {
	return slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, string(cutMD(m, maxSectionText)), false, false))
}

func button(actionID, label, value, style string) *slack.ButtonBlockElement {
	b := slack.NewButtonBlockElement(actionID, value, slack.NewTextBlockObject(slack.PlainTextType, label, true, false))
	if style != "" {
		b.Style = slack.Style(style)
	}
	return b
}

func dur(d time.Duration) md {
	return md(chat.FormatDuration(d, time.Second))
}

func mark(ok bool) md {
	if ok {
		return ":white_check_mark:"
	}
	return ":x:"
}

// chunkLines packs lines into sections under the text limit; a line longer
// than a section is split over several, never cut.
func chunkLines(lines []md) []slack.Block {
	var blocks []slack.Block
	for _, chunk := range packLines(lines, maxSectionText) {
		blocks = append(blocks, section(chunk))
	}
	return blocks
}

// packLines joins lines with newlines into chunks of at most limit bytes,
// splitting a line that alone is longer.
func packLines(lines []md, limit int) []md {
	var out []md
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			out = append(out, md(b.String()))
			b.Reset()
		}
	}
	for _, l := range lines {
		for _, piece := range splitLong(string(l), limit) {
			if b.Len() > 0 && b.Len()+len(piece)+1 > limit {
				flush()
			}
			if b.Len() > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(piece)
		}
	}
	flush()
	return out
}

// splitLong splits s into pieces of at most limit bytes (rune and entity
// boundaries kept).
func splitLong(s string, limit int) []string {
	var out []string
	for len(s) > limit {
		head := cutAt(s, limit)
		if head == "" {
			head = s[:limit]
		}
		out = append(out, head)
		s = s[len(head):]
	}
	return append(out, s)
}

func verdictIcon(v string) md {
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

func statusIcon(s string) md {
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

// slackUserID is what a Slack user ID looks like (U… or W…, upper-case
// letters and digits): only such a value becomes a mention.
var slackUserID = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)

// userMention renders a user: Slack IDs become mentions (the only mentions
// the bot makes), anything else stays escaped text.
func userMention(u string) md {
	if slackUserID.MatchString(u) {
		return md("<@" + u + ">")
	}
	return esc(u)
}

func mentions(us []string) md {
	out := make([]md, len(us))
	for i, u := range us {
		out[i] = userMention(u)
	}
	return joinMD(out, ", ")
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
