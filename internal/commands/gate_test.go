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
	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/executor"
	"github.com/failoverbot/failoverbot/internal/steps/gate"
	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/sqlite"
)

// gatedYAML: two approvals start the run; a DBA gate (two people of group
// dba, neither the requester nor an approver of the start) stands before
// the promotion.
const gatedYAML = `name: gated
description: Fail over with a DBA sign-off
approval: {required: 2, groups: [oncall], expiry: 15m}
phases:
  - id: database
    steps:
      - id: dba_signoff
        name: DBA sign-off
        kind: gate
        with: {message: "Sign off the promotion of the DR database", required: 2, groups: [dba],
               allowRequester: false, allowEarlierApprovers: false, expiry: %s}
      - {id: promote_db, name: Promote, kind: test.step, needs: [dba_signoff]}
`

// gateFixture is a handler over the real executor whose gate events reach
// the handler as the notification pipeline would hand them: in the
// background.
type gateFixture struct {
	*fixture
	ex     *executor.Executor
	events sync.WaitGroup
}

func newGateFixture(t *testing.T, expiry string) *gateFixture {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "bot.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	g := &gateFixture{fixture: &fixture{t: t, ctx: ctx, st: st, poster: &fakePoster{}, dir: t.TempDir(),
		now: time.Now()}}
	if err := os.WriteFile(filepath.Join(g.dir, "gated.yaml"), fmt.Appendf(nil, gatedYAML, expiry), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := testRegistry(t)
	if err := gate.Register(reg); err != nil {
		t.Fatal(err)
	}
	cat, err := NewDirCatalog(g.dir, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	g.ex = g.newExecutor(cat)
	g.exec = &fakeExec{Executor: g.ex}
	g.h, err = New(Options{
		Catalog: cat, Planner: g.exec, Executor: g.exec, Store: st, Poster: g.poster,
		Directory: &fakeDir{groups: map[string][]string{
			"oncall": {"oncall-1", "oncall-2", "oncall-3"},
			"dba":    {"oncall-1", "oncall-2", "dba-1", "dba-2", "dba-3", "deploy-bot"},
		}, bots: []string{"deploy-bot"}},
		Responders: Access{Groups: []string{"oncall"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func (g *gateFixture) newExecutor(cat *DirCatalog) *executor.Executor {
	g.t.Helper()
	ex, err := executor.New(executor.Config{Store: g.st, Owner: "test", Runbooks: cat.Get, GatePollInterval: 20 * time.Millisecond,
		NewRunID: func(rb string) string { return rb + "-1" },
		Sink: events.SinkFunc(func(ctx context.Context, e events.Event) {
			g.events.Go(func() {
				if g.h != nil {
					_ = g.h.GateEvent(context.WithoutCancel(ctx), e)
				}
			})
		})})
	if err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() { _ = ex.Close(context.Background()); g.events.Wait() })
	return ex
}

// startAndReachGate starts a run (oncall-1 asks, oncall-2 and oncall-3
// approve) and waits until its gate's request is posted.
func (g *gateFixture) startAndReachGate() (*store.Run, chat.MessageRef) {
	g.t.Helper()
	g.command("oncall-1", "start gated primary region down")
	run := g.run("gated-1")
	g.react("oncall-2", run, yes, true, "")
	g.react("oncall-3", run, yes, true, "")
	return run, g.gateRequest()
}

// gateRequest waits for the gate's request message.
func (g *gateFixture) gateRequest() chat.MessageRef {
	g.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if sts, _ := g.st.Steps(g.ctx, "gated-1"); len(sts) > 0 {
			for _, s := range sts {
				if s.StepID == "dba_signoff" && s.Status == store.StepWaiting && s.Message.TS != "" {
					return chat.MessageRef(s.Message)
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	g.t.Fatalf("the gate's request was not posted; run %+v", g.run("gated-1"))
	return chat.MessageRef{}
}

func (g *gateFixture) reactGate(user string, msg chat.MessageRef, emoji string, added bool) {
	g.h.HandleReaction(g.ctx, chat.Reaction{User: chat.User{ID: user}, Message: msg, Emoji: emoji, Added: added})
}

func (g *gateFixture) pressGate(user string, msg chat.MessageRef, action string) {
	g.h.HandleAction(g.ctx, chat.Action{User: chat.User{ID: user}, Message: msg, ActionID: action, Value: "gated-1/dba_signoff"})
}

func (g *gateFixture) gateStep() *store.StepState {
	sts, _ := g.st.Steps(g.ctx, "gated-1")
	for _, s := range sts {
		if s.StepID == "dba_signoff" {
			return s
		}
	}
	return nil
}

// waitGate waits for the gate step to reach status want.
func (g *gateFixture) waitGate(want store.StepStatus) *store.StepState {
	g.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if s := g.gateStep(); s != nil && s.Status == want {
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
	g.t.Fatalf("gate step is %+v, want %s", g.gateStep(), want)
	return nil
}

// gateAudit lists "actor type[reason]" of the gate's approval records.
func (g *gateFixture) gateAudit() []string {
	evs, _ := g.st.Audit(g.ctx, "gated-1")
	var out []string
	for _, e := range evs {
		if strings.HasPrefix(e.Type, "approval.") && e.Data["gate"] == "dba_signoff" {
			s := e.Actor + " " + e.Type
			if r := e.Data["reason"]; r != "" {
				s += "[" + r + "]"
			}
			out = append(out, s)
		}
	}
	return out
}

func (g *gateFixture) told(user string) string {
	m := g.poster.ephemeralsTo(user)
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1].Text
}

// The start request's approval matrix, repeated for a gate inside the run.
func TestGateApprovalMatrix(t *testing.T) {
	tests := []struct {
		name  string
		do    func(g *gateFixture, msg chat.MessageRef)
		gate  store.StepStatus
		audit []string
		who   string // whose last reply is checked
		told  string
	}{
		{"two DBAs approve: the gate is done", func(g *gateFixture, m chat.MessageRef) {
			g.reactGate("dba-1", m, yes, true)
			g.pressGate("dba-2", m, "approve")
		}, store.StepDone, []string{"dba-1 approval.granted", "dba-2 approval.granted"}, "dba-2", "Your approval of gate dba_signoff of run gated-1 is recorded (2/2)."},
		{"the requester may not approve", func(g *gateFixture, m chat.MessageRef) { g.reactGate("oncall-1", m, yes, true) },
			store.StepWaiting, []string{"oncall-1 approval.refused[self_approval]"}, "oncall-1", "You requested run gated-1: someone else must approve gate dba_signoff of run gated-1."},
		{"an approver of the start may not approve", func(g *gateFixture, m chat.MessageRef) { g.reactGate("oncall-2", m, yes, true) },
			store.StepWaiting, []string{"oncall-2 approval.refused[earlier_approver]"}, "oncall-2", "You approved an earlier step of run gated-1: gate dba_signoff of run gated-1 needs someone else."},
		{"an outsider may not approve", func(g *gateFixture, m chat.MessageRef) { g.reactGate("visitor", m, yes, true) },
			store.StepWaiting, []string{"visitor approval.refused[not_approver]"}, "visitor", "You may not approve gate dba_signoff of run gated-1 (approvers: group dba)."},
		{"a bot may not approve", func(g *gateFixture, m chat.MessageRef) { g.reactGate("deploy-bot", m, yes, true) },
			store.StepWaiting, []string{"deploy-bot approval.refused[bot]"}, "deploy-bot", "Bots cannot approve or reject gate dba_signoff of run gated-1."},
		{"one person counts once", func(g *gateFixture, m chat.MessageRef) {
			g.reactGate("dba-1", m, yes, true)
			g.pressGate("dba-1", m, "approve")
		}, store.StepWaiting, []string{"dba-1 approval.granted", "dba-1 approval.refused[already_approved]"}, "dba-1", "You already approved gate dba_signoff of run gated-1; one person counts once."},
		{"a rejection fails the gate", func(g *gateFixture, m chat.MessageRef) { g.reactGate("dba-1", m, no, true) },
			store.StepFailed, []string{"dba-1 approval.rejected"}, "dba-1", "You rejected gate dba_signoff of run gated-1."},
		{"a removed reaction withdraws", func(g *gateFixture, m chat.MessageRef) {
			g.reactGate("dba-1", m, yes, true)
			g.reactGate("dba-1", m, yes, false)
		}, store.StepWaiting, []string{"dba-1 approval.granted", "dba-1 approval.withdrawn"}, "dba-1", "Your approval of gate dba_signoff of run gated-1 is withdrawn (0 approval(s) left)."},
		{"a removed reaction does not withdraw a button's approval", func(g *gateFixture, m chat.MessageRef) {
			g.pressGate("dba-1", m, "approve")
			g.reactGate("dba-1", m, yes, false)
		}, store.StepWaiting, []string{"dba-1 approval.granted"}, "dba-1", "Your approval of gate dba_signoff of run gated-1 is recorded (1/2)."},
		{"after the quorum nothing counts", func(g *gateFixture, m chat.MessageRef) {
			g.reactGate("dba-1", m, yes, true)
			g.reactGate("dba-2", m, yes, true)
			g.waitGate(store.StepDone)
			g.reactGate("dba-3", m, yes, true)
		}, store.StepDone, []string{"dba-1 approval.granted", "dba-2 approval.granted", "dba-3 approval.refused[already_decided]"}, "dba-3", "Gate dba_signoff of run gated-1 is already decided: your approve was not counted."},
		{"the button on another message is refused", func(g *gateFixture, m chat.MessageRef) {
			g.pressGate("dba-1", chat.MessageRef{Channel: m.Channel, TS: "1.999"}, "approve")
		}, store.StepWaiting, []string{"dba-1 approval.refused[wrong_message]"}, "dba-1", "This message is not the approval request of gate dba_signoff of run gated-1: your approve was not counted."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGateFixture(t, "10m")
			_, msg := g.startAndReachGate()
			tt.do(g, msg)
			g.waitGate(tt.gate)
			if got := g.gateAudit(); !slices.Equal(got, tt.audit) {
				t.Errorf("gate audit\n got %v\nwant %v", got, tt.audit)
			}
			if got := g.told(tt.who); got != tt.told {
				t.Errorf("%s was told %q\nwant %q", tt.who, got, tt.told)
			}
		})
	}
}

func TestAnExpiredGateTakesNoMoreApprovals(t *testing.T) {
	g := newGateFixture(t, "1s")
	run, msg := g.startAndReachGate()
	deadline := time.Now().Add(20 * time.Second)
	for g.run(run.ID).State != store.RunPaused && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if r := g.run(run.ID); r.State != store.RunPaused || !strings.Contains(r.StateReason, "gate dba_signoff expired") {
		t.Fatalf("run %s (%s), want paused: expired", r.State, r.StateReason)
	}
	g.reactGate("dba-1", msg, yes, true)
	if got := g.gateAudit(); !slices.Equal(got, []string{"dba-1 approval.refused[already_decided]"}) {
		t.Errorf("audit %v", got)
	}
}

// A DBA removed from the group after approving no longer counts when the
// quorum is decided; the audit trail says who was dropped and why.
func TestAnApproverRemovedFromTheGroupIsDroppedAtQuorum(t *testing.T) {
	g := newGateFixture(t, "10m")
	_, msg := g.startAndReachGate()
	g.reactGate("dba-1", msg, yes, true)
	dir := g.h.o.Directory.(*fakeDir)
	dir.groups["dba"] = slices.DeleteFunc(slices.Clone(dir.groups["dba"]), func(u string) bool { return u == "dba-1" })
	g.reactGate("dba-2", msg, yes, true)
	if s := g.gateStep(); s.Status != store.StepWaiting {
		t.Fatalf("gate is %s with one approver left, want waiting", s.Status)
	}
	evs, _ := g.st.Audit(g.ctx, "gated-1")
	var dropped []string
	for _, e := range evs {
		if e.Type == "approval.dropped" {
			dropped = append(dropped, e.Data["user"]+": "+e.Message)
		}
	}
	if len(dropped) != 1 || !strings.HasPrefix(dropped[0], "dba-1: dba-1's approval of gate dba_signoff of run gated-1 no longer counts: You may not approve") {
		t.Errorf("dropped = %v", dropped)
	}
	g.reactGate("dba-3", msg, yes, true)
	if s := g.waitGate(store.StepDone); s.Outputs["confirmedBy"] != "dba-2,dba-3" {
		t.Errorf("confirmed by %q, want dba-2,dba-3", s.Outputs["confirmedBy"])
	}
}

// The same for the start request: quorum is re-checked against the
// directory as it is when the quorum is reached.
func TestAStartApproverRemovedFromTheGroupIsDroppedAtQuorum(t *testing.T) {
	f := newFixture(t)
	run := f.startRun()
	f.react("oncall-2", run, yes, true, "")
	dir := f.h.o.Directory.(*fakeDir)
	dir.groups["oncall"] = []string{"oncall-1", "oncall-3"}
	f.react("oncall-3", run, yes, true, "")
	if got := f.run(run.ID).State; got != store.RunPending {
		t.Errorf("run is %s with one approver left in the group, want pending", got)
	}
	if got := f.audit(run.ID, "approval.dropped"); !slices.Equal(got, []string{"bot approval.dropped"}) {
		t.Errorf("audit %v", got)
	}
}

// A bot restarted while a gate waits keeps the gate and the approvals
// given: the second approval after the restart completes it.
func TestAGateKeepsItsApprovalsAcrossARestart(t *testing.T) {
	g := newGateFixture(t, "10m")
	_, msg := g.startAndReachGate()
	g.reactGate("dba-1", msg, yes, true)
	if err := g.ex.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	next := g.newExecutor(g.h.o.Catalog.(*DirCatalog))
	g.exec.Executor = next
	if err := next.Recover(g.ctx, g.h.o.Catalog.Get); err != nil {
		t.Fatal(err)
	}
	g.waitGate(store.StepWaiting)
	g.reactGate("dba-2", msg, yes, true)
	if s := g.waitGate(store.StepDone); s.Outputs["confirmedBy"] != "dba-1,dba-2" {
		t.Errorf("confirmed by %q", s.Outputs["confirmedBy"])
	}
}
