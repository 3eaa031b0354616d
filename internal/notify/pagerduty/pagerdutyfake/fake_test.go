package pagerdutyfake_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/PagerDuty/go-pagerduty"

	"github.com/failoverbot/failoverbot/internal/notify/pagerduty/pagerdutyfake"
)

func newFake(t *testing.T) *pagerdutyfake.Server {
	t.Helper()
	f := pagerdutyfake.New()
	t.Cleanup(f.Close)
	return f
}

// newClient is go-pagerduty pointed at the fake, with a transport of its
// own (go-pagerduty's default one is shared by every client).
func newClient(f *pagerdutyfake.Server, token string) *pagerduty.Client {
	c := pagerduty.NewClient(token, pagerduty.WithAPIEndpoint(f.URL()), pagerduty.WithV2EventsAPIEndpoint(f.URL()))
	c.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func apiError(t *testing.T, err error) pagerduty.APIError {
	t.Helper()
	var e pagerduty.APIError
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a pagerduty.APIError", err, err)
	}
	return e
}

func newIncident(key string) *pagerduty.CreateIncidentOptions {
	return &pagerduty.CreateIncidentOptions{Title: "Failover lab-failover started",
		Service: &pagerduty.APIReference{ID: pagerdutyfake.ServiceID, Type: "service_reference"},
		Urgency: "high", IncidentKey: key,
		Body: &pagerduty.APIDetails{Type: "incident_body", Details: "Run r1 by oncall-1"}}
}

// An incident's life through go-pagerduty: opened, notes added as the
// failover goes, acknowledged, resolved; read back with its notes. The fake
// records each change in order, with the From of each write.
func TestAnIncidentThroughGoPagerDuty(t *testing.T) {
	f := newFake(t)
	c := newClient(f, pagerdutyfake.Token)
	ctx := ctxT(t)
	inc, err := c.CreateIncidentWithContext(ctx, pagerdutyfake.From, newIncident("failover/r1"))
	if err != nil {
		t.Fatal(err)
	}
	if inc.ID == "" || inc.Status != "triggered" || inc.IncidentKey != "failover/r1" || inc.Service.ID != pagerdutyfake.ServiceID {
		t.Fatalf("created = %+v", inc)
	}
	for _, text := range []string{"Phase promote: done in 4.2s", "Phase traffic: done in 1.1s"} {
		note, err := c.CreateIncidentNoteWithContext(ctx, inc.ID, pagerduty.IncidentNote{Content: text,
			User: pagerduty.APIObject{Summary: pagerdutyfake.From}})
		if err != nil || note.ID == "" || note.Content != text {
			t.Fatalf("note = %+v, %v", note, err)
		}
	}
	for _, st := range []string{"acknowledged", "resolved"} {
		res, err := c.ManageIncidentsWithContext(ctx, pagerdutyfake.From, []pagerduty.ManageIncidentsOptions{{ID: inc.ID, Status: st}})
		if err != nil || len(res.Incidents) != 1 || res.Incidents[0].Status != st {
			t.Fatalf("manage %s = %+v, %v", st, res, err)
		}
	}
	got, err := c.GetIncidentWithContext(ctx, inc.ID)
	if err != nil || got.Status != "resolved" || got.Title != "Failover lab-failover started" {
		t.Fatalf("get = %+v, %v", got, err)
	}
	notes, err := c.ListIncidentNotesWithContext(ctx, inc.ID)
	if err != nil || len(notes) != 2 || notes[1].Content != "Phase traffic: done in 1.1s" || notes[0].User.Summary != pagerdutyfake.From {
		t.Fatalf("notes = %+v, %v", notes, err)
	}
	list, err := c.ListIncidentsWithContext(ctx, pagerduty.ListIncidentsOptions{IncidentKey: "failover/r1", Statuses: []string{"resolved"}})
	if err != nil || len(list.Incidents) != 1 {
		t.Fatalf("list = %+v, %v", list, err)
	}
	want := []pagerdutyfake.Change{
		{Kind: pagerdutyfake.IncidentCreated, Incident: inc.ID, Status: "triggered", Title: "Failover lab-failover started", From: pagerdutyfake.From},
		{Kind: pagerdutyfake.NoteAdded, Incident: inc.ID, Note: "Phase promote: done in 4.2s", From: pagerdutyfake.From},
		{Kind: pagerdutyfake.NoteAdded, Incident: inc.ID, Note: "Phase traffic: done in 1.1s", From: pagerdutyfake.From},
		{Kind: pagerdutyfake.StatusChanged, Incident: inc.ID, Status: "acknowledged", From: pagerdutyfake.From},
		{Kind: pagerdutyfake.StatusChanged, Incident: inc.ID, Status: "resolved", From: pagerdutyfake.From},
	}
	if changes := f.Changes(); !reflect.DeepEqual(changes, want) {
		t.Errorf("changes:\n got %+v\nwant %+v", changes, want)
	}
	if fi, _ := f.Incident(inc.ID); fi.Details != "Run r1 by oncall-1" || fi.Urgency != "high" || len(fi.Notes) != 2 {
		t.Errorf("fake's incident = %+v", fi)
	}
}

// Writes without From get PagerDuty's own 400, as go-pagerduty surfaces it
// (it sends an empty From header when given "").
func TestWritesWithoutFromGetTheRealError(t *testing.T) {
	f := newFake(t)
	c := newClient(f, pagerdutyfake.Token)
	ctx := ctxT(t)
	_, err := c.CreateIncidentWithContext(ctx, "", newIncident(""))
	e := apiError(t, err)
	if e.StatusCode != 400 || !e.APIError.Valid || e.APIError.ErrorObject.Code != pagerdutyfake.CodeFromRequired ||
		!strings.Contains(err.Error(), `You must specify a user's email address in the "From" header`) || e.Temporary() {
		t.Errorf("create without From: %v (%+v)", err, e)
	}
	inc, err := c.CreateIncidentWithContext(ctx, pagerdutyfake.From, newIncident(""))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateIncidentNoteWithContext(ctx, inc.ID, pagerduty.IncidentNote{Content: "x"}) // no User.Summary
	if e := apiError(t, err); e.APIError.ErrorObject.Code != pagerdutyfake.CodeFromRequired {
		t.Errorf("note without From: %v", err)
	}
	_, err = c.ManageIncidentsWithContext(ctx, "", []pagerduty.ManageIncidentsOptions{{ID: inc.ID, Status: "resolved"}})
	if e := apiError(t, err); e.APIError.ErrorObject.Code != pagerdutyfake.CodeFromRequired {
		t.Errorf("manage without From: %v", err)
	}
	if fi, _ := f.Incident(inc.ID); fi.Status != "triggered" || len(fi.Notes) != 0 {
		t.Errorf("refused writes changed the incident: %+v", fi)
	}
}

// The REST API's refusals, each as go-pagerduty reports it: a
// pagerduty.APIError with the status, PagerDuty's code and message.
func TestRESTRefusals(t *testing.T) {
	f := newFake(t)
	c := newClient(f, pagerdutyfake.Token)
	ctx := ctxT(t)
	inc, err := c.CreateIncidentWithContext(ctx, pagerdutyfake.From, newIncident("failover/r2"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ManageIncidentsWithContext(ctx, pagerdutyfake.From, []pagerduty.ManageIncidentsOptions{{ID: inc.ID, Status: "resolved"}}); err != nil {
		t.Fatal(err)
	}
	bad := newClient(f, "wrong-token")
	for _, tc := range []struct {
		name   string
		call   func() error
		status int
		code   int
		text   string
	}{
		{"a wrong token", func() error { _, err := bad.GetIncidentWithContext(ctx, inc.ID); return err }, 401, pagerdutyfake.CodeAuthFailed, "Authentication failed"},
		{"an unknown incident", func() error { _, err := c.GetIncidentWithContext(ctx, "QNOPE"); return err }, 404, pagerdutyfake.CodeNotFound, "Not Found"},
		{"an unknown service", func() error {
			o := newIncident("")
			o.Service.ID = "PNOPE"
			_, err := c.CreateIncidentWithContext(ctx, pagerdutyfake.From, o)
			return err
		}, 400, pagerdutyfake.CodeArgumentsError, "Service not found"},
		{"an incident without a title", func() error {
			o := newIncident("")
			o.Title = ""
			_, err := c.CreateIncidentWithContext(ctx, pagerdutyfake.From, o)
			return err
		}, 400, pagerdutyfake.CodeInvalidInput, "Title cannot be empty"},
		{"resolving a resolved incident", func() error {
			_, err := c.ManageIncidentsWithContext(ctx, pagerdutyfake.From, []pagerduty.ManageIncidentsOptions{{ID: inc.ID, Status: "resolved"}})
			return err
		}, 400, pagerdutyfake.CodeArgumentsError, "Incident Already Resolved"},
		{"an empty note", func() error {
			_, err := c.CreateIncidentNoteWithContext(ctx, inc.ID, pagerduty.IncidentNote{User: pagerduty.APIObject{Summary: pagerdutyfake.From}})
			return err
		}, 400, pagerdutyfake.CodeInvalidInput, "Content cannot be empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			e := apiError(t, err)
			if e.StatusCode != tc.status || e.APIError.ErrorObject.Code != tc.code || !strings.Contains(err.Error(), tc.text) || e.Temporary() {
				t.Errorf("%v: want %d code %d saying %q", err, tc.status, tc.code, tc.text)
			}
		})
	}
}

// An incident_key of an open incident cannot open a second one: a resend
// after a crash is refused, not duplicated. Once resolved, the key is free.
func TestAnOpenIncidentKeyIsNotReused(t *testing.T) {
	f := newFake(t)
	c := newClient(f, pagerdutyfake.Token)
	ctx := ctxT(t)
	inc, err := c.CreateIncidentWithContext(ctx, pagerdutyfake.From, newIncident("failover/r3"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateIncidentWithContext(ctx, pagerdutyfake.From, newIncident("failover/r3"))
	if e := apiError(t, err); e.StatusCode != 400 || !strings.Contains(err.Error(), "Open incident with matching dedup key already exists") {
		t.Errorf("second create: %v", err)
	}
	if _, err := c.ManageIncidentsWithContext(ctx, pagerdutyfake.From, []pagerduty.ManageIncidentsOptions{{ID: inc.ID, Status: "resolved"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateIncidentWithContext(ctx, pagerdutyfake.From, newIncident("failover/r3")); err != nil {
		t.Errorf("create after resolve: %v", err)
	}
	if n := len(f.Incidents()); n != 2 {
		t.Errorf("%d incidents, want 2", n)
	}
}

// Headers the REST API requires, sent by hand: the Accept of version 2,
// the token scheme.
func TestRESTHeadersAreChecked(t *testing.T) {
	f := newFake(t)
	for _, tc := range []struct {
		name, accept, auth string
		want               int
	}{
		{"no Accept", "", "Token token=" + pagerdutyfake.Token, 406},
		{"Accept version 1", "application/vnd.pagerduty+json;version=1", "Token token=" + pagerdutyfake.Token, 406},
		{"a Bearer token", pagerdutyfake.AcceptV2, "Bearer " + pagerdutyfake.Token, 401},
		{"no token", pagerdutyfake.AcceptV2, "", 401},
		{"both right", pagerdutyfake.AcceptV2, "Token token=" + pagerdutyfake.Token, 200},
	} {
		req, _ := http.NewRequest("GET", f.URL()+"/incidents", nil)
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %s, want %d", tc.name, resp.StatusCode, body, tc.want)
		}
		if tc.want != 200 && !strings.Contains(string(body), `{"error":{`) {
			t.Errorf("%s: error body %s", tc.name, body)
		}
	}
}
