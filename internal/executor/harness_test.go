package executor

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/sqlite"
)

// world is the system the fake steps act on: a set of effects that Apply
// puts in place and Check observes, with a count of every call.
type world struct {
	mu      sync.Mutex
	effects map[string]bool
	applies map[string]int
	checks  map[string]int
	// preflights counts the builds of a step before its phase.
	preflights map[string]int
	order      []string // "apply:<id>", in call order
	closed     atomic.Int32
}

func newWorld() *world {
	return &world{effects: map[string]bool{}, applies: map[string]int{}, checks: map[string]int{}, preflights: map[string]int{}}
}

func (w *world) has(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.effects[id]
}

func (w *world) set(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.effects[id] = true
}

func (w *world) appliesOf(id string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.applies[id]
}

// fakeStep is a step whose Check reports its effect and whose Apply puts
// it in place; hooks replace either.
type fakeStep struct {
	w       *world
	id      string
	outputs map[string]string
	check   func(ctx context.Context) (steps.Result, error)
	apply   func(ctx context.Context) error
}

func (f *fakeStep) Check(ctx context.Context) (steps.Result, error) {
	f.w.mu.Lock()
	f.w.checks[f.id]++
	done := f.w.effects[f.id]
	f.w.mu.Unlock()
	if f.check != nil {
		return f.check(ctx)
	}
	if !done {
		return steps.Result{Summary: f.id + " not in place"}, nil
	}
	return steps.Result{Done: true, Summary: f.id + " in place", Outputs: f.outputs}, nil
}

func (f *fakeStep) Apply(ctx context.Context) error {
	f.w.mu.Lock()
	f.w.applies[f.id]++
	f.w.order = append(f.w.order, "apply:"+f.id)
	f.w.mu.Unlock()
	if f.apply != nil {
		return f.apply(ctx)
	}
	f.w.set(f.id)
	return nil
}

func (f *fakeStep) Close() error {
	f.w.closed.Add(1)
	return nil
}

// opt changes a test step.
type opt func(s *runbook.Step, f *fakeStep)

// mkStep returns a runbook step backed by a fakeStep of w; opts run on the
// step, and on each fakeStep built (with the run's vars available through
// withVars).
func mkStep(w *world, id string, opts ...opt) *runbook.Step {
	s := &runbook.Step{ID: id, Name: "step " + id, Kind: "test.fake", Timeout: time.Minute}
	for _, o := range opts {
		o(s, nil)
	}
	s.Factory = &fakeFactory{w: w, id: id, build: func(ctx context.Context, vars runbook.Vars) (steps.Probe, error) {
		f := &fakeStep{w: w, id: id}
		for _, o := range opts {
			o(nil, f)
		}
		if bv, ok := buildHooks.Load(hookKey{w, id}); ok {
			if err := bv.(func(runbook.Vars, *fakeStep) error)(vars, f); err != nil {
				return nil, err
			}
		}
		return f, nil
	}}
	return s
}

// fakeFactory builds fake steps; its Preflight (the build of a step before
// its phase, without the outputs it may use) runs the step's preflight
// hook, if any, and builds nothing.
type fakeFactory struct {
	w     *world
	id    string
	build func(ctx context.Context, vars runbook.Vars) (steps.Probe, error)
}

func (f *fakeFactory) Build(ctx context.Context, vars runbook.Vars) (steps.Probe, error) {
	return f.build(ctx, vars)
}

func (f *fakeFactory) Preflight(_ context.Context, vars runbook.Vars) ([]string, error) {
	f.w.mu.Lock()
	f.w.preflights[f.id]++
	f.w.mu.Unlock()
	if h, ok := preflightHooks.Load(hookKey{f.w, f.id}); ok {
		return nil, h.(func(runbook.Vars) error)(vars)
	}
	return nil, nil
}

var preflightHooks sync.Map

// onPreflight registers a hook run when step id of w is preflighted.
func onPreflight(w *world, id string, h func(runbook.Vars) error) {
	preflightHooks.Store(hookKey{w, id}, h)
}

type hookKey struct {
	w  *world
	id string
}

var buildHooks sync.Map

// onBuild registers a hook run when step id of w is built.
func onBuild(w *world, id string, h func(runbook.Vars, *fakeStep) error) {
	buildHooks.Store(hookKey{w, id}, h)
}

func needs(ids ...string) opt {
	return func(s *runbook.Step, _ *fakeStep) {
		if s != nil {
			s.Needs = ids
		}
	}
}

func timeout(d time.Duration) opt {
	return func(s *runbook.Step, _ *fakeStep) {
		if s != nil {
			s.Timeout = d
		}
	}
}

func retry(n int, backoff time.Duration) opt {
	return func(s *runbook.Step, _ *fakeStep) {
		if s != nil {
			s.Retry = runbook.Retry{Attempts: n, Backoff: backoff, MaxBackoff: 8 * backoff}
		}
	}
}

func alternativeOf(id string) opt {
	return func(s *runbook.Step, _ *fakeStep) {
		if s != nil {
			s.AlternativeOf = id
		}
	}
}

func readOnly() opt {
	return func(s *runbook.Step, _ *fakeStep) {
		if s != nil {
			s.ReadOnly = true
		}
	}
}

func outputs(kv map[string]string) opt {
	return func(_ *runbook.Step, f *fakeStep) {
		if f != nil {
			f.outputs = kv
		}
	}
}

func applyFn(fn func(ctx context.Context, f *fakeStep) error) opt {
	return func(_ *runbook.Step, f *fakeStep) {
		if f != nil {
			f.apply = func(ctx context.Context) error { return fn(ctx, f) }
		}
	}
}

func checkFn(fn func(ctx context.Context, f *fakeStep) (steps.Result, error)) opt {
	return func(_ *runbook.Step, f *fakeStep) {
		if f != nil {
			f.check = func(ctx context.Context) (steps.Result, error) { return fn(ctx, f) }
		}
	}
}

// mkRunbook puts steps into phases: phases[i] lists the steps of phase i.
func mkRunbook(name string, phases ...[]*runbook.Step) *runbook.Runbook {
	rb := &runbook.Runbook{Name: name, Hash: "h1"}
	for i, ss := range phases {
		ph := &runbook.Phase{ID: fmt.Sprintf("p%d", i+1), Name: fmt.Sprintf("phase %d", i+1)}
		for _, s := range ss {
			s.Phase = ph.ID
			ph.Steps = append(ph.Steps, s)
		}
		rb.Phases = append(rb.Phases, ph)
	}
	return rb
}

// testHash stands in for the runbook loader's plan hash: rb.Hash changes
// when a test "edits" the runbook.
func testHash(rb *runbook.Runbook, params map[string]string) string {
	keys := slices.Sorted(maps.Keys(params))
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s;", k, params[k])
	}
	return rb.Name + "/" + rb.Hash + "/" + b.String()
}

// recorder is an events.Sink that checks, as each event arrives, that the
// transition it announces is already in the store and in the audit trail.
type recorder struct {
	t  testing.TB
	st store.Store
	mu sync.Mutex
	ev []events.Event
}

var stepEventStatus = map[events.Type][]store.StepStatus{
	events.StepStarted:  {store.StepChecking},
	events.StepApplying: {store.StepApplying},
	events.StepDone:     {store.StepDone, store.StepReplaced},
	events.StepFailed:   {store.StepFailed},
	events.StepSkipped:  {store.StepSkipped},
	events.StepRetrying: {store.StepChecking, store.StepApplying, store.StepWaiting},
}

var runEventState = map[events.Type]store.RunState{
	events.RunStarted: store.RunRunning, events.RunResumed: store.RunRunning, events.RunPaused: store.RunPaused,
	events.RunSucceeded: store.RunSucceeded, events.RunAborted: store.RunAborted, events.RunFailed: store.RunFailed,
}

func (r *recorder) Notify(_ context.Context, e events.Event) {
	r.mu.Lock()
	r.ev = append(r.ev, e)
	r.mu.Unlock()
	if r.st == nil {
		return
	}
	ctx := context.Background()
	if want, ok := stepEventStatus[e.Type]; ok {
		sts, err := r.st.Steps(ctx, e.RunID)
		if err != nil {
			r.t.Errorf("read steps at event %s: %v", e.Type, err)
			return
		}
		for _, s := range sts {
			if s.StepID == e.StepID && !slices.Contains(want, s.Status) {
				r.t.Errorf("event %s for step %s announced while the store says %s", e.Type, e.StepID, s.Status)
			}
		}
	}
	if want, ok := runEventState[e.Type]; ok {
		run, err := r.st.GetRun(ctx, e.RunID)
		if err != nil {
			r.t.Errorf("read run at event %s: %v", e.Type, err)
		} else if run.State != want {
			r.t.Errorf("event %s announced while the store says the run is %s", e.Type, run.State)
		}
	}
	audit, err := r.st.Audit(ctx, e.RunID)
	if err != nil {
		r.t.Errorf("read audit at event %s: %v", e.Type, err)
		return
	}
	found := false
	for _, a := range audit {
		found = found || (a.StepID == e.StepID && (a.Type == string(e.Type) ||
			e.Type == events.StepDone && a.Type == "step.replaced" || e.Type == events.StepStarted && a.Type == "step.checking"))
	}
	if !found {
		r.t.Errorf("event %s (step %q) announced before its audit record", e.Type, e.StepID)
	}
}

func (r *recorder) all() []events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ev)
}

func (r *recorder) types(stepID string) []events.Type {
	var out []events.Type
	for _, e := range r.all() {
		if e.StepID == stepID {
			out = append(out, e.Type)
		}
	}
	return out
}

// env is one executor over a fresh SQLite store.
type env struct {
	t   testing.TB
	st  store.Store
	ex  *Executor
	rec *recorder
	red *secret.Redactor
	n   int
}

func newEnv(t testing.TB, tweak ...func(*Config)) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "bot.db"), nil)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	e := &env{t: t, st: st, red: &secret.Redactor{}}
	e.rec = &recorder{t: t, st: st}
	cfg := Config{
		Store: st, Sink: e.rec, Owner: "test-owner", Redactor: e.red, PlanHash: testHash,
		Logger:       slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		PollInterval: 10 * time.Millisecond, MaxPollInterval: 100 * time.Millisecond,
		RetryBackoff: 10 * time.Millisecond, MaxRetryBackoff: 100 * time.Millisecond,
	}
	for _, f := range tweak {
		f(&cfg)
	}
	if e.ex, err = New(cfg); err != nil {
		t.Fatalf("new executor: %v", err)
	}
	t.Cleanup(func() {
		if err := e.ex.Close(context.Background()); err != nil {
			t.Errorf("close executor: %v", err)
		}
		st.Close()
	})
	return e
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// create stores a pending, approved run of rb and returns its ID.
func (e *env) create(rb *runbook.Runbook, params map[string]string) string {
	e.t.Helper()
	e.n++
	h := testHash(rb, params)
	run := &store.Run{ID: fmt.Sprintf("run-%d", e.n), Runbook: rb.Name, PlanHash: h, Params: params,
		Requester: "U1", State: store.RunPending, CreatedAt: time.Now()}
	if err := e.st.CreateRun(context.Background(), run); err != nil {
		e.t.Fatalf("create run: %v", err)
	}
	return run.ID
}

// start creates and starts a run of rb.
func (e *env) start(rb *runbook.Runbook, params map[string]string) string {
	e.t.Helper()
	id := e.create(rb, params)
	if err := e.ex.Start(context.Background(), id, rb); err != nil {
		e.t.Fatalf("start run: %v", err)
	}
	return id
}

// wait waits for the run to stop and returns its record.
func (e *env) wait(id string) *store.Run {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.ex.Wait(ctx, id); err != nil {
		e.t.Fatalf("wait for run %s: %v", id, err)
	}
	return e.run(id)
}

func (e *env) run(id string) *store.Run {
	e.t.Helper()
	r, err := e.st.GetRun(context.Background(), id)
	if err != nil {
		e.t.Fatalf("get run: %v", err)
	}
	return r
}

func (e *env) steps(id string) map[string]*store.StepState {
	e.t.Helper()
	sts, err := e.st.Steps(context.Background(), id)
	if err != nil {
		e.t.Fatalf("get steps: %v", err)
	}
	out := map[string]*store.StepState{}
	for _, s := range sts {
		out[s.StepID] = s
	}
	return out
}

func (e *env) audit(id string) []*store.AuditEvent {
	e.t.Helper()
	a, err := e.st.Audit(context.Background(), id)
	if err != nil {
		e.t.Fatalf("audit: %v", err)
	}
	return a
}

// wantStatus checks the recorded status of each step (pending: no record
// or a pending one).
func (e *env) wantStatus(id string, want map[string]store.StepStatus) {
	e.t.Helper()
	got := e.steps(id)
	for sid, w := range want {
		if got[sid] == nil && w == store.StepPending {
			continue // a step that has not started has no record yet
		}
		if g := got[sid]; g == nil || g.Status != w {
			status := store.StepStatus("<none>")
			errText := ""
			if g != nil {
				status, errText = g.Status, g.Error
			}
			e.t.Errorf("step %s is %s (error %q), want %s", sid, status, errText, w)
		}
	}
}
