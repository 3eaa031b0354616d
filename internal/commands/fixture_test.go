package commands

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/executor"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/sqlite"
)

// noteConfig is the config of the fake kinds of these tests.
type noteConfig struct {
	Note string `yaml:"note"`
}

func (c *noteConfig) CheckAndSetDefaults() error { return nil }

// doneStep is the assessment checks' kind: already done.
type doneStep struct{}

func (doneStep) Check(context.Context) (steps.Result, error) {
	return steps.Result{Done: true, Summary: "ok"}, nil
}

// busyStep is the phase steps' kind: a run that starts stays running (its
// Apply waits until the executor is closed), as a failover in progress.
type busyStep struct{}

func (busyStep) Check(context.Context) (steps.Result, error) {
	return steps.Result{Summary: "standby in recovery"}, nil
}
func (busyStep) Apply(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func testRegistry(t testing.TB) *steps.Registry {
	t.Helper()
	r := steps.NewRegistry()
	newBusy := func(context.Context, *noteConfig, steps.Env) (steps.Step, error) { return busyStep{}, nil }
	newProbe := func(context.Context, *noteConfig, steps.Env) (steps.Probe, error) { return doneStep{}, nil }
	err := r.Register(
		steps.ProbeKind(steps.Spec{Name: "test.check"}, newProbe),
		steps.StepKind(steps.Spec{Name: "test.step"}, newBusy),
		steps.ProbeKind(steps.Spec{Name: "postgres.replicationLag", Outputs: []string{"lag", "bytes"}}, newProbe),
		steps.DeclaredStep[noteConfig](steps.Spec{Name: "test.declared"}),
	)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// labYAML is the runbook of these tests; %s is an extra step (to change
// the plan).
const labYAML = `name: lab
description: Fail the lab over
expectedDuration: 1m
channel: "#incident-lab"
approval:
  required: 2
  groups: [oncall]
  expiry: 15m
params:
  - {name: ticket, default: "none"}
assess:
  - {id: primary_down, name: Primary is down, kind: test.check}
  - {id: standby_lag, name: Standby lag, kind: postgres.replicationLag}
phases:
  - id: database
    name: Database
    steps:
      - {id: promote_db, name: Promote the standby, kind: test.step}
%s`

// fakeExec is the executor of these tests: the real one for the
// approval request's verbs (over the fixture's store), recording which
// runs were approved to start ("start <run>"); fake run controls that
// record their call and return err; and a fake planner (Assess and Plan
// answer at once, as a lab would).
type fakeExec struct {
	*executor.Executor
	mu    sync.Mutex
	calls []string
	err   error // returned by the controls
	// startErr, if set, is what Approve returns instead of starting.
	startErr error
	// lagOutputs are the outputs of the standby_lag check.
	lagOutputs map[string]string
}

var (
	_ Executor = (*fakeExec)(nil)
	_ Planner  = (*fakeExec)(nil)
)

func (f *fakeExec) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fakeExec) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeExec) Assess(_ context.Context, rb *runbook.Runbook) executor.Assessment {
	f.record("assess " + rb.Name)
	return executor.Assessment{Runbook: rb.Name, Go: true, Took: 20 * time.Millisecond, Checks: []executor.Check{
		{ID: "primary_down", Name: "Primary is down", OK: true, Summary: "connection refused"},
		{ID: "standby_lag", Name: "Standby lag", OK: true, Summary: "lag 0.2s, 0 bytes behind", Outputs: f.lagOutputs},
	}}
}

func (f *fakeExec) Plan(_ context.Context, rb *runbook.Runbook, params map[string]string) (executor.Plan, error) {
	f.record("plan " + rb.Name)
	bound, err := rb.BindParams(params)
	if err != nil {
		return executor.Plan{}, err
	}
	p := executor.Plan{Runbook: rb.Name, Params: bound, Hash: rb.PlanHash(bound)}
	for _, s := range rb.AllSteps() {
		p.Steps = append(p.Steps, executor.PlanStep{Phase: s.Phase, StepID: s.ID, Name: s.Name, Kind: s.Kind, Verdict: "will change", Summary: "standby in recovery"})
	}
	return p, nil
}

func (f *fakeExec) Preflight(_ context.Context, rb *runbook.Runbook, _ map[string]string) executor.Preflight {
	f.record("preflight " + rb.Name)
	return executor.Preflight{Checked: len(rb.Assess) + len(rb.AllSteps())}
}

func (f *fakeExec) Hash(rb *runbook.Runbook, params map[string]string) (string, error) {
	return rb.PlanHash(params), nil
}

func (f *fakeExec) Approve(ctx context.Context, runID string, rb *runbook.Runbook, approvers []string) error {
	f.record("start " + runID)
	if f.startErr != nil {
		return f.startErr
	}
	return f.Executor.Approve(ctx, runID, rb, approvers)
}

func (f *fakeExec) control(name, runID, by string) error {
	f.record(name + " " + runID + " by " + by)
	return f.err
}

func (f *fakeExec) Pause(_ context.Context, runID, by string) error {
	return f.control("pause", runID, by)
}
func (f *fakeExec) Resume(_ context.Context, runID, by string) error {
	return f.control("resume", runID, by)
}
func (f *fakeExec) Abort(_ context.Context, runID, by string) error {
	return f.control("abort", runID, by)
}
func (f *fakeExec) RetryStep(_ context.Context, runID, stepID, by string) error {
	return f.control("retry "+stepID, runID, by)
}
func (f *fakeExec) SkipStep(_ context.Context, runID, stepID, by string) error {
	return f.control("skip "+stepID, runID, by)
}

// posted is one message the fake poster saw.
type posted struct {
	Op      string // post, update, reply, ephemeral
	Channel string
	User    string // ephemeral only
	Ref     chat.MessageRef
	Msg     chat.Message
}

type fakePoster struct {
	mu   sync.Mutex
	seq  int
	msgs []posted
}

func (p *fakePoster) add(m posted) chat.MessageRef {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m.Op == "post" || m.Op == "reply" {
		p.seq++
		m.Ref = chat.MessageRef{Channel: m.Channel, TS: fmt.Sprintf("%d.000", p.seq)}
	}
	p.msgs = append(p.msgs, m)
	return m.Ref
}

func (p *fakePoster) Post(_ context.Context, channel string, m chat.Message) (chat.MessageRef, error) {
	return p.add(posted{Op: "post", Channel: channel, Msg: m}), nil
}
func (p *fakePoster) Update(_ context.Context, ref chat.MessageRef, m chat.Message) error {
	p.add(posted{Op: "update", Channel: ref.Channel, Ref: ref, Msg: m})
	return nil
}
func (p *fakePoster) Reply(_ context.Context, thread chat.MessageRef, m chat.Message) (chat.MessageRef, error) {
	return p.add(posted{Op: "reply", Channel: thread.Channel, Msg: m}), nil
}
func (p *fakePoster) Ephemeral(_ context.Context, channel, user string, m chat.Message) error {
	p.add(posted{Op: "ephemeral", Channel: channel, User: user, Msg: m})
	return nil
}

// ephemeralsTo returns the ephemeral messages shown to user.
func (p *fakePoster) ephemeralsTo(user string) []chat.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []chat.Message
	for _, m := range p.msgs {
		if m.Op == "ephemeral" && m.User == user {
			out = append(out, m.Msg)
		}
	}
	return out
}

// lastPlan is the plan view of the last post or update of ref.
func (p *fakePoster) lastPlan(ref store.MessageRef) *chat.PlanView {
	p.mu.Lock()
	defer p.mu.Unlock()
	var v *chat.PlanView
	for _, m := range p.msgs {
		if (m.Op == "post" || m.Op == "update") && m.Ref == chat.MessageRef(ref) {
			if pv, ok := m.Msg.View.(*chat.PlanView); ok {
				v = pv
			}
		}
	}
	return v
}

// reply is what a Responder was told.
type reply struct {
	Public bool
	Msg    chat.Message
}

type fakeResponder struct{ replies []reply }

func (r *fakeResponder) Respond(_ context.Context, m chat.Message) error {
	r.replies = append(r.replies, reply{true, m})
	return nil
}
func (r *fakeResponder) Ephemeral(_ context.Context, m chat.Message) error {
	r.replies = append(r.replies, reply{false, m})
	return nil
}

func (r *fakeResponder) text() string {
	var parts []string
	for _, rp := range r.replies {
		parts = append(parts, rp.Msg.Text)
	}
	return strings.Join(parts, "\n")
}

type fakeDir struct {
	groups map[string][]string
	bots   []string
	// down: users.info fails for these users.
	down []string
}

func (d *fakeDir) Members(_ context.Context, g string) ([]string, error) {
	if m, ok := d.groups[g]; ok {
		return m, nil
	}
	return nil, fmt.Errorf("unknown group %q", g)
}

func (d *fakeDir) User(_ context.Context, id string) (chat.User, error) {
	if slices.Contains(d.down, id) {
		return chat.User{ID: id}, fmt.Errorf("users.info %s: ratelimited", id)
	}
	return chat.User{ID: id, Name: id, IsBot: slices.Contains(d.bots, id)}, nil
}

// fixture is a Handler over a real SQLite store, a runbook directory, a
// fake executor and a fake poster, with a settable clock.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	st     store.Store
	exec   *fakeExec
	poster *fakePoster
	h      *Handler
	dir    string
	mu     sync.Mutex
	now    time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "bot.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{t: t, ctx: ctx, st: st, poster: &fakePoster{}, dir: t.TempDir(),
		now: time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)}
	f.writeRunbook("")
	cat, err := NewDirCatalog(f.dir, testRegistry(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ex, err := executor.New(executor.Config{Store: st, Owner: "test", Runbooks: cat.Get, Now: f.clock,
		NewRunID: func(rb string) string {
			n++
			return fmt.Sprintf("%s-%d", rb, n)
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ex.Close(context.Background()) })
	f.exec = &fakeExec{Executor: ex}
	f.h, err = New(Options{
		Catalog: cat, Planner: f.exec, Executor: f.exec, Store: st, Poster: f.poster,
		Directory: &fakeDir{
			groups: map[string][]string{"oncall": {"oncall-1", "oncall-2", "oncall-3", "deploy-bot"}, "sre": {"sre-1"}},
			bots:   []string{"deploy-bot"},
		},
		Responders: Access{Groups: []string{"oncall"}, Users: []string{"lead"}},
		Now:        f.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func (f *fixture) writeRunbook(extra string) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, "lab.yaml"), []byte(fmt.Sprintf(labYAML, extra)), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// command runs one /failover command as user.
func (f *fixture) command(user, text string) *fakeResponder {
	out := &fakeResponder{}
	f.h.HandleCommand(f.ctx, chat.Request{User: chat.User{ID: user, Name: user}, Channel: "#ops", Text: text}, out)
	return out
}

// startRun starts a run of lab as oncall-1 and returns it.
func (f *fixture) startRun() *store.Run {
	f.t.Helper()
	out := f.command("oncall-1", "start lab ticket=INC-1 primary region down")
	runs, err := f.st.ListRuns(f.ctx, store.ListOptions{Limit: 1})
	if err != nil || len(runs) == 0 {
		f.t.Fatalf("start created no run: %v; replies: %s", err, out.text())
	}
	return runs[0]
}

func (f *fixture) react(user string, run *store.Run, emoji string, added bool, eventID string) {
	f.h.HandleReaction(f.ctx, chat.Reaction{EventID: eventID, User: chat.User{ID: user}, Message: chat.MessageRef(run.ApprovalMsg), Emoji: emoji, Added: added})
}

func (f *fixture) run(id string) *store.Run {
	f.t.Helper()
	r, err := f.st.GetRun(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// approvals returns "user:decision" of a run's approvals.
func (f *fixture) approvals(id string) []string {
	f.t.Helper()
	list, err := f.st.Approvals(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, a := range list {
		out = append(out, a.User+":"+string(a.Decision))
	}
	return out
}

// audit returns "actor type[reason]" of a run's audit events of the given
// type prefixes.
func (f *fixture) audit(id string, prefixes ...string) []string {
	f.t.Helper()
	evs, err := f.st.Audit(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		for _, p := range prefixes {
			if strings.HasPrefix(e.Type, p) {
				s := e.Actor + " " + e.Type
				if r := e.Data["reason"]; r != "" && strings.HasSuffix(e.Type, ".refused") {
					s += "[" + r + "]"
				}
				out = append(out, s)
				break
			}
		}
	}
	return out
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
