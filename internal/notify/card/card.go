// Package card keeps one live progress card per run in the incident
// channel: posted when the run starts, edited in place as events arrive
// (coalesced to at most one edit per Interval, the last state always
// lands), with step details and failures (Retry / Skip / Abort) in the
// card's thread. The card's reference is stored in the run, so that a
// restarted bot keeps editing the same card. It is an events.Sink: Notify
// never blocks the executor, and a failing poster never fails a run.
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
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
)

// Store is the part of store.Store the notifier uses.
type Store interface {
	Reader
	UpdateRun(ctx context.Context, r *store.Run) error
}

// Options configures a Notifier. Poster and Store are required.
type Options struct {
	Poster chat.Poster
	Store  Store
	// Runbooks finds a run's runbook (phases, channel, expected duration).
	Runbooks func(name string) (*runbook.Runbook, error)
	// Channel is used when the runbook names none.
	Channel string
	// Interval is the least time between two edits of a card (default 1s).
	Interval time.Duration
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
	last     time.Time // last edit
}

var _ events.Sink = (*Notifier)(nil)

// New returns a Notifier; call Run to process events.
func New(o Options) (*Notifier, error) {
	if o.Poster == nil || o.Store == nil {
		return nil, errors.New("card notifier: Poster and Store are required")
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
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
	backoff := n.o.Interval
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
		// Coalesce: wait out the interval since the last edit; events
		// arriving meanwhile are folded into one edit.
		n.mu.Lock()
		last := st.last
		n.mu.Unlock()
		if wait := last.Add(n.o.Interval).Sub(n.o.Now()); wait > 0 && ctx.Err() == nil {
			sleep(ctx, wait)
		}
		fctx := ctx
		var cancel context.CancelFunc = func() {}
		if ctx.Err() != nil { // shutting down: one last bounded attempt
			fctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		}
		n.mu.Lock()
		dirty, replies := st.dirty, st.replies
		st.dirty, st.replies, st.flushing = false, nil, true
		n.mu.Unlock()
		err := n.flush(fctx, runID, st, dirty, &replies)
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
			backoff = n.o.Interval
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

// flush lands the card's state and posts the queued thread messages;
// *replies keeps those not posted.
func (n *Notifier) flush(ctx context.Context, runID string, st *cardState, dirty bool, replies *[]chat.Message) error {
	ref, posted, err := n.ensureCard(ctx, runID)
	if err != nil {
		return err
	}
	if dirty && !posted {
		// Open may have posted the card a moment ago: keep to the rate.
		n.mu.Lock()
		wait := st.last.Add(n.o.Interval).Sub(n.o.Now())
		n.mu.Unlock()
		if wait > 0 {
			sleep(ctx, wait)
		}
		v, err := BuildView(ctx, n.o.Store, n.runbook(ctx, runID), runID, n.o.Now())
		if err != nil {
			return err
		}
		if err := n.o.Poster.Update(ctx, ref, chat.Message{Text: cardText(v), View: v}); err != nil {
			return fmt.Errorf("edit card of %s: %w", runID, err)
		}
		n.mu.Lock()
		st.last = n.o.Now()
		n.mu.Unlock()
	}
	for len(*replies) > 0 {
		if _, err := n.o.Poster.Reply(ctx, ref, (*replies)[0]); err != nil {
			if dirty {
				return nil // the edit landed; retry the replies in the next round
			}
			return fmt.Errorf("reply in the card thread of %s: %w", runID, err)
		}
		*replies = (*replies)[1:]
	}
	return nil
}

func (n *Notifier) runbook(ctx context.Context, runID string) *runbook.Runbook {
	if n.o.Runbooks == nil {
		return nil
	}
	run, err := n.o.Store.GetRun(ctx, runID)
	if err != nil {
		return nil
	}
	rb, err := n.o.Runbooks(run.Runbook)
	if err != nil {
		return nil
	}
	return rb
}

// ensureCard returns the run's card, posting it first if it has none
// (posted is then true: the card shows the current state).
func (n *Notifier) ensureCard(ctx context.Context, runID string) (ref chat.MessageRef, posted bool, err error) {
	n.postMu.Lock()
	defer n.postMu.Unlock()
	run, err := n.o.Store.GetRun(ctx, runID)
	if err != nil {
		return chat.MessageRef{}, false, fmt.Errorf("card of %s: %w", runID, err)
	}
	if run.Card.TS != "" {
		return chat.MessageRef(run.Card), false, nil
	}
	if ref, ok := n.posted[runID]; ok { // posted, but storing the reference failed
		return ref, false, nil
	}
	rb := n.runbook(ctx, runID)
	channel := n.o.Channel
	if rb != nil && rb.Channel != "" {
		channel = rb.Channel
	}
	if channel == "" {
		channel = run.ApprovalMsg.Channel
	}
	v, err := BuildView(ctx, n.o.Store, rb, runID, n.o.Now())
	if err != nil {
		return chat.MessageRef{}, false, err
	}
	ref, err = n.o.Poster.Post(ctx, channel, chat.Message{Text: cardText(v), View: v})
	if err != nil {
		return chat.MessageRef{}, false, fmt.Errorf("post card of %s in %s: %w", runID, channel, err)
	}
	n.posted[runID] = ref
	n.mu.Lock() // the post counts as an edit for the rate limit
	st := n.cards[runID]
	if st == nil {
		st = &cardState{wake: make(chan struct{}, 1)}
		n.cards[runID] = st
	}
	st.last = n.o.Now()
	n.mu.Unlock()
	for attempt := 0; ; attempt++ {
		run.Card = store.MessageRef(ref)
		err = n.o.Store.UpdateRun(ctx, run)
		if err == nil || !errors.Is(err, store.ErrConflict) || attempt >= 20 {
			if err != nil {
				n.log.ErrorContext(ctx, "store card reference", "run", runID, "err", err)
			}
			break
		}
		if run, err = n.o.Store.GetRun(ctx, runID); err != nil {
			break
		}
	}
	return ref, true, nil
}

func cardText(v *chat.ProgressView) string {
	s := fmt.Sprintf("Run %s of %s: %s", v.RunID, v.Runbook, v.State)
	if v.Current != "" {
		s += " — " + v.Current
	}
	return s
}

// threadMessage is what an event adds to the card's thread, if anything.
func threadMessage(e events.Event) (chat.Message, bool) {
	step := e.StepID
	switch e.Type {
	case events.StepDone:
		return chat.Message{Text: fmt.Sprintf("✓ %s done: %s", step, e.Summary)}, true
	case events.StepSkipped:
		return chat.Message{Text: fmt.Sprintf("⤼ %s skipped: %s", step, e.Summary)}, true
	case events.StepRetrying:
		return chat.Message{Text: fmt.Sprintf("↻ %s: transient error, retrying: %s", step, e.Error)}, true
	case events.StepFailed:
		return chat.Message{Text: fmt.Sprintf("✗ %s failed: %s — retry, skip or abort", step, e.Error), Error: true,
			View: &chat.StepFailedView{RunID: e.RunID, StepID: step, Error: e.Error}}, true
	case events.RunPaused:
		return chat.Message{Text: "⏸ run paused" + suffix(e.Summary)}, true
	case events.RunResumed:
		return chat.Message{Text: "▶ run resumed" + suffix(e.Summary)}, true
	case events.RunSucceeded:
		return chat.Message{Text: "✅ run succeeded" + suffix(e.Summary)}, true
	case events.RunFailed:
		why := e.Error
		if why == "" {
			why = e.Summary
		}
		return chat.Message{Text: "❌ run failed: " + why, Error: true}, true
	case events.RunAborted:
		return chat.Message{Text: "⛔ run aborted" + suffix(e.Summary)}, true
	}
	return chat.Message{}, false
}

// suffix is ": s", or "" for an empty s.
func suffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
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
		stopped = r.State != store.RunRunning && r.State != store.RunPending
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
