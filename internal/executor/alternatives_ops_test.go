package executor

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/store"
)

// Operators acting on a chain of alternatives, and a process that stops in
// the middle of one (see alternatives_test.go for the chain itself).

func TestOperatorsRetryOrSkipStepsOfAChain(t *testing.T) {
	chain := func(w *world, fails *sync.Map, g *gate) *runbook.Runbook {
		apply := func(ctx context.Context, f *fakeStep) error {
			if msg, ok := fails.Load(f.id); ok {
				return steps.Permanentf("%s", msg)
			}
			f.w.set(f.id)
			return nil
		}
		restoreOpts := []opt{alternativeOf("force_promote"), applyFn(apply)}
		if g != nil {
			restoreOpts = []opt{alternativeOf("force_promote"), g.opt()}
		}
		return mkRunbook("chain-ops", []*runbook.Step{
			mkStep(w, "promote_db", applyFn(apply)),
			mkStep(w, "force_promote", alternativeOf("promote_db"), applyFn(apply)),
			mkStep(w, "restore_from_backup", restoreOpts...),
			mkStep(w, "verify", needs("promote_db")),
		})
	}
	allFail := func() *sync.Map {
		var m sync.Map
		for _, id := range []string{"promote_db", "force_promote", "restore_from_backup"} {
			m.Store(id, id+" failed")
		}
		return &m
	}
	ctx := context.Background()

	t.Run("retrying the last alternative that failed replaces the whole chain", func(t *testing.T) {
		e := newEnv(t)
		w := newWorld()
		fails := allFail()
		id := e.start(chain(w, fails, nil), nil)
		if run := e.wait(id); run.State != store.RunPaused {
			t.Fatalf("run is %s", run.State)
		}
		if err := e.ex.Resume(ctx, id, "U1"); !errors.Is(err, ErrStepFailed) {
			t.Errorf("resume with the chain exhausted: %v, want ErrStepFailed", err)
		}
		fails.Delete("restore_from_backup")
		if err := e.ex.RetryStep(ctx, id, "restore_from_backup", "U1"); err != nil {
			t.Fatalf("retry: %v", err)
		}
		if run := e.wait(id); run.State != store.RunSucceeded {
			t.Fatalf("run is %s: %s", run.State, run.StateReason)
		}
		e.wantStatus(id, map[string]store.StepStatus{"promote_db": store.StepReplaced, "force_promote": store.StepReplaced,
			"restore_from_backup": store.StepDone, "verify": store.StepDone})
		for _, sid := range []string{"promote_db", "force_promote"} {
			if n := w.appliesOf(sid); n != 1 {
				t.Errorf("%s applied %d times, want 1 (only the retried step runs again)", sid, n)
			}
		}
	})

	t.Run("retrying the first alternative runs it again, not the one after it", func(t *testing.T) {
		e := newEnv(t)
		w := newWorld()
		fails := allFail()
		id := e.start(chain(w, fails, nil), nil)
		e.wait(id)
		fails.Delete("force_promote")
		if err := e.ex.RetryStep(ctx, id, "force_promote", "U1"); err != nil {
			t.Fatalf("retry: %v", err)
		}
		if run := e.wait(id); run.State != store.RunSucceeded {
			t.Fatalf("run is %s: %s", run.State, run.StateReason)
		}
		e.wantStatus(id, map[string]store.StepStatus{"promote_db": store.StepReplaced, "force_promote": store.StepDone,
			"restore_from_backup": store.StepSkipped, "verify": store.StepDone})
		if st := e.steps(id)["restore_from_backup"]; !strings.Contains(st.Summary, "not needed") {
			t.Errorf("restore_from_backup: %q, want not needed", st.Summary)
		}
		if n := w.appliesOf("restore_from_backup"); n != 1 {
			t.Errorf("restore_from_backup applied %d times, want 1", n)
		}
	})

	t.Run("retrying the step itself: if it succeeds, its failed alternatives are not needed", func(t *testing.T) {
		e := newEnv(t)
		w := newWorld()
		fails := allFail()
		id := e.start(chain(w, fails, nil), nil)
		e.wait(id)
		fails.Delete("promote_db")
		if err := e.ex.RetryStep(ctx, id, "promote_db", "U1"); err != nil {
			t.Fatalf("retry: %v", err)
		}
		if run := e.wait(id); run.State != store.RunSucceeded {
			t.Fatalf("run is %s: %s", run.State, run.StateReason)
		}
		e.wantStatus(id, map[string]store.StepStatus{"promote_db": store.StepDone, "force_promote": store.StepSkipped,
			"restore_from_backup": store.StepSkipped, "verify": store.StepDone})
		for _, sid := range []string{"force_promote", "restore_from_backup"} {
			if n := w.appliesOf(sid); n != 1 {
				t.Errorf("%s applied %d times, want 1", sid, n)
			}
		}
	})

	t.Run("skipping the step ends its chain and the steps that need it go on", func(t *testing.T) {
		e := newEnv(t)
		w := newWorld()
		id := e.start(chain(w, allFail(), nil), nil)
		e.wait(id)
		if err := e.ex.SkipStep(ctx, id, "promote_db", "U1"); err != nil {
			t.Fatalf("skip: %v", err)
		}
		if run := e.wait(id); run.State != store.RunSucceeded {
			t.Fatalf("run is %s: %s", run.State, run.StateReason)
		}
		e.wantStatus(id, map[string]store.StepStatus{"promote_db": store.StepSkipped, "force_promote": store.StepSkipped,
			"restore_from_backup": store.StepSkipped, "verify": store.StepDone})
	})

	t.Run("a link of the chain cannot be retried while another one runs", func(t *testing.T) {
		e := newEnv(t)
		w := newWorld()
		g := newGate()
		id := e.start(chain(w, allFail(), g), nil)
		g.waitEntered(t) // promote_db and force_promote failed; restore_from_backup is in Apply
		for _, sid := range []string{"promote_db", "force_promote"} {
			if err := e.ex.RetryStep(ctx, id, sid, "U1"); !errors.Is(err, ErrStepInFlight) || !strings.Contains(err.Error(), "restore_from_backup") {
				t.Errorf("retry %s while restore_from_backup runs: %v, want ErrStepInFlight naming it", sid, err)
			}
		}
		close(g.release)
		if run := e.wait(id); run.State != store.RunSucceeded {
			t.Fatalf("run is %s: %s", run.State, run.StateReason)
		}
		if n := w.appliesOf("force_promote"); n != 1 {
			t.Errorf("force_promote applied %d times", n)
		}
	})

	t.Run("a run paused while the step failed resumes into its alternative", func(t *testing.T) {
		e := newEnv(t)
		w := newWorld()
		g := newGate()
		rb := mkRunbook("pause-chain", []*runbook.Step{
			mkStep(w, "promote_db", applyFn(func(ctx context.Context, f *fakeStep) error {
				g.once.Do(func() { close(g.entered) })
				<-g.release
				return steps.Permanentf("refused")
			})),
			mkStep(w, "force_promote", alternativeOf("promote_db")),
			mkStep(w, "verify", needs("promote_db")),
		})
		id := e.start(rb, nil)
		g.waitEntered(t)
		if err := e.ex.Pause(ctx, id, "U1"); err != nil {
			t.Fatal(err)
		}
		close(g.release)
		if run := e.wait(id); run.State != store.RunPaused {
			t.Fatalf("run is %s", run.State)
		}
		if w.appliesOf("force_promote") != 0 {
			t.Fatal("an alternative started while the run was paused")
		}
		if err := e.ex.Resume(ctx, id, "U1"); err != nil {
			t.Fatalf("resume with the alternative still to run: %v", err)
		}
		if run := e.wait(id); run.State != store.RunSucceeded {
			t.Fatalf("run is %s: %s", run.State, run.StateReason)
		}
		e.wantStatus(id, map[string]store.StepStatus{"promote_db": store.StepReplaced, "force_promote": store.StepDone, "verify": store.StepDone})
	})
}

func TestRecoverMidChainReChecksTheLinkInFlight(t *testing.T) {
	// The process stops while one link of the chain is in Apply; its
	// effect lands anyway. The next process checks that link again and
	// never applies it (or any other link) again.
	cases := []struct {
		name       string
		fails      []string // Apply fails permanently
		gated      string   // the step in Apply when the process stops
		wantStatus map[string]store.StepStatus
		wantNone   string // a step that must leave no record
	}{
		{
			name: "in the second alternative", fails: []string{"promote_db", "force_promote"}, gated: "restore_from_backup",
			wantStatus: map[string]store.StepStatus{"promote_db": store.StepReplaced, "force_promote": store.StepReplaced,
				"restore_from_backup": store.StepDone, "verify": store.StepDone},
		},
		{
			name: "in the first alternative", fails: []string{"promote_db"}, gated: "force_promote",
			wantStatus: map[string]store.StepStatus{"promote_db": store.StepReplaced, "force_promote": store.StepDone,
				"verify": store.StepDone},
			wantNone: "restore_from_backup",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			w := newWorld()
			g := newGate()
			opts := func(id string, o ...opt) []opt {
				switch {
				case id == tc.gated:
					o = append(o, g.opt())
				case slices.Contains(tc.fails, id):
					o = append(o, applyFn(func(ctx context.Context, f *fakeStep) error { return steps.Permanentf("%s refused", f.id) }))
				}
				return o
			}
			rb := mkRunbook("recover-chain", []*runbook.Step{
				mkStep(w, "promote_db", opts("promote_db")...),
				mkStep(w, "force_promote", opts("force_promote", alternativeOf("promote_db"))...),
				mkStep(w, "restore_from_backup", opts("restore_from_backup", alternativeOf("force_promote"))...),
				mkStep(w, "verify", needs("promote_db")),
			})
			id := e.start(rb, nil)
			g.waitEntered(t)
			if err := e.ex.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			w.set(tc.gated) // the call reached the server
			if st := e.steps(id)[tc.gated]; st.Status != store.StepApplying {
				t.Fatalf("after close %s is %s, want applying", tc.gated, st.Status)
			}

			ex2, err := New(Config{Store: e.st, Owner: "test-owner", PlanHash: testHash, Sink: e.rec,
				PollInterval: 10 * time.Millisecond, RetryBackoff: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer ex2.Close(context.Background())
			if err := ex2.Recover(context.Background(), func(string) (*runbook.Runbook, error) { return rb, nil }); err != nil {
				t.Fatalf("recover: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := ex2.Wait(ctx, id); err != nil {
				t.Fatal(err)
			}
			if run := e.run(id); run.State != store.RunSucceeded {
				t.Fatalf("run is %s: %s", run.State, run.StateReason)
			}
			e.wantStatus(id, tc.wantStatus)
			for _, sid := range []string{"promote_db", "force_promote", "restore_from_backup"} {
				want := 0
				if sid == tc.gated || slices.Contains(tc.fails, sid) {
					want = 1
				}
				if n := w.appliesOf(sid); n != want {
					t.Errorf("%s applied %d times, want %d", sid, n, want)
				}
			}
			if st := e.steps(id)[tc.gated]; st.AlreadyDone || st.Attempts != 1 {
				t.Errorf("%s: attempts %d alreadyDone %v, want 1 false (this run applied it)", tc.gated, st.Attempts, st.AlreadyDone)
			}
			if tc.wantNone != "" {
				if st, ok := e.steps(id)[tc.wantNone]; ok {
					t.Errorf("%s was not needed but left a record: %+v", tc.wantNone, st)
				}
			}
		})
	}
}

// replacedWriteFails fails every write of promote_db as replaced while
// down is set: the process records force_promote replaced, then cannot
// record promote_db.
type replacedWriteFails struct {
	store.Store
	down atomic.Bool
}

func (f *replacedWriteFails) PutStep(ctx context.Context, s *store.StepState) error {
	if s.Status == store.StepReplaced && s.StepID == "promote_db" && f.down.Load() {
		return errors.New("disk I/O error")
	}
	return f.Store.PutStep(ctx, s)
}

func TestRecoverFinishesReplacingAChainHalfRecorded(t *testing.T) {
	e := newEnv(t)
	fs := &replacedWriteFails{Store: e.st}
	fs.down.Store(true)
	ex, err := New(Config{Store: fs, Owner: "test-owner", PlanHash: testHash, StoreTimeout: time.Second,
		PollInterval: 10 * time.Millisecond, RetryBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld()
	fail := applyFn(func(ctx context.Context, f *fakeStep) error { return steps.Permanentf("%s refused", f.id) })
	rb := mkRunbook("half", []*runbook.Step{
		mkStep(w, "promote_db", fail),
		mkStep(w, "force_promote", alternativeOf("promote_db"), fail),
		mkStep(w, "restore_from_backup", alternativeOf("force_promote"), outputs(map[string]string{"timeline": "restored"})),
		mkStep(w, "verify", needs("promote_db")),
	})
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
	ex.Close(ctx)
	if run := e.run(id); run.State != store.RunRunning {
		t.Fatalf("after the failed write the run is %s, want running (for Recover)", run.State)
	}
	e.wantStatus(id, map[string]store.StepStatus{"promote_db": store.StepFailed, "force_promote": store.StepReplaced,
		"restore_from_backup": store.StepDone, "verify": store.StepPending})

	fs.down.Store(false)
	if err := e.ex.Recover(ctx, func(string) (*runbook.Runbook, error) { return rb, nil }); err != nil {
		t.Fatal(err)
	}
	if run := e.wait(id); run.State != store.RunSucceeded {
		t.Fatalf("run is %s: %s", run.State, run.StateReason)
	}
	got := e.steps(id)
	e.wantStatus(id, map[string]store.StepStatus{"promote_db": store.StepReplaced, "force_promote": store.StepReplaced,
		"restore_from_backup": store.StepDone, "verify": store.StepDone})
	if got["promote_db"].Outputs["timeline"] != "restored" {
		t.Errorf("promote_db outputs %v, want those of restore_from_backup", got["promote_db"].Outputs)
	}
	if s := got["promote_db"].Summary; !strings.Contains(s, "replaced by restore_from_backup (via force_promote)") {
		t.Errorf("promote_db summary %q", s)
	}
	for _, sid := range []string{"promote_db", "force_promote", "restore_from_backup", "verify"} {
		if n := w.appliesOf(sid); n != 1 {
			t.Errorf("%s applied %d times, want 1", sid, n)
		}
	}
}
