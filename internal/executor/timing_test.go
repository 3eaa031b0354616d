package executor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/sqlite"
)

// synctestEnv is an executor over an in-memory SQLite store, for use inside
// a synctest bubble (fake clock: minutes pass at once).
func synctestEnv(t *testing.T) (*Executor, store.Store) {
	st, err := sqlite.Open(context.Background(), ":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := New(Config{Store: st, Owner: "t", PlanHash: testHash})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ex.Close(context.Background())
		st.Close()
	})
	return ex, st
}

func TestTransientErrorsBackOffExponentiallyWithJitterUntilTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ex, st := synctestEnv(t)
		w := newWorld()
		var mu sync.Mutex
		var at []time.Duration
		start := time.Now()
		s := mkStep(w, "flappy", timeout(5*time.Minute), retry(0, time.Second), applyFn(func(ctx context.Context, f *fakeStep) error {
			mu.Lock()
			at = append(at, time.Since(start))
			mu.Unlock()
			return fmt.Errorf("429 too many requests")
		}))
		s.Retry.MaxBackoff = 20 * time.Second
		rb := mkRunbook("backoff", []*runbook.Step{s})
		h := testHash(rb, nil)
		ctx := context.Background()
		if err := st.CreateRun(ctx, &store.Run{ID: "r1", Runbook: rb.Name, PlanHash: h, State: store.RunPending, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if err := ex.Start(ctx, "r1", rb); err != nil {
			t.Fatal(err)
		}
		if err := ex.Wait(ctx, "r1"); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		if took != 5*time.Minute {
			t.Errorf("the step gave up after %v, want exactly its 5m deadline", took)
		}
		run, _ := st.GetRun(ctx, "r1")
		if run.State != store.RunPaused || !strings.Contains(run.StateReason, "not done within 5m0s") || !strings.Contains(run.StateReason, "429") {
			t.Errorf("run %s: %q", run.State, run.StateReason)
		}
		mu.Lock()
		defer mu.Unlock()
		// Delays double from 1s to 20s, each jittered into [d/2, d].
		want := time.Second
		for i := 1; i < len(at); i++ {
			gap := at[i] - at[i-1]
			if gap < want/2 || gap > want {
				t.Errorf("delay before attempt %d is %v, want within [%v, %v]", i+1, gap, want/2, want)
			}
			want = min(2*want, 20*time.Second)
		}
		// 5 minutes of backoff capped at 20s: at least 15 and at most ~36 attempts.
		if len(at) < 15 || len(at) > 40 {
			t.Errorf("%d attempts in 5m", len(at))
		}
	})
}

func TestWaitingPollsWithGrowingIntervals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ex, st := synctestEnv(t)
		w := newWorld()
		start := time.Now()
		var applied time.Time
		// The change takes 45s to show after Apply (a DNS change going INSYNC).
		s := mkStep(w, "dns", timeout(2*time.Minute), applyFn(func(ctx context.Context, f *fakeStep) error {
			applied = time.Now()
			go func() {
				time.Sleep(45 * time.Second)
				f.w.set(f.id)
			}()
			return nil
		}))
		rb := mkRunbook("poll", []*runbook.Step{s})
		h := testHash(rb, nil)
		ctx := context.Background()
		if err := st.CreateRun(ctx, &store.Run{ID: "r1", Runbook: rb.Name, PlanHash: h, State: store.RunPending, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if err := ex.Start(ctx, "r1", rb); err != nil {
			t.Fatal(err)
		}
		if err := ex.Wait(ctx, "r1"); err != nil {
			t.Fatal(err)
		}
		run, _ := st.GetRun(ctx, "r1")
		if run.State != store.RunSucceeded {
			t.Fatalf("run %s: %s", run.State, run.StateReason)
		}
		// Polls at 1, 2, 4, 8, 10, 10, ... seconds after Apply: the first
		// check after 45s is at 1+2+4+8+10+10+10 = 45s.
		seen := time.Since(start) - applied.Sub(start)
		if seen < 45*time.Second || seen > 55*time.Second {
			t.Errorf("the change was seen %v after Apply, want within one poll interval (10s) of 45s", seen)
		}
		if n := w.checks["dns"]; n > 12 {
			t.Errorf("%d checks for a 45s wait: polling too often", n)
		}
	})
}
