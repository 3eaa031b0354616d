package notify_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/store"
)

// runs is an in-memory RunReader and AuditReader: the runs and audit trail
// an executor would have written.
type runs struct {
	mu    sync.Mutex
	runs  map[string]*store.Run
	audit []*store.AuditEvent
}

func newRuns() *runs { return &runs{runs: map[string]*store.Run{}} }

func (r *runs) add(run *store.Run) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cp := *run
	r.runs[run.ID] = &cp
}

func (r *runs) set(id string, f func(*store.Run)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r.runs[id])
}

// record appends an audit record for e and returns e with its Seq, as the
// executor's record does.
func (r *runs) record(e events.Event) events.Event {
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
	return e
}

func (r *runs) GetRun(_ context.Context, id string) (*store.Run, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	run := r.runs[id]
	if run == nil {
		return nil, fmt.Errorf("run %s: %w", id, store.ErrNotFound)
	}
	cp := *run
	return &cp, nil
}

func (r *runs) Audit(_ context.Context, runID string) ([]*store.AuditEvent, error) {
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

func (r *runs) ListRuns(context.Context, store.ListOptions) ([]*store.Run, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*store.Run
	for _, run := range r.runs {
		cp := *run
		out = append(out, &cp)
	}
	return out, nil
}

// recorder is a Notifier that records what it got and answers with fail.
type recorder struct {
	mu   sync.Mutex
	got  []notify.Notification
	at   []time.Time
	fail func(n *notify.Notification) (bool, error)
}

func (r *recorder) Notify(ctx context.Context, n *notify.Notification) (bool, error) {
	r.mu.Lock()
	r.got = append(r.got, *n)
	r.at = append(r.at, time.Now())
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		return fail(n)
	}
	return false, nil
}

// delivered lists "milestone[:subject]" of every call that succeeded.
func (r *recorder) calls() []notify.Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notify.Notification(nil), r.got...)
}

func (r *recorder) times() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.at...)
}

func label(n notify.Notification) string {
	if s := n.Subject(); s != "" {
		return string(n.Milestone) + ":" + s
	}
	if n.Milestone == "" {
		return string(n.Event.Type)
	}
	return string(n.Milestone)
}

func labels(ns []notify.Notification) []string {
	out := []string{}
	for _, n := range ns {
		out = append(out, label(n))
	}
	return out
}

// poster records thread replies.
type poster struct {
	mu      sync.Mutex
	replies []string
}

func (p *poster) Post(context.Context, string, chat.Message) (chat.MessageRef, error) {
	return chat.MessageRef{Channel: "C1", TS: "2.0"}, nil
}
func (p *poster) Update(context.Context, chat.MessageRef, chat.Message) error { return nil }
func (p *poster) Reply(_ context.Context, ref chat.MessageRef, m chat.Message) (chat.MessageRef, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	text := m.Text
	if v, ok := m.View.(*chat.NoticeView); ok {
		text = v.Text
	}
	p.replies = append(p.replies, ref.Channel+"/"+ref.TS+": "+text)
	return chat.MessageRef{Channel: ref.Channel, TS: "9.9"}, nil
}
func (p *poster) Ephemeral(context.Context, string, string, chat.Message) error { return nil }
func (p *poster) said() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.replies...)
}

// logBuffer collects log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) count(s string) int { return strings.Count(l.String(), s) }

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// bench is a pipeline on in-memory runs and log, with a recorder per target.
type bench struct {
	t      *testing.T
	runs   *runs
	log    *notify.MemoryLog
	poster *poster
	logs   *logBuffer
	p      *notify.Pipeline
	cancel context.CancelFunc
	done   chan struct{}
	at     time.Time
}

type benchOptions struct {
	targets func(run *store.Run) []notify.Target
	tweak   func(o *notify.Options)
	runs    *runs
	log     *notify.MemoryLog
}

func newBench(t *testing.T, bo benchOptions) *bench {
	t.Helper()
	b := &bench{t: t, runs: bo.runs, log: bo.log, poster: &poster{}, logs: &logBuffer{}, done: make(chan struct{}), at: time.Now()}
	if b.runs == nil {
		b.runs = newRuns()
	}
	if b.log == nil {
		b.log = notify.NewMemoryLog()
	}
	o := notify.Options{
		Plan: func(_ context.Context, run *store.Run) notify.Plan {
			return notify.Plan{Targets: bo.targets(run), Public: map[string]bool{"traffic": true},
				Names: map[string]string{"db": "Database", "traffic": "Traffic"}, Expected: 2 * time.Minute, Channel: "#inc"}
		},
		Runs: b.runs, Log: b.log, Audit: b.runs, Poster: b.poster, Logger: b.logs.logger(),
		Owner: func() string { return "me/1" }, Jitter: func() float64 { return 0.5 },
	}
	if bo.tweak != nil {
		bo.tweak(&o)
	}
	p, err := notify.New(o)
	if err != nil {
		t.Fatal(err)
	}
	b.p = p
	return b
}

func (b *bench) start() {
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	go func() { _ = b.p.Run(ctx); close(b.done) }()
}

// stop ends Run and waits for it (the drain included).
func (b *bench) stop() {
	b.cancel()
	<-b.done
}

// emit records e in the audit trail and hands it to the pipeline, as the
// executor does.
func (b *bench) emit(runID string, typ events.Type, phase, step string) events.Event {
	b.at = b.at.Add(time.Second)
	e := b.runs.record(events.Event{Type: typ, RunID: runID, Runbook: "rb", Phase: phase, StepID: step, At: b.at,
		Summary: string(typ) + " summary"})
	b.p.Notify(context.Background(), e)
	return e
}

func (b *bench) flush(runID string) {
	b.t.Helper()
	if err := b.p.Flush(context.Background(), runID); err != nil {
		b.t.Fatal(err)
	}
}

func (b *bench) rows(runID string) map[string]store.DeliveryStatus {
	ds, err := b.log.Deliveries(context.Background(), runID)
	if err != nil {
		b.t.Fatal(err)
	}
	out := map[string]store.DeliveryStatus{}
	for _, d := range ds {
		out[d.Notifier+"/"+d.Key] = d.Status
	}
	return out
}

func runningRun(id string) *store.Run {
	return &store.Run{ID: id, Runbook: "rb", State: store.RunRunning, Requester: "U1", Reason: "primary down",
		Card: store.MessageRef{Channel: "C1", TS: "1.0"}, StartedAt: time.Now()}
}

// aRun emits the events of a short run: started, a phase with a step, the
// public traffic phase, succeeded.
func (b *bench) aRun(id string) {
	b.emit(id, events.RunStarted, "", "")
	b.emit(id, events.PhaseStarted, "db", "")
	b.emit(id, events.StepStarted, "db", "promote")
	b.emit(id, events.StepDone, "db", "promote")
	b.emit(id, events.PhaseDone, "db", "")
	b.emit(id, events.PhaseDone, "traffic", "")
	b.emit(id, events.RunSucceeded, "", "")
}
