// Package notify is where the executor's events reach the notifiers: the
// progress card (notify/card) today, the status page, PagerDuty and the
// stakeholders' channels with the notification issue. Fanout hands every
// event to each of them; none can fail or slow a run.
package notify

import (
	"context"

	"github.com/failoverbot/failoverbot/internal/events"
)

// Fanout sends every event to each sink in turn. Each sink's Notify must
// return at once (queue its work), as events.Sink says.
type Fanout []events.Sink

var _ events.Sink = Fanout(nil)

// Notify sends e to every sink.
func (f Fanout) Notify(ctx context.Context, e events.Event) {
	for _, s := range f {
		s.Notify(ctx, e)
	}
}
