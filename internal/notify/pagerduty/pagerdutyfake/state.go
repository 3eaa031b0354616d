package pagerdutyfake

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

type incident struct {
	ID                   string
	Number               int
	Title, Status        string
	Urgency, Key         string
	Service, ServiceName string
	Details              string
	CreatedAt, ChangedAt time.Time
	Notes                []Note
}

const timeFormat = "2006-01-02T15:04:05Z"

func (inc *incident) json() map[string]any {
	return map[string]any{
		"id": inc.ID, "type": "incident", "incident_number": inc.Number,
		"summary":  fmt.Sprintf("[#%d] %s", inc.Number, inc.Title),
		"self":     "https://api.pagerduty.com/incidents/" + inc.ID,
		"html_url": "https://fake.pagerduty.com/incidents/" + inc.ID,
		"title":    inc.Title, "status": inc.Status, "urgency": inc.Urgency, "incident_key": inc.Key,
		"created_at": inc.CreatedAt.Format(timeFormat), "last_status_change_at": inc.ChangedAt.Format(timeFormat),
		"service": map[string]any{"id": inc.Service, "type": "service_reference", "summary": inc.ServiceName},
		"body":    map[string]any{"type": "incident_body", "details": inc.Details},
	}
}

// Note is a note added to an incident.
type Note struct {
	ID, Content string
	// From is the From header of the call that added it.
	From string
	At   time.Time
}

func (n Note) json() map[string]any {
	user := strings.SplitN(n.From, "@", 2)[0]
	return map[string]any{"id": n.ID, "content": n.Content, "created_at": n.At.Format(timeFormat),
		"user": map[string]any{"id": "PUSER" + strings.ToUpper(user), "type": "user_reference", "summary": n.From}}
}

// Incident is an incident as a test checks it.
type Incident struct {
	ID, Title, Status, Urgency string
	// Key is the incident_key it was opened with.
	Key, Service, Details string
	Notes                 []Note
}

// Incident returns an incident by ID.
func (s *Server) Incident(id string) (Incident, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inc := s.incidents[id]
	if inc == nil {
		return Incident{}, false
	}
	return inc.export(), true
}

// Incidents returns every incident, in creation order.
func (s *Server) Incidents() []Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Incident
	for _, id := range s.incOrder {
		out = append(out, s.incidents[id].export())
	}
	return out
}

func (inc *incident) export() Incident {
	return Incident{ID: inc.ID, Title: inc.Title, Status: inc.Status, Urgency: inc.Urgency, Key: inc.Key,
		Service: inc.Service, Details: inc.Details, Notes: slices.Clone(inc.Notes)}
}

// Event is one Events API v2 event processed (accepted with 202).
type Event struct {
	Action, DedupKey          string
	Summary, Source, Severity string
	Details                   map[string]any
	// Result is what it did to the alert: triggered, deduplicated,
	// acknowledged, resolved, or ignored (no open alert to act on).
	Result string
	At     time.Time
}

// Events returns the events processed, in order.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// Alert is the state kept for one dedup key.
type Alert struct {
	DedupKey, Status, Summary, Severity string
	// Triggers counts the trigger events it absorbed.
	Triggers int
}

// Alert returns the alert of a dedup key (under any routing key).
func (s *Server) Alert(dedupKey string) (Alert, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, a := range s.alerts {
		if strings.HasSuffix(k, "/"+dedupKey) {
			return *a, true
		}
	}
	return Alert{}, false
}

// ChangeKind says what a Change did.
type ChangeKind string

// The changes the fake records.
const (
	IncidentCreated ChangeKind = "incident.created"
	StatusChanged   ChangeKind = "incident.status"
	NoteAdded       ChangeKind = "incident.note"
	EventProcessed  ChangeKind = "event"
)

// Change is one change made through either API, in the order made.
type Change struct {
	Kind     ChangeKind
	Incident string
	// Status is the incident's new status, or an event's Result.
	Status string
	// Title is a new incident's title or a trigger's summary.
	Title string
	Note  string
	// From is the From header of a REST write.
	From string
	// Action and DedupKey are an event's.
	Action, DedupKey string
}

// Changes returns every change so far, in order.
func (s *Server) Changes() []Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.changes)
}
