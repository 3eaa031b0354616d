package executor

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
)

// Two replicas on one store each count the reaction that made quorum and
// approve at once: the approval is recorded and announced once, the run
// starts once, and neither replica reports an error (nor ends the run as
// one that could not start).
func TestTwoReplicasApprovingAtOnceStartTheRunOnce(t *testing.T) {
	for range 20 { // a race: try it many times
		e := newEnv(t)
		other, err := New(Config{Store: e.st, Sink: e.rec, Owner: "other-replica", PlanHash: testHash, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		w := newWorld()
		rb := mkRunbook("lc", []*runbook.Step{mkStep(w, "a")})
		run := e.request(rb, nil)
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, ex := range []*Executor{e.ex, other} {
			wg.Go(func() { errs[i] = ex.Approve(ctx, run.ID, rb, []string{"U2", "U3"}) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("replica %d: Approve: %v", i, err)
			}
		}
		for _, ex := range []*Executor{e.ex, other} {
			if err := ex.Wait(ctx, run.ID); err != nil {
				t.Fatal(err)
			}
		}
		if got := e.run(run.ID); got.State != store.RunSucceeded {
			t.Fatalf("run is %s (%s)", got.State, got.StateReason)
		}
		counts := map[string]int{}
		for _, a := range e.auditTypes(run.ID) {
			counts[a]++
		}
		if counts["bot run.approved"] != 1 || counts["bot run.started"] != 1 || counts["bot "+string(events.RunStartFailed)] != 0 {
			t.Fatalf("audit trail counts %v: want one approval, one start, no start failure", counts)
		}
		if w.appliesOf("a") != 1 {
			t.Fatalf("step a applied %d times", w.appliesOf("a"))
		}
		if err := other.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
