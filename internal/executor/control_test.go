package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/store"
)

// gate blocks a step's Apply until released; entered is closed when Apply
// is called.
type gate struct {
	entered, release chan struct{}
	once             sync.Once
}

func newGate() *gate { return &gate{entered: make(chan struct{}), release: make(chan struct{})} }

func (g *gate) opt() opt {
	return applyFn(func(ctx context.Context, f *fakeStep) error {
		g.once.Do(func() { close(g.entered) })
		select {
		case <-g.release:
			f.w.set(f.id)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

func (g *gate) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("step never applied")
	}
}

func TestPauseLetsTheStepInFlightFinishAndStartsNothingNew(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	g := newGate()
	rb := mkRunbook("pause", []*runbook.Step{mkStep(w, "a", g.opt())}, []*runbook.Step{mkStep(w, "b")})
	id := e.start(rb, nil)
	g.waitEntered(t)
	ctx := context.Background()
	if err := e.ex.Pause(ctx, id, "U2"); err != nil {
		t.Fatalf("pause: %v", err)
	}
	if run := e.run(id); run.State != store.RunPaused || run.StateReason != "paused by U2" {
		t.Errorf("after Pause the store says %s %q", run.State, run.StateReason)
	}
	if err := e.ex.Pause(ctx, id, "U2"); !errors.Is(err, ErrNotRunning) {
		t.Errorf("second pause: %v, want ErrNotRunning", err)
	}
	close(g.release)
	if run := e.wait(id); run.State != store.RunPaused {
		t.Fatalf("run is %s", run.State)
	}
	e.wantStatus(id, map[string]store.StepStatus{"a": store.StepDone, "b": store.StepPending})
	for _, a := range e.audit(id) {
		if a.Type == "phase.started" && a.Data["phase"] == "p2" {
			t.Error("phase p2 was announced as started while the run was pausing")
		}
	}
	if err := e.ex.Resume(ctx, id, "U3"); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if err := e.ex.Resume(ctx, id, "U3"); !errors.Is(err, ErrNotPaused) && !errors.Is(err, ErrRunEnded) {
		t.Errorf("second resume: %v, want ErrNotPaused", err)
	}
	if run := e.wait(id); run.State != store.RunSucceeded {
		t.Fatalf("run is %s: %s", run.State, run.StateReason)
	}
	var actors []string
	for _, a := range e.audit(id) {
		if a.Type == "run.paused" || a.Type == "run.resumed" {
			actors = append(actors, a.Type+":"+a.Actor)
		}
	}
	if fmt.Sprint(actors) != "[run.paused:U2 run.resumed:U3]" {
		t.Errorf("audit of pause/resume = %v", actors)
	}
}

func TestResumeWhileTheStepInFlightStillRuns(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	g := newGate()
	rb := mkRunbook("pause-resume", []*runbook.Step{mkStep(w, "a", g.opt())}, []*runbook.Step{mkStep(w, "b")})
	id := e.start(rb, nil)
	g.waitEntered(t)
	ctx := context.Background()
	if err := e.ex.Pause(ctx, id, "U2"); err != nil {
		t.Fatal(err)
	}
	if err := e.ex.Resume(ctx, id, "U2"); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	if run := e.wait(id); run.State != store.RunSucceeded {
		t.Fatalf("run is %s: %s", run.State, run.StateReason)
	}
}

func TestAbortCancelsTheStepsInFlightAndEndsTheRun(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	g := newGate()
	rb := mkRunbook("abort", []*runbook.Step{mkStep(w, "a", g.opt()), mkStep(w, "b")}, []*runbook.Step{mkStep(w, "c")})
	id := e.start(rb, nil)
	g.waitEntered(t)
	ctx := context.Background()
	if err := e.ex.Abort(ctx, id, "U9"); err != nil {
		t.Fatalf("abort: %v", err)
	}
	run := e.wait(id)
	if run.State != store.RunAborted || run.StateReason != "aborted by U9" || run.EndedAt.IsZero() {
		t.Fatalf("run: %s %q ended %v", run.State, run.StateReason, run.EndedAt)
	}
	if w.has("a") || w.appliesOf("c") != 0 {
		t.Errorf("work went on after abort: a in place %v, c applied %d", w.has("a"), w.appliesOf("c"))
	}
	for _, fn := range []func() error{
		func() error { return e.ex.Abort(ctx, id, "U9") },
		func() error { return e.ex.Resume(ctx, id, "U9") },
		func() error { return e.ex.Pause(ctx, id, "U9") },
		func() error { return e.ex.SkipStep(ctx, id, "c", "U9") },
	} {
		if err := fn(); !errors.Is(err, ErrRunEnded) {
			t.Errorf("operation on an aborted run: %v, want ErrRunEnded", err)
		}
	}
}

func TestAbortAPausedRun(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	bad := mkStep(w, "bad", applyFn(func(ctx context.Context, f *fakeStep) error { return steps.Permanentf("no") }))
	id := e.start(mkRunbook("abort-paused", []*runbook.Step{bad}), nil)
	if run := e.wait(id); run.State != store.RunPaused {
		t.Fatalf("run is %s", run.State)
	}
	if err := e.ex.Abort(context.Background(), id, "U1"); err != nil {
		t.Fatal(err)
	}
	if run := e.run(id); run.State != store.RunAborted {
		t.Errorf("run is %s", run.State)
	}
}

func TestRetryStepRunsAFailedStepAgainFromItsCheck(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	var fails atomic.Bool
	fails.Store(true)
	s := mkStep(w, "s", applyFn(func(ctx context.Context, f *fakeStep) error {
		if fails.Load() {
			return steps.Permanentf("quota exceeded")
		}
		f.w.set(f.id)
		return nil
	}))
	rb := mkRunbook("retry", []*runbook.Step{s, mkStep(w, "t", needs("s"))})
	id := e.start(rb, nil)
	if run := e.wait(id); run.State != store.RunPaused {
		t.Fatalf("run is %s", run.State)
	}
	ctx := context.Background()
	if err := e.ex.Resume(ctx, id, "U1"); !errors.Is(err, ErrStepFailed) {
		t.Errorf("resume with a failed step: %v, want ErrStepFailed", err)
	}
	if err := e.ex.RetryStep(ctx, id, "t", "U1"); !errors.Is(err, ErrStepNotFailed) {
		t.Errorf("retry of a pending step: %v, want ErrStepNotFailed", err)
	}
	if err := e.ex.RetryStep(ctx, id, "nope", "U1"); !errors.Is(err, ErrUnknownStep) {
		t.Errorf("retry of an unknown step: %v, want ErrUnknownStep", err)
	}
	fails.Store(false)
	if err := e.ex.RetryStep(ctx, id, "s", "U1"); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if run := e.wait(id); run.State != store.RunSucceeded {
		t.Fatalf("run is %s: %s", run.State, run.StateReason)
	}
	if st := e.steps(id)["s"]; st.Attempts != 2 || st.Error != "" {
		t.Errorf("step s: attempts %d error %q", st.Attempts, st.Error)
	}
}

func TestSkipStepGoesOnPastAFailedStep(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	bad := mkStep(w, "bad", applyFn(func(ctx context.Context, f *fakeStep) error { return steps.Permanentf("no") }))
	rb := mkRunbook("skip", []*runbook.Step{bad, mkStep(w, "t", needs("bad"))}, []*runbook.Step{mkStep(w, "u")})
	id := e.start(rb, nil)
	if run := e.wait(id); run.State != store.RunPaused {
		t.Fatalf("run is %s", run.State)
	}
	ctx := context.Background()
	if err := e.ex.SkipStep(ctx, id, "u", "U1"); err != nil {
		t.Fatalf("skip a pending step of a paused run: %v", err)
	}
	if run := e.run(id); run.State != store.RunPaused {
		t.Errorf("skipping a pending step resumed the run: %s", run.State)
	}
	if err := e.ex.SkipStep(ctx, id, "bad", "U1"); err != nil {
		t.Fatalf("skip: %v", err)
	}
	if run := e.wait(id); run.State != store.RunSucceeded {
		t.Fatalf("run is %s: %s", run.State, run.StateReason)
	}
	e.wantStatus(id, map[string]store.StepStatus{"bad": store.StepSkipped, "t": store.StepDone, "u": store.StepSkipped})
	if w.appliesOf("u") != 0 {
		t.Error("a skipped step was applied")
	}
	if err := e.ex.SkipStep(ctx, id, "t", "U1"); !errors.Is(err, ErrRunEnded) {
		t.Errorf("skip on a finished run: %v", err)
	}
}

func TestSkipStepRefusesAStepInFlightOrDone(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	g := newGate()
	rb := mkRunbook("skip-flying", []*runbook.Step{mkStep(w, "a"), mkStep(w, "b", needs("a"), g.opt())})
	id := e.start(rb, nil)
	g.waitEntered(t)
	ctx := context.Background()
	if err := e.ex.SkipStep(ctx, id, "b", "U1"); !errors.Is(err, ErrStepInFlight) {
		t.Errorf("skip of a step in flight: %v, want ErrStepInFlight", err)
	}
	if err := e.ex.SkipStep(ctx, id, "a", "U1"); !errors.Is(err, ErrStepDone) {
		t.Errorf("skip of a done step: %v, want ErrStepDone", err)
	}
	close(g.release)
	e.wait(id)
}

func TestStartRefusesAStalePlanAndARunNotPending(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	rb := mkRunbook("stale", []*runbook.Step{mkStep(w, "a")})
	id := e.create(rb, map[string]string{"x": "1"})
	edited := *rb
	edited.Hash = "h2" // the runbook changed after approval
	ctx := context.Background()
	if err := e.ex.Start(ctx, id, &edited); !errors.Is(err, ErrStalePlan) {
		t.Fatalf("start with a changed runbook: %v, want ErrStalePlan", err)
	}
	if run := e.run(id); run.State != store.RunPending {
		t.Errorf("a refused start changed the run to %s", run.State)
	}
	if w.appliesOf("a") != 0 || len(e.steps(id)) != 0 || len(e.audit(id)) != 0 {
		t.Errorf("a refused start changed something: applies %d, step states %d, audit events %d",
			w.appliesOf("a"), len(e.steps(id)), len(e.audit(id)))
	}
	if err := e.ex.Start(ctx, id, rb); err != nil {
		t.Fatalf("start: %v", err)
	}
	if err := e.ex.Start(ctx, id, rb); !errors.Is(err, ErrNotPending) {
		t.Errorf("second start: %v, want ErrNotPending", err)
	}
	e.wait(id)
}

func TestSecretsNeverReachTheStoreTheAuditTrailEventsOrLogs(t *testing.T) {
	const pw = "hunter2-very-secret"
	var logs bytes.Buffer
	var logMu sync.Mutex
	e := newEnv(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	e.red.Add(pw)
	w := newWorld()
	leaky := mkStep(w, "connect", retry(2, time.Millisecond), checkFn(func(ctx context.Context, f *fakeStep) (steps.Result, error) {
		return steps.Result{Summary: "dsn postgres://bot:" + pw + "@db"}, nil
	}), applyFn(func(ctx context.Context, f *fakeStep) error {
		return fmt.Errorf("dial postgres://bot:%s@db: connection refused", pw)
	}))
	id := e.start(mkRunbook("secrets", []*runbook.Step{leaky}), nil)
	run := e.wait(id)
	if run.State != store.RunPaused {
		t.Fatalf("run is %s", run.State)
	}
	var seen []string
	st := e.steps(id)["connect"]
	seen = append(seen, st.Error, st.Summary, run.StateReason)
	for _, a := range e.audit(id) {
		seen = append(seen, a.Message)
	}
	for _, ev := range e.rec.all() {
		seen = append(seen, ev.Summary, ev.Error)
	}
	logMu.Lock()
	seen = append(seen, logs.String())
	logMu.Unlock()
	all := strings.Join(seen, "\n")
	if strings.Contains(all, pw) {
		t.Errorf("the secret leaked:\n%s", all)
	}
	if !strings.Contains(st.Error, "postgres://bot:[redacted]@db") {
		t.Errorf("stored error %q lost its useful part", st.Error)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestRecoverReChecksTheStepInFlightAndNeverReAppliesWhatTookEffect(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	g := newGate()
	rb := mkRunbook("recover", []*runbook.Step{mkStep(w, "a", g.opt()), mkStep(w, "b", needs("a"))})
	id := e.start(rb, nil)
	g.waitEntered(t)
	// The process stops while a's Apply is in flight; the effect lands
	// anyway (the API call reached the server).
	if err := e.ex.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.set("a")
	if st := e.steps(id)["a"]; st.Status != store.StepApplying || st.Attempts != 1 {
		t.Fatalf("after close step a is %s (attempts %d), want applying 1", st.Status, st.Attempts)
	}
	if run := e.run(id); run.State != store.RunRunning {
		t.Fatalf("after close the run is %s, want running", run.State)
	}
	ex2, err := New(Config{Store: e.st, Owner: "test-owner", PlanHash: testHash, Sink: e.rec})
	if err != nil {
		t.Fatal(err)
	}
	defer ex2.Close(context.Background())
	if err := ex2.Recover(context.Background(), func(name string) (*runbook.Runbook, error) { return rb, nil }); err != nil {
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
	if n := w.appliesOf("a"); n != 1 {
		t.Errorf("a applied %d times; its effect was in place, the recovered run must only check it", n)
	}
	if st := e.steps(id)["a"]; st.Status != store.StepDone || st.AlreadyDone {
		t.Errorf("a: %s alreadyDone=%v (it was applied by this run)", st.Status, st.AlreadyDone)
	}
}

func TestRecoverLeavesRunsOfALiveExecutorAndPausesChangedRunbooks(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	ctx := context.Background()
	rb := mkRunbook("owned", []*runbook.Step{mkStep(w, "a")})
	rb2 := mkRunbook("changed", []*runbook.Step{mkStep(w, "b")})
	rb3 := mkRunbook("deleted", []*runbook.Step{mkStep(w, "c")})
	owned, changed, deleted := e.create(rb, nil), e.create(rb2, nil), e.create(rb3, nil)
	for _, id := range []string{owned, changed, deleted} {
		owner := "other-live-executor"
		if id != owned {
			owner = "dead-executor"
		}
		run, err := e.st.ClaimRun(ctx, id, owner, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if id != owned {
			run, err = e.st.ClaimRun(ctx, id, owner, -time.Second) // expired
			if err != nil {
				t.Fatal(err)
			}
		}
		run.State = store.RunRunning
		if err := e.st.UpdateRun(ctx, run); err != nil {
			t.Fatal(err)
		}
	}
	edited := *rb2
	edited.Hash = "h2"
	lookup := map[string]*runbook.Runbook{"owned": rb, "changed": &edited}
	if err := e.ex.Recover(ctx, func(n string) (*runbook.Runbook, error) {
		if lookup[n] == nil {
			return nil, fmt.Errorf("no runbook named %s in runbooks/", n)
		}
		return lookup[n], nil
	}); err != nil {
		t.Fatalf("recover: %v", err)
	}
	e.wait(owned)
	if run := e.run(owned); run.State != store.RunRunning || run.Owner != "other-live-executor" || w.appliesOf("a") != 0 {
		t.Errorf("a run owned by a live executor was touched: %s owner %s", run.State, run.Owner)
	}
	run := e.run(changed)
	if run.State != store.RunPaused || !strings.Contains(run.StateReason, "stale plan") || w.appliesOf("b") != 0 {
		t.Errorf("a run whose runbook changed: %s %q, applies %d", run.State, run.StateReason, w.appliesOf("b"))
	}
	if run := e.run(deleted); run.State != store.RunPaused || !strings.Contains(run.StateReason, "no runbook named deleted") {
		t.Errorf("a run whose runbook is gone: %s %q", run.State, run.StateReason)
	}
	if err := e.ex.Resume(ctx, changed, "U1"); !errors.Is(err, ErrStalePlan) {
		t.Errorf("resume of a stale run: %v, want ErrStalePlan", err)
	}
}

func TestPauseAndResumeInQuickSuccessionNeitherLoseNorDoubleTheRun(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	var chain []*runbook.Step
	for i := range 30 {
		var opts []opt
		if i > 0 {
			opts = append(opts, needs(fmt.Sprintf("s%d", i-1)))
		}
		opts = append(opts, applyFn(func(ctx context.Context, f *fakeStep) error {
			time.Sleep(2 * time.Millisecond)
			f.w.set(f.id)
			return nil
		}))
		chain = append(chain, mkStep(w, fmt.Sprintf("s%d", i), opts...))
	}
	id := e.start(mkRunbook("toggle", chain, []*runbook.Step{mkStep(w, "last")}), nil)
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	for e.run(id).State != store.RunSucceeded {
		if time.Now().After(deadline) {
			run := e.run(id)
			t.Fatalf("run did not finish: %s %q", run.State, run.StateReason)
		}
		// Errors are expected when the state moved on (ErrNotRunning,
		// ErrNotPaused, ErrRunEnded); what matters is that the run ends.
		_ = e.ex.Pause(ctx, id, "U1")
		time.Sleep(time.Millisecond)
		_ = e.ex.Resume(ctx, id, "U1")
		time.Sleep(3 * time.Millisecond)
	}
	for i := range 30 {
		if n := w.appliesOf(fmt.Sprintf("s%d", i)); n != 1 {
			t.Errorf("s%d applied %d times", i, n)
		}
	}
}
