// Package notifytest helps test notifiers: a pipeline on in-memory runs and
// delivery log that a test feeds the events of a run, Alertmanager's retry
// matrix (RetryCases), and a secret-leak check (AssertNoSecret).
package notifytest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/logtest"
	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/store"
)

// Runs is an in-memory notify.RunReader and notify.AuditReader: the runs
// and audit trail an executor would have written.
type Runs struct {
	mu    sync.Mutex
	runs  map[string]*store.Run
	audit []*store.AuditEvent
}

// NewRuns returns an empty Runs.
func NewRuns() *Runs { return &Runs{runs: map[string]*store.Run{}} }

// Add stores a copy of run.
func (r *Runs) Add(run *store.Run) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cp := *run
	r.runs[run.ID] = &cp
}

// Set changes the stored run id in place, as another writer would.
func (r *Runs) Set(id string, f func(*store.Run)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r.runs[id])
}

// Record appends an audit record for e and returns e with its Seq, as the
// executor does before it announces an event.
func (r *Runs) Record(e events.Event) events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	msg := e.Summary
	if e.Error != "" {
		msg = e.Error
	}
	data := map[string]string{}
	for k, v := range e.Data {
		data[k] = v
	}
	if e.Phase != "" {
		data["phase"] = e.Phase
	}
	a := &store.AuditEvent{Seq: int64(len(r.audit) + 1), RunID: e.RunID, At: e.At, Actor: "bot", Type: string(e.Type),
		StepID: e.StepID, Message: msg, Data: data}
	r.audit = append(r.audit, a)
	e.Seq = a.Seq
	if run := r.runs[e.RunID]; run != nil && !run.StartedAt.IsZero() && e.At.After(run.StartedAt) {
		e.Elapsed = e.At.Sub(run.StartedAt)
	}
	return e
}

// GetRun implements notify.RunReader.
func (r *Runs) GetRun(_ context.Context, id string) (*store.Run, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	run := r.runs[id]
	if run == nil {
		return nil, fmt.Errorf("run %s: %w", id, store.ErrNotFound)
	}
	cp := *run
	return &cp, nil
}

// Audit implements notify.AuditReader.
func (r *Runs) Audit(_ context.Context, runID string) ([]*store.AuditEvent, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*store.AuditEvent
	for _, a := range r.audit {
		if a.RunID == runID {
			cp := *a
			out = append(out, &cp)
		}
	}
	return out, nil
}

// ListRuns implements notify.AuditReader.
func (r *Runs) ListRuns(context.Context, store.ListOptions) ([]*store.Run, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*store.Run
	for _, run := range r.runs {
		cp := *run
		out = append(out, &cp)
	}
	return out, nil
}

// Poster records what is posted (thread reports, stakeholder messages) as
// text: a notice's text with its links and lines.
type Poster struct {
	mu    sync.Mutex
	posts []Post
	seq   int
	// Fail, if set, fails every call with it.
	Fail error
}

// Post is one message posted.
type Post struct {
	Channel, Thread string
	Text            string
	View            any
}

var _ chat.Poster = (*Poster)(nil)

func (p *Poster) add(channel, thread string, m chat.Message) (chat.MessageRef, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Fail != nil {
		return chat.MessageRef{}, p.Fail
	}
	p.seq++
	text := m.Text
	if v, ok := m.View.(*chat.NoticeView); ok {
		text = strings.Join(append([]string{strings.Join(prefix(v.Groups, "@"), " "), v.Text, v.Link, v.LinkText}, v.Lines...), " | ")
	}
	p.posts = append(p.posts, Post{Channel: channel, Thread: thread, Text: text, View: m.View})
	return chat.MessageRef{Channel: channel, TS: fmt.Sprintf("%d.000100", 1700000000+p.seq)}, nil
}

func prefix(xs []string, p string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = p + x
	}
	return out
}

// Post implements chat.Poster.
func (p *Poster) Post(_ context.Context, channel string, m chat.Message) (chat.MessageRef, error) {
	return p.add(channel, "", m)
}

// Update implements chat.Poster.
func (p *Poster) Update(context.Context, chat.MessageRef, chat.Message) error { return nil }

// Reply implements chat.Poster.
func (p *Poster) Reply(_ context.Context, thread chat.MessageRef, m chat.Message) (chat.MessageRef, error) {
	return p.add(thread.Channel, thread.TS, m)
}

// Ephemeral implements chat.Poster.
func (p *Poster) Ephemeral(context.Context, string, string, chat.Message) error { return nil }

// Permalink implements chat.Permalinker.
func (p *Poster) Permalink(_ context.Context, ref chat.MessageRef) (string, error) {
	return "https://chat.example/" + ref.Channel + "/" + ref.TS, nil
}

// Posts returns what was posted, in order.
func (p *Poster) Posts() []Post {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Post(nil), p.posts...)
}

// Logs collects log lines.
type Logs = logtest.Buffer

// Harness is a pipeline fed by the test.
type Harness struct {
	T      testing.TB
	Runs   *Runs
	Log    *notify.MemoryLog
	Poster *Poster
	Logs   *Logs
	P      *notify.Pipeline
	// Start is the harness's clock at New: its runs start then, and each
	// event emitted is a second after the one before.
	Start  time.Time
	at     time.Time
	cancel context.CancelFunc
	done   chan struct{}
}

// Options configure a Harness. Targets is required.
type Options struct {
	Targets func(run *store.Run) []notify.Target
	// Public are the public phase and step IDs; Names their names.
	Public []string
	Names  map[string]string
	// Tweak changes the pipeline's options.
	Tweak func(o *notify.Options)
	// Runs and Log, if set, are shared with an earlier harness (a
	// restart).
	Runs *Runs
	Log  *notify.MemoryLog
}

// New starts a pipeline; it stops at the test's end.
func New(t testing.TB, o Options) *Harness {
	t.Helper()
	h := &Harness{T: t, Runs: o.Runs, Log: o.Log, Poster: &Poster{}, Logs: &Logs{}, done: make(chan struct{})}
	h.Start = time.Now()
	h.at = h.Start
	if h.Runs == nil {
		h.Runs = NewRuns()
	}
	if h.Log == nil {
		h.Log = notify.NewMemoryLog()
	}
	public := map[string]bool{}
	for _, id := range o.Public {
		public[id] = true
	}
	opts := notify.Options{
		Plan: func(_ context.Context, run *store.Run) notify.Plan {
			return notify.Plan{Targets: o.Targets(run), Public: public, Names: o.Names, Expected: 2 * time.Minute, Channel: "#incident"}
		},
		Runs: h.Runs, Log: h.Log, Audit: h.Runs, Poster: h.Poster, Logger: h.Logs.Logger(),
		Owner: func() string { return "test/1" }, MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second,
	}
	if o.Tweak != nil {
		o.Tweak(&opts)
	}
	p, err := notify.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.P = p
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { _ = p.Run(ctx); close(h.done) }()
	t.Cleanup(h.Stop)
	return h
}

// Stop ends the pipeline (its drain included); safe to call twice.
func (h *Harness) Stop() {
	h.cancel()
	<-h.done
}

// Run adds a running run with a progress card.
func (h *Harness) Run(id string, params map[string]string) *store.Run {
	r := &store.Run{ID: id, Runbook: "lab-failover", State: store.RunRunning, Requester: "U0ALICE", Reason: "primary down",
		Params: params, Card: store.MessageRef{Channel: "C0INC", TS: "1700000000.000001"}, StartedAt: h.at}
	h.Runs.Add(r)
	return r
}

// Emit records an event and hands it to the pipeline, a second after the
// previous one.
func (h *Harness) Emit(runID string, typ events.Type, phase, step, summary string) events.Event {
	h.at = h.at.Add(time.Second)
	e := h.Runs.Record(events.Event{Type: typ, RunID: runID, Runbook: "lab-failover", Phase: phase, StepID: step,
		At: h.at, Summary: summary})
	h.P.Notify(context.Background(), e)
	return e
}

// Flush waits until the run's notifications are settled or failing.
func (h *Harness) Flush(runID string) {
	h.T.Helper()
	if err := h.P.Flush(context.Background(), runID); err != nil {
		h.T.Fatal(err)
	}
}

// Failover emits the milestones of the lab failover: approval requested,
// started, the database, cache and validate phases, succeeded.
func (h *Harness) Failover(runID string) {
	h.Emit(runID, events.ApprovalRequested, "", "", "plan posted")
	h.Emit(runID, events.RunApproved, "", "", "approved")
	h.Emit(runID, events.RunStarted, "", "", "Fail the lab over")
	for _, ph := range []struct{ id, step string }{{"database", "promote_db"}, {"cache", "promote_redis"}, {"validate", "dr_api_serving"}} {
		h.Emit(runID, events.PhaseStarted, ph.id, "", ph.id)
		h.Emit(runID, events.StepStarted, ph.id, ph.step, "")
		h.Emit(runID, events.StepDone, ph.id, ph.step, ph.step+" ok")
		h.Emit(runID, events.PhaseDone, ph.id, "", ph.id)
	}
	h.Emit(runID, events.RunSucceeded, "", "", "all steps done")
}

// Deliveries returns the run's delivery log rows of a notifier.
func (h *Harness) Deliveries(runID, notifier string) []*store.Delivery {
	ds, err := h.Log.Deliveries(context.Background(), runID)
	if err != nil {
		h.T.Fatal(err)
	}
	var out []*store.Delivery
	for _, d := range ds {
		if d.Notifier == notifier {
			out = append(out, d)
		}
	}
	return out
}

// RetryCase is one row of a retry matrix: an HTTP status answered, and
// whether the notifier must call it worth retrying.
type RetryCase struct {
	Status int
	Retry  bool
}

// RetryCases is Alertmanager's RetryTests: every error status HTTP knows
// (4xx and 5xx), retried exactly when it is in retry.
func RetryCases(retry ...int) []RetryCase {
	want := map[int]bool{}
	for _, c := range retry {
		want[c] = true
	}
	var out []RetryCase
	for code := 400; code <= 599; code++ {
		if http.StatusText(code) == "" && !want[code] {
			continue
		}
		out = append(out, RetryCase{Status: code, Retry: want[code]})
	}
	return out
}

// ServerErrors are the 5xx statuses HTTP knows.
func ServerErrors() []int {
	var out []int
	for code := 500; code <= 599; code++ {
		if http.StatusText(code) != "" {
			out = append(out, code)
		}
	}
	return out
}

// AssertNoSecret fails the test if any of texts holds secret, or a long
// enough part of it (a token cut in half still leaks).
func AssertNoSecret(t testing.TB, secret string, texts map[string]string) {
	t.Helper()
	if len(secret) < 8 {
		t.Fatalf("AssertNoSecret: a secret of %d characters is too short to search for", len(secret))
	}
	parts := []string{secret, secret[:len(secret)/2], secret[len(secret)/2:]}
	for where, text := range texts {
		for _, p := range parts {
			if strings.Contains(text, p) {
				t.Errorf("the secret (or half of it) appears in %s:\n%s", where, text)
				break
			}
		}
	}
}
