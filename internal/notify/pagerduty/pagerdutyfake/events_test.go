package pagerdutyfake_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/PagerDuty/go-pagerduty"

	"github.com/failoverbot/failoverbot/internal/notify/pagerduty/pagerdutyfake"
)

func trigger(dedup string) *pagerduty.V2Event {
	return &pagerduty.V2Event{RoutingKey: pagerdutyfake.RoutingKey, Action: "trigger", DedupKey: dedup,
		Payload: &pagerduty.V2Payload{Summary: "Failover of lab-failover failed at promote", Source: "failoverbot",
			Severity: "critical", Details: map[string]string{"run": "r1"}}}
}

// Events keep alert state per dedup key: a trigger opens it, a second one
// is deduplicated, acknowledge and resolve move it, an acknowledge of a
// resolved alert is accepted and ignored. A trigger without a key gets one.
func TestEventsKeepAlertStatePerDedupKey(t *testing.T) {
	f := newFake(t)
	c := newClient(f, "no REST token needed")
	ctx := ctxT(t)
	send := func(e *pagerduty.V2Event) *pagerduty.V2EventResponse {
		t.Helper()
		res, err := c.ManageEventWithContext(ctx, e)
		if err != nil {
			t.Fatalf("%s: %v", e.Action, err)
		}
		if res.Status != "success" || res.Message != "Event processed" {
			t.Errorf("%s: %+v", e.Action, res)
		}
		return res
	}
	if res := send(trigger("failover/r1")); res.DedupKey != "failover/r1" {
		t.Errorf("dedup key %q", res.DedupKey)
	}
	send(trigger("failover/r1"))
	send(&pagerduty.V2Event{RoutingKey: pagerdutyfake.RoutingKey, Action: "acknowledge", DedupKey: "failover/r1"})
	send(&pagerduty.V2Event{RoutingKey: pagerdutyfake.RoutingKey, Action: "resolve", DedupKey: "failover/r1"})
	send(&pagerduty.V2Event{RoutingKey: pagerdutyfake.RoutingKey, Action: "acknowledge", DedupKey: "failover/r1"})
	generated := send(trigger("")).DedupKey
	if len(generated) != 32 {
		t.Errorf("generated dedup key %q", generated)
	}
	var results []string
	for _, e := range f.Events() {
		results = append(results, e.Action+":"+e.Result)
	}
	want := []string{"trigger:triggered", "trigger:deduplicated", "acknowledge:acknowledged", "resolve:resolved",
		"acknowledge:ignored", "trigger:triggered"}
	if !reflect.DeepEqual(results, want) {
		t.Errorf("events %v, want %v", results, want)
	}
	if a, _ := f.Alert("failover/r1"); a.Status != "resolved" || a.Triggers != 2 || a.Severity != "critical" {
		t.Errorf("alert = %+v", a)
	}
	if e := f.Events()[0]; e.Source != "failoverbot" || e.Details["run"] != "r1" {
		t.Errorf("event = %+v", e)
	}
	for _, r := range f.Requests() {
		if r.API != pagerdutyfake.Events || r.Status != http.StatusAccepted {
			t.Errorf("request %+v", r)
		}
	}
}

// Bad events get 400 with PagerDuty's body; go-pagerduty's client method
// reports them as a pagerduty.APIError whose error object is not Valid (the
// Events API's body has no "error" key), so the reason is only in the
// fake's record, not in the error.
func TestBadEventsAre400(t *testing.T) {
	f := newFake(t)
	c := newClient(f, "")
	ctx := ctxT(t)
	for _, tc := range []struct {
		name  string
		event func(e *pagerduty.V2Event)
		why   string
	}{
		{"a short routing key", func(e *pagerduty.V2Event) { e.RoutingKey = "abc" }, "Length of 'routing_key' is incorrect"},
		{"an unknown routing key", func(e *pagerduty.V2Event) { e.RoutingKey = strings.Repeat("x", 32) }, "Invalid routing key"},
		{"a bad action", func(e *pagerduty.V2Event) { e.Action = "escalate" }, "'event_action' is invalid"},
		{"no summary", func(e *pagerduty.V2Event) { e.Payload.Summary = "" }, "'payload.summary' is missing"},
		{"no source", func(e *pagerduty.V2Event) { e.Payload.Source = "" }, "'payload.source' is missing"},
		{"a bad severity", func(e *pagerduty.V2Event) { e.Payload.Severity = "fatal" }, "'payload.severity' is invalid"},
		{"no payload", func(e *pagerduty.V2Event) { e.Payload = nil }, "'payload' is missing"},
		{"a resolve without dedup key", func(e *pagerduty.V2Event) { e.Action, e.DedupKey, e.Payload = "resolve", "", nil }, "'dedup_key' is missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := trigger("k")
			tc.event(e)
			_, err := c.ManageEventWithContext(ctx, e)
			ae := apiError(t, err)
			if ae.StatusCode != 400 || ae.APIError.Valid || ae.Temporary() {
				t.Errorf("%v: want a 400 APIError without an error object", err)
			}
			// The wire answer, as PagerDuty gives it.
			b, _ := json.Marshal(e)
			resp, err := http.Post(f.URL()+"/v2/enqueue", "application/json", bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Status, Message string
				Errors          []string
			}
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != 400 || body.Status != "invalid event" || len(body.Errors) != 1 || !strings.Contains(body.Errors[0], tc.why) {
				t.Errorf("answer %d %+v, want 400 saying %q", resp.StatusCode, body, tc.why)
			}
		})
	}
	if n := len(f.Events()); n != 0 {
		t.Errorf("%d bad events processed", n)
	}
}

// A summary past 1024 characters is truncated, as PagerDuty does.
func TestALongSummaryIsTruncated(t *testing.T) {
	f := newFake(t)
	c := newClient(f, "")
	e := trigger("long")
	e.Payload.Summary = strings.Repeat("é", 2000)
	if _, err := c.ManageEventWithContext(ctxT(t), e); err != nil {
		t.Fatal(err)
	}
	if s := f.Events()[0].Summary; len([]rune(s)) != 1024 {
		t.Errorf("summary of %d characters", len([]rune(s)))
	}
}
