package statuspage

import (
	"fmt"
	"time"
)

// IncidentStatus is the state of a realtime incident as the page shows it.
type IncidentStatus string

// The states of a realtime incident, in the order they usually follow.
const (
	Investigating IncidentStatus = "investigating"
	Identified    IncidentStatus = "identified"
	Monitoring    IncidentStatus = "monitoring"
	Resolved      IncidentStatus = "resolved"
)

// Valid says whether s is one of the realtime incident states.
func (s IncidentStatus) Valid() bool {
	switch s {
	case Investigating, Identified, Monitoring, Resolved:
		return true
	}
	return false
}

// ComponentStatus is the state of one component of a page.
type ComponentStatus string

// The component states the API accepts.
const (
	Operational         ComponentStatus = "operational"
	DegradedPerformance ComponentStatus = "degraded_performance"
	PartialOutage       ComponentStatus = "partial_outage"
	MajorOutage         ComponentStatus = "major_outage"
	UnderMaintenance    ComponentStatus = "under_maintenance"
)

// Valid says whether s is a component state the API accepts.
func (s ComponentStatus) Valid() bool {
	switch s {
	case Operational, DegradedPerformance, PartialOutage, MajorOutage, UnderMaintenance:
		return true
	}
	return false
}

// Impact is an incident's impact; ImpactOverride sets it instead of letting
// the page derive it from the components.
type Impact string

// The impacts the API accepts.
const (
	ImpactNone     Impact = "none"
	ImpactMinor    Impact = "minor"
	ImpactMajor    Impact = "major"
	ImpactCritical Impact = "critical"
)

// Valid says whether i is an impact the API accepts.
func (i Impact) Valid() bool {
	switch i {
	case ImpactNone, ImpactMinor, ImpactMajor, ImpactCritical:
		return true
	}
	return false
}

// IncidentFields is what CreateIncident sends, and what UpdateIncident
// changes. In an update a zero field is left as it is; a Body adds an
// update entry to the incident (so does a new Status).
type IncidentFields struct {
	// Name is the incident's title (required to create).
	Name   string
	Status IncidentStatus
	// Body is the text of the update entry shown on the page.
	Body           string
	ImpactOverride Impact
	// ComponentIDs are the components the incident affects.
	ComponentIDs []string
	// Components sets component states with the same call.
	Components map[string]ComponentStatus
	// SkipNotifications keeps subscribers from being notified of this
	// change (the API's deliver_notifications=false). The zero value
	// notifies, which is what a failover wants.
	SkipNotifications bool
}

func (f IncidentFields) validate(create bool) error {
	if create && f.Name == "" {
		return fmt.Errorf("name is required")
	}
	if (create || f.Status != "") && !f.Status.Valid() {
		return fmt.Errorf("status %q is not one of investigating, identified, monitoring, resolved", f.Status)
	}
	if f.ImpactOverride != "" && !f.ImpactOverride.Valid() {
		return fmt.Errorf("impact_override %q is not one of none, minor, major, critical", f.ImpactOverride)
	}
	for _, id := range f.ComponentIDs {
		if id == "" {
			return fmt.Errorf("component_ids: empty component ID")
		}
	}
	for id, st := range f.Components {
		if id == "" {
			return fmt.Errorf("components: empty component ID")
		}
		if !st.Valid() {
			return fmt.Errorf("components[%s]: status %q is not a component status", id, st)
		}
	}
	return nil
}

// incidentBody is the wire form of IncidentFields.
type incidentBody struct {
	Incident struct {
		Name                 string                     `json:"name,omitempty"`
		Status               IncidentStatus             `json:"status,omitempty"`
		Body                 string                     `json:"body,omitempty"`
		ImpactOverride       Impact                     `json:"impact_override,omitempty"`
		ComponentIDs         []string                   `json:"component_ids,omitempty"`
		Components           map[string]ComponentStatus `json:"components,omitempty"`
		DeliverNotifications bool                       `json:"deliver_notifications"`
	} `json:"incident"`
}

func (f IncidentFields) wire() incidentBody {
	var b incidentBody
	b.Incident.Name = f.Name
	b.Incident.Status = f.Status
	b.Incident.Body = f.Body
	b.Incident.ImpactOverride = f.ImpactOverride
	b.Incident.ComponentIDs = f.ComponentIDs
	b.Incident.Components = f.Components
	b.Incident.DeliverNotifications = !f.SkipNotifications
	return b
}

// Incident is an incident as the API returns it.
type Incident struct {
	ID             string         `json:"id"`
	PageID         string         `json:"page_id"`
	Name           string         `json:"name"`
	Status         IncidentStatus `json:"status"`
	Impact         Impact         `json:"impact"`
	ImpactOverride Impact         `json:"impact_override"`
	// Shortlink is the public link to the incident.
	Shortlink  string     `json:"shortlink"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	ResolvedAt *time.Time `json:"resolved_at"`
	// Updates are the incident's update entries, newest first as the API
	// lists them.
	Updates    []IncidentUpdate `json:"incident_updates"`
	Components []Component      `json:"components"`
}

// IncidentUpdate is one update entry of an incident.
type IncidentUpdate struct {
	ID                   string              `json:"id"`
	IncidentID           string              `json:"incident_id"`
	Status               IncidentStatus      `json:"status"`
	Body                 string              `json:"body"`
	CreatedAt            time.Time           `json:"created_at"`
	DeliverNotifications bool                `json:"deliver_notifications"`
	AffectedComponents   []AffectedComponent `json:"affected_components"`
}

// AffectedComponent is a component state change recorded in an update.
type AffectedComponent struct {
	Code      string          `json:"code"`
	Name      string          `json:"name"`
	OldStatus ComponentStatus `json:"old_status"`
	NewStatus ComponentStatus `json:"new_status"`
}

// Component is a component of a page.
type Component struct {
	ID        string          `json:"id"`
	PageID    string          `json:"page_id"`
	Name      string          `json:"name"`
	Status    ComponentStatus `json:"status"`
	UpdatedAt time.Time       `json:"updated_at"`
}
