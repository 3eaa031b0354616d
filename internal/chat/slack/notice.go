package slack

import (
	"regexp"
	"strings"

	"github.com/slack-go/slack"

	"github.com/failoverbot/failoverbot/internal/chat"
)

// groupID is a Slack user group ID: only these become <!subteam^…> mentions.
var groupID = regexp.MustCompile(`^S[A-Z0-9]{2,20}$`)

// renderNotice escapes the notice's text and lines, then adds what only the
// bot adds: the user group mentions and the link. The fallback text
// carries the mentions too, so that the groups are notified.
func renderNotice(v *chat.NoticeView) []part {
	var head md
	for _, g := range v.Groups {
		if groupID.MatchString(g) {
			head += md("<!subteam^" + g + "> ")
		}
	}
	body := esc(v.Text)
	if v.Warning {
		body = ":warning: " + body
	}
	blocks := []slack.Block{section(head + body)}
	var facts []string
	switch {
	case v.Link != "" && safeLink(v.Link):
		label := v.LinkText
		if label == "" {
			label = "progress"
		}
		facts = append(facts, "<"+v.Link+"|"+string(esc(label))+">")
	case v.LinkText != "":
		facts = append(facts, string(esc(v.LinkText)))
	}
	for _, l := range v.Lines {
		facts = append(facts, string(esc(l)))
	}
	if len(facts) > 0 {
		blocks = append(blocks, contextBlock(md(strings.Join(facts, " · "))))
	}
	return []part{{text: string(cutMD(head+body, maxFallback)), blocks: blocks}}
}

// safeLink accepts an http(s) URL that cannot break out of <url|label>.
func safeLink(u string) bool {
	return (strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) && !strings.ContainsAny(u, "<>| \n")
}
