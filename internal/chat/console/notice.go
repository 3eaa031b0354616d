package console

import (
	"strings"

	"github.com/failoverbot/failoverbot/internal/chat"
)

// renderNotice shows a notice as text: the group mentions as @ID, then the
// text, then the link and lines.
func renderNotice(v *chat.NoticeView) string {
	var b strings.Builder
	for _, g := range v.Groups {
		b.WriteString("@" + g + " ")
	}
	if v.Warning {
		b.WriteString("⚠ ")
	}
	b.WriteString(v.Text)
	var facts []string
	if v.LinkText != "" {
		facts = append(facts, v.LinkText)
	}
	if v.Link != "" {
		facts = append(facts, v.Link)
	}
	facts = append(facts, v.Lines...)
	if len(facts) > 0 {
		b.WriteString("\n  " + strings.Join(facts, " · "))
	}
	return b.String()
}
