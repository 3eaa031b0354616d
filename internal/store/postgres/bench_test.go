package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/store"
)

// BenchmarkStepWrite is the executor's write per step transition: PutStep
// then Append, against the package's local server (fsync off).
func BenchmarkStepWrite(b *testing.B) {
	s := open(b, freshDB(b))
	ctx := context.Background()
	if err := s.CreateRun(ctx, &store.Run{ID: "r1", Runbook: "rb", State: store.RunRunning}); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("step_%d", i%50)
		if err := s.PutStep(ctx, &store.StepState{RunID: "r1", StepID: id, Status: store.StepDone, Attempts: 1,
			Summary: "replicas 3/3 ready", Outputs: map[string]string{"hostname": "lb.example"}, StartedAt: now, EndedAt: now}); err != nil {
			b.Fatal(err)
		}
		if err := s.Append(ctx, &store.AuditEvent{RunID: "r1", Actor: "bot", Type: "step.done", StepID: id,
			Message: "replicas 3/3 ready", Data: map[string]string{"phase": "database"}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdateRun is one compare-and-swap of the run record.
func BenchmarkUpdateRun(b *testing.B) {
	s := open(b, freshDB(b))
	ctx := context.Background()
	r := &store.Run{ID: "r1", Runbook: "rb", State: store.RunRunning, Params: map[string]string{"a": "b"}}
	if err := s.CreateRun(ctx, r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.UpdateRun(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}
