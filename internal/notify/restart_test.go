package notify_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/notify/notifytest"
	"github.com/failoverbot/failoverbot/internal/store"
)

// A bot dies with one notification queued and not delivered, and two events
// recorded in the audit trail that it never queued. The next process, on
// the same store, sends the queued one again (told it is a redelivery),
// catches up the two, and sends nothing that was delivered.
func TestARestartResendsWhatWasQueuedAndNeverWhatWasDelivered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rs, log := notifytest.NewRuns(), notify.NewMemoryLog()
		rs.Add(runningRun("r1"))
		first := &recorder{fail: func(n *notify.Notification) (bool, error) {
			if n.Milestone == notify.PhaseDone {
				return true, errDown
			}
			return false, nil
		}}
		targets := func(r *recorder) func(*store.Run) []notify.Target {
			return func(*store.Run) []notify.Target { return []notify.Target{{Name: "pagerduty", Notifier: r}} }
		}
		b1 := newBench(t, benchOptions{targets: targets(first), runs: rs, log: log,
			tweak: func(o *notify.Options) { o.DrainTimeout = time.Second }})
		b1.start()
		b1.emit("r1", events.RunStarted, "", "")
		b1.emit("r1", events.PhaseDone, "db", "")
		synctest.Wait()
		// The bot dies: two more events are recorded, never handed over.
		b1.stop()
		rs.Record(events.Event{Type: events.PhaseDone, RunID: "r1", Phase: "traffic", At: time.Now(), Summary: "Traffic"})
		rs.Record(events.Event{Type: events.RunSucceeded, RunID: "r1", At: time.Now(), Summary: "all steps done"})
		equal(t, "log at the kill", b1.rows("r1"), map[string]store.DeliveryStatus{"pagerduty/1": store.DeliveryDelivered,
			"pagerduty/2": store.DeliveryQueued})

		second := &recorder{}
		b2 := newBench(t, benchOptions{targets: targets(second), runs: rs, log: log})
		b2.start()
		defer b2.stop()
		synctest.Wait()
		b2.flush("r1")
		equal(t, "sent after the restart", labels(second.calls()), []string{"phase_done:db", "phase_done:traffic", "succeeded"})
		if n := second.calls()[0]; !n.Redelivery {
			t.Errorf("the queued notification came as attempt %d, not as a redelivery", n.Attempt)
		}
		if n := second.calls()[1]; n.Redelivery || n.Run.PhaseName != "Traffic" {
			t.Errorf("a caught-up notification = %+v", n)
		}
		for k, st := range b2.rows("r1") {
			if st != store.DeliveryDelivered {
				t.Errorf("%s is %s", k, st)
			}
		}
		// A third process has nothing to send.
		third := &recorder{}
		b3 := newBench(t, benchOptions{targets: targets(third), runs: rs, log: log})
		b3.start()
		defer b3.stop()
		synctest.Wait()
		if got := third.calls(); len(got) != 0 {
			t.Errorf("a third process sent %v", labels(got))
		}
	})
}

// A run whose lease another live process holds is left to it; once that
// lease has ended (the process died), the next rescan catches the run up,
// and so does the first live event of a run this process takes over.
func TestARunHeldByAnotherLiveProcessIsLeftToIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rs := notifytest.NewRuns()
		held := runningRun("r1")
		held.Owner, held.LeaseUntil = "other/2", time.Now().Add(time.Minute)
		rs.Add(held)
		rs.Record(events.Event{Type: events.RunStarted, RunID: "r1", At: time.Now()})
		rec := &recorder{}
		b := newBench(t, benchOptions{targets: func(*store.Run) []notify.Target {
			return []notify.Target{{Name: "stakeholders", Notifier: rec}}
		}, runs: rs, tweak: func(o *notify.Options) { o.Rescan = 30 * time.Second }})
		b.start()
		defer b.stop()
		time.Sleep(45 * time.Second)
		synctest.Wait()
		if got := rec.calls(); len(got) != 0 {
			t.Fatalf("sent %v for a run another live process owns", labels(got))
		}
		time.Sleep(30 * time.Second) // its lease ended at 60s; the rescan at 60s or 90s
		synctest.Wait()
		equal(t, "after the lease ended", labels(rec.calls()), []string{"started"})

		// The same with a takeover: the live event catches the run up first.
		held2 := runningRun("r2")
		held2.Owner, held2.LeaseUntil = "other/2", time.Now().Add(time.Hour)
		rs.Add(held2)
		rs.Record(events.Event{Type: events.RunStarted, RunID: "r2", At: time.Now()})
		rs.Record(events.Event{Type: events.PhaseDone, RunID: "r2", Phase: "db", At: time.Now()})
		rs.Set("r2", func(r *store.Run) { r.Owner = "me/1" })
		b.emit("r2", events.RunResumed, "", "")
		b.flush("r2")
		equal(t, "after a takeover", labels(rec.calls()[1:]), []string{"started", "phase_done:db", "resumed"})
	})
}

// Events that find the dispatcher's queue full are not lost: the run is
// caught up from its audit trail, each notification sent once.
func TestEventsDroppedByAFullQueueAreCaughtUpFromTheAuditTrail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		rec := &recorder{}
		b := newBench(t, benchOptions{targets: func(*store.Run) []notify.Target {
			<-gate // the dispatcher is stuck planning the run while events pour in
			return []notify.Target{{Name: "stakeholders", Notifier: rec}}
		}, tweak: func(o *notify.Options) { o.QueueSize = 1 }})
		b.runs.Add(runningRun("r1"))
		b.start()
		defer b.stop()
		b.aRun("r1")
		synctest.Wait()
		close(gate)
		b.flush("r1")
		equal(t, "sent", labels(rec.calls()), []string{"started", "step_done:promote", "phase_done:db", "phase_done:traffic", "succeeded"})
		if n := strings.Count(b.logs.String(), "notification queue full"); n < 4 {
			t.Errorf("%d drops logged, want at least 4", n)
		}
	})
}

// Flush waits for the event that says the run stopped before it returns.
func TestFlushWaitsForTheStopEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		b := newBench(t, benchOptions{targets: func(*store.Run) []notify.Target {
			return []notify.Target{{Name: "card", Notifier: rec, Wants: func(*notify.Notification) bool { return true }}}
		}})
		b.runs.Add(runningRun("r1"))
		b.start()
		defer b.stop()
		b.emit("r1", events.RunStarted, "", "")
		b.runs.Set("r1", func(r *store.Run) { r.State = store.RunSucceeded })
		done := make(chan error, 1)
		go func() { done <- b.p.Flush(context.Background(), "r1") }()
		time.Sleep(time.Second)
		select {
		case err := <-done:
			t.Fatalf("Flush returned (%v) before the run's end was notified", err)
		default:
		}
		b.emit("r1", events.RunSucceeded, "", "")
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		equal(t, "card", labels(rec.calls()), []string{"started", "succeeded"})
	})
}

// A run that ended before a notifier heard of it (a run older than the
// delivery log, or a notifier added to the runbook since) is not told to
// it after a restart; the notifiers that had heard of it are caught up.
func TestAnEndedRunIsCaughtUpOnlyForTheNotifiersThatKnewIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rs, log := notifytest.NewRuns(), notify.NewMemoryLog()
		run := runningRun("r1")
		run.State, run.EndedAt = store.RunSucceeded, time.Now()
		rs.Add(run)
		started := rs.Record(events.Event{Type: events.RunStarted, RunID: "r1", At: time.Now()})
		rs.Record(events.Event{Type: events.RunSucceeded, RunID: "r1", At: time.Now()})
		// The status page had the start; the end was recorded, then the bot died.
		if _, err := log.QueueDelivery(context.Background(), &store.Delivery{RunID: "r1", Notifier: "statuspage", Key: fmt.Sprint(started.Seq)}); err != nil {
			t.Fatal(err)
		}
		if err := log.FinishDelivery(context.Background(), "r1", "statuspage", fmt.Sprint(started.Seq), store.DeliveryDelivered, 1, ""); err != nil {
			t.Fatal(err)
		}
		page, added := &recorder{}, &recorder{}
		b := newBench(t, benchOptions{targets: func(*store.Run) []notify.Target {
			return []notify.Target{{Name: "statuspage", Notifier: page}, {Name: "stakeholders", Notifier: added}}
		}, runs: rs, log: log})
		b.start()
		defer b.stop()
		synctest.Wait()
		equal(t, "status page", labels(page.calls()), []string{"succeeded"})
		if got := added.calls(); len(got) != 0 {
			t.Errorf("a notifier that never heard of the ended run got %v", labels(got))
		}
	})
}
