package notify_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/store"
)

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %v\nwant %v", what, got, want)
	}
}

// Each notifier gets the milestones it wants, in order, with what the
// runbook says (public phases, names, expected duration); the card-like
// target gets every event; each is logged delivered.
func TestEachNotifierGetsItsMilestonesInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		page, all := &recorder{}, &recorder{}
		b := newBench(t, benchOptions{targets: func(*store.Run) []notify.Target {
			return []notify.Target{
				{Name: "statuspage", Notifier: page, Wants: notify.On([]notify.Milestone{notify.Started, notify.Public, notify.Succeeded})},
				{Name: "card", Notifier: all, Wants: func(n *notify.Notification) bool { return !n.Event.Type.PreStart() }},
			}
		}})
		b.runs.Add(runningRun("r1"))
		b.start()
		defer b.stop()
		b.aRun("r1")
		b.flush("r1")
		equal(t, "status page", labels(page.calls()), []string{"started", "phase_done:traffic", "succeeded"})
		equal(t, "card", labels(all.calls()), []string{"started", "phase.started", "step.started", "step_done:promote",
			"phase_done:db", "phase_done:traffic", "succeeded"})
		n := page.calls()[1]
		if !n.Public || n.Run.PhaseName != "Traffic" || n.Run.Expected != 2*time.Minute || n.Run.Thread.TS != "1.0" ||
			n.Attempt != 1 || n.Redelivery || n.Key != "6" {
			t.Errorf("public milestone = %+v", n)
		}
		if all.calls()[4].Public {
			t.Error("phase db is not public")
		}
		rows := b.rows("r1")
		if len(rows) != 10 {
			t.Errorf("%d log rows, want 10: %v", len(rows), rows)
		}
		for k, st := range rows {
			if st != store.DeliveryDelivered {
				t.Errorf("%s is %s", k, st)
			}
		}
	})
}

// Notify returns at once however slow a notifier is, and a notifier that
// hangs holds up only its own queue: the others deliver.
func TestAHangingNotifierSlowsNeitherTheRunNorTheOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		hang := &recorder{fail: func(*notify.Notification) (bool, error) { <-release; return false, nil }}
		fast := &recorder{}
		b := newBench(t, benchOptions{targets: func(*store.Run) []notify.Target {
			return []notify.Target{{Name: "pagerduty", Notifier: hang}, {Name: "stakeholders", Notifier: fast}}
		}})
		b.runs.Add(runningRun("r1"))
		b.start()
		defer b.stop()
		start := time.Now()
		b.aRun("r1")
		if took := time.Since(start); took != 0 {
			t.Errorf("Notify took %s of fake time", took)
		}
		synctest.Wait()
		equal(t, "the fast notifier", labels(fast.calls()), []string{"started", "step_done:promote", "phase_done:db", "phase_done:traffic", "succeeded"})
		if n := len(hang.calls()); n != 1 {
			t.Errorf("the hanging notifier got %d calls, want 1 (the rest wait behind it)", n)
		}
		close(release)
		b.flush("r1")
		if n := len(hang.calls()); n != 5 {
			t.Errorf("after it answered, the hanging notifier got %d calls, want 5", n)
		}
	})
}

var errDown = errors.New("503 Service Unavailable")

// The retry loop backs off exponentially (with jitter, here a constant
// 0.5: 0.75 of each step), logs the error only when it changes, and
// delivers when the remote side comes back; the failure and the recovery
// are each said once in the run's thread.
func TestRetriesBackOffExponentiallyAndLogOnlyWhenTheErrorChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		pd := &recorder{fail: func(n *notify.Notification) (bool, error) {
			switch c := calls.Add(1); {
			case c <= 3:
				return true, errDown
			case c <= 5:
				return true, errors.New("connection refused")
			}
			return false, nil
		}}
		b := newBench(t, benchOptions{targets: func(*store.Run) []notify.Target {
			return []notify.Target{{Name: "pagerduty", Notifier: pd, Wants: notify.On([]notify.Milestone{notify.Started, notify.Succeeded})}}
		}, tweak: func(o *notify.Options) { o.MinBackoff, o.MaxBackoff = time.Second, 4*time.Second }})
		b.runs.Add(runningRun("r1"))
		b.start()
		defer b.stop()
		b.emit("r1", events.RunStarted, "", "")
		b.emit("r1", events.RunSucceeded, "", "")
		time.Sleep(time.Minute)
		synctest.Wait()
		at := pd.times()
		var gaps []time.Duration
		for i := 1; i < len(at); i++ {
			gaps = append(gaps, at[i].Sub(at[i-1]))
		}
		// 1s, 2s, 4s, 4s (capped) spread to [d/2, d): 0.75 of each; then
		// the second notification at once.
		equal(t, "gaps between attempts", gaps, []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond,
			3 * time.Second, 3 * time.Second, 3 * time.Second, 0})
		equal(t, "delivered", labels(pd.calls()[5:]), []string{"started", "succeeded"})
		if got := pd.calls()[5]; got.Attempt != 6 || !got.Redelivery {
			t.Errorf("6th attempt = attempt %d, redelivery %v", got.Attempt, got.Redelivery)
		}
		if n := strings.Count(b.logs.String(), "notification failed; will retry"); n != 2 {
			t.Errorf("logged %d failures, want 2 (503, then connection refused):\n%s", n, b.logs)
		}
		said := b.poster.said()
		if len(said) != 2 || !strings.Contains(said[0], "PagerDuty: a notification did not go through (503 Service Unavailable)") ||
			!strings.Contains(said[1], "PagerDuty: notifications go through again") || !strings.HasPrefix(said[0], "C1/1.0: ") {
			t.Errorf("thread = %q", said)
		}
	})
}

// A Retry-After longer than the backoff is waited out.
func TestARetryAfterIsHonoured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		sp := &recorder{fail: func(*notify.Notification) (bool, error) {
			if calls.Add(1) == 1 {
				return true, notify.After(errors.New("429 rate limited"), 7*time.Second)
			}
			return false, nil
		}}
		b := newBench(t, benchOptions{targets: func(*store.Run) []notify.Target {
			return []notify.Target{{Name: "statuspage", Notifier: sp}}
		}})
		b.runs.Add(runningRun("r1"))
		b.start()
		defer b.stop()
		b.emit("r1", events.RunStarted, "", "")
		time.Sleep(time.Minute)
		at := sp.times()
		if len(at) != 2 || at[1].Sub(at[0]) != 7*time.Second {
			t.Fatalf("attempts at %v, want two 7s apart", at)
		}
	})
}

// An error not worth retrying is tried once, logged failed with the
// attempt count, and said once in the thread; the next notification is
// still sent.
func TestAnUnrecoverableErrorIsNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pd := &recorder{fail: func(n *notify.Notification) (bool, error) {
			return false, errors.New("401 Unauthorized")
		}}
		b := newBench(t, benchOptions{targets: func(*store.Run) []notify.Target {
			return []notify.Target{{Name: "pagerduty", Notifier: pd}}
		}})
		b.runs.Add(runningRun("r1"))
		b.start()
		defer b.stop()
		b.emit("r1", events.RunStarted, "", "")
		b.emit("r1", events.RunSucceeded, "", "")
		b.flush("r1")
		synctest.Wait()
		equal(t, "calls", labels(pd.calls()), []string{"started", "succeeded"})
		ds, _ := b.log.Deliveries(context.Background(), "r1")
		for _, d := range ds {
			if d.Status != store.DeliveryFailed || d.Attempts != 1 ||
				!strings.Contains(d.Error, "not retried, unrecoverable error after 1 attempts: 401 Unauthorized") {
				t.Errorf("row = %+v", d)
			}
		}
		if said := b.poster.said(); len(said) != 1 || !strings.Contains(said[0], "refused and is not retried") {
			t.Errorf("thread = %q", said)
		}
	})
}

// After the run ends, a notifier that never comes back is retried for the
// end grace period, then given up: logged failed with the attempts and the
// last error, said once. Finish (the report is written) shortens the wait.
func TestRetryingStopsAGracePeriodAfterTheRunEnds(t *testing.T) {
	for _, finish := range []bool{false, true} {
		t.Run(fmt.Sprintf("finish=%v", finish), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pd := &recorder{fail: func(*notify.Notification) (bool, error) { return true, errDown }}
				b := newBench(t, benchOptions{targets: func(*store.Run) []notify.Target {
					return []notify.Target{{Name: "pagerduty", Notifier: pd}}
				}, tweak: func(o *notify.Options) {
					o.EndGrace, o.FinishGrace, o.MaxBackoff = 10*time.Minute, time.Minute, 30*time.Second
				}})
				b.runs.Add(runningRun("r1"))
				b.start()
				defer b.stop()
				start := time.Now()
				b.emit("r1", events.RunStarted, "", "")
				b.emit("r1", events.RunSucceeded, "", "")
				synctest.Wait()
				if finish {
					b.p.Finish("r1")
				}
				time.Sleep(time.Hour)
				synctest.Wait()
				ds, _ := b.log.Deliveries(context.Background(), "r1")
				if len(ds) != 2 {
					t.Fatalf("rows %v", ds)
				}
				for _, d := range ds {
					if d.Status != store.DeliveryFailed || !strings.Contains(d.Error, "gave up after") ||
						!strings.HasSuffix(d.Error, "the run having ended: 503 Service Unavailable") {
						t.Errorf("row = %+v", d)
					}
				}
				grace := 10 * time.Minute
				if finish {
					grace = time.Minute
				}
				calls := pd.times()
				last := calls[len(calls)-1].Sub(start)
				if last > grace+time.Second || last < grace-30*time.Second {
					t.Errorf("last attempt %s after the end, want about the %s grace", last, grace)
				}
				said := b.poster.said()
				if len(said) != 2 || !strings.Contains(said[1], "gave up on this run's notifications") {
					t.Errorf("thread = %q", said)
				}
			})
		})
	}
}

// A notifier that panics is an unrecoverable error, not a crash.
func TestAPanickingNotifierIsAFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := &recorder{fail: func(*notify.Notification) (bool, error) { panic("nil map") }}
		b := newBench(t, benchOptions{targets: func(*store.Run) []notify.Target {
			return []notify.Target{{Name: "stakeholders", Notifier: boom}}
		}})
		b.runs.Add(runningRun("r1"))
		b.start()
		defer b.stop()
		b.emit("r1", events.RunStarted, "", "")
		b.flush("r1")
		synctest.Wait()
		ds, _ := b.log.Deliveries(context.Background(), "r1")
		if len(ds) != 1 || ds[0].Status != store.DeliveryFailed || !strings.Contains(ds[0].Error, "panicked: nil map") {
			t.Fatalf("rows = %+v", ds)
		}
	})
}

// A call that does not answer is cut at the call timeout and retried.
func TestACallIsCutAtItsTimeoutAndRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		slow := &recorder{}
		ctxAware := notify.NotifierFunc(func(ctx context.Context, n *notify.Notification) (bool, error) {
			if calls.Add(1) == 1 {
				<-ctx.Done()
				return false, ctx.Err() // says "not worth retrying", but the deadline was ours
			}
			return slow.Notify(ctx, n)
		})
		b := newBench(t, benchOptions{targets: func(*store.Run) []notify.Target {
			return []notify.Target{{Name: "statuspage", Notifier: ctxAware}}
		}, tweak: func(o *notify.Options) { o.CallTimeout = 10 * time.Second }})
		b.runs.Add(runningRun("r1"))
		b.start()
		defer b.stop()
		start := time.Now()
		b.emit("r1", events.RunStarted, "", "")
		time.Sleep(time.Minute)
		synctest.Wait()
		got := slow.calls()
		if len(got) != 1 || !got[0].Redelivery || got[0].Attempt != 2 {
			t.Fatalf("calls after the timeout = %+v", got)
		}
		if at := slow.times()[0].Sub(start); at < 10*time.Second || at > 12*time.Second {
			t.Errorf("second attempt at %s, want right after the 10s call timeout", at)
		}
		if !strings.Contains(b.logs.String(), "no answer within the 10s call timeout") {
			t.Errorf("the log does not say which deadline fired:\n%s", b.logs)
		}
	})
}

// A run stalled because the store cannot be written is said in its thread
// at once (no delivery log: that is in the store), and so is its going on;
// the notifiers are not bothered with either.
func TestAStalledRunIsSaidInItsThread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pd := &recorder{}
		b := newBench(t, benchOptions{targets: func(*store.Run) []notify.Target {
			return []notify.Target{{Name: "pagerduty", Notifier: pd, Wants: func(*notify.Notification) bool { return true }}}
		}})
		b.runs.Add(runningRun("r1"))
		b.start()
		defer b.stop()
		b.p.Notify(context.Background(), events.Event{Type: events.RunStalled, RunID: "r1", Runbook: "rb",
			Summary: "the bot cannot write to its store", Error: "disk full"})
		time.Sleep(time.Second)
		synctest.Wait()
		b.p.Notify(context.Background(), events.Event{Type: events.RunUnstalled, RunID: "r1", Runbook: "rb",
			Summary: "the store can be written again"})
		time.Sleep(time.Second)
		synctest.Wait()
		said := b.poster.said()
		if len(said) != 2 || !strings.Contains(said[0], "Run r1 is stalled: the bot cannot write to its store (disk full).") ||
			!strings.Contains(said[1], "Run r1 goes on: the store can be written again.") {
			t.Errorf("thread = %q", said)
		}
		if n := len(pd.calls()); n != 0 {
			t.Errorf("the notifier got %d calls", n)
		}
	})
}
