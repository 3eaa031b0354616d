package executor

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/store"
)

// What the runbook language gives a step at run time: its own poll
// interval, and templates that see the run.

func TestAStepWithAPollIntervalIsCheckedAtThatInterval(t *testing.T) {
	tests := []struct {
		name     string
		readOnly bool
		// ready is how long after the start (read-only) or the Apply the
		// condition takes to hold: "answers 200 within 5 minutes".
		ready time.Duration
		// want are the Checks' times after the start or the Apply.
		want []time.Duration
	}{
		{name: "after Apply, every 15s until done", ready: 100 * time.Second,
			want: []time.Duration{0, 15 * time.Second, 30 * time.Second, 45 * time.Second, 60 * time.Second, 75 * time.Second, 90 * time.Second, 105 * time.Second}},
		{name: "a read-only wait, every 15s until it passes", readOnly: true, ready: 50 * time.Second,
			want: []time.Duration{0, 15 * time.Second, 30 * time.Second, 45 * time.Second, 60 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ex, st := synctestEnv(t) // the executor's default poll: 1s doubling to 10s
				w := newWorld()
				var mu sync.Mutex
				var checks []time.Time
				var from time.Time // the start, or the Apply
				first := 0         // the first Check counted: at the start, or after the Apply
				becomesReady := func(f *fakeStep) {
					go func() {
						time.Sleep(tt.ready)
						f.w.set(f.id)
					}()
				}
				opts := []opt{timeout(5 * time.Minute), checkFn(func(ctx context.Context, f *fakeStep) (steps.Result, error) {
					mu.Lock()
					defer mu.Unlock()
					if from.IsZero() && tt.readOnly {
						from = time.Now()
						becomesReady(f)
					}
					checks = append(checks, time.Now())
					if f.w.has(f.id) {
						return steps.Result{Done: true, Summary: "200 OK"}, nil
					}
					return steps.Result{Summary: "503"}, nil
				}), applyFn(func(ctx context.Context, f *fakeStep) error {
					mu.Lock()
					defer mu.Unlock()
					from, first = time.Now(), len(checks)
					becomesReady(f)
					return nil
				})}
				if tt.readOnly {
					opts = append(opts, readOnly())
				}
				s := mkStep(w, "web", opts...)
				s.Poll = runbook.Poll{Interval: 15 * time.Second, Max: 15 * time.Second}
				rb := mkRunbook("poll", []*runbook.Step{s})
				ctx := context.Background()
				if err := st.CreateRun(ctx, &store.Run{ID: "r1", Runbook: rb.Name, PlanHash: testHash(rb, nil), State: store.RunPending, CreatedAt: time.Now()}); err != nil {
					t.Fatal(err)
				}
				if err := ex.Start(ctx, "r1", rb); err != nil {
					t.Fatal(err)
				}
				if err := ex.Wait(ctx, "r1"); err != nil {
					t.Fatal(err)
				}
				if run, _ := st.GetRun(ctx, "r1"); run.State != store.RunSucceeded {
					t.Fatalf("run %s: %s", run.State, run.StateReason)
				}
				mu.Lock()
				defer mu.Unlock()
				var got []time.Duration
				for _, c := range checks[first:] {
					got = append(got, c.Sub(from))
				}
				if len(got) != len(tt.want) {
					t.Fatalf("checks at %v after %s, want %v", got, map[bool]string{true: "the start", false: "the Apply"}[tt.readOnly], tt.want)
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Errorf("check %d at %v, want %v (all: %v)", i+1, got[i], tt.want[i], got)
					}
				}
			})
		})
	}
}

const runVarsYAML = `
name: runvars
approval: {required: 2}
phases:
  - id: one
    steps:
      - id: restart
        kind: test.mark
        with: {name: restart, target: "{{ .run.id }} by {{ .run.requester }}, approved by {{ .run.approvers | join \" and \" }} ({{ .run.approvers }}); started {{ .run.startedAt }}, restartedAt {{ now }}"}
      - id: after
        kind: test.mark
        needs: [restart]
        with: {name: after}
`

func TestTemplatesSeeTheRunTheExecutorRuns(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.PlanHash = nil }) // the real runbook.PlanHash
	w := newWorld()
	targets := map[string]string{}
	reg := steps.NewRegistry()
	if err := reg.Register(markKind(w, targets)); err != nil {
		t.Fatal(err)
	}
	rb, err := runbook.Parse("runvars.yaml", []byte(runVarsYAML), reg)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	ctx := context.Background()

	// A plan is made before the run exists: its values are unknown then,
	// and the step after it waits on it, named.
	plan, err := e.ex.Planner().Plan(ctx, rb, nil)
	if err != nil {
		t.Fatal(err)
	}
	var verdicts []string
	for _, s := range plan.Steps {
		verdicts = append(verdicts, s.StepID+": "+s.Verdict)
	}
	if got, want := strings.Join(verdicts, "; "), "restart: unknown until the run starts; after: unknown until restart runs"; got != want {
		t.Errorf("plan: %s\nwant: %s", got, want)
	}

	hash := rb.PlanHash(nil)
	if plan.Hash != hash {
		t.Fatalf("plan hash %s, want %s", plan.Hash, hash)
	}
	run := &store.Run{ID: "runvars-k3x9", Runbook: rb.Name, PlanHash: hash, Requester: "U1", State: store.RunPending, CreatedAt: time.Now()}
	if err := e.st.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	for _, a := range []*store.Approval{
		{User: "U2", Decision: store.Approve, PlanHash: hash},
		{User: "U9", Decision: store.Approve, PlanHash: "an-older-plan"}, // bound to another plan: does not count
		{User: "U4", Decision: store.Reject, PlanHash: hash},
		{User: "U3", Decision: store.Approve, PlanHash: hash},
	} {
		a.RunID, a.At = run.ID, time.Now()
		if err := e.st.PutApproval(ctx, a); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // distinct times: oldest first
	}
	if err := e.ex.Start(ctx, run.ID, rb); err != nil {
		t.Fatal(err)
	}
	if r := e.wait(run.ID); r.State != store.RunSucceeded {
		t.Fatalf("run %s: %s", r.State, r.StateReason)
	}
	r, states := e.run(run.ID), e.steps(run.ID)
	rfc := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	want := "runvars-k3x9 by U1, approved by U2 and U3 (U2,U3); started " + rfc(r.StartedAt) + ", restartedAt " + rfc(states["restart"].StartedAt)
	if targets["restart"] != want {
		t.Errorf("restart was built with\n%q\nwant\n%q", targets["restart"], want)
	}
}

func TestAStepThatCannotBeBuiltSaysBuildStepOnce(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.PlanHash = nil })
	w := newWorld()
	reg := steps.NewRegistry()
	if err := reg.Register(markKind(w, map[string]string{})); err != nil {
		t.Fatal(err)
	}
	src := "name: unbuilt\napproval: {required: 0}\nphases:\n- id: one\n  steps:\n  - {id: dns, kind: test.mark, with: {name: dns, target: '${env:FAILOVER_RB_DNS_TARGET}'}}\n"
	rb, err := runbook.Parse("unbuilt.yaml", []byte(src), reg, runbook.WithEnv(func(string) (string, bool) { return "", false }))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run := &store.Run{ID: "unbuilt-1", Runbook: rb.Name, PlanHash: rb.PlanHash(nil), State: store.RunPending, CreatedAt: time.Now()}
	if err := e.st.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if err := e.ex.Start(ctx, run.ID, rb); err != nil {
		t.Fatal(err)
	}
	r := e.wait(run.ID)
	// The phase is built before anything of it is applied: the run pauses
	// there, saying why once.
	const want = "build step dns (test.mark): with.target: environment variable FAILOVER_RB_DNS_TARGET is not set"
	if st := e.steps(run.ID)["dns"]; st != nil && st.Status != store.StepPending {
		t.Errorf("step dns = %+v, want not started", st)
	}
	if r.State != store.RunPaused || strings.Count(r.StateReason, "build step") != 1 || !strings.Contains(r.StateReason, "cannot build step dns (test.mark): with.target: environment variable FAILOVER_RB_DNS_TARGET is not set") {
		t.Errorf("run %s: %q", r.State, r.StateReason)
	}
	plan, err := e.ex.Planner().Plan(ctx, rb, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := plan.Steps[0].Verdict; got != "cannot tell: "+want {
		t.Errorf("plan verdict %q", got)
	}
}
