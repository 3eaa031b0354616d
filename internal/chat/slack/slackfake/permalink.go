package slackfake

import (
	"net/url"
	"strings"
)

// permalink answers chat.getPermalink (channel, message_ts) as Slack does:
// a link to the message, or message_not_found / channel_not_found.
func (s *Server) permalink(f url.Values) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channelIDLocked(f.Get("channel"))
	if ch == "" {
		return map[string]any{"ok": false, "error": "channel_not_found"}
	}
	ts := f.Get("message_ts")
	if s.messages[ch+"/"+ts] == nil {
		return map[string]any{"ok": false, "error": "message_not_found"}
	}
	return map[string]any{"ok": true, "channel": ch, "permalink": PermalinkOf(ch, ts)}
}

// PermalinkOf is the permalink the fake gives a message.
func PermalinkOf(channel, ts string) string {
	return "https://fake.slack.com/archives/" + channel + "/p" + strings.ReplaceAll(ts, ".", "")
}
