package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

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
	_, err = s.pool.Exec(ctx, `INSERT INTO runs (`+runCols+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,1)`,
		r.ID, r.Runbook, r.PlanHash, params, r.Requester, r.Reason, string(r.State), r.StateReason,
		ts(r.CreatedAt), ts(r.StartedAt), ts(r.EndedAt), r.ApprovalMsg.Channel, r.ApprovalMsg.TS,
		r.Card.Channel, r.Card.TS, r.Owner, ts(r.LeaseUntil))
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
	r, err := scanRun(s.pool.QueryRow(ctx, `SELECT `+runCols+` FROM runs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
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
	tag, err := s.pool.Exec(ctx, `UPDATE runs SET runbook=$1, plan_hash=$2, params=$3, requester=$4,
		reason=$5, state=$6, state_reason=$7, created_at=$8, started_at=$9, ended_at=$10,
		approval_channel=$11, approval_ts=$12, owner=$13, lease_until=$14,
		version=version+1 WHERE id=$15 AND version=$16`,
		r.Runbook, r.PlanHash, params, r.Requester, r.Reason, string(r.State), r.StateReason,
		ts(r.CreatedAt), ts(r.StartedAt), ts(r.EndedAt), r.ApprovalMsg.Channel, r.ApprovalMsg.TS,
		r.Owner, ts(r.LeaseUntil), r.ID, r.Version)
	if isActiveRunViolation(err) {
		return fmt.Errorf("update run %s of %s to %s: %w", r.ID, r.Runbook, r.State, store.ErrActiveRun)
	}
	if err != nil {
		return fmt.Errorf("update run %s: %w", r.ID, err)
	}
	if tag.RowsAffected() == 0 {
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
	tag, err := s.pool.Exec(ctx, `UPDATE runs SET card_channel=$1, card_ts=$2 WHERE id=$3`, ref.Channel, ref.TS, id)
	if err != nil {
		return fmt.Errorf("set card of run %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("set card of run %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// ClaimRun makes owner the run's owner until now+ttl if it has no owner, is
// owned by owner already, or its lease has expired; otherwise
// store.ErrLeaseHeld. "now" is the database server's clock, so that
// instances whose clocks disagree still agree on leases. A successful
// claim increments Version, so that a previous owner's stale copy can no
// longer be written.
func (s *Store) ClaimRun(ctx context.Context, id, owner string, ttl time.Duration) (*store.Run, error) {
	if owner == "" {
		return nil, fmt.Errorf("claim run %s: empty owner", id)
	}
	r, err := scanRun(s.pool.QueryRow(ctx, `UPDATE runs
		SET owner = $2, lease_until = now() + $3 * interval '1 microsecond', version = version + 1
		WHERE id = $1 AND (owner = '' OR owner = $2 OR lease_until IS NULL OR lease_until <= now())
		RETURNING `+runCols, id, owner, ttl.Microseconds()))
	if errors.Is(err, pgx.ErrNoRows) {
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
		args = append(args, opts.Runbook)
		where = append(where, fmt.Sprintf("runbook = $%d", len(args)))
	}
	if len(opts.States) > 0 {
		states := make([]string, len(opts.States))
		for i, st := range opts.States {
			states[i] = string(st)
		}
		args = append(args, states)
		where = append(where, fmt.Sprintf("state = ANY($%d)", len(args)))
	}
	q := "SELECT " + runCols + " FROM runs"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, seq DESC"
	if opts.Limit > 0 {
		args = append(args, opts.Limit)
		q += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Run, error) { return scanRun(row) })
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return out, nil
}

func scanRun(row pgx.Row) (*store.Run, error) {
	var r store.Run
	var params []byte
	var state string
	var created time.Time
	var started, ended, lease pgtype.Timestamptz
	err := row.Scan(&r.ID, &r.Runbook, &r.PlanHash, &params, &r.Requester, &r.Reason, &state,
		&r.StateReason, &created, &started, &ended, &r.ApprovalMsg.Channel, &r.ApprovalMsg.TS,
		&r.Card.Channel, &r.Card.TS, &r.Owner, &lease, &r.Version)
	if err != nil {
		return nil, err
	}
	r.State = store.RunState(state)
	r.CreatedAt = created.UTC()
	r.StartedAt, r.EndedAt, r.LeaseUntil = fromTS(started), fromTS(ended), fromTS(lease)
	if r.Params, err = record.DecodeMap(params); err != nil {
		return nil, fmt.Errorf("run %s: params: %w", r.ID, err)
	}
	return &r, nil
}

// ts converts a time to a parameter: NULL for the zero time.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func fromTS(v pgtype.Timestamptz) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return v.Time.UTC()
}
