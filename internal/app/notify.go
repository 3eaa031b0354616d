package app

import (
	"log/slog"

	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/notify/builtin"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
)

// newPipeline builds the notification pipeline on the app's store: the
// delivery log and audit trail there, failures said through the poster.
func newPipeline(a *App, o Options, runbooks func(string) (*runbook.Runbook, error), log *slog.Logger) (*notify.Pipeline, error) {
	planner, err := builtin.New(builtin.Options{Runbooks: runbooks, Card: a.Cards, Poster: o.Poster,
		Redactor: a.Redactor, Logger: log.With("component", "notify")})
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
	if dl, ok := a.Store.(store.DeliveryLog); ok {
		po.Log = dl
	}
	if o.Notify != nil {
		o.Notify(&po)
	}
	return notify.New(po)
}
