package main

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"

	"github.com/failoverbot/failoverbot/internal/app"
	"github.com/failoverbot/failoverbot/internal/chat/slack"
	"github.com/failoverbot/failoverbot/internal/health"
	"github.com/failoverbot/failoverbot/internal/metrics"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/store"
)

// ops is serve's operations side: the metrics, the store monitor and the
// readiness checks. The app is attached once built (the endpoints answer
// /healthz before it is: migrations may take a while).
type ops struct {
	metrics *metrics.Metrics
	store   *health.StoreMonitor
	bot     *slack.Bot
	log     *slog.Logger
	app     atomic.Pointer[app.App]
}

func newOps(log *slog.Logger, red *secret.Redactor, bot *slack.Bot) *ops {
	o := &ops{bot: bot, log: log}
	v, rev := buildVersion()
	o.metrics = metrics.New(metrics.Options{Version: v, Revision: rev,
		KindOf: func(rb, step string) string {
			a := o.app.Load()
			if a == nil {
				return ""
			}
			r, err := a.Catalog.Get(rb)
			if err != nil || r == nil {
				return ""
			}
			if s := r.Step(step); s != nil {
				return s.Kind
			}
			return ""
		},
		ListRuns: func(ctx context.Context, opts store.ListOptions) ([]*store.Run, error) {
			a := o.app.Load()
			if a == nil {
				return nil, errors.New("starting")
			}
			return a.Store.ListRuns(ctx, opts)
		},
		Owner: func() string {
			if a := o.app.Load(); a != nil {
				return a.Executor.Owner()
			}
			return ""
		}})
	o.store = &health.StoreMonitor{Logger: log.With("component", "health"), OnChange: o.metrics.StoreUp, Scrub: red.Scrub,
		Probe: func(ctx context.Context) error {
			a := o.app.Load()
			if a == nil {
				return errors.New("starting")
			}
			_, err := a.Store.ListRuns(ctx, store.ListOptions{Limit: 1})
			return err
		}}
	return o
}

// attach hands the built app to the metrics and the store probe.
func (o *ops) attach(a *app.App) { o.app.Store(a) }

// listen binds the operations endpoints: /readyz needs the store to answer
// and the Slack socket to be open.
func (o *ops) listen(addr string) (*health.Server, error) {
	return health.Listen(addr, o.metrics.Handler(), o.log.With("component", "health"),
		health.Check{Name: "store", Check: o.store.Check},
		health.Check{Name: "slack", Check: func(context.Context) error {
			if !o.bot.Connected() {
				return errors.New("socket mode not connected")
			}
			return nil
		}})
}
