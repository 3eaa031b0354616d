package storetest

import (
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/store"
)

func testSteps(t *testing.T, open Opener) {
	s := open(t)
	c := ctx(t)
	mustCreate(t, s, fullRun("r1", "rb", store.RunRunning))
	mustCreate(t, s, fullRun("r2", "rb2", store.RunRunning))
	if steps, err := s.Steps(c, "r1"); err != nil || len(steps) != 0 {
		t.Fatalf("Steps of a run without steps = %s, %v", show(steps), err)
	}
	promote := &store.StepState{
		RunID: "r1", StepID: "promote_db", Status: store.StepApplying, Attempts: 2, AlreadyDone: true,
		Summary: "pg_promote() called", Outputs: map[string]string{"lsn": "0/3000060", "host": "dr-db"},
		Error: "transient: connection reset", StartedAt: base, EndedAt: base.Add(1500 * time.Millisecond),
		Message: store.MessageRef{Channel: "C1", TS: "1700000000.000300"},
	}
	check := &store.StepState{RunID: "r1", StepID: "check_lag", Status: store.StepPending}
	other := &store.StepState{RunID: "r2", StepID: "promote_db", Status: store.StepDone}
	for _, st := range []*store.StepState{promote, check, other} {
		if err := s.PutStep(c, st); err != nil {
			t.Fatal(err)
		}
	}
	want := *promote
	want.StartedAt, want.EndedAt = u(want.StartedAt), u(want.EndedAt)
	got, err := s.Steps(c, "r1")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "Steps", sortSteps(got), []*store.StepState{check, &want})

	// PutStep replaces: every field, including clearing some.
	next := &store.StepState{RunID: "r1", StepID: "promote_db", Status: store.StepDone, Attempts: 3,
		Summary: "promoted", Outputs: map[string]string{"lsn": "0/4000000"}, StartedAt: base.Add(time.Second)}
	if err := s.PutStep(c, next); err != nil {
		t.Fatal(err)
	}
	want = *next
	want.StartedAt = u(want.StartedAt)
	got, _ = s.Steps(c, "r1")
	equal(t, "Steps after replacing promote_db", sortSteps(got), []*store.StepState{check, &want})
	got, _ = s.Steps(c, "r2")
	equal(t, "other run's steps", got, []*store.StepState{other})
}

func sortSteps(steps []*store.StepState) []*store.StepState {
	out := append([]*store.StepState(nil), steps...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].StepID < out[j-1].StepID; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func testApprovals(t *testing.T, open Opener) {
	s := open(t)
	c := ctx(t)
	mustCreate(t, s, fullRun("r1", "rb", store.RunPending))
	mustCreate(t, s, fullRun("r2", "rb2", store.RunPending))
	put := func(a *store.Approval) *store.Approval {
		t.Helper()
		if err := s.PutApproval(c, a); err != nil {
			t.Fatal(err)
		}
		cp := *a
		cp.At = u(cp.At)
		return &cp
	}
	list := func(runID string) []*store.Approval {
		t.Helper()
		as, err := s.Approvals(c, runID)
		if err != nil {
			t.Fatal(err)
		}
		return as
	}
	if as := list("r1"); len(as) != 0 {
		t.Fatalf("approvals before any: %s", show(as))
	}
	u2 := put(&store.Approval{RunID: "r1", User: "U2", Decision: store.Approve, PlanHash: "h1", At: base.Add(2 * time.Second)})
	u1 := put(&store.Approval{RunID: "r1", User: "U1", Decision: store.Approve, PlanHash: "h1", At: base.Add(time.Second)})
	u3 := put(&store.Approval{RunID: "r1", User: "U3", Decision: store.Reject, PlanHash: "h0", At: base.Add(3 * time.Second)})
	other := put(&store.Approval{RunID: "r2", User: "U1", Decision: store.Approve, PlanHash: "x", At: base})
	equal(t, "oldest first", list("r1"), []*store.Approval{u1, u2, u3})

	// U1 changes their mind: the decision is replaced (and now newest).
	u1b := put(&store.Approval{RunID: "r1", User: "U1", Decision: store.Reject, PlanHash: "h2", At: base.Add(4 * time.Second)})
	equal(t, "after U1 changed their decision", list("r1"), []*store.Approval{u2, u3, u1b})

	if err := s.DeleteApproval(c, "r1", "", "U3"); err != nil {
		t.Fatal(err)
	}
	equal(t, "after U3 withdrew", list("r1"), []*store.Approval{u2, u1b})
	if err := s.DeleteApproval(c, "r1", "", "U3"); err != nil {
		t.Errorf("withdrawing twice: %v", err)
	}
	if err := s.DeleteApproval(c, "r1", "", "U-never"); err != nil {
		t.Errorf("withdrawing a decision never made: %v", err)
	}
	equal(t, "other run untouched", list("r2"), []*store.Approval{other})

	// A gate's approvals are apart from the start request's: the same
	// person decides each once, and withdrawing one leaves the other.
	g := put(&store.Approval{RunID: "r1", Gate: "dba_gate", User: "U2", Decision: store.Approve, PlanHash: "h1", Via: "button", At: base.Add(5 * time.Second)})
	equal(t, "with a gate's approval", list("r1"), []*store.Approval{u2, u1b, g})
	if err := s.DeleteApproval(c, "r1", "dba_gate", "U2"); err != nil {
		t.Fatal(err)
	}
	equal(t, "after the gate's approval was withdrawn", list("r1"), []*store.Approval{u2, u1b})
	if err := s.PutApproval(c, &store.Approval{RunID: "r1", User: "U2", Decision: store.Approve, Via: "email"}); err == nil {
		t.Error("an approval via an unknown channel was stored")
	}
}

func testAudit(t *testing.T, open Opener) {
	s := open(t)
	c := ctx(t)
	mustCreate(t, s, fullRun("r1", "rb", store.RunRunning))
	mustCreate(t, s, fullRun("r2", "rb2", store.RunRunning))
	in := []*store.AuditEvent{
		{RunID: "r1", At: base, Actor: "U1", Type: "run.requested", Message: "start rb", Data: map[string]string{"reason": "drill"}},
		{RunID: "r2", At: base, Actor: "bot", Type: "run.started"},
		{RunID: "r1", At: base.Add(time.Second), Actor: "bot", Type: "step.applying", StepID: "promote_db", Message: "promote", Data: map[string]string{"phase": "database", "attempt": "1"}},
		{RunID: "", At: base, Actor: "U9", Type: "assess.requested"},
		// Events keep insertion order even when their times go backwards.
		{RunID: "r1", At: base.Add(-time.Hour), Actor: "bot", Type: "step.done", StepID: "promote_db"},
	}
	var last int64
	for i, e := range in {
		if err := s.Append(c, e); err != nil {
			t.Fatal(err)
		}
		if e.Seq <= last {
			t.Fatalf("event %d got Seq %d after %d", i, e.Seq, last)
		}
		last = e.Seq
	}
	want := func(idx ...int) []*store.AuditEvent {
		var out []*store.AuditEvent
		for _, i := range idx {
			cp := *in[i]
			cp.At = u(cp.At)
			out = append(out, &cp)
		}
		return out
	}
	got, err := s.Audit(c, "r1")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "run r1's audit", got, want(0, 2, 4))
	got, _ = s.Audit(c, "")
	equal(t, "whole audit", got, want(0, 1, 2, 3, 4))

	zero := &store.AuditEvent{RunID: "r2", Actor: "bot", Type: "run.paused"}
	if err := s.Append(c, zero); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(zero.At); zero.At.IsZero() || d < 0 || d > time.Minute {
		t.Errorf("a zero At was set to %v, want now", zero.At)
	}
}

func testCancelled(t *testing.T, open Opener) {
	s := open(t)
	mustCreate(t, s, fullRun("r1", "rb", store.RunRunning))
	c, cancel := contextCancelled()
	defer cancel()
	calls := map[string]func() error{
		"CreateRun": func() error { return s.CreateRun(c, fullRun("r2", "rb2", store.RunRunning)) },
		"GetRun":    func() error { _, err := s.GetRun(c, "r1"); return err },
		"UpdateRun": func() error { r := fullRun("r1", "rb", store.RunFailed); r.Version = 1; return s.UpdateRun(c, r) },
		"ClaimRun":  func() error { _, err := s.ClaimRun(c, "r1", "bot", time.Minute); return err },
		"ListRuns":  func() error { _, err := s.ListRuns(c, store.ListOptions{}); return err },
		"PutStep": func() error {
			return s.PutStep(c, &store.StepState{RunID: "r1", StepID: "a", Status: store.StepDone})
		},
		"Steps": func() error { _, err := s.Steps(c, "r1"); return err },
		"PutApproval": func() error {
			return s.PutApproval(c, &store.Approval{RunID: "r1", User: "U1", Decision: store.Approve})
		},
		"DeleteApproval": func() error { return s.DeleteApproval(c, "r1", "", "U1") },
		"SetCard":        func() error { return s.SetCard(c, "r1", store.MessageRef{Channel: "C", TS: "1"}) },
		"Approvals":      func() error { _, err := s.Approvals(c, "r1"); return err },
		"Append":         func() error { return s.Append(c, &store.AuditEvent{RunID: "r1", Type: "x"}) },
		"Audit":          func() error { _, err := s.Audit(c, "r1"); return err },
	}
	for name, call := range calls {
		if err := call(); err == nil {
			t.Errorf("%s with a cancelled context succeeded", name)
		}
	}
	// Nothing was written.
	r := mustGet(t, s, "r1")
	if r.State != store.RunRunning || r.Owner != "" || r.Version != 1 {
		t.Errorf("run changed by cancelled calls: %+v", *r)
	}
	if _, err := s.GetRun(ctx(t), "r2"); err == nil {
		t.Error("cancelled CreateRun stored a run")
	}
}
