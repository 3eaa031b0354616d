package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/store"
)

const racers = 16

func contextCancelled() (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(context.Background())
	cancel()
	return c, cancel
}

// race runs fn(i) in racers goroutines released at once and returns their
// errors.
func race(fn func(i int) error) []error {
	errs := make([]error, racers)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range racers {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			errs[i] = fn(i)
		}()
	}
	start.Done()
	done.Wait()
	return errs
}

// exactlyOne checks that one error is nil and all others are want.
func exactlyOne(t *testing.T, errs []error, want error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("racers %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, want):
			t.Fatalf("racer %d: %v, want %v", i, err, want)
		}
	}
	if winner < 0 {
		t.Fatalf("no racer won: %v", errs[0])
	}
	return winner
}

func testRaceCreate(t *testing.T, open Opener) {
	s := open(t)
	c := ctx(t)
	states := []store.RunState{store.RunPending, store.RunRunning, store.RunPaused}
	errs := race(func(i int) error {
		return s.CreateRun(c, fullRun(fmt.Sprintf("run-%d", i), "rb", states[i%3]))
	})
	w := exactlyOne(t, errs, store.ErrActiveRun)
	runs, err := s.ListRuns(c, store.ListOptions{Runbook: "rb"})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "stored runs", ids(runs), []string{fmt.Sprintf("run-%d", w)})
}

func testRaceUpdate(t *testing.T, open Opener) {
	s := open(t)
	c := ctx(t)
	mustCreate(t, s, fullRun("r1", "rb", store.RunRunning))
	copies := make([]*store.Run, racers)
	for i := range copies {
		copies[i] = mustGet(t, s, "r1")
		copies[i].StateReason = fmt.Sprintf("writer %d", i)
	}
	errs := race(func(i int) error { return s.UpdateRun(c, copies[i]) })
	w := exactlyOne(t, errs, store.ErrConflict)
	got := mustGet(t, s, "r1")
	if got.StateReason != fmt.Sprintf("writer %d", w) || got.Version != 2 {
		t.Errorf("stored %q version %d; winner was writer %d", got.StateReason, got.Version, w)
	}
}

func testRaceClaim(t *testing.T, open Opener) {
	s := open(t)
	c := ctx(t)
	mustCreate(t, s, fullRun("r1", "rb", store.RunRunning))
	errs := race(func(i int) error {
		_, err := s.ClaimRun(c, "r1", fmt.Sprintf("bot-%d", i), time.Minute)
		return err
	})
	w := exactlyOne(t, errs, store.ErrLeaseHeld)
	if got := mustGet(t, s, "r1"); got.Owner != fmt.Sprintf("bot-%d", w) {
		t.Errorf("owner %q; winner was bot-%d", got.Owner, w)
	}
}

func testSharedRace(t *testing.T, open func(t *testing.T) (a, b store.Store)) {
	a, b := open(t)
	c := ctx(t)
	for round := range 5 {
		rb := fmt.Sprintf("rb-%d", round)
		errs := race(func(i int) error {
			s := a
			if i%2 == 1 {
				s = b
			}
			return s.CreateRun(c, fullRun(fmt.Sprintf("%s-run-%d", rb, i), rb, store.RunRunning))
		})
		w := exactlyOne(t, errs, store.ErrActiveRun)
		for _, s := range []store.Store{a, b} {
			runs, err := s.ListRuns(c, store.ListOptions{Runbook: rb})
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "stored runs", ids(runs), []string{fmt.Sprintf("%s-run-%d", rb, w)})
		}
	}
}

func testSharedVisibility(t *testing.T, open func(t *testing.T) (a, b store.Store)) {
	a, b := open(t)
	c := ctx(t)
	mustCreate(t, a, fullRun("r1", "rb", store.RunRunning))
	if _, err := a.ClaimRun(c, "r1", "bot-a", time.Minute); err != nil {
		t.Fatal(err)
	}
	_, err := b.ClaimRun(c, "r1", "bot-b", time.Minute)
	wantErr(t, "other instance's claim", err, store.ErrLeaseHeld)
	stale := mustGet(t, b, "r1")
	if _, err := a.ClaimRun(c, "r1", "bot-a", time.Minute); err != nil {
		t.Fatal(err)
	}
	stale.State = store.RunFailed
	wantErr(t, "other instance's stale update", b.UpdateRun(c, stale), store.ErrConflict)
	if err := b.PutStep(c, &store.StepState{RunID: "r1", StepID: "s", Status: store.StepDone}); err != nil {
		t.Fatal(err)
	}
	e := &store.AuditEvent{RunID: "r1", Type: "step.done"}
	if err := b.Append(c, e); err != nil {
		t.Fatal(err)
	}
	if steps, err := a.Steps(c, "r1"); err != nil || len(steps) != 1 {
		t.Errorf("a sees steps %s, %v", show(steps), err)
	}
	if ev, err := a.Audit(c, "r1"); err != nil || len(ev) != 1 || ev[0].Seq != e.Seq {
		t.Errorf("a sees audit %s, %v", show(ev), err)
	}
}
