package executor

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/store"
)

// fakeGate is a gate instance with a policy.
type fakeGate struct{ p steps.ApprovalPolicy }

func (g *fakeGate) Check(ctx context.Context) (steps.Result, error) {
	return steps.WaitingProbe(ctx, g.p), nil
}
func (g *fakeGate) Policy() steps.ApprovalPolicy { return g.p }

// mkGate is a gate step (kind gate) with policy p.
func mkGate(id string, p steps.ApprovalPolicy, opts ...opt) *runbook.Step {
	s := &runbook.Step{ID: id, Name: "gate " + id, Kind: "gate", ReadOnly: true, Timeout: time.Minute,
		Factory: runbook.FactoryFunc(func(context.Context, runbook.Vars) (steps.Probe, error) { return &fakeGate{p: p}, nil })}
	for _, o := range opts {
		o(s, nil)
	}
	return s
}

var dbaPolicy = steps.ApprovalPolicy{Message: "DBA sign-off before the promotion", Required: 2, Groups: []string{"dba"},
	OnExpiry: steps.OnExpiryPause}

// waitGateEvent waits until the gate of step stepID announced its wait.
func (e *env) waitGateEvent(stepID string) events.Event {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, ev := range e.rec.all() {
			if ev.Type == events.GateWaiting && ev.StepID == stepID {
				return ev
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.t.Fatalf("gate %s did not announce its wait", stepID)
	return events.Event{}
}

// waitGate waits until the run is waiting for its gate stepID (the step
// recorded waiting, the run waiting_approval).
func (e *env) waitGate(id, stepID string) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if st := e.steps(id)[stepID]; st != nil && st.Status == store.StepWaiting && e.run(id).State == store.RunWaiting {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.t.Fatalf("run %s is not waiting for gate %s: %s", id, stepID, e.run(id).State)
}

// waitState waits until the run is in state want.
func (e *env) waitState(id string, want store.RunState) *store.Run {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := e.run(id)
		if r.State == want {
			return r
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("run is %s (%s), want %s", r.State, r.StateReason, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func gateRunbook(w *world, p steps.ApprovalPolicy) *runbook.Runbook {
	return mkRunbook("gated", []*runbook.Step{mkStep(w, "drain"), mkGate("dba", p, needs("drain")), mkStep(w, "promote", needs("dba"))})
}

func TestAGateWaitsForItsApprovalThenTheRunGoesOn(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	ctx := context.Background()
	id := e.start(gateRunbook(w, dbaPolicy), nil)
	waiting := e.waitGateEvent("dba")
	e.waitGate(id, "dba")
	if st := e.steps(id)["dba"]; st.Status != store.StepWaiting || !strings.Contains(st.Summary, "waiting for 2 approvals: DBA sign-off") {
		t.Fatalf("gate step = %+v", st)
	}
	if w.appliesOf("promote") != 0 {
		t.Fatal("the step after the gate ran before it was approved")
	}
	if waiting.StepID != "dba" || !strings.Contains(waiting.Data["policy"], `"required":2`) || waiting.Data["expires"] == "" {
		t.Fatalf("gate.waiting event = %+v", waiting)
	}
	ref := store.MessageRef{Channel: "#incident", TS: "7.7"}
	if err := e.ex.GatePosted(ctx, id, "dba", ref); err != nil {
		t.Fatal(err)
	}
	if got := e.steps(id)["dba"].Message; got != ref {
		t.Errorf("gate message = %+v, want %+v", got, ref)
	}
	if err := e.ex.ApproveGate(ctx, id, "promote", []string{"x"}); !errors.Is(err, ErrGateNotWaiting) {
		t.Errorf("approving a step that is no waiting gate: %v", err)
	}
	if err := e.ex.ApproveGate(ctx, id, "dba", []string{"dba-1", "dba-2"}); err != nil {
		t.Fatal(err)
	}
	if run := e.wait(id); run.State != store.RunSucceeded {
		t.Fatalf("run is %s (%s)", run.State, run.StateReason)
	}
	st := e.steps(id)["dba"]
	if st.Status != store.StepDone || st.Outputs["confirmedBy"] != "dba-1,dba-2" || st.Message != ref || st.Summary != "approved by dba-1, dba-2" {
		t.Errorf("gate step after approval = %+v", st)
	}
	if w.appliesOf("promote") != 1 {
		t.Errorf("promote applied %d times", w.appliesOf("promote"))
	}
	if err := e.ex.ApproveGate(ctx, id, "dba", []string{"late"}); !errors.Is(err, ErrGateNotWaiting) && !errors.Is(err, ErrRunEnded) {
		t.Errorf("an approval after the run: %v", err)
	}
}

func TestARejectedGateFailsItsStepAndPausesTheRun(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	id := e.start(gateRunbook(w, dbaPolicy), nil)
	e.waitGate(id, "dba")
	if err := e.ex.RejectGate(context.Background(), id, "dba", "dba-1"); err != nil {
		t.Fatal(err)
	}
	run := e.wait(id)
	if run.State != store.RunPaused || !strings.Contains(run.StateReason, "rejected by dba-1") {
		t.Fatalf("run is %s (%s), want paused: rejected", run.State, run.StateReason)
	}
	e.wantStatus(id, map[string]store.StepStatus{"dba": store.StepFailed})
	if w.appliesOf("promote") != 0 {
		t.Error("promote ran after a rejection")
	}
}

func TestAnExpiredGatePausesTheRunOrFailsAsItsPolicySays(t *testing.T) {
	t.Run("pause, then ask again", func(t *testing.T) {
		e := newEnv(t)
		w := newWorld()
		p := dbaPolicy
		p.Expiry = 150 * time.Millisecond
		id := e.start(gateRunbook(w, p), nil)
		run := e.waitState(id, store.RunPaused)
		if !strings.Contains(run.StateReason, "gate dba expired: not approved within 150ms") {
			t.Fatalf("pause reason %q", run.StateReason)
		}
		e.wait(id)
		e.wantStatus(id, map[string]store.StepStatus{"dba": store.StepPending})
		if err := e.ex.Resume(context.Background(), id, "U1"); err != nil {
			t.Fatal(err)
		}
		e.waitGate(id, "dba")
		if err := e.ex.ApproveGate(context.Background(), id, "dba", []string{"dba-1", "dba-2"}); err != nil {
			t.Fatal(err)
		}
		if run := e.wait(id); run.State != store.RunSucceeded {
			t.Fatalf("run is %s (%s)", run.State, run.StateReason)
		}
	})
	t.Run("fail", func(t *testing.T) {
		e := newEnv(t)
		w := newWorld()
		p := dbaPolicy
		p.Expiry, p.OnExpiry = 150*time.Millisecond, steps.OnExpiryFail
		id := e.start(gateRunbook(w, p), nil)
		run := e.wait(id)
		if run.State != store.RunPaused {
			t.Fatalf("run is %s", run.State)
		}
		if st := e.steps(id)["dba"]; st.Status != store.StepFailed || !strings.Contains(st.Error, "not approved within 150ms") {
			t.Errorf("gate step = %+v, want failed: expired", st)
		}
	})
}

// A gate waiting when its bot restarts keeps waiting, as the same wait;
// a decision recorded by another process (any replica answers reactions)
// reaches the one that executes the run.
func TestAGateKeepsWaitingAcrossARestartAndHearsOtherProcesses(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.GatePollInterval = 20 * time.Millisecond })
	w := newWorld()
	rb := gateRunbook(w, dbaPolicy)
	ctx := context.Background()
	id := e.start(rb, nil)
	e.waitGateEvent("dba")
	if err := e.ex.GatePosted(ctx, id, "dba", store.MessageRef{Channel: "#incident", TS: "7.7"}); err != nil {
		t.Fatal(err)
	}
	if err := e.ex.Close(ctx); err != nil {
		t.Fatal(err)
	}
	lookup := func(string) (*runbook.Runbook, error) { return rb, nil }
	next, err := New(Config{Store: e.st, Owner: "test-owner", PlanHash: testHash, Sink: e.rec, GatePollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close(ctx)
	if err := next.Recover(ctx, lookup); err != nil {
		t.Fatal(err)
	}
	e.waitGate(id, "dba")
	// Another process (a second replica) counts the approvals.
	other, err := New(Config{Store: e.st, Owner: "replica-b", PlanHash: testHash, Runbooks: lookup, TakeoverInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	if err := other.ApproveGate(ctx, id, "dba", []string{"dba-1", "dba-2"}); err != nil {
		t.Fatal(err)
	}
	if err := next.Wait(ctx, id); err != nil {
		t.Fatal(err)
	}
	if run := e.run(id); run.State != store.RunSucceeded {
		t.Fatalf("run is %s (%s)", run.State, run.StateReason)
	}
	var waits []string
	for _, a := range e.audit(id) {
		if a.StepID == "dba" {
			waits = append(waits, a.Type)
		}
	}
	if want := []string{"gate.waiting", "gate.posted", "gate.approved", "step.done"}; !slices.Equal(waits, want) {
		t.Errorf("the gate's audit %v, want %v (one wait across the restart)", waits, want)
	}
	if st := e.steps(id)["dba"]; st.Message.TS != "7.7" {
		t.Errorf("the gate's message was lost across the restart: %+v", st.Message)
	}
}

// Pausing a run whose gate waits stops the wait; resuming asks again.
func TestPausingAWaitingRunStopsItsGate(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	id := e.start(gateRunbook(w, dbaPolicy), nil)
	e.waitGate(id, "dba")
	if err := e.ex.Pause(context.Background(), id, "U2"); err != nil {
		t.Fatal(err)
	}
	if run := e.wait(id); run.State != store.RunPaused {
		t.Fatalf("run is %s", run.State)
	}
	e.wantStatus(id, map[string]store.StepStatus{"dba": store.StepPending})
	if err := e.ex.Resume(context.Background(), id, "U2"); err != nil {
		t.Fatal(err)
	}
	e.waitGate(id, "dba")
	if err := e.ex.ApproveGate(context.Background(), id, "dba", []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if run := e.wait(id); run.State != store.RunSucceeded {
		t.Fatalf("run is %s (%s)", run.State, run.StateReason)
	}
}
