package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/store"
)

func testRunRoundTrip(t *testing.T, open Opener) {
	s := open(t)
	for _, state := range []store.RunState{store.RunPending, store.RunRunning, store.RunWaiting, store.RunPaused, store.RunSucceeded,
		store.RunFailed, store.RunAborted, store.RunRejected, store.RunExpired} {
		in := fullRun("run-"+string(state), "rb-"+string(state), state)
		in.Owner, in.LeaseUntil = "bot-1", base.Add(time.Hour)
		want := utc(in)
		want.Version = 1
		mustCreate(t, s, in)
		if in.Version != 1 {
			t.Errorf("CreateRun set Version %d, want 1", in.Version)
		}
		equal(t, "GetRun after CreateRun", mustGet(t, s, in.ID), want)
	}
}

func testTimePrecision(t *testing.T, open Opener) {
	s := open(t)
	in := fullRun("r1", "rb", store.RunSucceeded)
	in.CreatedAt = time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", -7*3600))
	in.StartedAt = time.Now() // with a monotonic reading and the local zone
	mustCreate(t, s, in)
	got := mustGet(t, s, "r1")
	if got.CreatedAt.Location() != time.UTC || got.StartedAt.Location() != time.UTC {
		t.Errorf("times not in UTC: %v, %v", got.CreatedAt.Location(), got.StartedAt.Location())
	}
	if want := in.CreatedAt.Truncate(time.Microsecond); !got.CreatedAt.Equal(want) {
		t.Errorf("CreatedAt %v, want %v (microseconds kept)", got.CreatedAt, want)
	}
	if d := in.StartedAt.Sub(got.StartedAt); d < 0 || d >= time.Microsecond {
		t.Errorf("StartedAt %v read back as %v", in.StartedAt, got.StartedAt)
	}
	// What the caller holds after the write is what a read returns.
	if !got.CreatedAt.Equal(in.CreatedAt) || !got.StartedAt.Equal(in.StartedAt) {
		t.Errorf("caller's record %v/%v differs from stored %v/%v", in.CreatedAt, in.StartedAt, got.CreatedAt, got.StartedAt)
	}
}

func testEmptyValues(t *testing.T, open Opener) {
	s := open(t)
	mustCreate(t, s, &store.Run{ID: "r1", Runbook: "rb", State: store.RunPending, Params: map[string]string{}})
	got := mustGet(t, s, "r1")
	if len(got.Params) != 0 || !got.StartedAt.IsZero() || !got.EndedAt.IsZero() || !got.LeaseUntil.IsZero() {
		t.Errorf("empty values changed: %+v", *got)
	}
	if got.CreatedAt.IsZero() {
		t.Error("a zero CreatedAt was not set to now")
	}
	if d := time.Since(got.CreatedAt); d < 0 || d > time.Minute {
		t.Errorf("CreatedAt %v is not now", got.CreatedAt)
	}
}

func testNotFound(t *testing.T, open Opener) {
	s := open(t)
	c := ctx(t)
	_, err := s.GetRun(c, "nope")
	wantErr(t, "GetRun", err, store.ErrNotFound)
	err = s.UpdateRun(c, &store.Run{ID: "nope", Runbook: "rb", State: store.RunRunning, Version: 1})
	wantErr(t, "UpdateRun", err, store.ErrNotFound)
	_, err = s.ClaimRun(c, "nope", "bot-1", time.Minute)
	wantErr(t, "ClaimRun", err, store.ErrNotFound)
	err = s.PutStep(c, &store.StepState{RunID: "nope", StepID: "a", Status: store.StepPending})
	wantErr(t, "PutStep", err, store.ErrNotFound)
	err = s.PutApproval(c, &store.Approval{RunID: "nope", User: "U1", Decision: store.Approve})
	wantErr(t, "PutApproval", err, store.ErrNotFound)
	if steps, err := s.Steps(c, "nope"); err != nil || len(steps) != 0 {
		t.Errorf("Steps of an unknown run = %v, %v; want none", steps, err)
	}
	if as, err := s.Approvals(c, "nope"); err != nil || len(as) != 0 {
		t.Errorf("Approvals of an unknown run = %v, %v; want none", as, err)
	}
	if ev, err := s.Audit(c, "nope"); err != nil || len(ev) != 0 {
		t.Errorf("Audit of an unknown run = %v, %v; want none", ev, err)
	}
}

func testBadInput(t *testing.T, open Opener) {
	s := open(t)
	c := ctx(t)
	for name, r := range map[string]*store.Run{
		"empty id":      {Runbook: "rb", State: store.RunPending},
		"empty runbook": {ID: "r1", State: store.RunPending},
		"unknown state": {ID: "r1", Runbook: "rb", State: "exploded"},
	} {
		if err := s.CreateRun(c, r); err == nil {
			t.Errorf("CreateRun with %s succeeded", name)
		}
	}
	if runs, err := s.ListRuns(c, store.ListOptions{}); err != nil || len(runs) != 0 {
		t.Fatalf("after refused creates ListRuns = %v, %v", ids(runs), err)
	}
	r := mustCreate(t, s, fullRun("r1", "rb", store.RunRunning))
	bad := *r
	bad.State = "exploded"
	if err := s.UpdateRun(c, &bad); err == nil {
		t.Error("UpdateRun to an unknown state succeeded")
	}
	if err := s.PutStep(c, &store.StepState{RunID: "r1", StepID: "a", Status: "bogus"}); err == nil {
		t.Error("PutStep with an unknown status succeeded")
	}
	if err := s.PutStep(c, &store.StepState{RunID: "r1", Status: store.StepDone}); err == nil {
		t.Error("PutStep without a step id succeeded")
	}
	if err := s.PutApproval(c, &store.Approval{RunID: "r1", User: "U1", Decision: "maybe"}); err == nil {
		t.Error("PutApproval with an unknown decision succeeded")
	}
	if err := s.PutApproval(c, &store.Approval{RunID: "r1", Decision: store.Approve}); err == nil {
		t.Error("PutApproval without a user succeeded")
	}
	if err := s.Append(c, &store.AuditEvent{RunID: "r1"}); err == nil {
		t.Error("Append without a type succeeded")
	}
	if _, err := s.ClaimRun(c, "r1", "", time.Minute); err == nil {
		t.Error("ClaimRun with an empty owner succeeded")
	}
	equal(t, "run after refused writes", mustGet(t, s, "r1"), utc(r))
	if steps, _ := s.Steps(c, "r1"); len(steps) != 0 {
		t.Errorf("refused PutStep stored %s", show(steps))
	}
	if as, _ := s.Approvals(c, "r1"); len(as) != 0 {
		t.Errorf("refused PutApproval stored %s", show(as))
	}
	if ev, _ := s.Audit(c, ""); len(ev) != 0 {
		t.Errorf("refused Append stored %s", show(ev))
	}
}

func testDuplicateID(t *testing.T, open Opener) {
	s := open(t)
	orig := mustCreate(t, s, fullRun("r1", "rb", store.RunSucceeded))
	dup := fullRun("r1", "other", store.RunFailed)
	if err := s.CreateRun(ctx(t), dup); err == nil {
		t.Fatal("a second run with the same id was created")
	}
	equal(t, "original run", mustGet(t, s, "r1"), utc(orig))
}

func testActiveStatesLock(t *testing.T, open Opener) {
	for _, held := range store.ActiveStates {
		for _, next := range store.ActiveStates {
			t.Run(string(held)+" blocks "+string(next), func(t *testing.T) {
				s := open(t)
				mustCreate(t, s, fullRun("a", "rb", held))
				err := s.CreateRun(ctx(t), fullRun("b", "rb", next))
				wantErr(t, "second active run", err, store.ErrActiveRun)
				if _, err := s.GetRun(ctx(t), "b"); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("refused run was stored: %v", err)
				}
				mustCreate(t, s, fullRun("c", "other-rb", next)) // another runbook is free
				mustCreate(t, s, fullRun("d", "rb", store.RunFailed))
			})
		}
	}
}

func testTerminalFreesLock(t *testing.T, open Opener) {
	for _, end := range []store.RunState{store.RunSucceeded, store.RunFailed, store.RunAborted, store.RunRejected, store.RunExpired} {
		t.Run(string(end), func(t *testing.T) {
			s := open(t)
			a := mustCreate(t, s, fullRun("a", "rb", store.RunRunning))
			wantErr(t, "while a runs", s.CreateRun(ctx(t), fullRun("b", "rb", store.RunPending)), store.ErrActiveRun)
			a.State = end
			if err := s.UpdateRun(ctx(t), a); err != nil {
				t.Fatal(err)
			}
			mustCreate(t, s, fullRun("b", "rb", store.RunPending))
		})
	}
}

func testReactivate(t *testing.T, open Opener) {
	s := open(t)
	c := ctx(t)
	a := mustCreate(t, s, fullRun("a", "rb", store.RunPaused))
	a.State = store.RunFailed
	if err := s.UpdateRun(c, a); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, fullRun("b", "rb", store.RunRunning))
	stored := utc(a)
	a.State = store.RunRunning // retry the failed run while b is active
	wantErr(t, "reactivating a", s.UpdateRun(c, a), store.ErrActiveRun)
	if a.Version != stored.Version {
		t.Errorf("refused UpdateRun changed the caller's Version to %d", a.Version)
	}
	equal(t, "a after the refused update", mustGet(t, s, "a"), stored)
	// An update that keeps b active is fine: it is the lock holder.
	b := mustGet(t, s, "b")
	b.State, b.StateReason = store.RunPaused, "operator paused"
	if err := s.UpdateRun(c, b); err != nil {
		t.Fatalf("updating the active run itself: %v", err)
	}
}

func testUpdateRun(t *testing.T, open Opener) {
	s := open(t)
	r := mustCreate(t, s, fullRun("r1", "rb", store.RunPending))
	next := &store.Run{
		ID: "r1", Runbook: "rb", PlanHash: "sha256:new", Params: map[string]string{"replicas": "5"},
		Requester: "U-other", Reason: "drill", State: store.RunRunning, StateReason: "approved by U1, U2",
		CreatedAt: base.Add(-time.Hour), StartedAt: base.Add(2 * time.Second), EndedAt: time.Time{},
		ApprovalMsg: store.MessageRef{Channel: "C2", TS: "1.2"}, Card: store.MessageRef{Channel: "C3", TS: "3.4"},
		Owner: "bot-2", LeaseUntil: base.Add(30 * time.Second), Version: r.Version,
	}
	if err := s.UpdateRun(ctx(t), next); err != nil {
		t.Fatal(err)
	}
	if next.Version != 2 {
		t.Errorf("Version after UpdateRun = %d, want 2", next.Version)
	}
	// The card is SetCard's: UpdateRun leaves the stored one as it was.
	want := utc(next)
	want.Card = r.Card
	equal(t, "GetRun after UpdateRun", mustGet(t, s, "r1"), want)
	next.State = store.RunSucceeded
	if err := s.UpdateRun(ctx(t), next); err != nil || next.Version != 3 {
		t.Fatalf("second UpdateRun: %v, Version %d", err, next.Version)
	}
}

func testSetCard(t *testing.T, open Opener) {
	s := open(t)
	c := ctx(t)
	r := mustCreate(t, s, fullRun("r1", "rb", store.RunRunning))
	ref := store.MessageRef{Channel: "C9", TS: "9.9"}
	if err := s.SetCard(c, "r1", ref); err != nil {
		t.Fatal(err)
	}
	got := mustGet(t, s, "r1")
	if got.Card != ref || got.Version != r.Version {
		t.Errorf("after SetCard: card %+v version %d, want %+v and the unchanged version %d", got.Card, got.Version, ref, r.Version)
	}
	// The executor's copy, read before the card was set, still writes,
	// and does not erase the card.
	r.State = store.RunPaused
	if err := s.UpdateRun(c, r); err != nil {
		t.Fatalf("UpdateRun after SetCard: %v", err)
	}
	if got := mustGet(t, s, "r1"); got.Card != ref || got.State != store.RunPaused {
		t.Errorf("after UpdateRun: card %+v state %s, want %+v and paused", got.Card, got.State, ref)
	}
	wantErr(t, "SetCard of an unknown run", s.SetCard(c, "nope", ref), store.ErrNotFound)
}

func testStaleVersion(t *testing.T, open Opener) {
	s := open(t)
	c := ctx(t)
	mustCreate(t, s, fullRun("r1", "rb", store.RunRunning))
	first, second := mustGet(t, s, "r1"), mustGet(t, s, "r1")
	first.StateReason = "first writer"
	if err := s.UpdateRun(c, first); err != nil {
		t.Fatal(err)
	}
	second.StateReason = "second writer"
	wantErr(t, "stale UpdateRun", s.UpdateRun(c, second), store.ErrConflict)
	if second.Version != 1 {
		t.Errorf("refused UpdateRun changed the caller's Version to %d", second.Version)
	}
	equal(t, "after the refused update", mustGet(t, s, "r1"), utc(first))
	second.Version = 99
	wantErr(t, "UpdateRun from the future", s.UpdateRun(c, second), store.ErrConflict)
}

func testClaimHeld(t *testing.T, open Opener) {
	s := open(t)
	c := ctx(t)
	r := mustCreate(t, s, fullRun("r1", "rb", store.RunRunning))
	before := time.Now()
	got, err := s.ClaimRun(c, "r1", "bot-1", time.Minute)
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	if got.Owner != "bot-1" || got.Version != r.Version+1 {
		t.Errorf("claimed run owner %q version %d, want bot-1 version %d", got.Owner, got.Version, r.Version+1)
	}
	lo, hi := before.Add(time.Minute).Truncate(time.Microsecond), after.Add(time.Minute)
	if got.LeaseUntil.Before(lo) || got.LeaseUntil.After(hi) {
		t.Errorf("LeaseUntil %v not within [%v, %v]", got.LeaseUntil, lo, hi)
	}
	want := utc(r)
	want.Owner, want.LeaseUntil, want.Version = got.Owner, got.LeaseUntil, got.Version
	equal(t, "claimed run", got, want)
	equal(t, "GetRun after ClaimRun", mustGet(t, s, "r1"), want)

	_, err = s.ClaimRun(c, "r1", "bot-2", time.Minute)
	wantErr(t, "claim of a held run", err, store.ErrLeaseHeld)
	equal(t, "run after a refused claim", mustGet(t, s, "r1"), want)
}

func testClaimRenew(t *testing.T, open Opener) {
	s := open(t)
	c := ctx(t)
	mustCreate(t, s, fullRun("r1", "rb", store.RunRunning))
	first, err := s.ClaimRun(c, "r1", "bot-1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.ClaimRun(c, "r1", "bot-1", time.Hour)
	if err != nil {
		t.Fatalf("renewal by the owner: %v", err)
	}
	if !second.LeaseUntil.After(first.LeaseUntil.Add(50*time.Minute)) || second.Owner != "bot-1" {
		t.Errorf("renewal: lease %v (was %v), owner %q", second.LeaseUntil, first.LeaseUntil, second.Owner)
	}
	if second.Version <= first.Version {
		t.Errorf("renewal kept Version %d", second.Version)
	}
	// The owner's own copy from before the renewal is stale.
	first.StateReason = "stale"
	wantErr(t, "UpdateRun with the pre-renewal copy", s.UpdateRun(c, first), store.ErrConflict)
	second.StateReason = "fresh"
	if err := s.UpdateRun(c, second); err != nil {
		t.Fatalf("UpdateRun with the claimed copy: %v", err)
	}
}

func testClaimExpired(t *testing.T, open Opener) {
	s := open(t)
	c := ctx(t)
	mustCreate(t, s, fullRun("r1", "rb", store.RunRunning))
	old, err := s.ClaimRun(c, "r1", "bot-1", time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // the lease expires (no upper bound is asserted)
	got, err := s.ClaimRun(c, "r1", "bot-2", time.Minute)
	if err != nil {
		t.Fatalf("takeover of an expired lease: %v", err)
	}
	if got.Owner != "bot-2" {
		t.Errorf("owner after takeover %q", got.Owner)
	}
	old.State = store.RunFailed
	wantErr(t, "old owner's write after the takeover", s.UpdateRun(c, old), store.ErrConflict)
	_, err = s.ClaimRun(c, "r1", "bot-1", time.Minute)
	wantErr(t, "old owner's claim after the takeover", err, store.ErrLeaseHeld)

	// A lease in the past (negative ttl) releases the run at once.
	if _, err := s.ClaimRun(c, "r1", "bot-2", -time.Second); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ClaimRun(c, "r1", "bot-3", time.Minute); err != nil || got.Owner != "bot-3" {
		t.Fatalf("claim of a released run: %v", err)
	}
}

func testListRuns(t *testing.T, open Opener) {
	s := open(t)
	c := ctx(t)
	mk := func(id, rb string, st store.RunState, at time.Duration) *store.Run {
		r := fullRun(id, rb, st)
		r.CreatedAt = base.Add(at)
		return mustCreate(t, s, r)
	}
	if runs, err := s.ListRuns(c, store.ListOptions{}); err != nil || len(runs) != 0 {
		t.Fatalf("empty store lists %v, %v", ids(runs), err)
	}
	a := mk("a", "rb1", store.RunSucceeded, 1*time.Minute)
	mk("b", "rb2", store.RunFailed, 3*time.Minute)
	mk("c", "rb1", store.RunRunning, 2*time.Minute)
	mk("d", "rb2", store.RunPending, 4*time.Minute)
	mk("e", "rb1", store.RunAborted, 2*time.Minute) // same time as c, created later
	for _, tc := range []struct {
		name string
		opts store.ListOptions
		want []string
	}{
		{"all", store.ListOptions{}, []string{"d", "b", "e", "c", "a"}},
		{"one runbook", store.ListOptions{Runbook: "rb1"}, []string{"e", "c", "a"}},
		{"active states", store.ListOptions{States: []store.RunState{store.RunPending, store.RunRunning, store.RunPaused}}, []string{"d", "c"}},
		{"one state", store.ListOptions{States: []store.RunState{store.RunFailed}}, []string{"b"}},
		{"limit", store.ListOptions{Limit: 2}, []string{"d", "b"}},
		{"runbook, states and limit", store.ListOptions{Runbook: "rb1", States: []store.RunState{store.RunSucceeded, store.RunAborted}, Limit: 1}, []string{"e"}},
		{"unknown runbook", store.ListOptions{Runbook: "nope"}, []string{}},
	} {
		runs, err := s.ListRuns(c, tc.opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		equal(t, tc.name, ids(runs), tc.want)
	}
	runs, _ := s.ListRuns(c, store.ListOptions{Runbook: "rb1"})
	equal(t, "listed run has every field", runs[2], utc(a))
}
