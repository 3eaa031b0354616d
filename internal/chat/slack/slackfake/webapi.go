package slackfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Call is one Web API request received.
type Call struct {
	Method string
	Form   url.Values // without the token
	At     time.Time
}

// Message is a message stored by the fake (posted, then maybe updated).
type Message struct {
	Channel  string
	TS       string
	ThreadTS string
	User     string // the poster (BotUserID for the bot)
	Text     string
	// Blocks is the Block Kit JSON as last posted ("" when none).
	Blocks string
	// Updates counts chat.update calls that changed it.
	Updates int
	// To is the recipient of an ephemeral message.
	To string
}

// User is a workspace member known to users.info.
type User struct {
	ID       string
	Name     string
	RealName string
	IsBot    bool
}

func (s *Server) webAPI(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	tok := r.PostForm.Get("token")
	if tok == "" {
		tok, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	form := url.Values{}
	for k, v := range r.Form { // the body, and the query of GET methods (chat.getPermalink)
		if k != "token" {
			form[k] = v
		}
	}
	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: method, Form: form, At: time.Now()})
	failure := s.takeFailure(method)
	verdict, known := s.botTokens[tok]
	s.mu.Unlock()
	if failure != nil {
		failure.write(w)
		return
	}
	switch {
	case tok == "":
		writeJSON(w, map[string]any{"ok": false, "error": "not_authed"})
		return
	case !known:
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	case verdict != "":
		writeJSON(w, map[string]any{"ok": false, "error": verdict})
		return
	}
	var reply map[string]any
	switch method {
	case "auth.test":
		reply = map[string]any{"ok": true, "url": "https://fake.slack.com/", "team": "Fake",
			"user": "failoverbot", "team_id": "T0FAKE", "user_id": BotUserID, "bot_id": "B0FAKE"}
	case "chat.postMessage":
		reply = s.postMessage(form)
	case "chat.update":
		reply = s.update(form)
	case "chat.postEphemeral":
		reply = s.postEphemeral(form)
	case "users.info":
		reply = s.usersInfo(form)
	case "chat.getPermalink":
		reply = s.permalink(form)
	case "files.getUploadURLExternal":
		reply = s.getUploadURL(form)
	case "files.completeUploadExternal":
		reply = s.completeUpload(form)
	case "usergroups.users.list":
		s.mu.Lock()
		members, ok := s.groups[form.Get("usergroup")]
		s.mu.Unlock()
		if !ok {
			reply = map[string]any{"ok": false, "error": "no_such_subteam"}
		} else {
			reply = map[string]any{"ok": true, "users": members}
		}
	case "usergroups.list":
		s.mu.Lock()
		var gs []map[string]any
		for id, h := range s.handles {
			gs = append(gs, map[string]any{"id": id, "team_id": "T0FAKE", "is_usergroup": true, "handle": h, "name": h})
		}
		s.mu.Unlock()
		reply = map[string]any{"ok": true, "usergroups": gs}
	default:
		reply = map[string]any{"ok": false, "error": "unknown_method"}
	}
	writeJSON(w, reply)
}

func (s *Server) nextTS() string {
	s.ts += 100
	return fmt.Sprintf("%d.%06d", s.ts/1000000, s.ts%1000000)
}

// ChannelID returns the ID of a channel: "#name" gets a stable "C…" ID
// (as Slack answers chat.postMessage with the ID); IDs are returned as is.
func (s *Server) ChannelID(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.channelIDLocked(name)
}

func (s *Server) channelIDLocked(name string) string {
	if !strings.HasPrefix(name, "#") {
		return name
	}
	id, ok := s.channels[name]
	if !ok {
		id = fmt.Sprintf("C%08d", len(s.channels)+1)
		s.channels[name] = id
	}
	return id
}

func (s *Server) postMessage(f url.Values) map[string]any {
	if f.Get("channel") == "" {
		return map[string]any{"ok": false, "error": "channel_not_found"}
	}
	if f.Get("text") == "" && f.Get("blocks") == "" {
		return map[string]any{"ok": false, "error": "no_text"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channelIDLocked(f.Get("channel"))
	if s.outsiders[ch] {
		return map[string]any{"ok": false, "error": "not_in_channel"}
	}
	ts := s.nextTS()
	m := &Message{Channel: ch, TS: ts, ThreadTS: f.Get("thread_ts"), User: BotUserID,
		Text: f.Get("text"), Blocks: f.Get("blocks")}
	key := ch + "/" + ts
	s.messages[key] = m
	s.order = append(s.order, key)
	return map[string]any{"ok": true, "channel": ch, "ts": ts,
		"message": map[string]string{"type": "message", "text": m.Text, "ts": ts, "user": BotUserID}}
}

func (s *Server) update(f url.Values) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ts := s.channelIDLocked(f.Get("channel")), f.Get("ts")
	m, ok := s.messages[ch+"/"+ts]
	if !ok {
		return map[string]any{"ok": false, "error": "message_not_found"}
	}
	if f.Get("text") == "" && f.Get("blocks") == "" {
		return map[string]any{"ok": false, "error": "no_text"}
	}
	m.Text, m.Blocks = f.Get("text"), f.Get("blocks")
	m.Updates++
	return map[string]any{"ok": true, "channel": ch, "ts": ts, "text": m.Text}
}

func (s *Server) postEphemeral(f url.Values) map[string]any {
	ch, user := f.Get("channel"), f.Get("user")
	if ch == "" || user == "" {
		return map[string]any{"ok": false, "error": "invalid_arguments"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch = s.channelIDLocked(ch)
	if s.outsiders[ch] {
		return map[string]any{"ok": false, "error": "channel_not_found"}
	}
	if _, ok := s.users[user]; !ok {
		return map[string]any{"ok": false, "error": "user_not_found"}
	}
	ts := s.nextTS()
	s.ephemerals = append(s.ephemerals, Message{Channel: ch, TS: ts, To: user, User: BotUserID,
		Text: f.Get("text"), Blocks: f.Get("blocks"), ThreadTS: f.Get("thread_ts")})
	return map[string]any{"ok": true, "message_ts": ts}
}

func (s *Server) usersInfo(f url.Values) map[string]any {
	s.mu.Lock()
	u, ok := s.users[f.Get("user")]
	s.mu.Unlock()
	if !ok {
		return map[string]any{"ok": false, "error": "user_not_found"}
	}
	real := u.RealName
	if real == "" {
		real = u.Name
	}
	return map[string]any{"ok": true, "user": map[string]any{
		"id": u.ID, "team_id": "T0FAKE", "name": u.Name, "real_name": real, "is_bot": u.IsBot,
		"deleted": false, "profile": map[string]any{"real_name": real, "display_name": u.Name},
	}}
}

// Calls returns the Web API calls received, optionally only those of the
// given methods.
func (s *Server) Calls(methods ...string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if len(methods) == 0 || contains(methods, c.Method) {
			out = append(out, c)
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// Message returns the current state of a stored message.
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.messages[s.channelIDLocked(channel)+"/"+ts]
	if !ok {
		return Message{}, false
	}
	return *m, true
}

// Messages returns the messages of a channel in posting order (thread
// replies included).
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	channel = s.channelIDLocked(channel)
	var out []Message
	for _, k := range s.order {
		if m := s.messages[k]; m.Channel == channel {
			out = append(out, *m)
		}
	}
	return out
}

// Thread returns the replies in the thread of channel/ts.
func (s *Server) Thread(channel, ts string) []Message {
	var out []Message
	for _, m := range s.Messages(channel) {
		if m.ThreadTS == ts {
			out = append(out, m)
		}
	}
	return out
}

// Ephemerals returns the ephemeral messages shown to user ("" for all).
func (s *Server) Ephemerals(user string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.ephemerals {
		if user == "" || m.To == user {
			out = append(out, m)
		}
	}
	return out
}

// BlocksText returns all text found in a message's Block Kit JSON, one
// string per text object, to assert what a person sees.
func BlocksText(blocks string) []string {
	var v any
	if json.Unmarshal([]byte(blocks), &v) != nil {
		return nil
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if t, ok := x["text"].(string); ok {
				out = append(out, t)
			}
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(x[k])
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(v)
	return out
}

// KeepBotOut makes the bot a non-member of channel: chat.postMessage
// answers not_in_channel and chat.postEphemeral channel_not_found.
func (s *Server) KeepBotOut(channel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outsiders[s.channelIDLocked(channel)] = true
}

// ResponseURLMessage is a message posted to a slash command's response_url.
type ResponseURLMessage struct {
	// ResponseType is in_channel or ephemeral.
	ResponseType string
	Text         string
	Blocks       string
}

func (s *Server) responseURL(w http.ResponseWriter, r *http.Request) {
	var m struct {
		Text         string          `json:"text"`
		ResponseType string          `json:"response_type"`
		Blocks       json.RawMessage `json:"blocks"`
	}
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: "response_url", At: time.Now(), Form: url.Values{"path": {r.URL.Path}}})
	s.responses = append(s.responses, ResponseURLMessage{ResponseType: m.ResponseType, Text: m.Text, Blocks: string(m.Blocks)})
	s.mu.Unlock()
	w.Write([]byte("ok"))
}

// ResponseURLMessages returns what the bot posted to response_urls.
func (s *Server) ResponseURLMessages() []ResponseURLMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ResponseURLMessage(nil), s.responses...)
}
