package notify

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/failoverbot/failoverbot/internal/store"
)

// RetryAfterError is an error that says how long to wait before trying
// again (Statuspage's Retry-After).
type RetryAfterError interface {
	error
	RetryAfter() time.Duration
}

type retryAfter struct {
	err error
	d   time.Duration
}

func (e *retryAfter) Error() string             { return e.err.Error() }
func (e *retryAfter) Unwrap() error             { return e.err }
func (e *retryAfter) RetryAfter() time.Duration { return e.d }

// After wraps err with how long the remote side asked to wait.
func After(err error, d time.Duration) error {
	if err == nil || d <= 0 {
		return err
	}
	return &retryAfter{err: err, d: d}
}

// RetryAfterOf returns the wait an error asks for (0 when none).
func RetryAfterOf(err error) time.Duration {
	var ra RetryAfterError
	if errors.As(err, &ra) {
		return ra.RetryAfter()
	}
	return 0
}

// MemoryLog is a store.DeliveryLog in memory: for tests, and for a
// pipeline with no store (nothing survives the process).
type MemoryLog struct {
	mu    sync.Mutex
	rows  map[string]*store.Delivery
	state map[string]map[string]string
}

var _ store.DeliveryLog = (*MemoryLog)(nil)

// NewMemoryLog returns an empty MemoryLog.
func NewMemoryLog() *MemoryLog {
	return &MemoryLog{rows: map[string]*store.Delivery{}, state: map[string]map[string]string{}}
}

func logKey(run, notifier, key string) string { return run + "\x00" + notifier + "\x00" + key }

// QueueDelivery implements store.DeliveryLog.
func (m *MemoryLog) QueueDelivery(ctx context.Context, d *store.Delivery) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := logKey(d.RunID, d.Notifier, d.Key)
	if have := m.rows[k]; have != nil {
		*d = *have
		return false, nil
	}
	cp := *d
	if cp.Status == "" {
		cp.Status = store.DeliveryQueued
	}
	if cp.QueuedAt.IsZero() {
		cp.QueuedAt = time.Now()
	}
	cp.UpdatedAt = cp.QueuedAt
	m.rows[k] = &cp
	*d = cp
	return true, nil
}

// FinishDelivery implements store.DeliveryLog.
func (m *MemoryLog) FinishDelivery(ctx context.Context, runID, notifier, key string, status store.DeliveryStatus, attempts int, lastErr string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.rows[logKey(runID, notifier, key)]
	if d == nil {
		return fmt.Errorf("finish delivery %s/%s of run %s: %w", notifier, key, runID, store.ErrNotFound)
	}
	d.Status, d.Attempts, d.Error, d.UpdatedAt = status, attempts, lastErr, time.Now()
	return nil
}

// Deliveries implements store.DeliveryLog.
func (m *MemoryLog) Deliveries(ctx context.Context, runID string) ([]*store.Delivery, error) {
	return m.list(ctx, func(d *store.Delivery) bool { return d.RunID == runID })
}

// QueuedDeliveries implements store.DeliveryLog.
func (m *MemoryLog) QueuedDeliveries(ctx context.Context) ([]*store.Delivery, error) {
	return m.list(ctx, func(d *store.Delivery) bool { return d.Status == store.DeliveryQueued })
}

func (m *MemoryLog) list(ctx context.Context, keep func(*store.Delivery) bool) ([]*store.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*store.Delivery
	for _, d := range m.rows {
		if keep(d) {
			cp := *d
			out = append(out, &cp)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].QueuedAt.Equal(out[j].QueuedAt) {
			return out[i].QueuedAt.Before(out[j].QueuedAt)
		}
		return lessKey(out[i].Key, out[j].Key)
	})
	return out, nil
}

// SetNotifierState implements store.DeliveryLog.
func (m *MemoryLog) SetNotifierState(ctx context.Context, runID, notifier, key, value string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := runID + "\x00" + notifier
	if m.state[k] == nil {
		m.state[k] = map[string]string{}
	}
	m.state[k][key] = value
	return nil
}

// NotifierState implements store.DeliveryLog.
func (m *MemoryLog) NotifierState(ctx context.Context, runID, notifier string) (map[string]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := maps.Clone(m.state[runID+"\x00"+notifier])
	if out == nil {
		out = map[string]string{}
	}
	return out, nil
}
