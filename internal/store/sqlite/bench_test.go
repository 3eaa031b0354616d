package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/store"
)

// BenchmarkStepWrite is the executor's write per step transition: PutStep
// then Append (two autocommit writes in WAL mode, synchronous=NORMAL),
// under a context with a deadline as the executor's calls are.
func BenchmarkStepWrite(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "bench.db"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if err := s.CreateRun(ctx, &store.Run{ID: "r1", Runbook: "rb", State: store.RunRunning}); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
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

// BenchmarkPutStep is one step-state upsert.
func BenchmarkPutStep(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "bench.db"))
	ctx := context.Background()
	if err := s.CreateRun(ctx, &store.Run{ID: "r1", Runbook: "rb", State: store.RunRunning}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := s.PutStep(ctx, &store.StepState{RunID: "r1", StepID: fmt.Sprintf("step_%d", i%50), Status: store.StepApplying}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppend is one audit event.
func BenchmarkAppend(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "bench.db"))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Append(ctx, &store.AuditEvent{RunID: "r1", Actor: "bot", Type: "step.applying", StepID: "s"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdateRun is one compare-and-swap of the run record.
func BenchmarkUpdateRun(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "bench.db"))
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

// BenchmarkGetRun is one read of the run record.
func BenchmarkGetRun(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "bench.db"))
	ctx := context.Background()
	if err := s.CreateRun(ctx, &store.Run{ID: "r1", Runbook: "rb", State: store.RunRunning}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GetRun(ctx, "r1"); err != nil {
			b.Fatal(err)
		}
	}
}
