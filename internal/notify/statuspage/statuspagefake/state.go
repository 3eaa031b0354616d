package statuspagefake

import (
	"fmt"
	"slices"
	"sort"
	"time"
)

var (
	incidentStatuses  = map[string]bool{"investigating": true, "identified": true, "monitoring": true, "resolved": true}
	componentStatuses = map[string]bool{"operational": true, "degraded_performance": true, "partial_outage": true,
		"major_outage": true, "under_maintenance": true}
	impacts = map[string]bool{"none": true, "minor": true, "major": true, "critical": true}
)

type page struct {
	id, name   string
	components map[string]*component
	incidents  map[string]*incident
	incOrder   []string
}

type component struct {
	ID, Name, Status string
	UpdatedAt        time.Time
	History          []string // statuses set after the first, in order
}

type incident struct {
	ID, Page, Name, Status string
	ImpactOverride         string
	ComponentIDs           []string
	CreatedAt, UpdatedAt   time.Time
	ResolvedAt             *time.Time
	Updates                []update // oldest first
}

type update struct {
	ID, Status, Body string
	Notify           bool
	At               time.Time
	Affected         []affected
}

type affected struct{ ID, Name, Old, New string }

// AddPage creates a page (its ID is used in the API's paths).
func (s *Server) AddPage(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pages[id] == nil {
		s.pages[id] = &page{id: id, name: name, components: map[string]*component{}, incidents: map[string]*incident{}}
	}
}

// AddComponent adds a component to a page (created if needed) in a status.
func (s *Server) AddComponent(pageID, id, name, status string) {
	s.AddPage(pageID, pageID)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pages[pageID].components[id] = &component{ID: id, Name: name, Status: status, UpdatedAt: time.Now().UTC()}
}

// Incident is an incident's state as a test checks it.
type Incident struct {
	ID, Page, Name, Status string
	ImpactOverride         string
	ComponentIDs           []string
	Resolved               bool
	// Updates are its update entries, oldest first.
	Updates []Update
}

// Update is one update entry of an incident.
type Update struct {
	Status, Body string
	Notify       bool
	// Components are the component states it set: ID → new status.
	Components map[string]string
}

// Component is a component's state as a test checks it.
type Component struct {
	ID, Page, Name, Status string
	// History is every status it was set to after it was added, in order
	// (a call that sets the status it has is not a change).
	History []string
}

// Incident returns an incident of a page.
func (s *Server) Incident(pageID, id string) (Incident, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pages[pageID]
	if p == nil || p.incidents[id] == nil {
		return Incident{}, false
	}
	return p.incidents[id].export(), true
}

// Incidents returns a page's incidents in creation order.
func (s *Server) Incidents(pageID string) []Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pages[pageID]
	if p == nil {
		return nil
	}
	var out []Incident
	for _, id := range p.incOrder {
		out = append(out, p.incidents[id].export())
	}
	return out
}

// Component returns a component of a page.
func (s *Server) Component(pageID, id string) (Component, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pages[pageID]
	if p == nil || p.components[id] == nil {
		return Component{}, false
	}
	c := p.components[id]
	return Component{ID: c.ID, Page: pageID, Name: c.Name, Status: c.Status, History: slices.Clone(c.History)}, true
}

func (inc *incident) export() Incident {
	out := Incident{ID: inc.ID, Page: inc.Page, Name: inc.Name, Status: inc.Status, ImpactOverride: inc.ImpactOverride,
		ComponentIDs: slices.Clone(inc.ComponentIDs), Resolved: inc.ResolvedAt != nil}
	for _, u := range inc.Updates {
		eu := Update{Status: u.Status, Body: u.Body, Notify: u.Notify}
		for _, a := range u.Affected {
			if eu.Components == nil {
				eu.Components = map[string]string{}
			}
			eu.Components[a.ID] = a.New
		}
		out.Updates = append(out.Updates, eu)
	}
	return out
}

// checkComponents returns why the components named are not acceptable ("" if
// they are).
func (p *page) checkComponents(ids []string, states map[string]string) string {
	for _, id := range ids {
		if p.components[id] == nil {
			return fmt.Sprintf("Component %s not found on page %s", id, p.id)
		}
	}
	for _, id := range sortedKeys(states) {
		if p.components[id] == nil {
			return fmt.Sprintf("Component %s not found on page %s", id, p.id)
		}
		if !componentStatuses[states[id]] {
			return fmt.Sprintf("Component status %q is not included in the list", states[id])
		}
	}
	return ""
}

func (p *page) changesAny(states map[string]string) bool {
	for id, st := range states {
		if p.components[id].Status != st {
			return true
		}
	}
	return false
}

// impact is the override, else derived from the worst affected component.
func (p *page) impact(inc *incident) string {
	if inc.ImpactOverride != "" {
		return inc.ImpactOverride
	}
	rank := map[string]int{"degraded_performance": 1, "partial_outage": 2, "major_outage": 3}
	worst := 0
	for _, id := range inc.ComponentIDs {
		if c := p.components[id]; c != nil && rank[c.Status] > worst {
			worst = rank[c.Status]
		}
	}
	return []string{"none", "minor", "major", "critical"}[worst]
}

const timeFormat = "2006-01-02T15:04:05.000Z07:00"

func (p *page) incidentJSON(inc *incident) map[string]any {
	var resolved any
	if inc.ResolvedAt != nil {
		resolved = inc.ResolvedAt.Format(timeFormat)
	}
	updates := []map[string]any{}
	for i := len(inc.Updates) - 1; i >= 0; i-- { // newest first, as the API lists them
		u := inc.Updates[i]
		aff := []map[string]any{}
		for _, a := range u.Affected {
			aff = append(aff, map[string]any{"code": a.ID, "name": a.Name, "old_status": a.Old, "new_status": a.New})
		}
		updates = append(updates, map[string]any{"id": u.ID, "incident_id": inc.ID, "status": u.Status, "body": u.Body,
			"created_at": u.At.Format(timeFormat), "updated_at": u.At.Format(timeFormat), "display_at": u.At.Format(timeFormat),
			"deliver_notifications": u.Notify, "affected_components": aff})
	}
	comps := []map[string]any{}
	for _, id := range inc.ComponentIDs {
		comps = append(comps, p.componentJSON(p.components[id]))
	}
	override := any(nil)
	if inc.ImpactOverride != "" {
		override = inc.ImpactOverride
	}
	return map[string]any{
		"id": inc.ID, "page_id": p.id, "name": inc.Name, "status": inc.Status,
		"impact": p.impact(inc), "impact_override": override,
		"shortlink":  "https://stspg.io/" + inc.ID,
		"created_at": inc.CreatedAt.Format(timeFormat), "updated_at": inc.UpdatedAt.Format(timeFormat),
		"resolved_at": resolved, "incident_updates": updates, "components": comps,
	}
}

func (p *page) componentJSON(c *component) map[string]any {
	return map[string]any{"id": c.ID, "page_id": p.id, "name": c.Name, "status": c.Status,
		"updated_at": c.UpdatedAt.Format(timeFormat), "group_id": nil, "description": nil}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
