// Package card keeps one live progress card per run in the incident
// channel: posted when the run starts, edited in place as events arrive,
// with step details and failures (Retry / Skip / Abort) in the card's
// thread. The card's reference is stored with the run (SetCard, which
// never races the executor's writes), so that a restarted bot keeps
// editing the same card.
//
// The card is one notifier of the notification pipeline (notify): Target
// returns it, and the pipeline's retry loop and delivery log carry its
// updates. Behind the contract it renders the latest state: an edit shows
// the store's state at that moment, so when several updates of a card are
// queued only the last one edits it (Notification.Pending); the chat
// transport paces the edits (Slack's poster: one chat.update per second a
// channel). Run also refreshes the card of a running run every Refresh, so
// that its elapsed time moves during a long step.
//
// For a process that runs the card alone (tests, the example) the Notifier
// is also an events.Sink with a pipeline of its own (in memory); the bot
// wires Target into its one pipeline instead. Events of approval requests
// (events.Type.PreStart) have no card.
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
	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/report"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
)

// Name is the card's name in the delivery log.
const Name = "card"

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
	// Self is this process's executor instance (store.Run.Owner). With
	// replicas, a run whose live lease another instance holds gets its
	// card from that instance only: two replicas that both counted the
	// approving reaction once posted a card each. Nil: this process posts
	// every card (a single bot).
	Self func() string
	// MinBackoff and MaxBackoff bound the delay between retries of a
	// failed post in the standalone pipeline (defaults 1s, 30s).
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// Refresh re-renders the card of a running run this often, so that its
	// elapsed time moves during a long step (default 30s; negative: never).
	Refresh time.Duration
	Logger  *slog.Logger
	Now     func() time.Time
}

// Notifier is the progress card.
type Notifier struct {
	o    Options
	log  *slog.Logger
	pipe *notify.Pipeline // the standalone pipeline (Notify, Flush)

	postMu sync.Mutex                 // one card per run, even when Open and a delivery race
	posted map[string]chat.MessageRef // guarded by postMu

	mu sync.Mutex
	// replied holds run+key of the thread messages posted, so that a retry
	// of the same notification does not post its message twice.
	replied map[string]bool
	runs    map[string]*cardState
}

// cardState is what the refresher knows of a card.
type cardState struct {
	// active: the run is executing (its elapsed time moves).
	active   bool
	lastEdit time.Time
}

var (
	_ events.Sink     = (*Notifier)(nil)
	_ notify.Notifier = deliverer{}
)

// New returns a Notifier; call Run to refresh cards (and to process the
// events given to Notify).
func New(o Options) (*Notifier, error) {
	if o.Poster == nil || o.Store == nil {
		return nil, errors.New("card notifier: Poster and Store are required")
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.Refresh == 0 {
		o.Refresh = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	n := &Notifier{o: o, log: o.Logger, posted: map[string]chat.MessageRef{}, replied: map[string]bool{},
		runs: map[string]*cardState{}}
	pipe, err := notify.New(notify.Options{
		Plan: func(context.Context, *store.Run) notify.Plan {
			return notify.Plan{Targets: []notify.Target{n.Target()}}
		},
		Runs:       o.Store,
		MinBackoff: o.MinBackoff, MaxBackoff: o.MaxBackoff, Rescan: -1, Logger: o.Logger,
	})
	if err != nil {
		return nil, err
	}
	n.pipe = pipe
	return n, nil
}

// Target is the card as a notifier of the pipeline: it gets every event of
// a run that started; its failures are only logged (its thread is where
// they would be said).
func (n *Notifier) Target() notify.Target {
	return notify.Target{Name: Name, Notifier: deliverer{n}, Quiet: true,
		Wants: func(nt *notify.Notification) bool { return !nt.Event.Type.PreStart() }}
}

// Notify hands the event to the standalone pipeline; it never blocks.
func (n *Notifier) Notify(ctx context.Context, e events.Event) { n.pipe.Notify(ctx, e) }

// Flush waits until every event given to Notify has landed on its card (see
// notify.Pipeline.Flush).
func (n *Notifier) Flush(ctx context.Context, runID string) error { return n.pipe.Flush(ctx, runID) }

// Run refreshes the cards of running runs, and runs the standalone
// pipeline, until ctx is done.
func (n *Notifier) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { _ = n.pipe.Run(ctx) })
	if n.o.Refresh > 0 {
		wg.Go(func() { n.refresh(ctx) })
	}
	wg.Wait()
	return nil
}

// Open posts the run's card now if it has none and stores its reference
// in the run.
func (n *Notifier) Open(ctx context.Context, runID string) error {
	_, posted, err := n.ensureCard(ctx, runID)
	if errors.Is(err, errOtherOwner) {
		return nil // the executing replica posts it
	}
	if err == nil && posted {
		n.edited(runID, nil)
	}
	return err
}

// deliverer is the card's notify.Notifier.
type deliverer struct{ n *Notifier }

// Notify posts the card if it has none, posts the event's thread message,
// and edits the card to the latest state unless newer updates are queued.
// Every chat failure is worth retrying.
func (d deliverer) Notify(ctx context.Context, nt *notify.Notification) (bool, error) {
	n, runID, e := d.n, nt.Run.ID, nt.Event
	ref, posted, err := n.ensureCard(ctx, runID)
	if err != nil {
		return true, err
	}
	if m, ok := threadMessage(e); ok && !n.hasReplied(runID, nt.Key) {
		if _, err := n.o.Poster.Reply(ctx, ref, m); err != nil {
			return true, fmt.Errorf("reply in the card thread of %s: %w", runID, err)
		}
		n.setReplied(runID, nt.Key)
	}
	final := nt.Milestone.Terminal()
	if !posted && (nt.Pending == 0 || final) {
		if err := n.edit(ctx, runID, ref); err != nil {
			return true, err
		}
	}
	n.edited(runID, &e)
	if final && nt.Pending == 0 {
		n.forget(runID)
	}
	return false, nil
}

func (n *Notifier) edit(ctx context.Context, runID string, ref chat.MessageRef) error {
	v, err := report.Progress(ctx, n.o.Store, n.runbook(ctx, runID), runID, n.o.Now())
	if err != nil {
		return err
	}
	if err := n.o.Poster.Update(ctx, ref, chat.Message{Text: cardText(v), View: v}); err != nil {
		return fmt.Errorf("edit card of %s: %w", runID, err)
	}
	return nil
}

func (n *Notifier) hasReplied(runID, key string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.replied[runID+"\x00"+key]
}

func (n *Notifier) setReplied(runID, key string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.replied[runID+"\x00"+key] = true
}

// edited notes that the card shows the latest state, and whether its run
// is active after e (nil: unchanged).
func (n *Notifier) edited(runID string, e *events.Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.runs[runID]
	if st == nil {
		st = &cardState{active: true}
		n.runs[runID] = st
	}
	st.lastEdit = n.o.Now()
	if e == nil {
		return
	}
	switch e.Type {
	case events.RunSucceeded, events.RunFailed, events.RunAborted, events.RunPaused, events.StepFailed:
		st.active = false
	default:
		st.active = true
	}
}

// forget drops what the notifier keeps of an ended run.
func (n *Notifier) forget(runID string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.runs, runID)
	for k := range n.replied {
		if len(k) > len(runID) && k[:len(runID)+1] == runID+"\x00" {
			delete(n.replied, k)
		}
	}
}

// refresh re-renders the card of every active run not edited for Refresh.
func (n *Notifier) refresh(ctx context.Context) {
	t := time.NewTicker(n.o.Refresh / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.mu.Lock()
		var due []string
		for id, st := range n.runs {
			if st.active && n.o.Now().Sub(st.lastEdit) >= n.o.Refresh {
				due = append(due, id)
			}
		}
		n.mu.Unlock()
		for _, id := range due {
			ref, posted, err := n.ensureCard(ctx, id)
			if err == nil && !posted {
				err = n.edit(ctx, id, ref)
			}
			if err != nil {
				n.log.WarnContext(ctx, "refresh the progress card", "run", id, "err", err)
				continue
			}
			n.edited(id, nil)
		}
	}
}
