package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/internal/record"
)

// PutStep inserts or replaces the state of one step of a run
// (store.ErrNotFound if there is no such run).
func (s *Store) PutStep(ctx context.Context, st *store.StepState) error {
	if err := record.Step(st); err != nil {
		return fmt.Errorf("put step %q of run %q: %w", st.StepID, st.RunID, err)
	}
	outputs, err := record.EncodeMap(st.Outputs)
	if err != nil {
		return fmt.Errorf("put step %s of run %s: outputs: %w", st.StepID, st.RunID, err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO steps (run_id, step_id, status, attempts, already_done, summary,
		outputs, error, started_at, ended_at, message_channel, message_ts) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)
		ON CONFLICT (run_id, step_id) DO UPDATE SET status=excluded.status, attempts=excluded.attempts,
		already_done=excluded.already_done, summary=excluded.summary, outputs=excluded.outputs,
		error=excluded.error, started_at=excluded.started_at, ended_at=excluded.ended_at,
		message_channel=excluded.message_channel, message_ts=excluded.message_ts`,
		st.RunID, st.StepID, string(st.Status), st.Attempts, st.AlreadyDone, st.Summary, outputs, st.Error,
		ts(st.StartedAt), ts(st.EndedAt), st.Message.Channel, st.Message.TS)
	if isForeignKeyViolation(err) {
		return fmt.Errorf("put step %s of run %s: %w", st.StepID, st.RunID, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("put step %s of run %s: %w", st.StepID, st.RunID, err)
	}
	return nil
}

// Steps returns the step states of a run, ordered by step id; none for an
// unknown run.
func (s *Store) Steps(ctx context.Context, runID string) ([]*store.StepState, error) {
	rows, err := s.pool.Query(ctx, `SELECT run_id, step_id, status, attempts, already_done, summary,
		outputs, error, started_at, ended_at, message_channel, message_ts FROM steps WHERE run_id = $1 ORDER BY step_id`, runID)
	if err != nil {
		return nil, fmt.Errorf("steps of run %s: %w", runID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.StepState, error) {
		var st store.StepState
		var status string
		var outputs []byte
		var started, ended pgtype.Timestamptz
		if err := row.Scan(&st.RunID, &st.StepID, &status, &st.Attempts, &st.AlreadyDone, &st.Summary,
			&outputs, &st.Error, &started, &ended, &st.Message.Channel, &st.Message.TS); err != nil {
			return nil, err
		}
		st.Status = store.StepStatus(status)
		st.StartedAt, st.EndedAt = fromTS(started), fromTS(ended)
		var err error
		if st.Outputs, err = record.DecodeMap(outputs); err != nil {
			return nil, fmt.Errorf("step %s outputs: %w", st.StepID, err)
		}
		return &st, nil
	})
	if err != nil {
		return nil, fmt.Errorf("steps of run %s: %w", runID, err)
	}
	return out, nil
}

// PutApproval records a decision, replacing the same user's earlier one
// (store.ErrNotFound if there is no such run). A zero At is set to now.
func (s *Store) PutApproval(ctx context.Context, a *store.Approval) error {
	if a.At.IsZero() {
		a.At = s.now()
	}
	if err := record.Approval(a); err != nil {
		return fmt.Errorf("put approval of %q on run %q: %w", a.User, a.RunID, err)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO approvals (run_id, gate, user_id, decision, plan_hash, via, at)
		VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT (run_id, gate, user_id) DO UPDATE SET decision=excluded.decision,
		plan_hash=excluded.plan_hash, via=excluded.via, at=excluded.at`,
		a.RunID, a.Gate, a.User, string(a.Decision), a.PlanHash, a.Via, a.At)
	if isForeignKeyViolation(err) {
		return fmt.Errorf("put approval of %s on run %s: %w", a.User, a.RunID, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("put approval of %s on run %s: %w", a.User, a.RunID, err)
	}
	return nil
}

// DeleteApproval withdraws a user's decision on a gate of a run ("" for
// its start request); withdrawing a decision that does not exist is not an
// error.
func (s *Store) DeleteApproval(ctx context.Context, runID, gate, user string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM approvals WHERE run_id=$1 AND gate=$2 AND user_id=$3`, runID, gate, user); err != nil {
		return fmt.Errorf("delete approval of %s on run %s: %w", user, runID, err)
	}
	return nil
}

// Approvals returns the decisions on a run, oldest first (ties by user).
func (s *Store) Approvals(ctx context.Context, runID string) ([]*store.Approval, error) {
	rows, err := s.pool.Query(ctx, `SELECT run_id, gate, user_id, decision, plan_hash, via, at FROM approvals
		WHERE run_id = $1 ORDER BY at, gate, user_id`, runID)
	if err != nil {
		return nil, fmt.Errorf("approvals of run %s: %w", runID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Approval, error) {
		var a store.Approval
		var decision string
		if err := row.Scan(&a.RunID, &a.Gate, &a.User, &decision, &a.PlanHash, &a.Via, &a.At); err != nil {
			return nil, err
		}
		a.Decision, a.At = store.Decision(decision), a.At.UTC()
		return &a, nil
	})
	if err != nil {
		return nil, fmt.Errorf("approvals of run %s: %w", runID, err)
	}
	return out, nil
}

// Append adds an event to the audit trail and sets e.Seq. A zero At is set
// to now.
func (s *Store) Append(ctx context.Context, e *store.AuditEvent) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	if err := record.Event(e); err != nil {
		return fmt.Errorf("append audit event of run %q: %w", e.RunID, err)
	}
	data, err := record.EncodeMap(e.Data)
	if err != nil {
		return fmt.Errorf("append audit event %s: data: %w", e.Type, err)
	}
	err = s.pool.QueryRow(ctx, `INSERT INTO audit_events (run_id, at, actor, type, step_id, message, data)
		VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING seq`,
		e.RunID, e.At, e.Actor, e.Type, e.StepID, e.Message, data).Scan(&e.Seq)
	if err != nil {
		return fmt.Errorf("append audit event %s of run %s: %w", e.Type, e.RunID, err)
	}
	return nil
}

// Audit returns a run's events in order of Seq; runID "" returns all.
func (s *Store) Audit(ctx context.Context, runID string) ([]*store.AuditEvent, error) {
	q := `SELECT seq, run_id, at, actor, type, step_id, message, data FROM audit_events`
	var args []any
	if runID != "" {
		q += ` WHERE run_id = $1`
		args = append(args, runID)
	}
	rows, err := s.pool.Query(ctx, q+` ORDER BY seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("audit of run %q: %w", runID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.AuditEvent, error) {
		var e store.AuditEvent
		var data []byte
		if err := row.Scan(&e.Seq, &e.RunID, &e.At, &e.Actor, &e.Type, &e.StepID, &e.Message, &data); err != nil {
			return nil, err
		}
		e.At = e.At.UTC()
		var err error
		if e.Data, err = record.DecodeMap(data); err != nil {
			return nil, fmt.Errorf("event %d data: %w", e.Seq, err)
		}
		return &e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit of run %q: %w", runID, err)
	}
	return out, nil
}
