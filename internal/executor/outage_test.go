package executor

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/store"
)

// flakyStore fails every step write while down is set.
type flakyStore struct {
	store.Store
	down atomic.Bool
}

func (f *flakyStore) PutStep(ctx context.Context, s *store.StepState) error {
	if f.down.Load() {
		return errors.New("database is locked")
	}
	return f.Store.PutStep(ctx, s)
}

func TestAStoreOutageStopsTheRunWithoutLosingItAndRecoverFinishesIt(t *testing.T) {
	e := newEnv(t)
	fs := &flakyStore{Store: e.st}
	ex, err := New(Config{Store: fs, Owner: "test-owner", PlanHash: testHash, StoreTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld()
	g := newGate()
	rb := mkRunbook("outage", []*runbook.Step{mkStep(w, "a", g.opt()), mkStep(w, "b", needs("a"))})
	id := e.create(rb, nil)
	ctx := context.Background()
	if err := ex.Start(ctx, id, rb); err != nil {
		t.Fatal(err)
	}
	g.waitEntered(t)
	fs.down.Store(true)
	close(g.release)
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := ex.Wait(wctx, id); err != nil {
		t.Fatal(err)
	}
	if run := e.run(id); run.State != store.RunRunning {
		t.Fatalf("after the outage the run is %s, want running (for Recover)", run.State)
	}
	if st := e.steps(id)["a"]; st.Status != store.StepApplying {
		t.Errorf("step a is %s, want applying (the done transition could not be written)", st.Status)
	}
	ex.Close(ctx)

	fs.down.Store(false)
	if err := e.ex.Recover(ctx, func(string) (*runbook.Runbook, error) { return rb, nil }); err != nil {
		t.Fatal(err)
	}
	if run := e.wait(id); run.State != store.RunSucceeded {
		t.Fatalf("run is %s: %s", run.State, run.StateReason)
	}
	if w.appliesOf("a") != 1 {
		t.Errorf("a applied %d times: its effect was in place", w.appliesOf("a"))
	}
}

func TestASinkThatPanicsDoesNotFailTheRun(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Sink = events.SinkFunc(func(context.Context, events.Event) { panic("notifier bug") })
	})
	w := newWorld()
	id := e.start(mkRunbook("sink", []*runbook.Step{mkStep(w, "a")}), nil)
	if run := e.wait(id); run.State != store.RunSucceeded {
		t.Fatalf("run is %s: %s", run.State, run.StateReason)
	}
}

// stolenStore refuses lease renewals once stolen is set, as the store does
// when another executor took the run over after the lease expired.
type stolenStore struct {
	store.Store
	stolen atomic.Bool
}

func (s *stolenStore) ClaimRun(ctx context.Context, id, owner string, ttl time.Duration) (*store.Run, error) {
	if s.stolen.Load() {
		return nil, store.ErrLeaseHeld
	}
	return s.Store.ClaimRun(ctx, id, owner, ttl)
}

func TestAnExecutorThatLosesTheLeaseStopsExecutingTheRun(t *testing.T) {
	e := newEnv(t)
	ss := &stolenStore{Store: e.st}
	ex, err := New(Config{Store: ss, Owner: "a", PlanHash: testHash, LeaseTTL: 150 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close(context.Background())
	w := newWorld()
	g := newGate()
	rb := mkRunbook("lease", []*runbook.Step{mkStep(w, "a", g.opt())}, []*runbook.Step{mkStep(w, "b")})
	id := e.create(rb, nil)
	ctx := context.Background()
	if err := ex.Start(ctx, id, rb); err != nil {
		t.Fatal(err)
	}
	g.waitEntered(t)
	ss.stolen.Store(true)
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := ex.Wait(wctx, id); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	if w.has("a") || w.appliesOf("b") != 0 {
		t.Errorf("the executor went on after losing the lease: a in place %v, b applied %d", w.has("a"), w.appliesOf("b"))
	}
	if run := e.run(id); run.State != store.RunRunning {
		t.Errorf("run is %s: the new owner's run must be left as it is", run.State)
	}
}

func TestASurvivingExecutorTakesOverTheRunsOfADeadOne(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, err := New(Config{Store: e.st, Owner: "replica-a", PlanHash: testHash, LeaseTTL: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{Store: e.st, Owner: "replica-b", PlanHash: testHash, LeaseTTL: 300 * time.Millisecond,
		TakeoverInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	w := newWorld()
	g := newGate()
	rb := mkRunbook("takeover", []*runbook.Step{mkStep(w, "a", g.opt())}, []*runbook.Step{mkStep(w, "b")})
	lookup := func(string) (*runbook.Runbook, error) { return rb, nil }
	id := e.create(rb, nil)
	if err := a.Start(ctx, id, rb); err != nil {
		t.Fatal(err)
	}
	g.waitEntered(t)
	if err := b.Recover(ctx, lookup); err != nil {
		t.Fatal(err)
	}
	// While replica a lives (renewing its lease), b leaves the run alone.
	time.Sleep(600 * time.Millisecond)
	if run := e.run(id); run.Owner != a.Owner() || w.appliesOf("a") != 1 {
		t.Fatalf("b took over a live run: owner %s, applies of a %d", run.Owner, w.appliesOf("a"))
	}
	a.Close(ctx) // replica a dies with step a in flight
	close(g.release)
	deadline := time.Now().Add(30 * time.Second)
	for e.run(id).State != store.RunSucceeded {
		if time.Now().After(deadline) {
			run := e.run(id)
			t.Fatalf("the run was not taken over: %s owner %s", run.State, run.Owner)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if run := e.run(id); run.Owner != b.Owner() {
		t.Errorf("run finished by %s", run.Owner)
	}
}

// unrenewableStore accepts the first claim of a run and fails later ones,
// as a store that became unreachable for lease renewals.
type unrenewableStore struct {
	store.Store
	claims atomic.Int32
}

func (s *unrenewableStore) ClaimRun(ctx context.Context, id, owner string, ttl time.Duration) (*store.Run, error) {
	if s.claims.Add(1) > 1 {
		return nil, errors.New("connection refused")
	}
	return s.Store.ClaimRun(ctx, id, owner, ttl)
}

func TestNoApplyOnceTheLeaseCouldNotBeRenewed(t *testing.T) {
	e := newEnv(t)
	us := &unrenewableStore{Store: e.st}
	ex, err := New(Config{Store: us, Owner: "a", PlanHash: testHash, LeaseTTL: 300 * time.Millisecond,
		PollInterval: 20 * time.Millisecond, MaxPollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close(context.Background())
	w := newWorld()
	start := time.Now()
	slow := mkStep(w, "probe", readOnly(), checkFn(func(ctx context.Context, f *fakeStep) (steps.Result, error) {
		return steps.Result{Done: time.Since(start) > 600*time.Millisecond}, nil
	}))
	rb := mkRunbook("lease-expired", []*runbook.Step{slow, mkStep(w, "change", needs("probe"))})
	id := e.create(rb, nil)
	ctx := context.Background()
	if err := ex.Start(ctx, id, rb); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := ex.Wait(wctx, id); err != nil {
		t.Fatal(err)
	}
	if n := w.appliesOf("change"); n != 0 {
		t.Errorf("applied %d times without a valid lease", n)
	}
	if st := e.steps(id)["change"]; st != nil && st.Status == store.StepApplying {
		t.Errorf("step recorded applying without a valid lease")
	}
	if run := e.run(id); run.State != store.RunRunning {
		t.Errorf("run is %s, want running (for whoever holds the lease, or Recover)", run.State)
	}
}

// A run that stalls because the store cannot be written says so once
// (whatever the retries in between), and once again when it goes on.
func TestAStalledRunSaysSoOnceAndAgainWhenItGoesOn(t *testing.T) {
	e := newEnv(t)
	fs := &flakyStore{Store: e.st}
	rec := &recorder{t: t}
	ex, err := New(Config{Store: fs, Sink: rec, Owner: "test-owner", PlanHash: testHash, StoreTimeout: 200 * time.Millisecond,
		LeaseTTL: 300 * time.Millisecond, TakeoverInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	defer ex.Close(ctx)
	w := newWorld()
	g := newGate()
	rb := mkRunbook("stall", []*runbook.Step{mkStep(w, "a", g.opt()), mkStep(w, "b", needs("a"))})
	if err := ex.Recover(ctx, func(string) (*runbook.Runbook, error) { return rb, nil }); err != nil {
		t.Fatal(err)
	}
	id := e.create(rb, nil)
	if err := ex.Start(ctx, id, rb); err != nil {
		t.Fatal(err)
	}
	g.waitEntered(t)
	fs.down.Store(true)
	close(g.release)
	count := func(typ events.Type) int {
		n := 0
		for _, ev := range rec.all() {
			if ev.Type == typ && ev.RunID == id {
				n++
			}
		}
		return n
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("the stall to be said", func() bool { return count(events.RunStalled) > 0 })
	// The takeover loop tries again and again while the store stays down.
	time.Sleep(1500 * time.Millisecond)
	if n := count(events.RunStalled); n != 1 {
		t.Errorf("the stall was said %d times, want once", n)
	}
	if n := count(events.RunUnstalled); n != 0 {
		t.Errorf("the run was said to go on %d times while the store was down", n)
	}
	fs.down.Store(false)
	waitFor("the run to succeed", func() bool { return e.run(id).State == store.RunSucceeded })
	if n := count(events.RunUnstalled); n != 1 {
		t.Errorf("going on was said %d times, want once", n)
	}
	for _, ev := range rec.all() {
		if ev.Type == events.RunStalled && !strings.Contains(ev.Error, "database is locked") {
			t.Errorf("the stall does not say why: %+v", ev)
		}
	}
}
