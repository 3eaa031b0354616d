package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// standbyState is what a standby says about its replication.
type standbyState struct {
	inRecovery bool
	lag        time.Duration
	bytes      int64 // received but not replayed, or behind primaryLSN
	receiver   string
	sender     string
	replayLSN  string
}

// observeStandby reads the standby's recovery state. primaryLSN, if set,
// is the primary's current position to measure bytes behind against.
func observeStandby(ctx context.Context, c *pgx.Conn, primaryLSN string) (standbyState, error) {
	var st standbyState
	var lagSec *float64
	var bytes *int64
	var receiver, sender, replay *string
	var lsnArg any
	if primaryLSN != "" {
		lsnArg = primaryLSN
	}
	err := c.QueryRow(ctx, `
		SELECT pg_is_in_recovery(),
		       CASE WHEN pg_last_wal_receive_lsn() IS NOT NULL
		                 AND pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn()
		                 AND $1::pg_lsn IS NULL THEN 0
		            WHEN $1::pg_lsn IS NOT NULL AND pg_last_wal_replay_lsn() >= $1::pg_lsn THEN 0
		            ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8 END,
		       CASE WHEN $1::pg_lsn IS NOT NULL THEN pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn())
		            ELSE pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) END::bigint,
		       (SELECT status FROM pg_stat_wal_receiver),
		       (SELECT sender_host || ':' || sender_port FROM pg_stat_wal_receiver),
		       pg_last_wal_replay_lsn()::text`, lsnArg).Scan(&st.inRecovery, &lagSec, &bytes, &receiver, &sender, &replay)
	if err != nil {
		return st, err
	}
	if lagSec != nil && *lagSec > 0 {
		st.lag = time.Duration(*lagSec * float64(time.Second))
	}
	if bytes != nil && *bytes > 0 {
		st.bytes = *bytes
	}
	if receiver != nil {
		st.receiver = *receiver
	}
	if sender != nil {
		st.sender = *sender
	}
	if replay != nil {
		st.replayLSN = *replay
	}
	return st, nil
}

// ReplicationLag is a postgres.replicationLag step.
type ReplicationLag struct {
	cfg     ReplicationLagConfig
	standby *server
	primary *server // nil unless primaryDsn
	maxLag  time.Duration
}

var _ steps.Probe = (*ReplicationLag)(nil)

func newReplicationLag(_ context.Context, c *ReplicationLagConfig, env steps.Env) (steps.Probe, error) {
	if steps.IsTemplate(c.MaxLag + c.QueryTimeout) {
		return nil, steps.Permanentf("postgres.replicationLag: maxLag or queryTimeout still holds an unexpanded template")
	}
	s, err := fromEnv("postgres.replicationLag", env, steps.ParseDuration(c.QueryTimeout))
	if err != nil {
		return nil, err
	}
	r := &ReplicationLag{cfg: *c, standby: s, maxLag: steps.ParseDuration(c.MaxLag)}
	if c.PrimaryDSN != "" {
		if r.primary, err = newServer("postgres.replicationLag", "primaryDsn", c.PrimaryDSN, s.timeout, s.red, env.Logger); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Check measures the standby's lag; a server that is not in recovery is a
// permanent error (it is no standby: promoted, or the wrong connection).
func (r *ReplicationLag) Check(ctx context.Context) (steps.Result, error) {
	// The primary's position is its flush position: what the primary holds
	// durably and its WAL senders send. (The insert position can stay ahead
	// on an idle server with records nobody flushes; an asynchronous commit
	// is behind the flush position for up to wal_writer_delay.)
	var primaryLSN string
	if r.primary != nil {
		err := r.primary.with(ctx, func(ctx context.Context, c *pgx.Conn) error {
			cctx, cancel := r.primary.call(ctx)
			defer cancel()
			return c.QueryRow(cctx, "SELECT pg_current_wal_flush_lsn()::text").Scan(&primaryLSN)
		})
		if err != nil {
			return steps.Result{}, r.primary.wrap(err, "read the primary's WAL position")
		}
	}
	var st standbyState
	err := r.standby.with(ctx, func(ctx context.Context, c *pgx.Conn) error {
		cctx, cancel := r.standby.call(ctx)
		defer cancel()
		var err error
		st, err = observeStandby(cctx, c, primaryLSN)
		return err
	})
	if err != nil {
		return steps.Result{}, r.standby.wrap(err, "read replication state of %s", r.standby.name)
	}
	if !st.inRecovery {
		return steps.Result{}, steps.Permanentf("postgres.replicationLag: %s (%s) is not in recovery: it is not a standby", r.standby.name, r.standby.addr())
	}
	out := map[string]string{"lag": st.lag.Round(time.Millisecond).String(), "bytes": strconv.FormatInt(st.bytes, 10)}
	summary := fmt.Sprintf("%s: replay lag %s, %d bytes behind, receiver %s", r.standby.name, out["lag"], st.bytes, orNone(st.receiver))
	var problems []string
	if st.lag > r.maxLag {
		problems = append(problems, fmt.Sprintf("lag over %s", r.maxLag))
	}
	if r.cfg.MaxBytes > 0 && st.bytes > r.cfg.MaxBytes {
		problems = append(problems, fmt.Sprintf("over %d bytes", r.cfg.MaxBytes))
	}
	if r.cfg.RequireStreaming && st.receiver != "streaming" {
		problems = append(problems, "not streaming")
	}
	if len(problems) > 0 {
		summary += " (" + joinComma(problems) + ")"
	}
	return steps.Result{Done: len(problems) == 0, Summary: summary, Outputs: out}, nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func joinComma(s []string) string {
	out := ""
	for i, p := range s {
		if i > 0 {
			out += ", "
		}
		out += p
	}
	return out
}
