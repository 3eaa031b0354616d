package statuspage_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/failoverbot/failoverbot/internal/notify/statuspage"
	"github.com/failoverbot/failoverbot/internal/notify/statuspage/statuspagefake"
)

const page = "pg1"

// newFake starts a fake with two operational components on page; opts.Rate
// defaults to off here (tests of the limit set it).
func newFake(t *testing.T, opts statuspagefake.Options) *statuspagefake.Server {
	t.Helper()
	if opts.Rate == 0 {
		opts.Rate = rate.Inf
	}
	f := statuspagefake.New(opts)
	t.Cleanup(f.Close)
	seed(f)
	return f
}

func seed(f *statuspagefake.Server) {
	f.AddPage(page, "Example status")
	f.AddComponent(page, "cmpdb", "Database", "operational")
	f.AddComponent(page, "cmpapi", "API", "operational")
}

func newClient(t *testing.T, f *statuspagefake.Server, mod func(*statuspage.Options)) *statuspage.Client {
	t.Helper()
	o := statuspage.Options{BaseURL: f.URL(), APIKey: statuspagefake.APIKey, HTTPClient: f.HTTPClient(), Rate: rate.Inf}
	if mod != nil {
		mod(&o)
	}
	c, err := statuspage.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// asError returns err as a *statuspage.Error or fails the test.
func asError(t *testing.T, err error) *statuspage.Error {
	t.Helper()
	var e *statuspage.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *statuspage.Error", err, err)
	}
	return e
}

// The life of a failover's incident: opened with components down, updated
// as the failover goes, a component set on its own, resolved with the
// components back. The fake records each change in order.
func TestAFailoverIncidentFromStartToEnd(t *testing.T) {
	f := newFake(t, statuspagefake.Options{})
	c := newClient(t, f, nil)
	ctx := ctxT(t)

	inc, err := c.CreateIncident(ctx, page, statuspage.IncidentFields{
		Name: "Failover to eu-west-1", Status: statuspage.Investigating,
		Body: "The primary region is unreachable; we are failing over.", ImpactOverride: statuspage.ImpactMajor,
		ComponentIDs: []string{"cmpdb", "cmpapi"},
		Components:   map[string]statuspage.ComponentStatus{"cmpdb": statuspage.MajorOutage, "cmpapi": statuspage.DegradedPerformance},
	})
	if err != nil {
		t.Fatal(err)
	}
	if inc.ID == "" || inc.Status != statuspage.Investigating || inc.Shortlink == "" || inc.Impact != statuspage.ImpactMajor ||
		len(inc.Updates) != 1 || len(inc.Components) != 2 || inc.CreatedAt.IsZero() {
		t.Fatalf("created incident = %+v", inc)
	}
	steps := []statuspage.IncidentFields{
		{Status: statuspage.Identified, Body: "Promoting the standby database."},
		{Status: statuspage.Monitoring, Body: "Traffic moved to eu-west-1.",
			Components: map[string]statuspage.ComponentStatus{"cmpdb": statuspage.Operational, "cmpapi": statuspage.Operational}},
		{Status: statuspage.Resolved, Body: "Service is running from eu-west-1."},
	}
	if _, err := c.UpdateIncident(ctx, page, inc.ID, steps[0]); err != nil {
		t.Fatal(err)
	}
	if comp, err := c.UpdateComponent(ctx, page, "cmpapi", statuspage.PartialOutage); err != nil || comp.Status != statuspage.PartialOutage {
		t.Fatalf("update component = %+v, %v", comp, err)
	}
	for _, s := range steps[1:] {
		if _, err := c.UpdateIncident(ctx, page, inc.ID, s); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.GetIncident(ctx, page, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != statuspage.Resolved || got.ResolvedAt == nil || len(got.Updates) != 4 ||
		got.Updates[0].Body != "Service is running from eu-west-1." {
		t.Errorf("incident read back = %+v (updates newest first)", got)
	}
	if comp, err := c.GetComponent(ctx, page, "cmpdb"); err != nil || comp.Status != statuspage.Operational {
		t.Errorf("component read back = %+v, %v", comp, err)
	}

	want := []statuspagefake.Change{
		{Kind: statuspagefake.IncidentCreated, Page: page, Incident: inc.ID, Status: "investigating",
			Body: "The primary region is unreachable; we are failing over.", Notify: true},
		{Kind: statuspagefake.ComponentChanged, Page: page, Component: "cmpapi", Status: "degraded_performance"},
		{Kind: statuspagefake.ComponentChanged, Page: page, Component: "cmpdb", Status: "major_outage"},
		{Kind: statuspagefake.IncidentUpdated, Page: page, Incident: inc.ID, Status: "identified", Body: "Promoting the standby database.", Notify: true},
		{Kind: statuspagefake.ComponentChanged, Page: page, Component: "cmpapi", Status: "partial_outage"},
		{Kind: statuspagefake.IncidentUpdated, Page: page, Incident: inc.ID, Status: "monitoring", Body: "Traffic moved to eu-west-1.", Notify: true},
		{Kind: statuspagefake.ComponentChanged, Page: page, Component: "cmpapi", Status: "operational"},
		{Kind: statuspagefake.ComponentChanged, Page: page, Component: "cmpdb", Status: "operational"},
		{Kind: statuspagefake.IncidentUpdated, Page: page, Incident: inc.ID, Status: "resolved", Body: "Service is running from eu-west-1.", Notify: true},
	}
	if changes := f.Changes(); !reflect.DeepEqual(changes, want) {
		t.Errorf("changes:\n got %+v\nwant %+v", changes, want)
	}
	fi, _ := f.Incident(page, inc.ID)
	var states []string
	for _, u := range fi.Updates {
		states = append(states, u.Status)
	}
	if !reflect.DeepEqual(states, []string{"investigating", "identified", "monitoring", "resolved"}) || !fi.Resolved {
		t.Errorf("fake's incident = %+v", fi)
	}
	if db, _ := f.Component(page, "cmpdb"); !reflect.DeepEqual(db.History, []string{"major_outage", "operational"}) {
		t.Errorf("cmpdb history = %v", db.History)
	}
	// The wire form: the create call's body as the API documents it.
	var body map[string]map[string]any
	if err := json.Unmarshal([]byte(f.Requests()[0].Body), &body); err != nil {
		t.Fatal(err)
	}
	in := body["incident"]
	if in["deliver_notifications"] != true || in["impact_override"] != "major" || in["status"] != "investigating" ||
		!reflect.DeepEqual(in["component_ids"], []any{"cmpdb", "cmpapi"}) {
		t.Errorf("create body = %s", f.Requests()[0].Body)
	}
}

func TestSkipNotificationsSendsDeliverNotificationsFalse(t *testing.T) {
	f := newFake(t, statuspagefake.Options{})
	c := newClient(t, f, nil)
	inc, err := c.CreateIncident(ctxT(t), page, statuspage.IncidentFields{Name: "Drill", Status: statuspage.Investigating,
		Body: "A failover drill.", SkipNotifications: true})
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := f.Incident(page, inc.ID); len(fi.Updates) != 1 || fi.Updates[0].Notify {
		t.Errorf("updates = %+v, want one that notifies nobody", fi.Updates)
	}
}

// A name-only update adds no update entry; a body alone does, keeping the
// status.
func TestAnUpdateEntryIsAddedByABodyOrANewStatusOnly(t *testing.T) {
	f := newFake(t, statuspagefake.Options{})
	c := newClient(t, f, nil)
	ctx := ctxT(t)
	inc, err := c.CreateIncident(ctx, page, statuspage.IncidentFields{Name: "A", Status: statuspage.Identified})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateIncident(ctx, page, inc.ID, statuspage.IncidentFields{Name: "B"}); err != nil {
		t.Fatal(err)
	}
	got, err := c.UpdateIncident(ctx, page, inc.ID, statuspage.IncidentFields{Body: "Still promoting."})
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "B" || got.Status != statuspage.Identified || len(got.Updates) != 2 || got.Updates[0].Body != "Still promoting." {
		t.Errorf("incident = %+v", got)
	}
}
