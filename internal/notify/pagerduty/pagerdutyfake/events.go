package pagerdutyfake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"
)

// maxSummary is the length past which PagerDuty truncates a summary.
const maxSummary = 1024

// eventError answers the Events API's 400.
func eventError(w http.ResponseWriter, errs ...string) {
	writeJSON(w, http.StatusBadRequest, map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": errs})
}

// enqueue serves POST /v2/enqueue: no authentication but the routing key;
// 202 with the dedup key, or 400 with what is wrong.
func (s *Server) enqueue(w http.ResponseWriter, r *http.Request) {
	sw, _, done, ok := s.begin(Events, w, r)
	if !ok {
		return
	}
	defer done()
	var in struct {
		RoutingKey string            `json:"routing_key"`
		Action     string            `json:"event_action"`
		DedupKey   string            `json:"dedup_key"`
		Images     []json.RawMessage `json:"images"`
		Links      []json.RawMessage `json:"links"`
		Client     string            `json:"client"`
		ClientURL  string            `json:"client_url"`
		Payload    *struct {
			Summary   string         `json:"summary"`
			Source    string         `json:"source"`
			Severity  string         `json:"severity"`
			Timestamp string         `json:"timestamp"`
			Component string         `json:"component"`
			Group     string         `json:"group"`
			Class     string         `json:"class"`
			Details   map[string]any `json:"custom_details"`
		} `json:"payload"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		eventError(sw, "Event object is not valid JSON: "+err.Error())
		return
	}
	s.mu.Lock()
	known := s.routingKeys[in.RoutingKey]
	s.mu.Unlock()
	switch {
	case in.RoutingKey == "":
		eventError(sw, "'routing_key' is missing or blank")
		return
	case len(in.RoutingKey) != 32:
		eventError(sw, "Length of 'routing_key' is incorrect (should be 32 characters)")
		return
	case !known:
		eventError(sw, "Invalid routing key")
		return
	case in.Action == "":
		eventError(sw, "'event_action' is missing or blank")
		return
	case in.Action != "trigger" && in.Action != "acknowledge" && in.Action != "resolve":
		eventError(sw, "'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')")
		return
	case in.Action != "trigger" && in.DedupKey == "":
		eventError(sw, "'dedup_key' is missing or blank")
		return
	}
	ev := Event{Action: in.Action, DedupKey: in.DedupKey, At: time.Now().UTC()}
	if in.Action == "trigger" {
		p := in.Payload
		switch {
		case p == nil:
			eventError(sw, "'payload' is missing or blank")
			return
		case p.Summary == "":
			eventError(sw, "'payload.summary' is missing or blank")
			return
		case p.Source == "":
			eventError(sw, "'payload.source' is missing or blank")
			return
		case p.Severity != "critical" && p.Severity != "error" && p.Severity != "warning" && p.Severity != "info":
			eventError(sw, "'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')")
			return
		}
		ev.Summary, ev.Source, ev.Severity, ev.Details = p.Summary, p.Source, p.Severity, p.Details
		if r := []rune(ev.Summary); len(r) > maxSummary {
			ev.Summary = string(r[:maxSummary])
		}
		if ev.DedupKey == "" {
			b := make([]byte, 16)
			_, _ = rand.Read(b)
			ev.DedupKey = hex.EncodeToString(b)
		}
	}
	s.mu.Lock()
	ev.Result = s.apply(in.RoutingKey, ev)
	s.events = append(s.events, ev)
	s.changes = append(s.changes, Change{Kind: EventProcessed, Action: ev.Action, DedupKey: ev.DedupKey,
		Status: ev.Result, Title: ev.Summary})
	s.mu.Unlock()
	writeJSON(sw, http.StatusAccepted, map[string]string{"status": "success", "message": "Event processed", "dedup_key": ev.DedupKey})
}

// apply moves the alert of (routing key, dedup key) and returns what
// happened: triggered, deduplicated, acknowledged, resolved or ignored (an
// acknowledge or resolve of no open alert, which PagerDuty accepts and
// drops).
func (s *Server) apply(routingKey string, ev Event) string {
	k := routingKey + "/" + ev.DedupKey
	a := s.alerts[k]
	open := a != nil && a.Status != "resolved"
	switch ev.Action {
	case "trigger":
		if open {
			a.Triggers++
			return "deduplicated"
		}
		s.alerts[k] = &Alert{DedupKey: ev.DedupKey, Status: "triggered", Summary: ev.Summary, Severity: ev.Severity, Triggers: 1}
		return "triggered"
	case "acknowledge":
		if !open {
			return "ignored"
		}
		a.Status = "acknowledged"
		return "acknowledged"
	default:
		if !open {
			return "ignored"
		}
		a.Status = "resolved"
		return "resolved"
	}
}
