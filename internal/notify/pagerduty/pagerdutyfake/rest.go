package pagerdutyfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// AcceptV2 is the Accept header of the REST API v2.
const AcceptV2 = "application/vnd.pagerduty+json;version=2"

// Error codes of the REST API used by the fake.
const (
	CodeInvalidInput     = 2001
	CodeArgumentsError   = 2002
	CodeAuthFailed       = 2006
	CodeFromRequired     = 2016
	CodeRateLimited      = 2020
	CodeNotFound         = 2100
	msgFromRequired      = `You must specify a user's email address in the "From" header to perform this action`
	msgDuplicateKey      = "Open incident with matching dedup key already exists on this service"
	msgAlreadyResolved   = "Incident Already Resolved"
	msgInvalidInput      = "Invalid Input Provided"
	msgArgumentsError    = "Arguments Caused Error"
	msgAuthFailed        = "Authentication failed"
	msgNotFound          = "Not Found"
	msgRateLimitExceeded = "Rate Limit Exceeded"
)

// statusWriter keeps the status written, for Requests.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// begin records a request and applies a pending fault. It returns the
// writer to use and whether the handler should go on.
func (s *Server) begin(api API, w http.ResponseWriter, r *http.Request) (*statusWriter, []byte, func(), bool) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body = io.NopCloser(bytes.NewReader(body))
	sw := &statusWriter{ResponseWriter: w}
	s.mu.Lock()
	i := len(s.requests)
	s.requests = append(s.requests, Request{API: api, Method: r.Method, Path: r.URL.Path, From: r.Header.Get("From"),
		Body: string(body), At: time.Now()})
	fault := s.takeFault(api)
	s.requests[i].Fault = fault != nil
	s.mu.Unlock()
	done := func() {
		s.mu.Lock()
		s.requests[i].Status = sw.status
		s.mu.Unlock()
	}
	if fault == nil {
		return sw, body, done, true
	}
	defer done()
	switch {
	case fault.Hang:
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
	case fault.Drop:
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
			}
		}
	default:
		code := fault.Status
		if code == 0 {
			code = http.StatusInternalServerError
		}
		if fault.RetryAfter != "" {
			w.Header().Set("Retry-After", fault.RetryAfter)
		}
		ct := fault.ContentType
		if ct == "" {
			ct = "application/json"
		}
		b := fault.Body
		if b == "" {
			b = defaultFaultBody(api, code)
		}
		w.Header().Set("Content-Type", ct)
		sw.WriteHeader(code)
		_, _ = io.WriteString(w, b)
	}
	return sw, body, done, false
}

func defaultFaultBody(api API, code int) string {
	var v any
	if api == Events {
		msg := http.StatusText(code)
		if code == http.StatusTooManyRequests {
			msg = "Requests for this service are arriving too quickly. Please retry later."
		}
		v = map[string]any{"status": strings.ToLower(http.StatusText(code)), "message": msg}
	} else {
		msg, c := http.StatusText(code), 0
		if code == http.StatusTooManyRequests {
			msg, c = msgRateLimitExceeded, CodeRateLimited
		}
		v = errorBody(msg, c)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func errorBody(msg string, code int, errs ...string) map[string]any {
	e := map[string]any{"message": msg}
	if code != 0 {
		e["code"] = code
	}
	if len(errs) > 0 {
		e["errors"] = errs
	}
	return map[string]any{"error": e}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string, code int, errs ...string) {
	writeJSON(w, status, errorBody(msg, code, errs...))
}

// rest serves the REST API: fault, Accept, token, From on writes, then the
// call.
func (s *Server) rest(w http.ResponseWriter, r *http.Request) {
	sw, _, done, ok := s.begin(REST, w, r)
	if !ok {
		return
	}
	defer done()
	if r.Header.Get("Accept") != AcceptV2 {
		writeError(sw, http.StatusNotAcceptable, "The Accept header must be "+AcceptV2, CodeInvalidInput)
		return
	}
	tok, hasTok := strings.CutPrefix(r.Header.Get("Authorization"), "Token token=")
	s.mu.Lock()
	valid := hasTok && s.tokens[tok]
	s.mu.Unlock()
	if !valid {
		writeError(sw, http.StatusUnauthorized, msgAuthFailed, CodeAuthFailed)
		return
	}
	write := r.Method == http.MethodPost || r.Method == http.MethodPut
	from := strings.TrimSpace(r.Header.Get("From"))
	if write && from == "" {
		writeError(sw, http.StatusBadRequest, msgFromRequired, CodeFromRequired)
		return
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	switch {
	case path == "/incidents" && r.Method == http.MethodPost:
		s.createIncident(sw, r, from)
	case path == "/incidents" && r.Method == http.MethodPut:
		s.manageIncidents(sw, r, from)
	case path == "/incidents" && r.Method == http.MethodGet:
		s.listIncidents(sw, r)
	case len(parts) == 2 && parts[0] == "incidents" && r.Method == http.MethodGet:
		s.getIncident(sw, parts[1])
	case len(parts) == 3 && parts[0] == "incidents" && parts[2] == "notes" && r.Method == http.MethodPost:
		s.createNote(sw, r, parts[1], from)
	case len(parts) == 3 && parts[0] == "incidents" && parts[2] == "notes" && r.Method == http.MethodGet:
		s.listNotes(sw, parts[1])
	default:
		writeError(sw, http.StatusNotFound, msgNotFound, CodeNotFound)
	}
}

// decode reads a JSON body strictly; on failure it answers PagerDuty's 400.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, msgInvalidInput, CodeInvalidInput, "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

type reference struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Summary string `json:"summary,omitempty"`
}

func (s *Server) createIncident(w http.ResponseWriter, r *http.Request, from string) {
	var in struct {
		Incident *struct {
			Type             string          `json:"type"`
			Title            string          `json:"title"`
			Service          *reference      `json:"service"`
			Priority         json.RawMessage `json:"priority"`
			Urgency          string          `json:"urgency"`
			IncidentKey      string          `json:"incident_key"`
			Body             *struct{ Type, Details string }
			EscalationPolicy json.RawMessage `json:"escalation_policy"`
			Assignments      json.RawMessage `json:"assignments"`
			ConferenceBridge json.RawMessage `json:"conference_bridge"`
		} `json:"incident"`
	}
	if !decode(w, r, &in) {
		return
	}
	f := in.Incident
	switch {
	case f == nil:
		writeError(w, http.StatusBadRequest, msgInvalidInput, CodeInvalidInput, "Incident is required.")
		return
	case f.Type != "incident":
		writeError(w, http.StatusBadRequest, msgInvalidInput, CodeInvalidInput, "Type must be 'incident'.")
		return
	case strings.TrimSpace(f.Title) == "":
		writeError(w, http.StatusBadRequest, msgInvalidInput, CodeInvalidInput, "Title cannot be empty.")
		return
	case f.Service == nil || f.Service.ID == "":
		writeError(w, http.StatusBadRequest, msgInvalidInput, CodeInvalidInput, "Service is required.")
		return
	case f.Urgency != "" && f.Urgency != "high" && f.Urgency != "low":
		writeError(w, http.StatusBadRequest, msgInvalidInput, CodeInvalidInput, "Urgency must be one of high, low.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name, ok := s.services[f.Service.ID]
	if !ok {
		writeError(w, http.StatusBadRequest, msgArgumentsError, CodeArgumentsError, "Service not found")
		return
	}
	if f.IncidentKey != "" {
		for _, inc := range s.incidents {
			if inc.Key == f.IncidentKey && inc.Service == f.Service.ID && inc.Status != "resolved" {
				writeError(w, http.StatusBadRequest, msgInvalidInput, CodeInvalidInput, msgDuplicateKey)
				return
			}
		}
	}
	now := time.Now().UTC()
	s.seq++
	inc := &incident{ID: fmt.Sprintf("Q%06dFAKE", s.seq), Number: len(s.incOrder) + 1, Title: f.Title,
		Status: "triggered", Urgency: f.Urgency, Key: f.IncidentKey, Service: f.Service.ID, ServiceName: name,
		CreatedAt: now, ChangedAt: now}
	if inc.Urgency == "" {
		inc.Urgency = "high"
	}
	if f.Body != nil {
		inc.Details = f.Body.Details
	}
	s.incidents[inc.ID] = inc
	s.incOrder = append(s.incOrder, inc.ID)
	s.changes = append(s.changes, Change{Kind: IncidentCreated, Incident: inc.ID, Status: inc.Status, From: from, Title: inc.Title})
	writeJSON(w, http.StatusCreated, map[string]any{"incident": inc.json()})
}

func (s *Server) manageIncidents(w http.ResponseWriter, r *http.Request, from string) {
	var in struct {
		Incidents []struct {
			ID               string          `json:"id"`
			Type             string          `json:"type"`
			Status           string          `json:"status"`
			Title            string          `json:"title"`
			Priority         json.RawMessage `json:"priority"`
			Assignments      json.RawMessage `json:"assignments"`
			EscalationLevel  int             `json:"escalation_level"`
			EscalationPolicy json.RawMessage `json:"escalation_policy"`
			Resolution       string          `json:"resolution"`
			ConferenceBridge json.RawMessage `json:"conference_bridge"`
		} `json:"incidents"`
	}
	if !decode(w, r, &in) {
		return
	}
	if len(in.Incidents) == 0 {
		writeError(w, http.StatusBadRequest, msgInvalidInput, CodeInvalidInput, "Incidents cannot be empty.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Check them all first: one bad incident fails the call, as a whole.
	for _, u := range in.Incidents {
		inc := s.incidents[u.ID]
		switch {
		case u.Type != "incident" && u.Type != "incident_reference":
			writeError(w, http.StatusBadRequest, msgInvalidInput, CodeInvalidInput, "Type must be 'incident' or 'incident_reference'.")
			return
		case inc == nil:
			writeError(w, http.StatusNotFound, msgNotFound, CodeNotFound)
			return
		case u.Status != "" && u.Status != "acknowledged" && u.Status != "resolved":
			writeError(w, http.StatusBadRequest, msgInvalidInput, CodeInvalidInput, "Status must be one of acknowledged, resolved.")
			return
		case u.Status != "" && inc.Status == "resolved":
			writeError(w, http.StatusBadRequest, msgArgumentsError, CodeArgumentsError, msgAlreadyResolved)
			return
		}
	}
	now := time.Now().UTC()
	var out []map[string]any
	for _, u := range in.Incidents {
		inc := s.incidents[u.ID]
		if u.Title != "" {
			inc.Title = u.Title
		}
		if u.Status != "" && u.Status != inc.Status {
			inc.Status, inc.ChangedAt = u.Status, now
			s.changes = append(s.changes, Change{Kind: StatusChanged, Incident: inc.ID, Status: inc.Status, From: from})
		}
		out = append(out, inc.json())
	}
	writeJSON(w, http.StatusOK, map[string]any{"incidents": out, "limit": len(out), "offset": 0, "more": false})
}

func (s *Server) getIncident(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inc := s.incidents[id]
	if inc == nil {
		writeError(w, http.StatusNotFound, msgNotFound, CodeNotFound)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"incident": inc.json()})
}

// listIncidents filters on incident_key and statuses[] (no paging: the fake
// holds few).
func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	statuses := q["statuses[]"]
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, id := range s.incOrder {
		inc := s.incidents[id]
		if k := q.Get("incident_key"); k != "" && inc.Key != k {
			continue
		}
		if len(statuses) > 0 && !slices.Contains(statuses, inc.Status) {
			continue
		}
		out = append(out, inc.json())
	}
	writeJSON(w, http.StatusOK, map[string]any{"incidents": out, "limit": 25, "offset": 0, "more": false, "total": nil})
}

func (s *Server) createNote(w http.ResponseWriter, r *http.Request, id, from string) {
	var in struct {
		Note *struct {
			ID        string          `json:"id"`
			User      json.RawMessage `json:"user"`
			Content   string          `json:"content"`
			CreatedAt string          `json:"created_at"`
		} `json:"note"`
	}
	if !decode(w, r, &in) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	inc := s.incidents[id]
	if inc == nil {
		writeError(w, http.StatusNotFound, msgNotFound, CodeNotFound)
		return
	}
	if in.Note == nil || strings.TrimSpace(in.Note.Content) == "" {
		writeError(w, http.StatusBadRequest, msgInvalidInput, CodeInvalidInput, "Content cannot be empty.")
		return
	}
	s.seq++
	n := Note{ID: fmt.Sprintf("N%06dFAKE", s.seq), Content: in.Note.Content, From: from, At: time.Now().UTC()}
	inc.Notes = append(inc.Notes, n)
	s.changes = append(s.changes, Change{Kind: NoteAdded, Incident: id, Note: n.Content, From: from})
	writeJSON(w, http.StatusCreated, map[string]any{"note": n.json()})
}

func (s *Server) listNotes(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inc := s.incidents[id]
	if inc == nil {
		writeError(w, http.StatusNotFound, msgNotFound, CodeNotFound)
		return
	}
	notes := []map[string]any{}
	for _, n := range inc.Notes {
		notes = append(notes, n.json())
	}
	writeJSON(w, http.StatusOK, map[string]any{"notes": notes})
}
