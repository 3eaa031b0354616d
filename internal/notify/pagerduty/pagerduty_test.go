package pagerduty_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pd "github.com/PagerDuty/go-pagerduty"

	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/notify/notifytest"
	"github.com/failoverbot/failoverbot/internal/notify/pagerduty"
	"github.com/failoverbot/failoverbot/internal/notify/pagerduty/pagerdutyfake"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/store"
)

func newFake(t *testing.T) *pagerdutyfake.Server {
	t.Helper()
	f := pagerdutyfake.New()
	t.Cleanup(f.Close)
	return f
}

// openIncident opens an incident on the fake, as a human (or an alert)
// would before the failover.
func openIncident(t *testing.T, f *pagerdutyfake.Server) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	inc, err := client(f).CreateIncidentWithContext(ctx, pagerdutyfake.From, &pd.CreateIncidentOptions{Title: "Checkout down in us-east-1",
		Service: &pd.APIReference{ID: pagerdutyfake.ServiceID, Type: "service_reference"}})
	if err != nil {
		t.Fatal(err)
	}
	return inc.ID
}

func restConfig(f *pagerdutyfake.Server, incident string) *pagerduty.Config {
	return &pagerduty.Config{BaseURL: f.URL(), Token: pagerdutyfake.Token, From: pagerdutyfake.From, Incident: incident,
		Resolve: true, Messages: map[string]string{"database": "PostgreSQL now runs in the DR region ({{ .Elapsed }} of ~{{ .Expected }})."}}
}

func newNotifier(t *testing.T, cfg *pagerduty.Config) *pagerduty.Notifier {
	t.Helper()
	n, err := pagerduty.New(cfg, notify.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}

var names = map[string]string{"database": "Promote PostgreSQL", "cache": "Move Redis", "validate": "Validate"}

// With an incident given, each milestone of the run is a note on it, with
// the From header, and the incident is resolved when the run succeeds.
func TestEachMilestoneIsANoteOnTheIncident(t *testing.T) {
	f := newFake(t)
	id := openIncident(t, f)
	p := newNotifier(t, restConfig(f, id))
	h := notifytest.New(t, notifytest.Options{Names: names,
		Targets: func(*store.Run) []notify.Target { return []notify.Target{p.Target()} }})
	h.Run("r1", map[string]string{"incident": id})
	h.Failover("r1")
	h.Flush("r1")
	inc, _ := f.Incident(id)
	var notes []string
	for _, n := range inc.Notes {
		notes = append(notes, n.Content)
		if n.From != pagerdutyfake.From {
			t.Errorf("note %q written as %q", n.Content, n.From)
		}
	}
	link := "\nhttps://chat.example/C0INC/1700000000.000001"
	equal(t, "notes", notes, []string{
		"Failover lab-failover (run r1) requested by U0ALICE: primary down. Waiting for approval." + link,
		"Failover lab-failover (run r1) started." + link,
		"PostgreSQL now runs in the DR region (7s of ~2m)." + link,
		"Failover lab-failover: Move Redis done (11s of ~2m)." + link,
		"Failover lab-failover: Validate done (15s of ~2m)." + link,
		"Failover lab-failover (run r1) succeeded in 16s." + link,
	})
	if inc.Status != "resolved" {
		t.Errorf("incident %s, want resolved", inc.Status)
	}
}

// Without an incident, each milestone is an Events v2 trigger with the run
// as dedup key: one alert per run, resolved at the end.
func TestWithoutAnIncidentTheRunIsOneEventsV2Alert(t *testing.T) {
	f := newFake(t)
	p := newNotifier(t, &pagerduty.Config{BaseURL: f.URL(), RoutingKey: pagerdutyfake.RoutingKey, Resolve: true,
		On: []string{"started", "phase_done", "succeeded"}})
	h := notifytest.New(t, notifytest.Options{Names: names,
		Targets: func(*store.Run) []notify.Target { return []notify.Target{p.Target()} }})
	h.Run("r1", nil)
	h.Failover("r1")
	h.Flush("r1")
	var got []string
	for _, e := range f.Events() {
		if e.DedupKey != "r1" {
			t.Errorf("dedup key %q, want the run", e.DedupKey)
		}
		got = append(got, e.Action+" "+e.Result+": "+e.Summary)
	}
	equal(t, "events", got, []string{
		"trigger triggered: Failover lab-failover (run r1) started.",
		"trigger deduplicated: Failover lab-failover: Promote PostgreSQL done (7s of ~2m).",
		"trigger deduplicated: Failover lab-failover: Move Redis done (11s of ~2m).",
		"trigger deduplicated: Failover lab-failover: Validate done (15s of ~2m).",
		"resolve resolved: ",
	})
	if a, _ := f.Alert("r1"); a.Status != "resolved" || a.Triggers != 4 {
		t.Errorf("alert = %+v", a)
	}
}

// PagerDuty is down for the whole run: the run is unaffected (Notify
// returns at once, the other notifier delivers), the failure is said once
// in the run's thread, and when PagerDuty comes back every note lands, in
// order, once.
func TestPagerDutyDownForTheWholeRunCatchesUpWhenItRecovers(t *testing.T) {
	f := newFake(t)
	id := openIncident(t, f)
	p := newNotifier(t, restConfig(f, id))
	var other atomic.Int32
	h := notifytest.New(t, notifytest.Options{Names: names, Targets: func(*store.Run) []notify.Target {
		return []notify.Target{p.Target(), {Name: "stakeholders", Notifier: notify.NotifierFunc(
			func(context.Context, *notify.Notification) (bool, error) { other.Add(1); return false, nil })}}
	}})
	h.Run("r1", nil)
	f.Down()
	start := time.Now()
	h.Failover("r1")
	if took := time.Since(start); took > 50*time.Millisecond {
		t.Errorf("notifying the run's 16 events took %s", took)
	}
	h.Flush("r1")
	if n := other.Load(); n != 10 {
		t.Errorf("the other notifier got %d notifications while PagerDuty was down, want 10", n)
	}
	time.Sleep(2 * time.Second)
	if inc, _ := f.Incident(id); len(inc.Notes) != 0 {
		t.Fatalf("notes while down: %v", inc.Notes)
	}
	if err := f.Up(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if inc, _ := f.Incident(id); inc.Status == "resolved" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PagerDuty did not catch up:\n%s", h.Logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	inc, _ := f.Incident(id)
	if len(inc.Notes) != 6 || !strings.HasPrefix(inc.Notes[0].Content, "Failover lab-failover (run r1) requested") ||
		!strings.HasPrefix(inc.Notes[5].Content, "Failover lab-failover (run r1) succeeded") {
		t.Errorf("notes after the recovery: %+v", inc.Notes)
	}
	var said []string
	for _, m := range h.Poster.Posts() {
		said = append(said, m.Text)
	}
	if len(said) != 2 || !strings.Contains(said[0], "PagerDuty: a notification did not go through") ||
		!strings.Contains(said[1], "PagerDuty: notifications go through again") {
		t.Errorf("thread = %q", said)
	}
	for _, d := range h.Deliveries("r1", pagerduty.Name) {
		if d.Status != store.DeliveryDelivered {
			t.Errorf("delivery %s: %s (%s)", d.Key, d.Status, d.Error)
		}
	}
}

// A note redelivered after a restart (the bot died after PagerDuty took
// it) is not added twice.
func TestARedeliveredNoteIsNotAddedTwice(t *testing.T) {
	f := newFake(t)
	id := openIncident(t, f)
	p := newNotifier(t, restConfig(f, id))
	n := &notify.Notification{Key: "3", Milestone: notify.Started, Event: events.Event{Type: events.RunStarted},
		Run: notify.RunInfo{ID: "r1", Runbook: "lab-failover"}, Attempt: 1}
	ctx := context.Background()
	for range 2 {
		if _, err := p.Notify(ctx, n); err != nil {
			t.Fatal(err)
		}
		n.Redelivery = true
	}
	if inc, _ := f.Incident(id); len(inc.Notes) != 1 {
		t.Errorf("%d notes, want 1", len(inc.Notes))
	}
	// A resolve that took effect before is done, not an error.
	done := &notify.Notification{Key: "9", Milestone: notify.Succeeded, Event: events.Event{Type: events.RunSucceeded},
		Run: n.Run, Attempt: 1}
	for range 2 {
		if retry, err := p.Notify(ctx, done); err != nil {
			t.Fatalf("resolve: %v (retry %v)", err, retry)
		}
		done.Redelivery = true
	}
}

// Each status either API may answer, through the notifier: 408, 429 and
// 5xx are worth retrying, other 4xx are not.
func TestNotifierRetryMatrix(t *testing.T) {
	f := newFake(t)
	id := openIncident(t, f)
	rest := newNotifier(t, restConfig(f, id))
	ev := newNotifier(t, &pagerduty.Config{BaseURL: f.URL(), RoutingKey: pagerdutyfake.RoutingKey})
	for _, api := range []struct {
		name string
		api  pagerdutyfake.API
		n    *pagerduty.Notifier
	}{{"REST", pagerdutyfake.REST, rest}, {"Events", pagerdutyfake.Events, ev}} {
		for _, tc := range notifytest.RetryCases(append(notifytest.ServerErrors(), 408, 429)...) {
			t.Run(fmt.Sprintf("%s/%d", api.name, tc.Status), func(t *testing.T) {
				f.Fail(api.api, 1, pagerdutyfake.Fault{Status: tc.Status})
				n := &notify.Notification{Key: "1", Milestone: notify.Started, Event: events.Event{Type: events.RunStarted},
					Run: notify.RunInfo{ID: "r1", Runbook: "lab-failover"}, Attempt: 1}
				retry, err := api.n.Notify(context.Background(), n)
				if err == nil || retry != tc.Retry {
					t.Fatalf("HTTP %d: retry %v, err %v; want retry %v and an error", tc.Status, retry, err, tc.Retry)
				}
			})
		}
	}
	// Refused and dropped connections are worth retrying too.
	f.Fail(pagerdutyfake.Events, 1, pagerdutyfake.Fault{Drop: true})
	n := &notify.Notification{Key: "1", Milestone: notify.Started, Event: events.Event{Type: events.RunStarted}, Run: notify.RunInfo{ID: "r1"}}
	if retry, err := ev.Notify(context.Background(), n); err == nil || !retry {
		t.Errorf("dropped connection: retry %v, err %v", retry, err)
	}
}

// Neither the REST token nor the routing key reaches an error, a log line,
// the delivery log or the thread, whatever PagerDuty answers (even an
// error body that quotes them).
func TestTheNotifierLeaksNoToken(t *testing.T) {
	const token, key = "pd-token-0123456789-SECRET", "R1SECRETROUTINGKEY0123456789ABCD"
	f := newFake(t)
	f.AddToken(token)
	f.AddRoutingKey(key)
	id := openIncident(t, f)
	cfg := restConfig(f, id)
	cfg.Token = token
	rest := newNotifier(t, cfg)
	ev := newNotifier(t, &pagerduty.Config{BaseURL: f.URL(), RoutingKey: key})
	h := notifytest.New(t, notifytest.Options{Targets: func(*store.Run) []notify.Target {
		t := ev.Target()
		t.Name = "pagerduty-events"
		return []notify.Target{rest.Target(), t}
	}, Tweak: func(o *notify.Options) {
		// The app's redactor knows every secret the runbook resolved.
		o.Redactor = &secret.Redactor{}
		o.Redactor.Add(token)
		o.Redactor.Add(key)
		o.EndGrace = time.Second
	}})
	h.Run("r1", nil)
	f.Fail(pagerdutyfake.Both, 2, pagerdutyfake.Fault{Status: 500, Body: `{"error":{"message":"bad token ` + token + ` key ` + key + `"}}`})
	f.Fail(pagerdutyfake.REST, 1, pagerdutyfake.Fault{Status: 401, Body: `{"error":{"message":"token ` + token + ` refused","code":2006}}`})
	f.Fail(pagerdutyfake.Events, 1, pagerdutyfake.Fault{Status: 400, Body: `{"status":"invalid event","message":"` + key + `"}`})
	h.Failover("r1")
	time.Sleep(3 * time.Second)
	h.Flush("r1")
	texts := map[string]string{"logs": h.Logs.String(), "notifier": fmt.Sprintf("%v %+v %#v", rest, ev, rest)}
	for i, p := range h.Poster.Posts() {
		texts[fmt.Sprintf("thread post %d", i)] = p.Text
	}
	for _, name := range []string{pagerduty.Name, "pagerduty-events"} {
		for _, d := range h.Deliveries("r1", name) {
			texts[name+" delivery "+d.Key] = d.Error + string(d.Payload)
		}
	}
	notifytest.AssertNoSecret(t, token, texts)
	notifytest.AssertNoSecret(t, key, texts)
	if !strings.Contains(h.Logs.String(), "HTTP response failed with status code 500") {
		t.Errorf("the failures were not logged:\n%s", h.Logs)
	}
}

func TestConfigChecksEveryField(t *testing.T) {
	for _, tc := range []struct {
		cfg  pagerduty.Config
		want []string
	}{
		{pagerduty.Config{}, []string{"routingKey: is required when no incident is given"}},
		{pagerduty.Config{Incident: "PABC"}, []string{"token: is required", "from: is required"}},
		{pagerduty.Config{Incident: "P/1", Token: "t", From: "nobody", BaseURL: "ftp://x/", Severity: "meh",
			On: []string{"lunch"}, Messages: map[string]string{"started": "{{ .Bad }}"}},
			[]string{`incident: is not a PagerDuty incident ID`, `from: must be the email address`, `baseURL: must be an http(s) URL`,
				"baseURL: must not end in /", `severity: must be one of`, `on[0]: unknown milestone "lunch"`, "messages.started: template"}},
		{pagerduty.Config{RoutingKey: "short"}, []string{"routingKey: an Events v2 integration key has 32 characters"}},
	} {
		err := tc.cfg.CheckAndSetDefaults()
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: errors %v lack %q", tc.cfg, err, w)
			}
		}
	}
	ok := pagerduty.Config{Incident: "{{ .params.incident }}", Token: "${secret:T}", From: "bot@example.com", RoutingKey: "${secret:K}"}
	if err := ok.CheckAndSetDefaults(); err != nil || ok.BaseURL != pagerduty.DefaultBaseURL || ok.EventsURL != pagerduty.DefaultEventsURL {
		t.Errorf("templated config: %v %+v", err, ok)
	}
	if _, err := pagerduty.New(&pagerduty.Config{Token: "t", From: "a@b", Incident: ""}, notify.BuildOptions{}); err == nil ||
		!strings.Contains(err.Error(), "routingKey") {
		t.Errorf("built with neither incident nor routing key: %v", err)
	}
}
