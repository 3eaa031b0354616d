package postgres

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// Promote is a postgres.promote step.
type Promote struct {
	cfg PromoteConfig
	srv *server

	mu  sync.Mutex
	rpo string // lag measured just before pg_promote, "" until then
}

var _ steps.Step = (*Promote)(nil)

func newPromote(_ context.Context, c *PromoteConfig, env steps.Env) (steps.Step, error) {
	s, err := fromEnv("postgres.promote", env, steps.ParseDuration(c.QueryTimeout))
	if err != nil {
		return nil, err
	}
	return &Promote{cfg: *c, srv: s}, nil
}

// Check: done when pg_is_in_recovery() is false. Outputs the WAL position,
// the timeline and the lag measured at promotion (the RPO; "unknown" when
// this step did not promote it, e.g. after a restart of the bot).
func (p *Promote) Check(ctx context.Context) (steps.Result, error) {
	var res steps.Result
	err := p.srv.with(ctx, func(ctx context.Context, c *pgx.Conn) error {
		cctx, cancel := p.srv.call(ctx)
		defer cancel()
		var inRecovery bool
		if err := c.QueryRow(cctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil {
			return err
		}
		if inRecovery {
			st, err := observeStandby(cctx, c, "")
			if err != nil {
				return err
			}
			res.Summary = fmt.Sprintf("%s is a standby (replay lag %s, receiver %s)", p.srv.name, st.lag.Round(time.Millisecond), orNone(st.receiver))
			return nil
		}
		var lsn, walfile string
		if err := c.QueryRow(cctx, "SELECT pg_current_wal_lsn()::text, pg_walfile_name(pg_current_wal_lsn())").Scan(&lsn, &walfile); err != nil {
			return err
		}
		tl, err := strconv.ParseInt(walfile[:8], 16, 64)
		if err != nil {
			return fmt.Errorf("timeline of WAL file %s: %w", walfile, err)
		}
		p.mu.Lock()
		rpo := p.rpo
		p.mu.Unlock()
		if rpo == "" {
			rpo = "unknown"
		}
		res = steps.Result{Done: true,
			Summary: fmt.Sprintf("%s is a primary on timeline %d at %s (lag at promotion %s)", p.srv.name, tl, lsn, rpo),
			Outputs: map[string]string{"lsn": lsn, "timeline": strconv.FormatInt(tl, 10), "lagAtPromotion": rpo}}
		return nil
	})
	if err != nil {
		return steps.Result{}, p.srv.wrap(err, "check %s", p.srv.name)
	}
	return res, nil
}

// Apply measures the replay lag (the data the promotion gives up) and
// calls pg_promote. On a server already promoted it does nothing.
func (p *Promote) Apply(ctx context.Context) error {
	return p.srv.wrap(p.srv.with(ctx, func(ctx context.Context, c *pgx.Conn) error {
		cctx, cancel := p.srv.call(ctx)
		st, err := observeStandby(cctx, c, "")
		cancel()
		if err != nil {
			return err
		}
		if !st.inRecovery {
			return nil
		}
		p.mu.Lock()
		p.rpo = st.lag.Round(time.Millisecond).String()
		p.mu.Unlock()
		p.srv.log.InfoContext(ctx, "promoting", "server", p.srv.addr(), "lag", p.rpo, "replayed", st.replayLSN)
		// pg_promote itself waits up to waitSeconds: bound the call by that.
		pctx, pcancel := context.WithTimeoutCause(ctx, p.srv.timeout+time.Duration(p.cfg.WaitSeconds)*time.Second,
			fmt.Errorf("pg_promote did not return within %ds + %s", p.cfg.WaitSeconds, p.srv.timeout))
		defer pcancel()
		// PostgreSQL refuses a wait_seconds ≤ 0 even when it does not wait
		// (wait: false leaves waitSeconds 0).
		secs := max(p.cfg.WaitSeconds, 1)
		var ok bool
		if err := c.QueryRow(pctx, "SELECT pg_promote($1, $2)", *p.cfg.Wait, secs).Scan(&ok); err != nil {
			if isNotInRecovery(err) {
				return nil // promoted meanwhile
			}
			return err
		}
		if !ok && *p.cfg.Wait {
			return fmt.Errorf("promotion did not complete within %d seconds", p.cfg.WaitSeconds)
		}
		return nil
	}), "promote %s", p.srv.name)
}

func isNotInRecovery(err error) bool {
	return err != nil && (containsFold(err.Error(), "recovery is not in progress"))
}
