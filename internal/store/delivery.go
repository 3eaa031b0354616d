package store

import (
	"context"
	"time"
)

// The delivery log of the notification pipeline (internal/notify): one row
// per (run, notifier, event key), written "queued" before a notification is
// sent and "delivered" (or "failed", given up) after, so that a restarted
// bot resends what was queued and never what was delivered; and a small
// key/value state per (run, notifier) for what a notifier must remember
// across restarts (the Statuspage incident it opened).

// DeliveryStatus is where one notification stands.
type DeliveryStatus string

// Delivery statuses.
const (
	DeliveryQueued    DeliveryStatus = "queued"
	DeliveryDelivered DeliveryStatus = "delivered"
	// DeliveryFailed: given up (the error was not worth retrying, or the
	// run ended and its grace period passed).
	DeliveryFailed DeliveryStatus = "failed"
)

// Valid reports whether s is a known status.
func (s DeliveryStatus) Valid() bool {
	return s == DeliveryQueued || s == DeliveryDelivered || s == DeliveryFailed
}

// Delivery is one notification of one run to one notifier.
type Delivery struct {
	RunID    string
	Notifier string
	// Key names the event within the run (the audit trail's Seq of the
	// event), so that the same event is one row however often it is seen.
	Key    string
	Status DeliveryStatus
	// Attempts counts the calls made; Error is the last error (scrubbed).
	Attempts int
	Error    string
	// Payload is the notification as queued (JSON, scrubbed), so that a
	// restarted process resends it as it was.
	Payload   []byte
	QueuedAt  time.Time
	UpdatedAt time.Time
}

// DeliveryLog is implemented by both backends (beside Store). All methods
// are safe for concurrent use by several processes.
type DeliveryLog interface {
	// QueueDelivery inserts d as queued if the log has no row for its
	// (run, notifier, key) and reports true; otherwise it leaves the row
	// as it is, copies it into d and reports false. ErrNotFound for an
	// unknown run.
	QueueDelivery(ctx context.Context, d *Delivery) (queued bool, err error)
	// FinishDelivery records the outcome of a queued delivery (delivered or
	// failed) with its attempts and last error; ErrNotFound if the log has
	// no such row.
	FinishDelivery(ctx context.Context, runID, notifier, key string, status DeliveryStatus, attempts int, lastErr string) error
	// Deliveries returns a run's rows, oldest first.
	Deliveries(ctx context.Context, runID string) ([]*Delivery, error)
	// QueuedDeliveries returns every row still queued, of every run,
	// oldest first.
	QueuedDeliveries(ctx context.Context) ([]*Delivery, error)
	// SetNotifierState stores one value a notifier keeps for a run
	// (replacing the previous one); ErrNotFound for an unknown run.
	SetNotifierState(ctx context.Context, runID, notifier, key, value string) error
	// NotifierState returns what a notifier stored for a run (empty, not
	// nil, when nothing).
	NotifierState(ctx context.Context, runID, notifier string) (map[string]string, error)
}
