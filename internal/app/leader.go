package app

import (
	"context"
	"fmt"
	"time"

	"github.com/failoverbot/failoverbot/internal/config"
	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/leader"
)

// newLeader builds the elector of the store in use: PostgreSQL advisory
// locks on a session of the process's own, or a lock file beside the
// SQLite store. The notification pipeline scans only while leading, and
// scans at once when it becomes the leader; with PostgreSQL it also asks
// the elector whether the process owning a run is still up.
func (a *App) newLeader(cfg config.Config, o Options) (leader.Elector, error) {
	lo := leader.Options{Owner: a.Executor.Owner(), OnStore: o.OnStore, OnChange: func(leading bool) {
		if a.inst != nil {
			a.inst.Leading(leading)
		}
		if leading {
			a.Notify.Rescan()
		}
	}}
	log := a.Logger.With("component", "leader")
	if cfg.DatabaseURL == "" {
		return leader.NewLocal(cfg.StorePath+".leader", lo, log), nil
	}
	pg, err := leader.NewPostgres(cfg.DatabaseURL, lo, log)
	if err != nil {
		return nil, fmt.Errorf("leader election: %w", err)
	}
	a.alive = pg.Alive
	return pg, nil
}

// runExpiry closes the approval requests past their expiry every
// expiryEvery, while this process leads (one sweep per period across the
// replicas).
func (a *App) runExpiry(ctx context.Context) {
	t := time.NewTicker(a.expiryEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !a.Leader.Leading() {
			continue
		}
		a.Handler.ExpirePending(ctx)
		if a.inst != nil {
			a.inst.ExpirySweep()
		}
	}
}

// tee hands each executor event to the notification pipeline, then to the
// instruments.
type tee struct{ first, second events.Sink }

func (t tee) Notify(ctx context.Context, e events.Event) {
	t.first.Notify(ctx, e)
	t.second.Notify(ctx, e)
}
