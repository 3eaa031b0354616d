// Package publish shares a run's report in the run's thread when the run
// ends (succeeded, failed or aborted): the Markdown as <run>-report.md and
// the timeline chart as <run>-timeline.png, through the chat's
// chat.Uploader. It is a target of the notification pipeline, so that the
// delivery log makes the upload happen once across restarts; once the
// files are shared it tells the pipeline the report is written (Finish),
// which shortens the retries of the run's undelivered notifications.
package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/report"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
)

// Options configure a Notifier. Store and Uploader are required.
type Options struct {
	// Store is where the report is read from (a report.DeliveryReader
	// too, for the notifications).
	Store report.Reader
	// Runbooks finds a run's runbook (its steps' names and order); nil or
	// an error: the report names the steps by ID.
	Runbooks func(name string) (*runbook.Runbook, error)
	Uploader chat.Uploader
	// Finish is told when a run's report is published (the pipeline's
	// Finish); nil: nobody.
	Finish func(runID string)
	// Scrub removes secret values from every text shared (nil: none).
	Scrub  func(string) string
	Logger *slog.Logger
	// Settle bounds the wait, at the run's end, for its other
	// notifications to land before the report is built, so that it shows
	// how they went (default 10s; negative: no wait). One still queued
	// after it is shown as queued.
	Settle time.Duration
	// Poll is how often the delivery log is read while settling (default
	// 200ms).
	Poll time.Duration
}

// Notifier publishes reports.
type Notifier struct{ o Options }

var _ notify.Notifier = (*Notifier)(nil)

// New checks the options and fills their defaults.
func New(o Options) (*Notifier, error) {
	if o.Store == nil || o.Uploader == nil {
		return nil, errors.New("report/publish: Store and Uploader are required")
	}
	if o.Scrub == nil {
		o.Scrub = func(s string) string { return s }
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Settle == 0 {
		o.Settle = 10 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = 200 * time.Millisecond
	}
	return &Notifier{o: o}, nil
}

// Target is the notifier as a pipeline target, named report.SelfNotifier.
// It takes run.started too (and does nothing with it), so that the
// delivery log knows it follows the run: a bot restarted after the run
// ended catches the report up as it does the other notifiers that knew
// the run.
func (n *Notifier) Target() notify.Target {
	return notify.Target{Name: report.SelfNotifier, Notifier: n, Wants: Wants}
}

// Wants is true for the events the notifier takes: the run's start and
// its end.
func Wants(nt *notify.Notification) bool {
	switch nt.Event.Type {
	case events.RunStarted, events.RunSucceeded, events.RunFailed, events.RunAborted:
		return true
	}
	return false
}

// Notify builds the report of an ended run and shares its files in the
// run's thread, each once (what was shared is remembered in the run's
// notifier state, so that a retry shares only the rest). Every failure to
// read or upload is worth retrying; a chart that cannot be drawn is not
// (the Markdown is shared without it).
func (n *Notifier) Notify(ctx context.Context, nt *notify.Notification) (bool, error) {
	if nt.Event.Type == events.RunStarted {
		return false, nil
	}
	id := nt.Run.ID
	log := n.o.Logger.With("run", id)
	if nt.Run.Thread.TS == "" {
		log.WarnContext(ctx, "the run has no thread: its report is not shared (bot report or /failover report give it)")
		n.finish(id)
		return false, nil
	}
	n.settle(ctx, id)
	var rb *runbook.Runbook
	if n.o.Runbooks != nil {
		if r, err := n.o.Runbooks(nt.Run.Runbook); err == nil {
			rb = r
		}
	}
	tl, err := report.Build(ctx, n.o.Store, id, rb)
	if err != nil {
		return true, fmt.Errorf("build the report of run %s: %w", id, err)
	}
	files, chartErr := tl.Files(n.o.Scrub)
	for _, f := range files {
		key := "shared " + f.Name
		if nt.State != nil && nt.State.Get(key) != "" {
			continue
		}
		if err := n.o.Uploader.Upload(ctx, nt.Run.Thread, f); err != nil {
			return true, fmt.Errorf("share %s in the run's thread: %w", f.Name, err)
		}
		log.InfoContext(ctx, "report shared in the run's thread", "file", f.Name, "bytes", len(f.Data))
		if nt.State != nil {
			if err := nt.State.Set(ctx, key, time.Now().UTC().Format(time.RFC3339)); err != nil {
				log.WarnContext(ctx, "remember a shared report file (a retry may share it again)", "file", f.Name, "err", err)
			}
		}
	}
	n.finish(id)
	if chartErr != nil {
		return false, fmt.Errorf("the report of run %s was shared without its chart: %w", id, chartErr)
	}
	return false, nil
}

func (n *Notifier) finish(runID string) {
	if n.o.Finish != nil {
		n.o.Finish(runID)
	}
}

// settle waits, up to Settle, until no other notification of the run is
// queued in the delivery log.
func (n *Notifier) settle(ctx context.Context, runID string) {
	dr, ok := n.o.Store.(report.DeliveryReader)
	if !ok || n.o.Settle < 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, n.o.Settle)
	defer cancel()
	t := time.NewTicker(n.o.Poll)
	defer t.Stop()
	for {
		ds, err := dr.Deliveries(ctx, runID)
		if err != nil || !othersQueued(ds) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func othersQueued(ds []*store.Delivery) bool {
	for _, d := range ds {
		if d.Notifier != report.SelfNotifier && d.Status == store.DeliveryQueued {
			return true
		}
	}
	return false
}
