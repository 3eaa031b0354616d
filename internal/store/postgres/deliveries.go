package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/internal/record"
)

var _ store.DeliveryLog = (*Store)(nil)

const deliveryCols = `run_id, notifier, event_key, status, attempts, error, payload, queued_at, updated_at`

// QueueDelivery inserts d as queued unless its key has a row; then d gets
// the stored row.
func (s *Store) QueueDelivery(ctx context.Context, d *store.Delivery) (bool, error) {
	if d.QueuedAt.IsZero() {
		d.QueuedAt = s.now()
	}
	if d.UpdatedAt.IsZero() {
		d.UpdatedAt = d.QueuedAt
	}
	if d.Status == "" {
		d.Status = store.DeliveryQueued
	}
	if err := record.Delivery(d); err != nil {
		return false, fmt.Errorf("queue delivery %s/%s of run %q: %w", d.Notifier, d.Key, d.RunID, err)
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO notify_deliveries (`+deliveryCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
		ON CONFLICT (run_id, notifier, event_key) DO NOTHING`,
		d.RunID, d.Notifier, d.Key, string(d.Status), d.Attempts, d.Error, d.Payload, d.QueuedAt, d.UpdatedAt)
	if isForeignKeyViolation(err) {
		return false, fmt.Errorf("queue delivery %s/%s of run %s: %w", d.Notifier, d.Key, d.RunID, store.ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("queue delivery %s/%s of run %s: %w", d.Notifier, d.Key, d.RunID, err)
	}
	if tag.RowsAffected() == 1 {
		return true, nil
	}
	got, err := scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryCols+` FROM notify_deliveries
		WHERE run_id=$1 AND notifier=$2 AND event_key=$3`, d.RunID, d.Notifier, d.Key))
	if err != nil {
		return false, fmt.Errorf("queue delivery %s/%s of run %s: read the existing row: %w", d.Notifier, d.Key, d.RunID, err)
	}
	*d = *got
	return false, nil
}

// FinishDelivery records a delivery's outcome.
func (s *Store) FinishDelivery(ctx context.Context, runID, notifier, key string, status store.DeliveryStatus, attempts int, lastErr string) error {
	if err := record.Outcome(status, attempts); err != nil {
		return fmt.Errorf("finish delivery %s/%s of run %s: %w", notifier, key, runID, err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE notify_deliveries SET status=$1, attempts=$2, error=$3, updated_at=$4
		WHERE run_id=$5 AND notifier=$6 AND event_key=$7`, string(status), attempts, lastErr, record.Time(s.now()),
		runID, notifier, key)
	if err != nil {
		return fmt.Errorf("finish delivery %s/%s of run %s: %w", notifier, key, runID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("finish delivery %s/%s of run %s: %w", notifier, key, runID, store.ErrNotFound)
	}
	return nil
}

// Deliveries returns a run's rows, oldest first.
func (s *Store) Deliveries(ctx context.Context, runID string) ([]*store.Delivery, error) {
	out, err := s.queryDeliveries(ctx, `SELECT `+deliveryCols+` FROM notify_deliveries WHERE run_id=$1
		ORDER BY queued_at, notifier, event_key`, runID)
	if err != nil {
		return nil, fmt.Errorf("deliveries of run %s: %w", runID, err)
	}
	return out, nil
}

// QueuedDeliveries returns every queued row, oldest first.
func (s *Store) QueuedDeliveries(ctx context.Context) ([]*store.Delivery, error) {
	out, err := s.queryDeliveries(ctx, `SELECT `+deliveryCols+` FROM notify_deliveries WHERE status='queued'
		ORDER BY queued_at, run_id, notifier, event_key`)
	if err != nil {
		return nil, fmt.Errorf("queued deliveries: %w", err)
	}
	return out, nil
}

func (s *Store) queryDeliveries(ctx context.Context, q string, args ...any) ([]*store.Delivery, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Delivery, error) { return scanDelivery(row) })
}

func scanDelivery(r pgx.Row) (*store.Delivery, error) {
	var d store.Delivery
	var status string
	var queued, updated pgtype.Timestamptz
	if err := r.Scan(&d.RunID, &d.Notifier, &d.Key, &status, &d.Attempts, &d.Error, &d.Payload, &queued, &updated); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.ErrNotFound
		}
		return nil, err
	}
	d.Status = store.DeliveryStatus(status)
	d.QueuedAt, d.UpdatedAt = fromTS(queued), fromTS(updated)
	return &d, nil
}

// SetNotifierState stores one value of a notifier's state for a run.
func (s *Store) SetNotifierState(ctx context.Context, runID, notifier, key, value string) error {
	if runID == "" || notifier == "" || key == "" {
		return fmt.Errorf("set notifier state %s/%s of run %q: empty run, notifier or key", notifier, key, runID)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO notify_state (run_id, notifier, key, value) VALUES ($1,$2,$3,$4)
		ON CONFLICT (run_id, notifier, key) DO UPDATE SET value=excluded.value`, runID, notifier, key, value)
	if isForeignKeyViolation(err) {
		return fmt.Errorf("set notifier state %s/%s of run %s: %w", notifier, key, runID, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("set notifier state %s/%s of run %s: %w", notifier, key, runID, err)
	}
	return nil
}

// NotifierState returns a notifier's state for a run.
func (s *Store) NotifierState(ctx context.Context, runID, notifier string) (map[string]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT key, value FROM notify_state WHERE run_id=$1 AND notifier=$2`, runID, notifier)
	if err != nil {
		return nil, fmt.Errorf("notifier state %s of run %s: %w", notifier, runID, err)
	}
	out := map[string]string{}
	var k, v string
	_, err = pgx.ForEachRow(rows, []any{&k, &v}, func() error { out[k] = v; return nil })
	if err != nil {
		return nil, fmt.Errorf("notifier state %s of run %s: %w", notifier, runID, err)
	}
	return out, nil
}
