// Package metrics is the bot's Prometheus instrumentation: the one place
// that owns a registry. The other packages are instrumented through small
// interfaces that this package implements and the app injects: the
// executor's events (events.Sink), the Slack adapter's socket and acks
// (slack.Observer), the notification pipeline's deliveries
// (notify.Observer), and the leader, store and sweep hooks below.
//
// Counters count what this process did (sum them over the replicas);
// the active runs gauge is read from the shared store at each scrape (the
// same on every replica: take the max).
package metrics

import (
	"context"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/failoverbot/failoverbot/internal/store"
)

// Namespace prefixes every metric of the bot.
const Namespace = "failover"

// Options configure Metrics.
type Options struct {
	// Version and Revision label failover_build_info.
	Version, Revision string
	// KindOf names the kind of a runbook's step ("" when unknown), for
	// the step metrics' kind label.
	KindOf func(runbook, step string) string
	// ListRuns, if set, is read at each scrape for the active runs gauge
	// and the leases this process holds (store.Store.ListRuns); Owner is
	// this process's lease owner.
	ListRuns func(ctx context.Context, opts store.ListOptions) ([]*store.Run, error)
	Owner    func() string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Metrics holds the bot's collectors. Its methods are safe for concurrent
// use.
type Metrics struct {
	o   Options
	reg *prometheus.Registry

	runEvents   *prometheus.CounterVec
	runsEnded   *prometheus.CounterVec
	steps       *prometheus.CounterVec
	stepDur     *prometheus.HistogramVec
	applies     *prometheus.CounterVec
	retries     *prometheus.CounterVec
	approvals   *prometheus.CounterVec
	acks        *prometheus.CounterVec
	ackLatency  *prometheus.HistogramVec
	slackUp     prometheus.Gauge
	slackConns  prometheus.Counter
	deliveries  *prometheus.CounterVec
	attempts    *prometheus.CounterVec
	leader      prometheus.Gauge
	leaderMoves *prometheus.CounterVec
	storeUp     prometheus.Gauge
	sweeps      prometheus.Counter
	rescans     prometheus.Counter

	mu      sync.Mutex
	started map[string]time.Time // run+"\x00"+step → first Check seen here
}

// maxStarted bounds the step start times kept (steps of runs this process
// lost mid-step are never ended here).
const maxStarted = 10000

// New returns the bot's metrics on a registry of their own, with the Go
// runtime and process collectors.
func New(o Options) *Metrics {
	if o.KindOf == nil {
		o.KindOf = func(string, string) string { return "" }
	}
	if o.Owner == nil {
		o.Owner = func() string { return "" }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Metrics{o: o, reg: prometheus.NewRegistry(), started: map[string]time.Time{}}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
		f(c)
		return c
	}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help})
		f(g)
		return g
	}
	m.runEvents = counter("run_events_total", "Run lifecycle events announced by this process's executor, by event type.", "event")
	m.runsEnded = counter("runs_ended_total", "Runs (and approval requests) that ended in this process, by outcome: succeeded, failed, aborted, rejected, expired, cancelled.", "outcome")
	m.steps = counter("steps_total", "Steps that ended in this process, by kind and outcome: done, already_done, failed, skipped.", "kind", "outcome")
	m.stepDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "step_duration_seconds",
		Help:    "Time from a step's first Check to its end, by kind and outcome (steps started and ended in this process).",
		Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800}}, []string{"kind", "outcome"})
	f(m.stepDur)
	m.applies = counter("step_applies_total", "Apply calls made by this process, by step kind.", "kind")
	m.retries = counter("step_retries_total", "Transient step errors retried by this process, by step kind.", "kind")
	m.approvals = counter("approvals_total", "Approval decisions: of a run's start request (gate=run) or of a gate step (gate=step), by outcome: approved, rejected, expired, cancelled.", "gate", "outcome")
	m.acks = counter("slack_acks_total", "Socket-mode envelopes acknowledged, by envelope type and result (ok, error).", "type", "result")
	m.ackLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "slack_ack_latency_seconds",
		Help:    "Time from an envelope reaching the bot to its ack being handed to the socket (Slack wants it within 3s).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 3}}, []string{"type"})
	f(m.ackLatency)
	m.slackUp = gauge("slack_connected", "1 while the socket-mode connection is open.")
	m.slackConns = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "slack_connects_total", Help: "Socket-mode connections opened."})
	f(m.slackConns)
	m.deliveries = counter("notifier_deliveries_total", "Notifications settled by this process, by notifier and status: delivered, failed (given up).", "notifier", "status")
	m.attempts = counter("notifier_failures_total", "Failed notification attempts, by notifier and whether they are retried.", "notifier", "retried")
	m.leader = gauge("leader", "1 while this process leads the periodic work (expiry sweeps, notification catch-up).")
	m.leaderMoves = counter("leader_changes_total", "Times this process started (became=leader) or stopped (became=follower) leading.", "became")
	m.storeUp = gauge("store_up", "1 while the store answers this process's probe.")
	m.sweeps = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "expiry_sweeps_total", Help: "Approval expiry sweeps run by this process (the leader)."})
	f(m.sweeps)
	m.rescans = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "notify_rescans_total", Help: "Notification resend/catch-up scans run by this process (the leader)."})
	f(m.rescans)
	bi := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "build_info",
		Help: "The bot's build: version, VCS revision and Go version (always 1)."}, []string{"version", "revision", "goversion"})
	f(bi)
	bi.WithLabelValues(o.Version, o.Revision, runtime.Version()).Set(1)
	if o.ListRuns != nil {
		f(&runsCollector{m: m})
	}
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, Timeout: 10 * time.Second})
}

// Registry is the registry (tests gather it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Leading records whether this process leads (leader.Options.OnChange).
func (m *Metrics) Leading(leading bool) {
	if leading {
		m.leader.Set(1)
		m.leaderMoves.WithLabelValues("leader").Inc()
		return
	}
	m.leader.Set(0)
	m.leaderMoves.WithLabelValues("follower").Inc()
}

// StoreUp records the last probe of the store.
func (m *Metrics) StoreUp(up bool) { m.storeUp.Set(b2f(up)) }

// ExpirySweep counts one approval expiry sweep.
func (m *Metrics) ExpirySweep() { m.sweeps.Inc() }

// Rescanned counts one notification catch-up scan (the notification
// pipeline's Observer).
func (m *Metrics) Rescanned() { m.rescans.Inc() }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
