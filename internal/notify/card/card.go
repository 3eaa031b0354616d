// Package card keeps one live progress card per run in the incident
// channel: posted when the run starts, edited in place as events arrive
// (one edit at a time per card, each showing the state at that moment; the
// chat transport paces them, Slack's poster to one chat.update per second
// a channel), with step details and failures (Retry / Skip / Abort) in the
// card's thread. The card's reference is stored with the run (SetCard,
// which never races the executor's writes), so that a restarted bot keeps
// editing the same card. It is an events.Sink: Notify never blocks the
// executor, and a failing poster never fails a run. Events of approval
// requests (events.Type.PreStart) have no card.
package card

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/report"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
)

// Store is the part of store.Store the notifier uses.
type Store interface {
	report.ProgressReader
	SetCard(ctx context.Context, runID string, ref store.MessageRef) error
}

// Options configures a Notifier. Poster and Store are required.
type Options struct {
	Poster chat.Poster
	Store  Store
	// Runbooks finds a run's runbook (phases, channel, expected duration).
	Runbooks func(name string) (*runbook.Runbook, error)
	// Channel is used when the runbook names none.
	Channel string
	// MinBackoff is the first delay before retrying a failed post (default 1s).
	MinBackoff time.Duration
	// Refresh re-renders the card of a running run this often, so that its
	// elapsed time moves during a long step (default 30s; negative: never).
	Refresh time.Duration
	// MaxBackoff caps the delay between retries of a failed post (default 30s).
	MaxBackoff time.Duration
	Logger     *slog.Logger
	Now        func() time.Time
}

// Notifier is the progress-card events.Sink.
type Notifier struct {
	o   Options
	log *slog.Logger

	mu     sync.Mutex
	ctx    context.Context // the Run context; nil until Run starts
	cards  map[string]*cardState
	wg     sync.WaitGroup
	postMu sync.Mutex                 // one card per run, even when Open and a worker race
	posted map[string]chat.MessageRef // guarded by postMu
}

type cardState struct {
	// dirty: the card shows an older state than the store's.
	dirty   bool
	final   bool
	replies []chat.Message
	wake    chan struct{}
	running bool
	// active: the run is executing (its elapsed time moves).
	active bool
	// stopped: the last run-level news was that it ended or paused.
	stopped bool
	// flushing is true while the worker posts a batch it took.
	flushing bool
}

var _ events.Sink = (*Notifier)(nil)

// New returns a Notifier; call Run to process events.
func New(o Options) (*Notifier, error) {
	if o.Poster == nil || o.Store == nil {
		return nil, errors.New("card notifier: Poster and Store are required")
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.Refresh == 0 {
		o.Refresh = 30 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Notifier{o: o, log: o.Logger, cards: map[string]*cardState{}, posted: map[string]chat.MessageRef{}}, nil
}

// Notify queues the event; it never blocks on the chat.
func (n *Notifier) Notify(_ context.Context, e events.Event) {
	if e.Type.PreStart() {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.cards[e.RunID]
	if st == nil {
		st = &cardState{wake: make(chan struct{}, 1)}
		n.cards[e.RunID] = st
	}
	st.dirty = true
	if m, ok := threadMessage(e); ok {
		st.replies = append(st.replies, m)
	}
	switch e.Type {
	case events.RunSucceeded, events.RunFailed, events.RunAborted:
		st.final, st.active, st.stopped = true, false, true
	case events.RunPaused, events.StepFailed:
		st.active, st.stopped = false, true
	default:
		st.active, st.stopped = true, false
	}
	n.startLocked(e.RunID, st)
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// startLocked starts the card's worker if Run is running and it has none.
func (n *Notifier) startLocked(runID string, st *cardState) {
	if n.ctx == nil || st.running {
		return
	}
	st.running = true
	n.wg.Add(1)
	go n.worker(n.ctx, runID, st)
}

// Run processes events until ctx is done, then makes a last attempt
// (bounded to a few seconds) to land every pending card state.
func (n *Notifier) Run(ctx context.Context) error {
	n.mu.Lock()
	n.ctx = ctx
	for id, st := range n.cards {
		n.startLocked(id, st)
	}
	n.mu.Unlock()
	<-ctx.Done()
	n.wg.Wait()
	return nil
}

// Open posts the run's card now if it has none and stores its reference
// in the run (retrying on a concurrent change of the run).
func (n *Notifier) Open(ctx context.Context, runID string) error {
	_, _, err := n.ensureCard(ctx, runID)
	return err
}

func (n *Notifier) worker(ctx context.Context, runID string, st *cardState) {
	defer n.wg.Done()
	log := n.log.With("run", runID)
	backoff := n.o.MinBackoff
	for {
		n.mu.Lock()
		idle := !st.dirty && len(st.replies) == 0
		if idle && st.final {
			delete(n.cards, runID)
			n.mu.Unlock()
			return
		}
		refresh := st.active && n.o.Refresh > 0
		n.mu.Unlock()
		if idle {
			if !n.idle(ctx, st, refresh) {
				return
			}
			continue
		}
		// Events arriving while a batch is being posted are folded into
		// the next one.
		fctx := ctx
		var cancel context.CancelFunc = func() {}
		if ctx.Err() != nil { // shutting down: one last bounded attempt
			fctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		}
		n.mu.Lock()
		dirty, replies := st.dirty, st.replies
		st.dirty, st.replies, st.flushing = false, nil, true
		n.mu.Unlock()
		err := n.flush(fctx, runID, dirty, &replies)
		cancel()
		n.mu.Lock()
		st.flushing = false
		if err != nil {
			st.dirty = st.dirty || dirty
		}
		if len(replies) > 0 { // not posted yet: keep them first in line
			st.replies = append(replies, st.replies...)
		}
		n.mu.Unlock()
		if err == nil {
			backoff = n.o.MinBackoff
			continue
		}
		log.WarnContext(ctx, "progress card update failed; will retry", "err", err, "in", backoff)
		if ctx.Err() != nil {
			return
		}
		sleep(ctx, backoff)
		backoff = min(backoff*2, n.o.MaxBackoff)
	}
}

// idle waits for work: an event, or the refresh period of an active run
// (its elapsed time moved). It returns false when ctx is done.
func (n *Notifier) idle(ctx context.Context, st *cardState, refresh bool) bool {
	var tick <-chan time.Time
	if refresh {
		t := time.NewTimer(n.o.Refresh)
		defer t.Stop()
		tick = t.C
	}
	select {
	case <-st.wake:
	case <-tick:
		n.mu.Lock()
		st.dirty = true
		n.mu.Unlock()
	case <-ctx.Done():
		return false
	}
	return true
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Flush waits until every event of the run notified so far has landed on
// its card; when the run has stopped (ended or paused), it also waits for
// the event that says so, so that the card shows it. It gives up after
// 10 seconds, or when ctx is done.
func (n *Notifier) Flush(ctx context.Context, runID string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stopped := false
	if r, err := n.o.Store.GetRun(ctx, runID); err == nil {
		stopped = r.State != store.RunPending && !r.State.Executing()
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		n.mu.Lock()
		st := n.cards[runID]
		busy := st != nil && (st.dirty || len(st.replies) > 0 || st.flushing || (stopped && !st.stopped))
		n.mu.Unlock()
		if !busy {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("flush card of %s: %w", runID, context.Cause(ctx))
		case <-t.C:
		}
	}
}
