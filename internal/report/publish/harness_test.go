package publish_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/executor"
	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/report/publish"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/sqlite"
)

// theSecret is a resolved secret the fake steps and notifiers let slip
// into their summaries and errors; the redactor knows it.
const theSecret = "s3cr3t-T0ken-90210"

// uploads records what was shared, as a chat.Uploader; fail, when set,
// makes an upload fail.
type uploads struct {
	mu    sync.Mutex
	files []shared
	fail  error
	got   chan struct{}
}

type shared struct {
	thread chat.MessageRef
	file   chat.File
}

func newUploads() *uploads { return &uploads{got: make(chan struct{}, 100)} }

func (u *uploads) Upload(_ context.Context, thread chat.MessageRef, f chat.File) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.fail != nil {
		return u.fail
	}
	u.files = append(u.files, shared{thread, f})
	u.got <- struct{}{}
	return nil
}

func (u *uploads) all() []shared {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]shared(nil), u.files...)
}

// probe is a read-only step: done at once with its summary and outputs.
type probe struct {
	summary string
	outputs map[string]string
}

func (p probe) Check(context.Context) (steps.Result, error) {
	return steps.Result{Done: true, Summary: p.summary, Outputs: p.outputs}, nil
}

// flaky is a step whose first applyFailures Apply calls fail (transient
// errors carrying the secret), and whose change takes notDoneFor more
// Checks to show after the Apply that works.
type flaky struct {
	mu                        sync.Mutex
	applyFailures, notDoneFor int
	applied                   bool
	outputs                   map[string]string
}

func (f *flaky) Check(context.Context) (steps.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.applied {
		return steps.Result{Summary: "standby in recovery (token " + theSecret + ")"}, nil
	}
	if f.notDoneFor > 0 {
		f.notDoneFor--
		return steps.Result{Summary: "promotion in progress"}, nil
	}
	return steps.Result{Done: true, Summary: "promoted with token " + theSecret, Outputs: f.outputs}, nil
}

func (f *flaky) Apply(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.applyFailures > 0 {
		f.applyFailures--
		return errors.New("connection reset while promoting, auth token " + theSecret)
	}
	f.applied = true
	return nil
}

// gate is an approval inside the run.
type gate struct{}

func (gate) Check(context.Context) (steps.Result, error) { return steps.Result{}, nil }

func (gate) Policy() steps.ApprovalPolicy {
	return steps.ApprovalPolicy{Message: "confirm the traffic switch", Required: 1, Expiry: time.Minute}
}

func factory(mk func() steps.Probe) runbook.Factory {
	return runbook.FactoryFunc(func(context.Context, runbook.Vars) (steps.Probe, error) { return mk(), nil })
}

// labRunbook is a failover with every kind of line a report has: a lag
// check, a promotion retried twice then waited for, a gate, a step
// already done.
func labRunbook() *runbook.Runbook {
	st := func(id, name, phase, kind string, f runbook.Factory, o ...func(*runbook.Step)) *runbook.Step {
		s := &runbook.Step{ID: id, Name: name, Phase: phase, Kind: kind, Timeout: time.Minute, Factory: f}
		for _, fn := range o {
			fn(s)
		}
		return s
	}
	return &runbook.Runbook{Name: "lab-failover", Channel: "#incident", Phases: []*runbook.Phase{
		{ID: "database", Name: "Promote the database", Steps: []*runbook.Step{
			st("check_lag", "Check replication lag", "database", "postgres.replicationLag",
				factory(func() steps.Probe { return probe{"lag 0.4s", map[string]string{"lag": "0.4s"}} }),
				func(s *runbook.Step) { s.ReadOnly = true }),
			st("promote_db", "Promote the DR database", "database", "postgres.promote",
				factory(func() steps.Probe {
					return &flaky{applyFailures: 2, notDoneFor: 3, outputs: map[string]string{"lagAtPromotion": "0.25s"}}
				}),
				func(s *runbook.Step) {
					s.Needs = []string{"check_lag"}
					s.Retry = runbook.Retry{Attempts: 5, Backoff: 60 * time.Millisecond, MaxBackoff: 60 * time.Millisecond}
				}),
		}},
		{ID: "traffic", Name: "Move the traffic", Steps: []*runbook.Step{
			st("confirm", "Confirm the switch", "traffic", "gate", factory(func() steps.Probe { return gate{} })),
			st("flip_dns", "Point DNS at the DR region", "traffic", "aws.route53.upsertRecord",
				factory(func() steps.Probe { return probe{"record points at dr", nil} }),
				func(s *runbook.Step) { s.Needs = []string{"confirm"} }),
		}},
	}}
}

// world is a store filled by the real executor running labRunbook, with
// the notification pipeline (a status page that fails once, a PagerDuty
// that refuses one notification, and the report's publisher) as its sink.
type world struct {
	t    *testing.T
	ctx  context.Context
	st   *sqlite.Store
	red  *secret.Redactor
	rb   *runbook.Runbook
	ex   *executor.Executor
	pipe *notify.Pipeline
	up   *uploads
	// finished counts Finish calls per run.
	mu       sync.Mutex
	finished map[string]int
	stop     context.CancelFunc
	done     chan struct{}
}

func newWorld(t *testing.T, path string, up *uploads) *world {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	red := &secret.Redactor{}
	red.Add(theSecret)
	w := &world{t: t, ctx: ctx, st: st, red: red, rb: labRunbook(), up: up, finished: map[string]int{}}
	pub, err := publish.New(publish.Options{Store: st, Runbooks: w.runbook, Uploader: up, Scrub: red.Scrub,
		Finish: func(id string) {
			w.mu.Lock()
			w.finished[id]++
			w.mu.Unlock()
			w.pipe.Finish(id)
		}})
	if err != nil {
		t.Fatal(err)
	}
	var spMu sync.Mutex
	spCalls := 0
	statuspage := notify.NotifierFunc(func(ctx context.Context, n *notify.Notification) (bool, error) {
		spMu.Lock()
		defer spMu.Unlock()
		if spCalls++; spCalls == 1 {
			return true, fmt.Errorf("status page answered 503 (key %s)", theSecret)
		}
		return false, nil
	})
	pagerduty := notify.NotifierFunc(func(ctx context.Context, n *notify.Notification) (bool, error) {
		if n.Milestone == notify.StepDone && n.Event.StepID == "promote_db" {
			return false, errors.New("400 Bad Request: the incident is closed (token " + theSecret + ")")
		}
		return false, nil
	})
	plan := func(context.Context, *store.Run) notify.Plan {
		return notify.Plan{Channel: "#incident", Targets: []notify.Target{
			{Name: "statuspage", Notifier: statuspage}, {Name: "pagerduty", Notifier: pagerduty}, pub.Target()}}
	}
	w.pipe, err = notify.New(notify.Options{Plan: plan, Runs: st, Log: st, Audit: st, Redactor: red,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Rescan: -1})
	if err != nil {
		t.Fatal(err)
	}
	w.ex, err = executor.New(executor.Config{Store: st, Sink: w.pipe, Owner: "report-test", Redactor: red,
		Runbooks: w.runbook, PlanHash: func(*runbook.Runbook, map[string]string) string { return "plan-1" },
		PollInterval: 40 * time.Millisecond, MaxPollInterval: 40 * time.Millisecond, GatePollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.stop, w.done = cancel, make(chan struct{})
	go func() { _ = w.pipe.Run(rctx); close(w.done) }()
	t.Cleanup(w.close)
	return w
}

func (w *world) runbook(name string) (*runbook.Runbook, error) {
	if name != w.rb.Name {
		return nil, fmt.Errorf("no runbook %s", name)
	}
	return w.rb, nil
}

// close stops the executor and the pipeline (a bot going down).
func (w *world) close() {
	select {
	case <-w.done:
		return
	default:
	}
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = w.ex.Close(cctx)
	w.stop()
	<-w.done
}

func (w *world) finishes(id string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.finished[id]
}

// failover runs the runbook to its end: requested with a plan that carries
// an assessment, approved by two people, its gate approved mid-run.
func (w *world) failover() *store.Run {
	t, ctx := w.t, w.ctx
	t.Helper()
	plan, _ := json.Marshal(chat.PlanView{Runbook: w.rb.Name, ExpectedDataLoss: "0.4s", Assessment: &chat.AssessView{
		Runbook: w.rb.Name, Go: true, Took: 1500 * time.Millisecond, Checks: []chat.CheckResult{
			{ID: "primary_down", Name: "Primary unreachable", OK: true, Summary: "no answer within 1s", Duration: 1500 * time.Millisecond},
			{ID: "dr_lag", Name: "DR lag small", OK: true, Summary: "lag 0.4s", Duration: 20 * time.Millisecond}}}})
	run, err := w.ex.Request(ctx, executor.RunRequest{Runbook: w.rb, PlanHash: "plan-1", Requester: "oncall-1",
		Reason: "primary region down", Params: map[string]string{"incident": "P42"}, Plan: string(plan)})
	if err != nil {
		t.Fatal(err)
	}
	must(t, w.ex.PlanPosted(ctx, run.ID, store.MessageRef{Channel: "#incident", TS: "100.1"}, "plan posted in #incident"))
	for _, u := range []string{"oncall-2", "oncall-3"} {
		time.Sleep(15 * time.Millisecond) // the approvals come one after the other
		must(t, w.st.PutApproval(ctx, &store.Approval{RunID: run.ID, User: u, Decision: store.Approve, PlanHash: "plan-1", Via: "reaction", At: time.Now()}))
	}
	must(t, w.st.SetCard(ctx, run.ID, store.MessageRef{Channel: "#incident", TS: "100.2"}))
	must(t, w.ex.Approve(ctx, run.ID, w.rb, []string{"oncall-2", "oncall-3"}))
	waitFor(t, "the gate waits", func() bool {
		sts, _ := w.st.Steps(ctx, run.ID)
		for _, s := range sts {
			if s.StepID == "confirm" && s.Status == store.StepWaiting {
				return true
			}
		}
		return false
	})
	time.Sleep(100 * time.Millisecond) // people take a moment
	must(t, w.st.PutApproval(ctx, &store.Approval{RunID: run.ID, Gate: "confirm", User: "oncall-2", Decision: store.Approve, PlanHash: "plan-1", Via: "button", At: time.Now()}))
	must(t, w.ex.ApproveGate(ctx, run.ID, "confirm", []string{"oncall-2"}))
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	must(t, w.ex.Wait(wctx, run.ID))
	run, err = w.st.GetRun(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if run.State != store.RunSucceeded {
		t.Fatalf("run %s: %s", run.State, run.StateReason)
	}
	return run
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func tempStore(t *testing.T) string { return filepath.Join(t.TempDir(), "bot.db") }
