package statuspage_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/notify/notifytest"
	"github.com/failoverbot/failoverbot/internal/notify/statuspage"
	"github.com/failoverbot/failoverbot/internal/notify/statuspage/statuspagefake"
	"github.com/failoverbot/failoverbot/internal/store"
)

const labPage = "pg0lab"

func newPage(t *testing.T) *statuspagefake.Server {
	t.Helper()
	f := statuspagefake.NewInProcess(statuspagefake.Options{})
	f.AddPage(labPage, "Lab")
	f.AddComponent(labPage, "cmpapi", "API", "operational")
	f.AddComponent(labPage, "cmpdb", "Database", "operational")
	t.Cleanup(f.Close)
	return f
}

func labConfig(f *statuspagefake.Server) *statuspage.Config {
	return &statuspage.Config{BaseURL: f.URL(), APIKey: statuspagefake.APIKey, Page: labPage, Name: "Lab: moving to the DR region",
		Components: []statuspage.ComponentConfig{
			{ID: "cmpapi", At: map[string]string{"started": "major_outage", "cache": "degraded_performance", "validate": "operational"}},
			{ID: "cmpdb", At: map[string]string{"started": "major_outage", "database": "operational"}},
		},
		MonitoringAt: "validate",
		Messages: map[string]string{
			"started":  "Failing {{ .Runbook }} over to the DR region.",
			"database": "The database runs in the DR region ({{ .Elapsed }} in).",
			"validate": "Everything answers from the DR region; we are watching it.",
		}}
}

func newNotifier(t *testing.T, f *statuspagefake.Server, cfg *statuspage.Config) *statuspage.Notifier {
	t.Helper()
	if err := cfg.CheckAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	n, err := statuspage.NewNotifier(cfg, notify.BuildOptions{HTTPClient: f.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

type change struct{ Kind, Status, Target, Body string }

func changes(f *statuspagefake.Server) []change {
	var out []change
	for _, c := range f.Changes() {
		target := c.Incident
		if c.Kind == statuspagefake.ComponentChanged {
			target = c.Component
		}
		out = append(out, change{string(c.Kind), c.Status, target, c.Body})
	}
	return out
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// A lab failover through the pipeline: the incident is opened identified
// with both components down, updated at each public phase with the
// components the runbook names, monitoring after validation, resolved at
// the end; the incident is one, and its ID is kept in the run's state.
func TestAFailoverOpensUpdatesAndResolvesOneIncident(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newPage(t)
		sp := newNotifier(t, f, labConfig(f))
		h := notifytest.New(t, notifytest.Options{Public: []string{"database", "cache", "validate"},
			Names:   map[string]string{"database": "Promote PostgreSQL", "cache": "Move Redis", "validate": "Validate"},
			Targets: func(*store.Run) []notify.Target { return []notify.Target{sp.Target()} }})
		h.Run("r1", nil)
		h.Failover("r1")
		h.Flush("r1")
		inc := f.Incidents(labPage)
		if len(inc) != 1 {
			t.Fatalf("%d incidents, want 1", len(inc))
		}
		id := inc[0].ID
		equal(t, "changes", changes(f), []change{
			{"incident.created", "identified", id, "Failing lab-failover over to the DR region."},
			{"component.changed", "major_outage", "cmpapi", ""},
			{"component.changed", "major_outage", "cmpdb", ""},
			{"incident.updated", "identified", id, "The database runs in the DR region (7s in)."},
			{"component.changed", "operational", "cmpdb", ""},
			{"incident.updated", "identified", id, "Move Redis: done."},
			{"component.changed", "degraded_performance", "cmpapi", ""},
			{"incident.updated", "monitoring", id, "Everything answers from the DR region; we are watching it."},
			{"component.changed", "operational", "cmpapi", ""},
			{"incident.updated", "resolved", id, "The service now runs in our standby region. This incident is resolved."},
		})
		if inc[0].ImpactOverride != "major" || !reflect.DeepEqual(inc[0].ComponentIDs, []string{"cmpapi", "cmpdb"}) || !inc[0].Resolved {
			t.Errorf("incident = %+v", inc[0])
		}
		st, _ := h.Log.NotifierState(context.Background(), "r1", statuspage.Name)
		if st["incident"] != id {
			t.Errorf("state = %v, want the incident %s", st, id)
		}
		for _, d := range h.Deliveries("r1", statuspage.Name) {
			if d.Status != store.DeliveryDelivered {
				t.Errorf("delivery %s: %s", d.Key, d.Status)
			}
		}
		// The client kept to 1 request/s: the fake never had to refuse one.
		for _, r := range f.Requests() {
			if r.Status == http.StatusTooManyRequests {
				t.Errorf("rate limited: %+v", r)
			}
		}
	})
}

// The bot dies after Statuspage opened the incident and before its ID was
// stored: the redelivered opening finds it by name instead of opening a
// second one, and a redelivered update the incident already shows is not
// added again.
func TestARestartNeverOpensASecondIncidentNorRepeatsAnUpdate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newPage(t)
		sp := newNotifier(t, f, labConfig(f))
		ctx := context.Background()
		st := &flakyState{vals: map[string]string{}, failSets: 1}
		start := &notify.Notification{Key: "3", Milestone: notify.Started, Event: events.Event{Type: events.RunStarted},
			Run: notify.RunInfo{ID: "r1", Runbook: "lab-failover", StartedAt: time.Now()}, Attempt: 1, State: st}
		if retry, err := sp.Notify(ctx, start); err == nil || !retry {
			t.Fatalf("first attempt = %v, %v; want a retryable failure to store the ID", retry, err)
		}
		start.Attempt, start.Redelivery = 2, true
		if _, err := sp.Notify(ctx, start); err != nil {
			t.Fatal(err)
		}
		if n := len(f.Incidents(labPage)); n != 1 {
			t.Fatalf("%d incidents, want 1", n)
		}
		if st.vals["incident"] != f.Incidents(labPage)[0].ID {
			t.Errorf("state %v", st.vals)
		}
		done := &notify.Notification{Key: "7", Milestone: notify.PhaseDone, Public: true,
			Event: events.Event{Type: events.PhaseDone, Phase: "database"}, Run: start.Run, Attempt: 1, State: st}
		for range 2 {
			if _, err := sp.Notify(ctx, done); err != nil {
				t.Fatal(err)
			}
			done.Redelivery = true
		}
		if u := f.Incidents(labPage)[0].Updates; len(u) != 2 {
			t.Errorf("%d update entries, want 2 (opened, database): %+v", len(u), u)
		}
	})
}

// flakyState fails its first failSets Sets.
type flakyState struct {
	vals     map[string]string
	failSets int
}

func (s *flakyState) Get(k string) string { return s.vals[k] }
func (s *flakyState) Set(_ context.Context, k, v string) error {
	if s.failSets > 0 {
		s.failSets--
		return errors.New("store: database is locked")
	}
	s.vals[k] = v
	return nil
}

// Each status Statuspage may answer, and whether it is worth retrying:
// 420 and 429 (rate limited, after Retry-After) and 5xx are; every other
// 4xx is not.
func TestNotifierRetryMatrix(t *testing.T) {
	for _, tc := range notifytest.RetryCases(append(notifytest.ServerErrors(), 420, 429)...) {
		t.Run(fmt.Sprint(tc.Status), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newPage(t)
				sp := newNotifier(t, f, labConfig(f))
				f.Fail(1, statuspagefake.Fault{Status: tc.Status, RetryAfter: "3"})
				n := &notify.Notification{Key: "1", Milestone: notify.Started, Event: events.Event{Type: events.RunStarted},
					Run: notify.RunInfo{ID: "r1"}, Attempt: 1, State: &flakyState{vals: map[string]string{}}}
				retry, err := sp.Notify(context.Background(), n)
				if err == nil || retry != tc.Retry {
					t.Fatalf("HTTP %d: retry %v, err %v; want retry %v and an error", tc.Status, retry, err, tc.Retry)
				}
				if tc.Status == 420 || tc.Status == 429 {
					if d := notify.RetryAfterOf(err); d != 3*time.Second {
						t.Errorf("Retry-After seen as %s, want 3s", d)
					}
				}
			})
		})
	}
}

// The API key never reaches an error, a log line, the delivery log, the
// thread or the notifier state, whatever fails: a revoked key, an error
// body quoting it, a hang.
func TestTheNotifierLeaksNoAPIKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const key = "sk-statuspage-0123456789abcdefSECRET"
		f := newPage(t)
		f.AddKey(key)
		cfg := labConfig(f)
		cfg.APIKey = key
		sp := newNotifier(t, f, cfg)
		h := notifytest.New(t, notifytest.Options{Public: []string{"database"},
			Targets: func(*store.Run) []notify.Target { return []notify.Target{sp.Target()} },
			Tweak:   func(o *notify.Options) { o.CallTimeout = 5 * time.Second; o.EndGrace = time.Minute }})
		h.Run("r1", nil)
		f.Fail(1, statuspagefake.Fault{Status: 500, Body: `{"error":"bad key OAuth ` + key + `"}`})
		f.Fail(1, statuspagefake.Fault{Hang: true})
		h.Failover("r1")
		time.Sleep(30 * time.Second)
		f.RevokeKey(key)
		h.Emit("r1", events.RunAborted, "", "", "aborted")
		time.Sleep(10 * time.Minute)
		h.Flush("r1")
		texts := map[string]string{"logs": h.Logs.String()}
		for i, p := range h.Poster.Posts() {
			texts[fmt.Sprintf("thread post %d", i)] = p.Text
		}
		for _, d := range h.Deliveries("r1", statuspage.Name) {
			texts["delivery "+d.Key] = d.Error + string(d.Payload)
		}
		st, _ := h.Log.NotifierState(context.Background(), "r1", statuspage.Name)
		texts["state"] = fmt.Sprint(st)
		texts["client"] = fmt.Sprintf("%v %+v %#v", sp, sp, sp)
		notifytest.AssertNoSecret(t, key, texts)
		if !strings.Contains(h.Logs.String(), "HTTP 500") || !strings.Contains(h.Logs.String(), "HTTP 401") {
			t.Errorf("the failures were not logged:\n%s", h.Logs)
		}
	})
}

func TestConfigChecksEveryField(t *testing.T) {
	c := &statuspage.Config{Impact: "huge", On: []string{"started", "lunch"}, ResolveOn: []string{"paused"},
		Components: []statuspage.ComponentConfig{{ID: "a", At: map[string]string{"started": "down"}}, {ID: "a"}},
		Messages:   map[string]string{"started": "{{ .Nope }}", "x": "${secret:KEY}"}, RequestTimeout: "soon"}
	err := c.CheckAndSetDefaults()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"apiKey: is required", "page: is required", "name: is required", `impact: must be one of none, minor, major, critical, got "huge"`,
		`on[1]: unknown milestone "lunch"`, "resolveOn[0]: paused is not a milestone a run ends at",
		`components[0].at.started: must be one of operational`, `components[1].id: component "a" is named twice`,
		"messages.started: template: ", "messages.x: a message cannot hold ${secret:", `requestTimeout: is not a duration`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
	ok := &statuspage.Config{APIKey: "${secret:K}", Page: "${env:P}", Name: "n"}
	if err := ok.CheckAndSetDefaults(); err != nil || ok.BaseURL != statuspage.DefaultBaseURL || ok.Impact != "major" {
		t.Errorf("defaults: %v %+v", err, ok)
	}
}
