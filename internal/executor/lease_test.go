package executor

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/sqlite"
)

// claimFailStore fails ClaimRun (a lease renewal) while down is set, as a
// store this executor cannot reach while another executor still can.
type claimFailStore struct {
	store.Store
	down atomic.Bool
}

func (s *claimFailStore) ClaimRun(ctx context.Context, id, owner string, ttl time.Duration) (*store.Run, error) {
	if s.down.Load() {
		return nil, errors.New("dial tcp 10.0.0.5:5432: connection refused")
	}
	return s.Store.ClaimRun(ctx, id, owner, ttl)
}

// An executor that cannot renew its lease must stop its Apply in flight
// when the lease ends: the executor that takes the run over then applies
// the step, and two Applies of one step must never overlap.
func TestAnApplyInFlightStopsWhenTheLeaseCannotBeRenewed(t *testing.T) {
	{
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "bot.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		flaky := &claimFailStore{Store: st}
		var mu sync.Mutex
		inApply, maxInApply := 0, 0
		w := newWorld()
		s := mkStep(w, "promote", timeout(time.Minute), applyFn(func(ctx context.Context, f *fakeStep) error {
			mu.Lock()
			inApply++
			maxInApply = max(maxInApply, inApply)
			mu.Unlock()
			flaky.down.Store(true) // A's renewals fail from now on
			defer func() {
				mu.Lock()
				inApply--
				mu.Unlock()
			}()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(3 * time.Second): // a slow promotion
			}
			f.w.set(f.id)
			return nil
		}))
		rb := mkRunbook("lease", []*runbook.Step{s})
		lookup := func(string) (*runbook.Runbook, error) { return rb, nil }
		a, err := New(Config{Store: flaky, Owner: "a", PlanHash: testHash, LeaseTTL: 600 * time.Millisecond, TakeoverInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close(context.Background())
		b, err := New(Config{Store: st, Owner: "b", PlanHash: testHash, LeaseTTL: 600 * time.Millisecond, TakeoverInterval: 100 * time.Millisecond,
			PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close(context.Background())

		ctx := context.Background()
		h := testHash(rb, nil)
		if err := st.CreateRun(ctx, &store.Run{ID: "r1", Runbook: rb.Name, PlanHash: h, State: store.RunPending, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if err := a.Start(ctx, "r1", rb); err != nil {
			t.Fatal(err)
		}
		if err := b.Recover(ctx, lookup); err != nil {
			t.Fatal(err)
		}
		// B takes the run over once A's lease has expired, and finishes it.
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			if r, _ := st.GetRun(ctx, "r1"); r.State != store.RunRunning {
				break
			}
		}
		r, _ := st.GetRun(ctx, "r1")
		if r.State != store.RunSucceeded {
			t.Fatalf("run is %s (%s), want succeeded", r.State, r.StateReason)
		}
		mu.Lock()
		defer mu.Unlock()
		if maxInApply > 1 {
			t.Errorf("%d Applies of one step ran at once: the executor that lost its lease kept applying", maxInApply)
		}
	}
}
