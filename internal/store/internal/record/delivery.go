package record

import (
	"errors"
	"fmt"

	"github.com/failoverbot/failoverbot/internal/store"
)

// Delivery checks a delivery log row and normalizes its times.
func Delivery(d *store.Delivery) error {
	var errs []error
	if d.RunID == "" {
		errs = append(errs, errors.New("run id is empty"))
	}
	if d.Notifier == "" {
		errs = append(errs, errors.New("notifier is empty"))
	}
	if d.Key == "" {
		errs = append(errs, errors.New("event key is empty"))
	}
	if !d.Status.Valid() {
		errs = append(errs, fmt.Errorf("unknown status %q", d.Status))
	}
	if d.Attempts < 0 {
		errs = append(errs, fmt.Errorf("attempts %d is negative", d.Attempts))
	}
	d.QueuedAt, d.UpdatedAt = Time(d.QueuedAt), Time(d.UpdatedAt)
	return errors.Join(errs...)
}

// Outcome checks the status a delivery ends with.
func Outcome(status store.DeliveryStatus, attempts int) error {
	if status != store.DeliveryDelivered && status != store.DeliveryFailed {
		return fmt.Errorf("a delivery ends delivered or failed, not %q", status)
	}
	if attempts < 0 {
		return fmt.Errorf("attempts %d is negative", attempts)
	}
	return nil
}
