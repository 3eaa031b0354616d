package notify_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/notify/notifytest"
	"github.com/failoverbot/failoverbot/internal/store"
)

// With several replicas, only the leader scans: a follower never catches
// a run up, whatever it finds; once it leads (Rescan), it does at once.
func TestOnlyTheLeaderScans(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rs := notifytest.NewRuns()
		orphan := runningRun("r1")
		orphan.Owner, orphan.LeaseUntil = "dead/9", time.Now().Add(-time.Second)
		rs.Add(orphan)
		rs.Record(events.Event{Type: events.RunStarted, RunID: "r1", At: time.Now()})
		rec := &recorder{}
		var leading atomic.Bool
		var pipe *notify.Pipeline
		b := newBench(t, benchOptions{targets: func(*store.Run) []notify.Target {
			return []notify.Target{{Name: "stakeholders", Notifier: rec}}
		}, runs: rs, tweak: func(o *notify.Options) {
			o.Rescan = 30 * time.Second
			o.Leading = leading.Load
		}})
		pipe = b.p
		b.start()
		defer b.stop()
		time.Sleep(95 * time.Second) // three periods as a follower
		synctest.Wait()
		if got := rec.calls(); len(got) != 0 {
			t.Fatalf("a follower sent %v", labels(got))
		}
		leading.Store(true)
		pipe.Rescan()
		synctest.Wait()
		equal(t, "once leading", labels(rec.calls()), []string{"started"})
	})
}

// A run whose lease ended but whose owner is still up (it ended there,
// and that process still retries its notifications) is left to it; when
// the owner is gone, the leader catches it up.
func TestARunOfALiveOwnerIsLeftToItAfterItsLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rs := notifytest.NewRuns()
		ended := runningRun("r1")
		ended.Owner, ended.LeaseUntil = "other/2", time.Now().Add(-time.Minute)
		rs.Add(ended)
		rs.Record(events.Event{Type: events.RunStarted, RunID: "r1", At: time.Now()})
		rec := &recorder{}
		var alive atomic.Bool
		alive.Store(true)
		asked := atomic.Int32{}
		b := newBench(t, benchOptions{targets: func(*store.Run) []notify.Target {
			return []notify.Target{{Name: "stakeholders", Notifier: rec}}
		}, runs: rs, tweak: func(o *notify.Options) {
			o.Rescan = 30 * time.Second
			o.Alive = func(_ context.Context, owner string) (bool, error) {
				asked.Add(1)
				if owner != "other/2" {
					t.Errorf("asked whether %q is alive", owner)
				}
				return alive.Load(), nil
			}
		}})
		b.start()
		defer b.stop()
		time.Sleep(65 * time.Second)
		synctest.Wait()
		if got := rec.calls(); len(got) != 0 {
			t.Fatalf("sent %v for a run whose owner is alive", labels(got))
		}
		if asked.Load() == 0 {
			t.Fatal("Alive never asked")
		}
		alive.Store(false)
		time.Sleep(30 * time.Second)
		synctest.Wait()
		equal(t, "after the owner died", labels(rec.calls()), []string{"started"})
	})
}
