package statuspagefake

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /v1/pages/{page}/incidents", s.createIncident)
	s.mux.HandleFunc("PATCH /v1/pages/{page}/incidents/{id}", s.patchIncident)
	s.mux.HandleFunc("PUT /v1/pages/{page}/incidents/{id}", s.patchIncident)
	s.mux.HandleFunc("GET /v1/pages/{page}/incidents/{id}", s.getIncident)
	s.mux.HandleFunc("GET /v1/pages/{page}/incidents/unresolved", s.unresolvedIncidents)
	s.mux.HandleFunc("PATCH /v1/pages/{page}/components/{id}", s.patchComponent)
	s.mux.HandleFunc("PUT /v1/pages/{page}/components/{id}", s.patchComponent)
	s.mux.HandleFunc("GET /v1/pages/{page}/components/{id}", s.getComponent)
}

// recorder keeps the status written, for Requests.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// ServeHTTP answers one API call: faults first, then the key, then the rate
// limit, then the call itself.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &recorder{ResponseWriter: w}
	key, hasKey := strings.CutPrefix(r.Header.Get("Authorization"), "OAuth ")

	s.mu.Lock()
	i := len(s.requests)
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Body: string(body), At: time.Now()})
	fault := s.takeFault()
	authorized := hasKey && s.keys[key]
	s.requests[i].Authorized = authorized
	var wait time.Duration
	if fault == nil && authorized {
		wait = s.admit(key)
	}
	s.mu.Unlock()

	switch {
	case fault != nil && fault.Hang:
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
	case fault != nil:
		if fault.RetryAfter != "" {
			w.Header().Set("Retry-After", fault.RetryAfter)
		}
		msg := fault.Body
		if msg == "" {
			b, _ := json.Marshal(map[string]string{"error": http.StatusText(cmp.Or(fault.Status, 500))})
			msg = string(b)
		}
		code := fault.Status
		if code == 0 {
			code = http.StatusInternalServerError
		}
		w.Header().Set("Content-Type", "application/json")
		rec.WriteHeader(code)
		_, _ = io.WriteString(w, msg)
	case !authorized:
		writeError(rec, http.StatusUnauthorized, "Could not authenticate")
	case wait > 0:
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		writeError(rec, s.opts.RateLimitStatus, "Rate limit exceeded")
	default:
		s.mux.ServeHTTP(rec, r)
	}

	s.mu.Lock()
	s.requests[i].Status = rec.status
	s.requests[i].Fault = fault != nil
	s.mu.Unlock()
}

// admit takes a token of key's limiter, or says how long until there is one.
func (s *Server) admit(key string) time.Duration {
	if s.opts.Rate == rate.Inf {
		return 0
	}
	lim := s.limiters[key]
	if lim == nil {
		lim = rate.NewLimiter(s.opts.Rate, s.opts.Burst)
		s.limiters[key] = lim
	}
	now := time.Now()
	res := lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d
	}
	return 0
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// decode reads a JSON body strictly; it answers 400 and returns false on
// failure.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

type incidentIn struct {
	Incident *struct {
		Name                 *string           `json:"name"`
		Status               *string           `json:"status"`
		Body                 *string           `json:"body"`
		ImpactOverride       *string           `json:"impact_override"`
		ComponentIDs         []string          `json:"component_ids"`
		Components           map[string]string `json:"components"`
		DeliverNotifications *bool             `json:"deliver_notifications"`
	} `json:"incident"`
}

func (s *Server) createIncident(w http.ResponseWriter, r *http.Request) {
	var in incidentIn
	if !decode(w, r, &in) {
		return
	}
	if in.Incident == nil {
		writeError(w, http.StatusBadRequest, "incident is missing")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pages[r.PathValue("page")]
	if p == nil {
		writeError(w, http.StatusNotFound, "The requested resource could not be found.")
		return
	}
	f := in.Incident
	if f.Name == nil || strings.TrimSpace(*f.Name) == "" {
		writeError(w, http.StatusUnprocessableEntity, "Name can't be blank")
		return
	}
	status := "investigating"
	if f.Status != nil {
		status = *f.Status
	}
	if !incidentStatuses[status] {
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Status %q is not included in the list", status))
		return
	}
	if msg := p.checkComponents(f.ComponentIDs, f.Components); msg != "" {
		writeError(w, http.StatusUnprocessableEntity, msg)
		return
	}
	if f.ImpactOverride != nil && !impacts[*f.ImpactOverride] {
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Impact override %q is not included in the list", *f.ImpactOverride))
		return
	}
	now := time.Now().UTC()
	s.seq++
	inc := &incident{ID: fmt.Sprintf("inc%06d", s.seq), Page: p.id, Name: *f.Name, Status: status,
		CreatedAt: now, UpdatedAt: now}
	if f.ImpactOverride != nil {
		inc.ImpactOverride = *f.ImpactOverride
	}
	inc.ComponentIDs = f.ComponentIDs
	notify := f.DeliverNotifications == nil || *f.DeliverNotifications
	body := ""
	if f.Body != nil {
		body = *f.Body
	}
	p.incidents[inc.ID] = inc
	p.incOrder = append(p.incOrder, inc.ID)
	s.addUpdate(p, inc, body, notify, f.Components, now, IncidentCreated)
	writeJSON(w, http.StatusCreated, p.incidentJSON(inc))
}

func (s *Server) patchIncident(w http.ResponseWriter, r *http.Request) {
	var in incidentIn
	if !decode(w, r, &in) {
		return
	}
	if in.Incident == nil {
		writeError(w, http.StatusBadRequest, "incident is missing")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pages[r.PathValue("page")]
	var inc *incident
	if p != nil {
		inc = p.incidents[r.PathValue("id")]
	}
	if inc == nil {
		writeError(w, http.StatusNotFound, "The requested resource could not be found.")
		return
	}
	f := in.Incident
	if f.Name != nil && strings.TrimSpace(*f.Name) == "" {
		writeError(w, http.StatusUnprocessableEntity, "Name can't be blank")
		return
	}
	if f.Status != nil && !incidentStatuses[*f.Status] {
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Status %q is not included in the list", *f.Status))
		return
	}
	if f.ImpactOverride != nil && !impacts[*f.ImpactOverride] {
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Impact override %q is not included in the list", *f.ImpactOverride))
		return
	}
	if msg := p.checkComponents(f.ComponentIDs, f.Components); msg != "" {
		writeError(w, http.StatusUnprocessableEntity, msg)
		return
	}
	now := time.Now().UTC()
	if f.Name != nil {
		inc.Name = *f.Name
	}
	if f.ImpactOverride != nil {
		inc.ImpactOverride = *f.ImpactOverride
	}
	if f.ComponentIDs != nil {
		inc.ComponentIDs = f.ComponentIDs
	}
	statusChanged := f.Status != nil && *f.Status != inc.Status
	if f.Status != nil {
		inc.Status = *f.Status
	}
	inc.UpdatedAt = now
	body := ""
	if f.Body != nil {
		body = *f.Body
	}
	if statusChanged || body != "" || p.changesAny(f.Components) {
		notify := f.DeliverNotifications == nil || *f.DeliverNotifications
		s.addUpdate(p, inc, body, notify, f.Components, now, IncidentUpdated)
	}
	writeJSON(w, http.StatusOK, p.incidentJSON(inc))
}

// addUpdate adds an update entry to inc, applies component states, and
// records the changes.
func (s *Server) addUpdate(p *page, inc *incident, body string, notify bool, comps map[string]string, now time.Time, kind ChangeKind) {
	s.seq++
	u := update{ID: fmt.Sprintf("upd%06d", s.seq), Status: inc.Status, Body: body, Notify: notify, At: now}
	for _, id := range sortedKeys(comps) {
		c := p.components[id]
		u.Affected = append(u.Affected, affected{ID: id, Name: c.Name, Old: c.Status, New: comps[id]})
	}
	inc.Updates = append(inc.Updates, u)
	if inc.Status == "resolved" && inc.ResolvedAt == nil {
		t := now
		inc.ResolvedAt = &t
	}
	s.changes = append(s.changes, Change{Kind: kind, Page: p.id, Incident: inc.ID, Status: inc.Status, Body: body, Notify: notify})
	for _, a := range u.Affected {
		s.setComponent(p, a.ID, a.New, now)
	}
}

func (s *Server) setComponent(p *page, id, status string, now time.Time) {
	c := p.components[id]
	if c.Status == status {
		return
	}
	c.Status, c.UpdatedAt = status, now
	c.History = append(c.History, status)
	s.changes = append(s.changes, Change{Kind: ComponentChanged, Page: p.id, Component: id, Status: status})
}

func (s *Server) getIncident(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pages[r.PathValue("page")]
	if p == nil || p.incidents[r.PathValue("id")] == nil {
		writeError(w, http.StatusNotFound, "The requested resource could not be found.")
		return
	}
	writeJSON(w, http.StatusOK, p.incidentJSON(p.incidents[r.PathValue("id")]))
}

func (s *Server) patchComponent(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Component *struct {
			Status      *string `json:"status"`
			Name        *string `json:"name"`
			Description *string `json:"description"`
		} `json:"component"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.Component == nil {
		writeError(w, http.StatusBadRequest, "component is missing")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pages[r.PathValue("page")]
	var c *component
	if p != nil {
		c = p.components[r.PathValue("id")]
	}
	if c == nil {
		writeError(w, http.StatusNotFound, "The requested resource could not be found.")
		return
	}
	if in.Component.Status != nil && !componentStatuses[*in.Component.Status] {
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Status %q is not included in the list", *in.Component.Status))
		return
	}
	if in.Component.Name != nil {
		c.Name = *in.Component.Name
	}
	if in.Component.Status != nil {
		s.setComponent(p, c.ID, *in.Component.Status, time.Now().UTC())
	}
	writeJSON(w, http.StatusOK, p.componentJSON(c))
}

func (s *Server) getComponent(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pages[r.PathValue("page")]
	if p == nil || p.components[r.PathValue("id")] == nil {
		writeError(w, http.StatusNotFound, "The requested resource could not be found.")
		return
	}
	writeJSON(w, http.StatusOK, p.componentJSON(p.components[r.PathValue("id")]))
}
