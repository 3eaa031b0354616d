package notify

import (
	"context"

	"github.com/failoverbot/failoverbot/internal/events"
)

// Fanout sends every event to each sink in turn (the wiring before
// Pipeline; removed once the app uses the Pipeline).
type Fanout []events.Sink

// Notify sends e to every sink.
func (f Fanout) Notify(ctx context.Context, e events.Event) {
	for _, s := range f {
		s.Notify(ctx, e)
	}
}
