package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/internal/record"
)

const runCols = `id, runbook, plan_hash, params, requester, reason, state, state_reason, created_at,
	started_at, ended_at, approval_channel, approval_ts, card_channel, card_ts, owner, lease_until, version`

// CreateRun inserts r with Version 1 (set in r); it fails with
// store.ErrActiveRun if r is active and its runbook already has an active
// run. A zero CreatedAt is set to now.
func (s *Store) CreateRun(ctx context.Context, r *store.Run) error {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	if err := record.Run(r); err != nil {
		return fmt.Errorf("create run %q: %w", r.ID, err)
	}
	params, err := record.EncodeMap(r.Params)
	if err != nil {
		return fmt.Errorf("create run %s: params: %w", r.ID, err)
	}
	_, err = s.createRun.ExecContext(ctx, r.ID, r.Runbook, r.PlanHash, params, r.Requester, r.Reason,
		string(r.State), r.StateReason, micros(r.CreatedAt), micros(r.StartedAt), micros(r.EndedAt),
		r.ApprovalMsg.Channel, r.ApprovalMsg.TS, r.Card.Channel, r.Card.TS, r.Owner, micros(r.LeaseUntil), 1)
	switch {
	case err == nil:
		r.Version = 1
		return nil
	case isActiveRunViolation(err):
		return fmt.Errorf("create run %s of %s: %w", r.ID, r.Runbook, store.ErrActiveRun)
	case isPrimaryKeyViolation(err):
		return fmt.Errorf("create run %s: a run with this id exists", r.ID)
	default:
		return fmt.Errorf("create run %s: %w", r.ID, err)
	}
}

// GetRun returns the run, or store.ErrNotFound.
func (s *Store) GetRun(ctx context.Context, id string) (*store.Run, error) {
	r, err := scanRun(s.getRun.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get run %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get run %s: %w", id, err)
	}
	return r, nil
}

// UpdateRun stores r (all but its Card, which SetCard owns) if the stored
// Version equals r.Version and then increments r.Version; otherwise
// store.ErrConflict (store.ErrNotFound if there is no such run,
// store.ErrActiveRun if r would become a second active run of its runbook).
func (s *Store) UpdateRun(ctx context.Context, r *store.Run) error {
	if err := record.Run(r); err != nil {
		return fmt.Errorf("update run %q: %w", r.ID, err)
	}
	params, err := record.EncodeMap(r.Params)
	if err != nil {
		return fmt.Errorf("update run %s: params: %w", r.ID, err)
	}
	res, err := s.updateRun.ExecContext(ctx, r.Runbook, r.PlanHash, params, r.Requester, r.Reason,
		string(r.State), r.StateReason, micros(r.CreatedAt), micros(r.StartedAt), micros(r.EndedAt),
		r.ApprovalMsg.Channel, r.ApprovalMsg.TS, r.Owner, micros(r.LeaseUntil),
		r.ID, r.Version)
	if isActiveRunViolation(err) {
		return fmt.Errorf("update run %s of %s to %s: %w", r.ID, r.Runbook, r.State, store.ErrActiveRun)
	}
	if err != nil {
		return fmt.Errorf("update run %s: %w", r.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("update run %s: %w", r.ID, err)
	}
	if n == 0 {
		cur, err := s.GetRun(ctx, r.ID)
		if err != nil {
			return fmt.Errorf("update run: %w", err)
		}
		return fmt.Errorf("update run %s: version %d, stored %d: %w", r.ID, r.Version, cur.Version, store.ErrConflict)
	}
	r.Version++
	return nil
}

// SetCard records where the run's progress card lives. It does not change
// the run's Version, so it never conflicts with the executor's writes.
func (s *Store) SetCard(ctx context.Context, id string, ref store.MessageRef) error {
	res, err := s.w.ExecContext(ctx, `UPDATE runs SET card_channel=?, card_ts=? WHERE id=?`, ref.Channel, ref.TS, id)
	if err != nil {
		return fmt.Errorf("set card of run %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err == nil {
			err = store.ErrNotFound
		}
		return fmt.Errorf("set card of run %s: %w", id, err)
	}
	return nil
}

// ClaimRun makes owner the run's owner until now+ttl if it has no owner, is
// owned by owner already, or its lease has expired; otherwise
// store.ErrLeaseHeld. A successful claim increments Version, so that a
// previous owner's stale copy can no longer be written.
func (s *Store) ClaimRun(ctx context.Context, id, owner string, ttl time.Duration) (*store.Run, error) {
	if owner == "" {
		return nil, fmt.Errorf("claim run %s: empty owner", id)
	}
	now := record.Time(s.now())
	r, err := scanRun(s.claimRun.QueryRowContext(ctx, owner, micros(now.Add(ttl)), id, micros(now)))
	if errors.Is(err, sql.ErrNoRows) {
		cur, err := s.GetRun(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("claim run: %w", err)
		}
		return nil, fmt.Errorf("claim run %s for %s: owned by %s until %s: %w", id, owner, cur.Owner,
			cur.LeaseUntil.Format(time.RFC3339Nano), store.ErrLeaseHeld)
	}
	if err != nil {
		return nil, fmt.Errorf("claim run %s: %w", id, err)
	}
	return r, nil
}

// ListRuns lists runs, newest first.
func (s *Store) ListRuns(ctx context.Context, opts store.ListOptions) ([]*store.Run, error) {
	var where []string
	var args []any
	if opts.Runbook != "" {
		where = append(where, "runbook = ?")
		args = append(args, opts.Runbook)
	}
	if len(opts.States) > 0 {
		where = append(where, "state IN (?"+strings.Repeat(",?", len(opts.States)-1)+")")
		for _, st := range opts.States {
			args = append(args, string(st))
		}
	}
	q := "SELECT " + runCols + " FROM runs"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, rowid DESC"
	if opts.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, opts.Limit)
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var out []*store.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return out, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanRun(row scanner) (*store.Run, error) {
	var r store.Run
	var params []byte
	var state string
	var created int64
	var started, ended, lease sql.NullInt64
	err := row.Scan(&r.ID, &r.Runbook, &r.PlanHash, &params, &r.Requester, &r.Reason, &state,
		&r.StateReason, &created, &started, &ended, &r.ApprovalMsg.Channel, &r.ApprovalMsg.TS,
		&r.Card.Channel, &r.Card.TS, &r.Owner, &lease, &r.Version)
	if err != nil {
		return nil, err
	}
	r.State = store.RunState(state)
	r.CreatedAt = time.UnixMicro(created).UTC()
	r.StartedAt, r.EndedAt, r.LeaseUntil = fromMicros(started), fromMicros(ended), fromMicros(lease)
	if r.Params, err = record.DecodeMap(params); err != nil {
		return nil, fmt.Errorf("run %s: params: %w", r.ID, err)
	}
	return &r, nil
}

// micros converts a time to the column value: unix microseconds, NULL for
// the zero time.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}
