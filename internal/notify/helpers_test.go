package notify_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/notify/notifytest"
	"github.com/failoverbot/failoverbot/internal/store"
)

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

// bench is a pipeline on in-memory runs and log, with a recorder per target.
type bench struct {
	t      *testing.T
	runs   *notifytest.Runs
	log    *notify.MemoryLog
	poster *poster
	logs   *notifytest.Logs
	p      *notify.Pipeline
	cancel context.CancelFunc
	done   chan struct{}
	at     time.Time
}

type benchOptions struct {
	targets func(run *store.Run) []notify.Target
	tweak   func(o *notify.Options)
	runs    *notifytest.Runs
	log     *notify.MemoryLog
}

func newBench(t *testing.T, bo benchOptions) *bench {
	t.Helper()
	b := &bench{t: t, runs: bo.runs, log: bo.log, poster: &poster{}, logs: &notifytest.Logs{}, done: make(chan struct{}), at: time.Now()}
	if b.runs == nil {
		b.runs = notifytest.NewRuns()
	}
	if b.log == nil {
		b.log = notify.NewMemoryLog()
	}
	o := notify.Options{
		Plan: func(_ context.Context, run *store.Run) notify.Plan {
			return notify.Plan{Targets: bo.targets(run), Public: map[string]bool{"traffic": true},
				Names: map[string]string{"db": "Database", "traffic": "Traffic"}, Expected: 2 * time.Minute, Channel: "#inc"}
		},
		Runs: b.runs, Log: b.log, Audit: b.runs, Poster: b.poster, Logger: b.logs.Logger(),
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
	e := b.runs.Record(events.Event{Type: typ, RunID: runID, Runbook: "rb", Phase: phase, StepID: step, At: b.at,
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
