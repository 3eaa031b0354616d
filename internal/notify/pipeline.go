package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/store"
)

// Plan is where one run's notifications go, from its runbook's notify
// section (built by Options.Plan).
type Plan struct {
	Targets []Target
	// Public holds the IDs of the phases and steps whose completion is a
	// public milestone.
	Public map[string]bool
	// Names maps phase and step IDs to their names.
	Names map[string]string
	// Channel is the runbook's incident channel; Expected its expected
	// duration.
	Channel  string
	Expected time.Duration
	// Err says which notifiers could not be set up (a secret missing, a bad
	// parameter): it is reported once in the run's thread, and the other
	// targets go on.
	Err error
}

// Planner builds a run's Plan. It is called once per run and process.
type Planner func(ctx context.Context, run *store.Run) Plan

// RunReader reads run records.
type RunReader interface {
	GetRun(ctx context.Context, id string) (*store.Run, error)
}

// AuditReader reads what the executor recorded, for catching runs up after
// a restart.
type AuditReader interface {
	Audit(ctx context.Context, runID string) ([]*store.AuditEvent, error)
	ListRuns(ctx context.Context, opts store.ListOptions) ([]*store.Run, error)
}

// Options configure a Pipeline. Plan and Runs are required.
type Options struct {
	Plan Planner
	Runs RunReader
	// Log is the delivery log; nil keeps it in memory (nothing survives a
	// restart: for tests and the standalone card).
	Log store.DeliveryLog
	// Audit, if set, lets the pipeline catch runs up after a restart: what
	// the executor recorded and no notifier was told.
	Audit AuditReader
	// Poster reports a notifier's failure in the run's thread; nil: logged
	// only.
	Poster chat.Poster
	// Owner returns this process's lease owner (the executor's): a run
	// another live process owns is left to it.
	Owner func() string
	// Leading, if set, says whether this process does the resend/catch-up
	// scans (at start and every Rescan): with several replicas on one store
	// only the leader does (nil: always). Rescan starts one at once when
	// leadership is gained.
	Leading func() bool
	// Alive, if set, says whether the process with the given lease owner
	// is still up: a run it owns is left to it even after its lease ended
	// (it still retries the run's notifications), and taken over when it
	// is gone. Nil: a run is left alone only while its lease lasts.
	Alive func(ctx context.Context, owner string) (bool, error)
	// Observer, if set, is told of each delivery's outcome (metrics).
	Observer Observer
	// Redactor scrubs notifier errors before they are logged, stored or
	// shown; nil scrubs nothing.
	Redactor *secret.Redactor
	Logger   *slog.Logger

	// QueueSize bounds the events waiting for the dispatcher (default
	// 1024). An event that finds it full is dropped, and its run caught up
	// from the audit trail (or, without Audit, lost and logged).
	QueueSize int
	// MinBackoff and MaxBackoff bound the delay between two attempts of a
	// notification (defaults 1s, 1m); it doubles, with jitter.
	MinBackoff, MaxBackoff time.Duration
	// CallTimeout bounds each attempt (default 30s).
	CallTimeout time.Duration
	// EndGrace is how long after a run ends (its terminal milestone) its
	// undelivered notifications are still retried (default 1h); Finish
	// shortens it to FinishGrace (default 2m) once the run's report is
	// written.
	EndGrace, FinishGrace time.Duration
	// DrainTimeout is how long queued notifications may still be sent
	// after Run's ctx ends (default 5s); what is left stays queued in the
	// log for the next process.
	DrainTimeout time.Duration
	// Rescan is how often runs with work left and no live owner are
	// looked for (default 30s; negative: only at start).
	Rescan time.Duration
	// StoreTimeout bounds each delivery log call (default 5s).
	StoreTimeout time.Duration
	Now          func() time.Time
	// Jitter returns a factor in [0, 1) (default math/rand/v2).
	Jitter func() float64
}

func (o *Options) setDefaults() error {
	if o.Plan == nil || o.Runs == nil {
		return errors.New("notify: Options.Plan and Options.Runs are required")
	}
	if o.Log == nil {
		o.Log = NewMemoryLog()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Owner == nil {
		o.Owner = func() string { return "" }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Jitter == nil {
		o.Jitter = rand.Float64
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.MinBackoff, time.Second)
	def(&o.MaxBackoff, time.Minute)
	def(&o.CallTimeout, 30*time.Second)
	def(&o.EndGrace, time.Hour)
	def(&o.FinishGrace, 2*time.Minute)
	def(&o.DrainTimeout, 5*time.Second)
	def(&o.Rescan, 30*time.Second)
	def(&o.StoreTimeout, 5*time.Second)
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 1024
	}
	return nil
}

// Observer is told what the pipeline does (the bot's metrics implement
// it). Its methods must return quickly.
type Observer interface {
	// AttemptFailed: an attempt of a notification failed; retried says
	// whether it will be tried again.
	AttemptFailed(notifier string, retried bool)
	// Settled: a notification was delivered or given up.
	Settled(notifier string, status store.DeliveryStatus)
	// Rescanned: a resend/catch-up scan ran.
	Rescanned()
}

// Pipeline is the fan-out from the executor's events to every notifier of
// a run: an events.Sink whose Notify never blocks.
type Pipeline struct {
	o   Options
	log *slog.Logger
	in  chan events.Event
	// kick wakes the dispatcher when an event was dropped; scan when a
	// rescan is asked for (Rescan).
	kick chan struct{}
	scan chan struct{}

	mu       sync.Mutex
	runs     map[string]*runState
	overflow map[string]bool // runs that lost events to a full queue
	waiting  map[string]int  // events per run received and not dispatched yet
	// wctx is the workers' context (nil until Run), draining once Run's
	// ctx is done.
	wctx     context.Context
	draining bool
	wg       sync.WaitGroup
	// unrecorded numbers the events that have no audit Seq.
	unrecorded atomic.Int64
}

var _ events.Sink = (*Pipeline)(nil)

// New returns a Pipeline; call Run to process events.
func New(o Options) (*Pipeline, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	return &Pipeline{o: o, log: o.Logger, in: make(chan events.Event, o.QueueSize), kick: make(chan struct{}, 1), scan: make(chan struct{}, 1),
		runs: map[string]*runState{}, overflow: map[string]bool{}, waiting: map[string]int{}}, nil
}

// Notify queues e for the dispatcher and returns at once.
func (p *Pipeline) Notify(_ context.Context, e events.Event) {
	if e.RunID == "" {
		return
	}
	p.mu.Lock()
	p.waiting[e.RunID]++
	p.mu.Unlock()
	select {
	case p.in <- e:
		return
	default:
	}
	p.mu.Lock()
	p.waiting[e.RunID]--
	p.overflow[e.RunID] = true
	p.mu.Unlock()
	p.log.Warn("notification queue full: event dropped, its run is caught up from the audit trail",
		"run", e.RunID, "event", e.Type, "queue", p.o.QueueSize)
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Run dispatches events until ctx is done. At start it resends what a
// previous process queued and did not deliver, and catches up the runs no
// live process owns; then it does so again every Rescan. When ctx is done
// the workers get DrainTimeout to send what is queued.
func (p *Pipeline) Run(ctx context.Context) error {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	p.mu.Lock()
	p.wctx = wctx
	for _, rs := range p.runs {
		for _, q := range rs.queues {
			p.startLocked(q)
		}
	}
	p.mu.Unlock()
	p.rescanIfLeading(ctx)
	var tick <-chan time.Time
	if p.o.Rescan > 0 {
		t := time.NewTicker(p.o.Rescan)
		defer t.Stop()
		tick = t.C
	}
	for done := false; !done; {
		select {
		case e := <-p.in:
			p.dispatchEvent(ctx, e)
		case <-p.kick:
			p.catchUpOverflow(ctx)
		case <-tick:
			p.rescanIfLeading(ctx)
		case <-p.scan:
			p.rescanIfLeading(ctx)
		case <-ctx.Done():
			done = true
		}
	}
	p.mu.Lock()
	p.draining = true
	for _, rs := range p.runs {
		for _, q := range rs.queues {
			q.wakeLocked()
		}
	}
	p.mu.Unlock()
	idle := make(chan struct{})
	go func() { p.wg.Wait(); close(idle) }()
	t := time.NewTimer(p.o.DrainTimeout)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
		cancel()
		<-idle
	}
	return nil
}

// Rescan asks the dispatcher for a resend/catch-up scan now (this process
// just became the leader). It never blocks.
func (p *Pipeline) Rescan() {
	select {
	case p.scan <- struct{}{}:
	default:
	}
}

// rescanIfLeading scans unless another process leads.
func (p *Pipeline) rescanIfLeading(ctx context.Context) {
	if p.o.Leading != nil && !p.o.Leading() {
		return
	}
	p.rescan(ctx)
	if p.o.Observer != nil {
		p.o.Observer.Rescanned()
	}
}

// Finish says the run's report is written: its undelivered notifications
// are retried for FinishGrace more, then given up (each said in the run's
// thread). Without Finish they are retried for EndGrace after the run ends.
func (p *Pipeline) Finish(runID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rs := p.runs[runID]
	if rs == nil {
		return
	}
	rs.stopBy(p.o.Now().Add(p.o.FinishGrace))
	for _, q := range rs.queues {
		q.wakeLocked()
	}
}

// Flush waits until every event of the run notified so far has been
// dispatched and each of its notifiers has delivered it or is failing
// (retrying in the background); when the store says the run stopped, it
// also waits for the event that says so. It gives up after 10 seconds, or
// when ctx is done.
func (p *Pipeline) Flush(ctx context.Context, runID string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stopped := false
	if r, err := p.o.Runs.GetRun(ctx, runID); err == nil {
		stopped = r.State != store.RunRunning && r.State != store.RunPending
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if !p.busy(runID, stopped) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("flush notifications of %s: %w", runID, context.Cause(ctx))
		case <-t.C:
		}
	}
}

func (p *Pipeline) busy(runID string, stopped bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waiting[runID] > 0 || p.overflow[runID] {
		return true
	}
	rs := p.runs[runID]
	if rs == nil {
		return false
	}
	if stopped && !rs.stopSeen {
		return true
	}
	for _, q := range rs.queues {
		if len(q.items) > 0 && !q.failing {
			return true
		}
	}
	return false
}

// storeCtx bounds one delivery log call.
func (p *Pipeline) storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), p.o.StoreTimeout)
}

func (p *Pipeline) scrub(s string) string {
	if p.o.Redactor == nil {
		return s
	}
	return p.o.Redactor.Scrub(s)
}
