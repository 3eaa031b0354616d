package metrics_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/metrics"
	"github.com/failoverbot/failoverbot/internal/store"
)

// scrape serves /metrics and parses it as Prometheus does.
func scrape(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value is the value of the family's series with exactly these labels
// (-1 if absent).
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		if len(got) != len(want) {
			continue
		}
		match := true
		for k, v := range want {
			if got[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// A run's events move the run, step and approval counters; the step's
// duration is measured from its first Check to its end, by kind.
func TestEventsMoveTheCounters(t *testing.T) {
	kinds := map[string]string{"promote_db": "postgres.promote", "check": "http.check"}
	m := metrics.New(metrics.Options{Version: "v1.2.3", Revision: "abc",
		KindOf: func(rb, step string) string { return kinds[step] }})
	t0 := time.Date(2025, 3, 9, 2, 0, 0, 0, time.UTC)
	ev := func(typ events.Type, step string, at time.Duration, summary string) {
		m.Notify(context.Background(), events.Event{Type: typ, RunID: "r1", Runbook: "rb", StepID: step, At: t0.Add(at), Summary: summary})
	}
	ev(events.RunRequested, "", 0, "")
	ev(events.RunApproved, "", time.Second, "")
	ev(events.RunStarted, "", 2*time.Second, "")
	ev(events.StepStarted, "promote_db", 3*time.Second, "")
	ev(events.StepApplying, "promote_db", 3*time.Second, "")
	ev(events.StepRetrying, "promote_db", 4*time.Second, "")
	ev(events.StepDone, "promote_db", 9*time.Second, "promoted")
	ev(events.StepStarted, "check", 9*time.Second, "")
	ev(events.StepDone, "check", 10*time.Second, "already done: 200")
	ev(events.GateApproved, "gate", 11*time.Second, "")
	ev(events.RunSucceeded, "", 12*time.Second, "")
	f := scrape(t, m)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"failover_run_events_total", []string{"event", "run.started"}, 1},
		{"failover_runs_ended_total", []string{"outcome", "succeeded"}, 1},
		{"failover_approvals_total", []string{"gate", "run", "outcome", "approved"}, 1},
		{"failover_approvals_total", []string{"gate", "step", "outcome", "approved"}, 1},
		{"failover_step_applies_total", []string{"kind", "postgres.promote"}, 1},
		{"failover_step_retries_total", []string{"kind", "postgres.promote"}, 1},
		{"failover_steps_total", []string{"kind", "postgres.promote", "outcome", "done"}, 1},
		{"failover_steps_total", []string{"kind", "http.check", "outcome", "already_done"}, 1},
		{"failover_step_duration_seconds", []string{"kind", "postgres.promote", "outcome", "done"}, 1},
		{"failover_build_info", []string{"version", "v1.2.3", "revision", "abc", "goversion", goVersion(f)}, 1},
	} {
		if got := value(f, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	h := f["failover_step_duration_seconds"]
	for _, s := range h.Metric {
		if s.Label[0].GetValue() == "postgres.promote" && s.Histogram.GetSampleSum() != 6 {
			t.Errorf("promote_db took %vs by the histogram, want 6s (Check at 3s, done at 9s)", s.Histogram.GetSampleSum())
		}
	}
}

func goVersion(f map[string]*dto.MetricFamily) string {
	for _, m := range f["failover_build_info"].GetMetric() {
		for _, l := range m.Label {
			if l.GetName() == "goversion" {
				return l.GetValue()
			}
		}
	}
	return ""
}

// The Slack, notifier, leader and store hooks, and the active runs read
// from the store at the scrape (the leases this process holds among them).
func TestHooksAndActiveRuns(t *testing.T) {
	now := time.Now()
	runs := []*store.Run{
		{ID: "a", State: store.RunRunning, Owner: "me/1", LeaseUntil: now.Add(time.Minute)},
		{ID: "b", State: store.RunRunning, Owner: "other/2", LeaseUntil: now.Add(time.Minute)},
		{ID: "c", State: store.RunPending},
	}
	fail := false
	m := metrics.New(metrics.Options{Owner: func() string { return "me/1" },
		ListRuns: func(ctx context.Context, o store.ListOptions) ([]*store.Run, error) {
			if fail {
				return nil, errors.New("store down")
			}
			return runs, nil
		}})
	m.SocketConnected(true)
	m.Acked("slash_commands", 2*time.Millisecond, nil)
	m.Acked("events_api", time.Millisecond, errors.New("socket closed"))
	m.AttemptFailed("statuspage", true)
	m.Settled("statuspage", store.DeliveryDelivered)
	m.Settled("pagerduty", store.DeliveryFailed)
	m.Leading(true)
	m.StoreUp(true)
	m.ExpirySweep()
	m.ExpirySweep()
	m.Rescanned()
	f := scrape(t, m)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"failover_slack_connected", nil, 1},
		{"failover_slack_connects_total", nil, 1},
		{"failover_slack_acks_total", []string{"type", "slash_commands", "result", "ok"}, 1},
		{"failover_slack_acks_total", []string{"type", "events_api", "result", "error"}, 1},
		{"failover_slack_ack_latency_seconds", []string{"type", "slash_commands"}, 1},
		{"failover_notifier_failures_total", []string{"notifier", "statuspage", "retried", "true"}, 1},
		{"failover_notifier_deliveries_total", []string{"notifier", "statuspage", "status", "delivered"}, 1},
		{"failover_notifier_deliveries_total", []string{"notifier", "pagerduty", "status", "failed"}, 1},
		{"failover_leader", nil, 1},
		{"failover_store_up", nil, 1},
		{"failover_expiry_sweeps_total", nil, 2},
		{"failover_notify_rescans_total", nil, 1},
		{"failover_runs_active", []string{"state", "running"}, 2},
		{"failover_runs_active", []string{"state", "pending_approval"}, 1},
		{"failover_runs_active", []string{"state", "paused"}, 0},
		{"failover_run_leases_held", nil, 1},
		{"failover_runs_scrape_ok", nil, 1},
	} {
		if got := value(f, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	fail = true
	m.SocketConnected(false)
	m.Leading(false)
	f = scrape(t, m)
	if v := value(f, "failover_runs_scrape_ok", nil...); v != 0 {
		t.Errorf("failover_runs_scrape_ok = %v with the store down, want 0", v)
	}
	if v := value(f, "failover_runs_active", "state", "running"); v != -1 {
		t.Errorf("failover_runs_active shown (%v) although the store did not answer", v)
	}
	if value(f, "failover_slack_connected") != 0 || value(f, "failover_leader") != 0 ||
		value(f, "failover_leader_changes_total", "became", "follower") != 1 {
		t.Error("socket or leader state not updated")
	}
}
