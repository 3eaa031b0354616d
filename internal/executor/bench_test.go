package executor

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/sqlite"
)

// benchStep is not done until applied; Apply takes d.
type benchStep struct {
	applied atomic.Bool
	d       time.Duration
}

func (s *benchStep) Check(context.Context) (steps.Result, error) {
	return steps.Result{Done: s.applied.Load(), Summary: "ok"}, nil
}

func (s *benchStep) Apply(ctx context.Context) error {
	if s.d > 0 {
		t := time.NewTimer(s.d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.applied.Store(true)
	return nil
}

func benchStepOf(id string, d time.Duration, needs ...string) *runbook.Step {
	return &runbook.Step{ID: id, Name: id, Kind: "bench", Needs: needs, Timeout: time.Minute,
		Factory: runbook.FactoryFunc(func(context.Context, runbook.Vars) (steps.Probe, error) {
			return &benchStep{d: d}, nil
		})}
}

// benchEnv is an executor over a SQLite file, with no sink and no logger.
func benchEnv(b *testing.B) (*Executor, store.Store) {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	ex, err := New(Config{Store: st, Owner: "bench", PlanHash: testHash})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ex.Close(context.Background())
		st.Close()
	})
	return ex, st
}

// runOnce creates, starts and waits for one run of rb; it fails b unless
// the run succeeds.
func runOnce(b *testing.B, ex *Executor, st store.Store, rb *runbook.Runbook, id string) {
	ctx := context.Background()
	h := testHash(rb, nil)
	if err := st.CreateRun(ctx, &store.Run{ID: id, Runbook: rb.Name, PlanHash: h, State: store.RunPending, CreatedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	if err := ex.Start(ctx, id, rb); err != nil {
		b.Fatal(err)
	}
	if err := ex.Wait(ctx, id); err != nil {
		b.Fatal(err)
	}
	if run, err := st.GetRun(ctx, id); err != nil || run.State != store.RunSucceeded {
		b.Fatalf("run %s: %+v %v", id, run, err)
	}
}

// BenchmarkStepOverhead measures what the executor adds per step (build,
// Check, Apply, Check, three step-state writes and three audit records on
// a SQLite file, plus each run's own records shared by its steps) with
// no-op steps in a chain, so that nothing overlaps.
func BenchmarkStepOverhead(b *testing.B) {
	const n = 20
	ex, st := benchEnv(b)
	var chain []*runbook.Step
	for i := range n {
		var needs []string
		if i > 0 {
			needs = []string{fmt.Sprintf("s%d", i-1)}
		}
		chain = append(chain, benchStepOf(fmt.Sprintf("s%d", i), 0, needs...))
	}
	rb := mkRunbook("overhead", chain)
	b.ResetTimer()
	start := time.Now()
	i := 0
	for b.Loop() {
		i++
		runOnce(b, ex, st, rb, fmt.Sprintf("run-%d", i))
	}
	perStep := float64(time.Since(start).Nanoseconds()) / float64(i*n)
	b.ReportMetric(perStep, "ns/step")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkCriticalPath runs 50 steps of 100 ms each whose critical path is
// 10 steps (1 s): phase 1 is five parallel chains of five steps, phase 2
// five layers of five steps, each needing the whole layer before it. It
// reports wall time / critical path (1.00 is perfect scheduling).
func BenchmarkCriticalPath(b *testing.B) {
	const d = 100 * time.Millisecond
	ex, st := benchEnv(b)
	var p1, p2 []*runbook.Step
	for c := range 5 {
		for j := range 5 {
			var needs []string
			if j > 0 {
				needs = []string{fmt.Sprintf("c%d_%d", c, j-1)}
			}
			p1 = append(p1, benchStepOf(fmt.Sprintf("c%d_%d", c, j), d, needs...))
		}
	}
	for l := range 5 {
		var prev []string
		if l > 0 {
			for k := range 5 {
				prev = append(prev, fmt.Sprintf("l%d_%d", l-1, k))
			}
		}
		for k := range 5 {
			p2 = append(p2, benchStepOf(fmt.Sprintf("l%d_%d", l, k), d, prev...))
		}
	}
	rb := mkRunbook("critical", p1, p2)
	if len(rb.AllSteps()) != 50 {
		b.Fatalf("%d steps", len(rb.AllSteps()))
	}
	critical := 10 * d
	var total time.Duration
	i := 0
	for b.Loop() {
		i++
		start := time.Now()
		runOnce(b, ex, st, rb, fmt.Sprintf("run-%d", i))
		total += time.Since(start)
	}
	b.ReportMetric(float64(total)/float64(i)/float64(critical), "wall/critical")
}
