package app

import (
	"context"
	"errors"
	"log/slog"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/notify/builtin"
	"github.com/failoverbot/failoverbot/internal/report/publish"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
)

// newPipeline builds the notification pipeline on the app's store: the
// delivery log and audit trail there, failures said through the poster.
func newPipeline(a *App, o Options, runbooks func(string) (*runbook.Runbook, error), log *slog.Logger) (*notify.Pipeline, error) {
	always := []notify.Target{{Name: "gate-requests", Notifier: gateRequests{a}, Wants: isGateEvent}}
	if up, ok := o.Poster.(chat.Uploader); ok {
		// The run's report and chart, shared in its thread when it ends.
		pub, err := publish.New(publish.Options{Store: a.Store, Runbooks: runbooks, Uploader: up, Scrub: a.Redactor.Scrub,
			Logger: log.With("component", "report"), Finish: func(id string) { a.Notify.Finish(id) }})
		if err != nil {
			return nil, err
		}
		always = append(always, pub.Target())
	}
	planner, err := builtin.New(builtin.Options{Runbooks: runbooks, Card: a.Cards, Poster: o.Poster,
		Redactor: a.Redactor, Logger: log.With("component", "notify"), Always: always})
	if err != nil {
		return nil, err
	}
	po := notify.Options{Plan: planner.Plan, Runs: a.Store, Audit: a.Store, Poster: o.Poster, Redactor: a.Redactor,
		Logger: log.With("component", "notify"),
		// The executor is built after the pipeline (it is its sink).
		Owner: func() string {
			if a.Executor == nil {
				return ""
			}
			return a.Executor.Owner()
		}}
	// One process (the leader) resends and catches up; a run whose owner
	// is still up is left to it (a.alive is set once the elector exists).
	po.Leading = func() bool { return a.Leader == nil || a.Leader.Leading() }
	po.Alive = func(ctx context.Context, owner string) (bool, error) {
		if a.alive == nil {
			return false, nil
		}
		return a.alive(ctx, owner)
	}
	if a.inst != nil {
		po.Observer = a.inst
	}
	if dl, ok := a.Store.(store.DeliveryLog); ok {
		po.Log = dl
	}
	if o.Notify != nil {
		o.Notify(&po)
	}
	return notify.New(po)
}

// gateRequests posts and edits the approval requests of gates inside
// runs (the commands handler does it; the pipeline retries it).
type gateRequests struct{ a *App }

var _ notify.Notifier = gateRequests{}

// Notify hands a gate's event to the commands handler.
func (g gateRequests) Notify(ctx context.Context, n *notify.Notification) (bool, error) {
	if g.a.Handler == nil {
		return true, errors.New("the commands handler is not ready")
	}
	if err := g.a.Handler.GateEvent(ctx, n.Event); err != nil {
		return true, err
	}
	return false, nil
}

func isGateEvent(n *notify.Notification) bool {
	switch n.Event.Type {
	case events.GateWaiting, events.GateApproved, events.GateRejected, events.GateExpired:
		return true
	}
	return false
}
