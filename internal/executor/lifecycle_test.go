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
	"github.com/failoverbot/failoverbot/internal/store"
)

// request asks for a run of rb through the executor's own verb.
func (e *env) request(rb *runbook.Runbook, params map[string]string) *store.Run {
	e.t.Helper()
	run, err := e.ex.Request(context.Background(), RunRequest{Runbook: rb, Params: params, PlanHash: testHash(rb, params),
		Requester: "U1", Reason: "primary down", Plan: `{"shown":"to approvers"}`})
	if err != nil {
		e.t.Fatalf("request: %v", err)
	}
	return run
}

func (e *env) auditTypes(id string) []string {
	var out []string
	for _, a := range e.audit(id) {
		out = append(out, a.Actor+" "+a.Type)
	}
	return out
}

func TestARequestIsPendingUntilApprovedThenRuns(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	rb := mkRunbook("lc", []*runbook.Step{mkStep(w, "a")})
	ctx := context.Background()
	run := e.request(rb, map[string]string{"ticket": "INC-1"})
	if run.State != store.RunPending || run.Requester != "U1" || run.PlanHash != testHash(rb, map[string]string{"ticket": "INC-1"}) {
		t.Fatalf("requested run = %+v", run)
	}
	ref := store.MessageRef{Channel: "#ops", TS: "1.1"}
	if err := e.ex.PlanPosted(ctx, run.ID, ref, "plan posted in #ops"); err != nil {
		t.Fatal(err)
	}
	if got := e.run(run.ID); got.ApprovalMsg != ref || got.State != store.RunPending {
		t.Errorf("after PlanPosted: %+v", got)
	}
	if err := e.ex.Approve(ctx, run.ID, rb, []string{"U2", "U3"}); err != nil {
		t.Fatal(err)
	}
	if got := e.wait(run.ID); got.State != store.RunSucceeded {
		t.Fatalf("run is %s (%s)", got.State, got.StateReason)
	}
	want := []string{"U1 run.requested", "bot approval.requested", "bot run.approved", "bot run.started"}
	if got := e.auditTypes(run.ID); !slices.Equal(got[:4], want) {
		t.Errorf("audit starts %v, want %v", got, want)
	}
	a := e.audit(run.ID)
	if a[0].Data["plan"] != `{"shown":"to approvers"}` || a[0].Data["params"] != "ticket=INC-1" || a[2].Data["approvers"] != "U2,U3" {
		t.Errorf("audit data: requested %v, approved %v", a[0].Data, a[2].Data)
	}
	var types []events.Type
	for _, ev := range e.rec.all() {
		types = append(types, ev.Type)
	}
	if !slices.Equal(types[:4], []events.Type{events.RunRequested, events.ApprovalRequested, events.RunApproved, events.RunStarted}) {
		t.Errorf("events start %v", types)
	}
}

func TestASecondRequestNamesTheActiveRun(t *testing.T) {
	e := newEnv(t)
	rb := mkRunbook("lc", []*runbook.Step{mkStep(newWorld(), "a")})
	first := e.request(rb, nil)
	_, err := e.ex.Request(context.Background(), RunRequest{Runbook: rb, PlanHash: "h", Requester: "U2"})
	var ae *ActiveRunError
	if !errors.As(err, &ae) || !errors.Is(err, store.ErrActiveRun) || ae.Run != first.ID || ae.State != store.RunPending {
		t.Fatalf("second request: %v, want an ActiveRunError naming %s", err, first.ID)
	}
	if want := "runbook lc already has an active run " + first.ID + " (pending_approval)"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestRequestsEndRejectedExpiredOrCancelled(t *testing.T) {
	tests := []struct {
		name   string
		end    func(e *env, id string) (*store.Run, error)
		state  store.RunState
		reason string
		audit  string
		event  events.Type
	}{
		{"rejected", func(e *env, id string) (*store.Run, error) { return e.ex.Reject(context.Background(), id, "U2") },
			store.RunRejected, "rejected by U2", "U2 run.rejected", events.RunRejected},
		{"expired", func(e *env, id string) (*store.Run, error) {
			return e.ex.Expire(context.Background(), id, "approval request expired after 15m0s")
		}, store.RunExpired, "approval request expired after 15m0s", "bot run.expired", events.RunExpired},
		{"cancelled", func(e *env, id string) (*store.Run, error) {
			return e.ex.Cancel(context.Background(), id, "U1", "approval request cancelled by U1")
		}, store.RunAborted, "approval request cancelled by U1", "U1 run.cancelled", events.RunCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			rb := mkRunbook("lc", []*runbook.Step{mkStep(newWorld(), "a")})
			run := e.request(rb, nil)
			ended, err := tt.end(e, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			got := e.run(run.ID)
			if got.State != tt.state || got.StateReason != tt.reason || got.EndedAt.IsZero() || ended.State != tt.state {
				t.Errorf("run = %s (%q), ended at %v; want %s (%q)", got.State, got.StateReason, got.EndedAt, tt.state, tt.reason)
			}
			if a := e.auditTypes(run.ID); a[len(a)-1] != tt.audit {
				t.Errorf("last audit %q, want %q", a[len(a)-1], tt.audit)
			}
			if evs := e.rec.all(); evs[len(evs)-1].Type != tt.event {
				t.Errorf("last event %s, want %s", evs[len(evs)-1].Type, tt.event)
			}
			// The runbook is free again, and an ended request stays ended.
			e.request(rb, nil)
			if _, err := tt.end(e, run.ID); !errors.Is(err, ErrRunEnded) && !errors.Is(err, ErrNotPending) {
				t.Errorf("ending it again: %v, want it refused", err)
			}
			if err := e.ex.Approve(context.Background(), run.ID, rb, []string{"U2"}); err == nil {
				t.Error("an ended request was approved")
			}
		})
	}
}

// An approved run that cannot start (here another live executor holds its
// lease) ends failed with the reason, so that it does not hold the
// runbook; one whose runbook changed since approval ends expired.
func TestAnApprovedRunThatCannotStartReleasesTheRunbook(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	rb := mkRunbook("lc", []*runbook.Step{mkStep(w, "a")})
	ctx := context.Background()
	run := e.request(rb, nil)
	if _, err := e.st.ClaimRun(ctx, run.ID, "another-live-executor", time.Hour); err != nil {
		t.Fatal(err)
	}
	err := e.ex.Approve(ctx, run.ID, rb, []string{"U2", "U3"})
	if !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("approve: %v, want the start refused (lease held)", err)
	}
	got := e.run(run.ID)
	if got.State != store.RunFailed || !strings.Contains(got.StateReason, "could not start") {
		t.Errorf("run = %s (%s), want failed: could not start", got.State, got.StateReason)
	}
	a := e.auditTypes(run.ID)
	if !slices.Equal(a[len(a)-3:], []string{"bot run.approved", "bot run.start_failed", "bot run.failed"}) {
		t.Errorf("audit ends %v", a)
	}
	if len(w.order) != 0 {
		t.Errorf("a run that did not start applied %v", w.order)
	}

	stale := e.request(rb, nil)
	rb.Hash = "edited"
	if err := e.ex.Approve(ctx, stale.ID, rb, []string{"U2", "U3"}); !errors.Is(err, ErrStalePlan) {
		t.Fatalf("approve after an edit: %v, want ErrStalePlan", err)
	}
	if got := e.run(stale.ID); got.State != store.RunExpired {
		t.Errorf("stale run is %s (%s), want expired", got.State, got.StateReason)
	}
	e.request(rb, nil) // the runbook is free
}
