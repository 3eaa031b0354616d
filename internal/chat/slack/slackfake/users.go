package slackfake

import (
	"encoding/json"
	"fmt"
	"time"
)

// What a person does in Slack, turned into envelopes sent to the bot.

// SlashCommand sends `/failover <text>` from user in channel and returns
// the envelope ID.
func (s *Server) SlashCommand(user, channel, text string) (string, error) {
	s.mu.Lock()
	name := s.users[user].Name
	s.seq++
	responseURL := fmt.Sprintf("%s/commands/%d", s.srv.URL, s.seq)
	s.mu.Unlock()
	p, _ := json.Marshal(map[string]string{
		"token": "verif", "team_id": "T0FAKE", "team_domain": "fake",
		"channel_id": channel, "channel_name": channel, "user_id": user, "user_name": name,
		"command": "/failover", "text": text, "api_app_id": AppID,
		"response_url": responseURL, "trigger_id": "trig",
	})
	return s.deliver("slash_commands", p, "")
}

// React sends reaction_added (added) or reaction_removed from user on the
// message channel/ts and returns the event ID.
func (s *Server) React(user, channel, ts, emoji string, added bool) (string, error) {
	typ := "reaction_removed"
	if added {
		typ = "reaction_added"
	}
	s.mu.Lock()
	itemUser := ""
	if m, ok := s.messages[channel+"/"+ts]; ok {
		itemUser = m.User
	}
	s.mu.Unlock()
	return s.Event(map[string]any{
		"type": typ, "user": user, "reaction": emoji, "item_user": itemUser,
		"item":     map[string]string{"type": "message", "channel": channel, "ts": ts},
		"event_ts": fmt.Sprintf("%d.000100", time.Now().Unix()),
	})
}

// Event sends an events_api envelope wrapping inner (an event_callback)
// and returns its event ID.
func (s *Server) Event(inner map[string]any) (string, error) {
	s.mu.Lock()
	s.seq++
	eventID := fmt.Sprintf("Ev%06d", s.seq)
	s.mu.Unlock()
	p, err := eventPayload(eventID, inner)
	if err != nil {
		return "", err
	}
	_, err = s.deliver("events_api", p, eventID)
	return eventID, err
}

// Redeliver sends an event again with the same event_id and a higher
// retry_attempt, as Slack does when it believes the ack was lost.
func (s *Server) Redeliver(eventID string) (string, error) {
	s.mu.Lock()
	last := s.byEvent[eventID]
	if last == nil {
		s.mu.Unlock()
		return "", fmt.Errorf("slackfake: no event %s to redeliver", eventID)
	}
	d := s.newDelivery(last.typ, last.payload, eventID, last.attempt+1)
	s.mu.Unlock()
	return d.id, s.send(d)
}

// Click presses a button (block_actions) on the message channel/ts.
func (s *Server) Click(user, channel, ts, actionID, value string) (string, error) {
	s.mu.Lock()
	name := s.users[user].Name
	s.mu.Unlock()
	p, _ := json.Marshal(map[string]any{
		"type":       "block_actions",
		"user":       map[string]string{"id": user, "username": name, "name": name, "team_id": "T0FAKE"},
		"api_app_id": AppID, "token": "verif", "trigger_id": "trig",
		"team":      map[string]string{"id": "T0FAKE", "domain": "fake"},
		"container": map[string]any{"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": false},
		"channel":   map[string]string{"id": channel, "name": channel},
		"message":   map[string]string{"type": "message", "ts": ts},
		"actions": []map[string]string{{
			"type": "button", "action_id": actionID, "block_id": "actions", "value": value,
			"action_ts": fmt.Sprintf("%d.000200", time.Now().Unix()),
		}},
	})
	return s.deliver("interactive", p, "")
}

// Raw sends an envelope of any type with a raw payload (for inner event
// types the client does not know) and returns the envelope ID.
func (s *Server) Raw(typ string, payload json.RawMessage) (string, error) {
	return s.deliver(typ, payload, "")
}

// UnknownEvent sends an events_api envelope whose inner event type
// slack-go does not know.
func (s *Server) UnknownEvent(innerType string) (envelopeID string, err error) {
	s.mu.Lock()
	s.seq++
	eventID := fmt.Sprintf("Ev%06d", s.seq)
	s.mu.Unlock()
	p, err := eventPayload(eventID, map[string]any{"type": innerType, "event_ts": "1.2"})
	if err != nil {
		return "", err
	}
	return s.deliver("events_api", p, eventID)
}

func eventPayload(eventID string, inner map[string]any) (json.RawMessage, error) {
	return json.Marshal(map[string]any{
		"token": "verif", "team_id": "T0FAKE", "api_app_id": AppID, "type": "event_callback",
		"event_id": eventID, "event_time": time.Now().Unix(), "event": inner,
		"authed_users": []string{BotUserID},
	})
}

func (s *Server) deliver(typ string, payload json.RawMessage, eventID string) (string, error) {
	s.mu.Lock()
	d := s.newDelivery(typ, payload, eventID, 0)
	s.mu.Unlock()
	return d.id, s.send(d)
}
