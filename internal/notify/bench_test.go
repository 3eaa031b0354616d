package notify_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/notify/notifytest"
	"github.com/failoverbot/failoverbot/internal/store"
)

// BenchmarkEventToDelivered measures the pipeline's own cost: events of a
// run (audit Seq set) through the dispatcher, the in-memory delivery log
// and three notifiers that answer at once, until all are delivered (an
// upper bound: Flush, every 1024 events, polls every 20ms).
func BenchmarkEventToDelivered(b *testing.B) {
	rs, log := notifytest.NewRuns(), notify.NewMemoryLog()
	rs.Add(runningRun("r1"))
	nop := notify.NotifierFunc(func(context.Context, *notify.Notification) (bool, error) { return false, nil })
	p, err := notify.New(notify.Options{Runs: rs, Log: log, Audit: rs, Rescan: -1, QueueSize: 1 << 16,
		Plan: func(context.Context, *store.Run) notify.Plan {
			all := func(*notify.Notification) bool { return true }
			return notify.Plan{Targets: []notify.Target{{Name: "a", Notifier: nop, Wants: all},
				{Name: "b", Notifier: nop, Wants: all}, {Name: "c", Notifier: nop, Wants: all}}}
		}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	evs := make([]events.Event, b.N)
	for i := range evs {
		evs[i] = rs.Record(events.Event{Type: events.StepDone, RunID: "r1", StepID: fmt.Sprint("s", i), At: time.Now()})
	}
	b.ResetTimer()
	start := time.Now()
	for i := range evs {
		p.Notify(ctx, evs[i])
		if i%1024 == 1023 { // stay under the queue bound: no catch-up in the measure
			_ = p.Flush(ctx, "r1")
		}
	}
	if err := p.Flush(ctx, "r1"); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	b.ReportMetric(float64(b.N)/took.Seconds(), "events/s")
	b.ReportMetric(float64(took.Nanoseconds())/float64(3*b.N), "ns/delivery")
}
