package commands

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/store"
)

const (
	yes = "white_check_mark"
	no  = "x"
)

// gesture is one reaction (or button press) in an approval scenario.
type gesture struct {
	user    string
	emoji   string // yes, no, or "button:approve" / "button:reject"
	removed bool
	eventID string
	before  func(f *fixture) // e.g. advance the clock, edit the runbook
}

func TestApprovalMatrix(t *testing.T) {
	tests := []struct {
		name     string
		gestures []gesture
		// wanted outcome
		state     store.RunState
		started   bool
		approvals []string // user:decision in the store
		audit     []string // approval.* and run.* events after the request
		// told: the last ephemeral reply to the person of the last gesture
		told    string
		toldErr bool
		planAs  string // state of the plan message
	}{
		{
			name:      "two approvers from the group start the run",
			gestures:  []gesture{{user: "oncall-2", emoji: yes}, {user: "oncall-3", emoji: yes}},
			state:     store.RunRunning,
			started:   true,
			approvals: []string{"oncall-2:approve", "oncall-3:approve"},
			audit:     []string{"oncall-2 approval.granted", "oncall-3 approval.granted", "bot run.approved"},
			told:      "recorded (2/2)",
			planAs:    "approved",
		},
		{
			name:      "the Approve button counts like the reaction",
			gestures:  []gesture{{user: "oncall-2", emoji: "button:approve"}, {user: "oncall-3", emoji: yes}},
			state:     store.RunRunning,
			started:   true,
			approvals: []string{"oncall-2:approve", "oncall-3:approve"},
			audit:     []string{"oncall-2 approval.granted", "oncall-3 approval.granted", "bot run.approved"},
			told:      "recorded (2/2)",
			planAs:    "approved",
		},
		{
			name:     "self-approval is refused",
			gestures: []gesture{{user: "oncall-1", emoji: yes}},
			state:    store.RunPending,
			audit:    []string{"oncall-1 approval.refused[self_approval]"},
			told:     "You requested run lab-1: someone else must approve it.",
			toldErr:  true,
			planAs:   "pending",
		},
		{
			name:     "an approver outside the group is refused",
			gestures: []gesture{{user: "sre-1", emoji: yes}},
			state:    store.RunPending,
			audit:    []string{"sre-1 approval.refused[not_approver]"},
			told:     "You are not an approver of lab (approvers: group oncall).",
			toldErr:  true,
			planAs:   "pending",
		},
		{
			name:     "a bot in the group is refused",
			gestures: []gesture{{user: "deploy-bot", emoji: yes}},
			state:    store.RunPending,
			audit:    []string{"deploy-bot approval.refused[bot]"},
			told:     "Bots cannot approve or reject run lab-1.",
			toldErr:  true,
			planAs:   "pending",
		},
		{
			name:      "one person reacting twice counts once",
			gestures:  []gesture{{user: "oncall-2", emoji: yes, eventID: "Ev1"}, {user: "oncall-2", emoji: "button:approve"}},
			state:     store.RunPending,
			approvals: []string{"oncall-2:approve"},
			audit:     []string{"oncall-2 approval.granted", "oncall-2 approval.refused[already_approved]"},
			told:      "You already approved run lab-1; one person counts once.",
			toldErr:   true,
			planAs:    "pending",
		},
		{
			name: "a redelivered reaction is not counted twice",
			gestures: []gesture{
				{user: "oncall-2", emoji: yes, eventID: "Ev1"},
				{user: "oncall-2", emoji: yes, eventID: "Ev1"},
			},
			state:     store.RunPending,
			approvals: []string{"oncall-2:approve"},
			audit:     []string{"oncall-2 approval.granted"},
			told:      "recorded (1/2)", // once: the redelivery gets no reply
			planAs:    "pending",
		},
		{
			name: "an approval after expiry is refused and the run expires",
			gestures: []gesture{
				{user: "oncall-2", emoji: yes},
				{user: "oncall-3", emoji: yes, before: func(f *fixture) { f.advance(15*time.Minute + time.Second) }},
			},
			state:     store.RunExpired,
			approvals: []string{"oncall-2:approve"},
			audit:     []string{"oncall-2 approval.granted", "bot run.expired", "oncall-3 approval.refused[expired]"},
			told:      "The approval request for run lab-1 expired; start a new run.",
			toldErr:   true,
			planAs:    "expired",
		},
		{
			name: "a runbook changed after an approval voids the approvals",
			gestures: []gesture{
				{user: "oncall-2", emoji: yes},
				{user: "oncall-3", emoji: yes, before: func(f *fixture) {
					f.writeRunbook("      - {id: scale_apps, kind: test.step}\n")
				}},
			},
			state:     store.RunExpired,
			approvals: []string{"oncall-2:approve"},
			audit:     []string{"oncall-2 approval.granted", "bot run.expired", "oncall-3 approval.refused[stale_plan]"},
			told:      "The runbook lab changed since this plan was posted: approvals of run lab-1 are void.",
			toldErr:   true,
			planAs:    "expired",
		},
		{
			name:      "❌ from an approver rejects",
			gestures:  []gesture{{user: "oncall-2", emoji: yes}, {user: "oncall-3", emoji: no}},
			state:     store.RunRejected,
			approvals: []string{"oncall-2:approve", "oncall-3:reject"},
			audit:     []string{"oncall-2 approval.granted", "oncall-3 approval.rejected", "oncall-3 run.rejected"},
			told:      "You rejected run lab-1.",
			planAs:    "rejected",
		},
		{
			name:      "the Reject button rejects",
			gestures:  []gesture{{user: "oncall-3", emoji: "button:reject"}},
			state:     store.RunRejected,
			approvals: []string{"oncall-3:reject"},
			audit:     []string{"oncall-3 approval.rejected", "oncall-3 run.rejected"},
			told:      "You rejected run lab-1.",
			planAs:    "rejected",
		},
		{
			name:     "❌ from outside the group is refused",
			gestures: []gesture{{user: "sre-1", emoji: no}},
			state:    store.RunPending,
			audit:    []string{"sre-1 approval.refused[not_approver]"},
			told:     "You are not an approver of lab",
			toldErr:  true,
			planAs:   "pending",
		},
		{
			name: "a removed reaction before quorum withdraws that approval",
			gestures: []gesture{
				{user: "oncall-2", emoji: yes},
				{user: "oncall-2", emoji: yes, removed: true},
				{user: "oncall-3", emoji: yes},
			},
			state:     store.RunPending,
			approvals: []string{"oncall-3:approve"},
			audit:     []string{"oncall-2 approval.granted", "oncall-2 approval.withdrawn", "oncall-3 approval.granted"},
			told:      "recorded (1/2)",
			planAs:    "pending",
		},
		{
			name: "a removed reaction after quorum changes nothing",
			gestures: []gesture{
				{user: "oncall-2", emoji: yes},
				{user: "oncall-3", emoji: yes},
				{user: "oncall-3", emoji: yes, removed: true},
			},
			state:     store.RunRunning,
			started:   true,
			approvals: []string{"oncall-2:approve", "oncall-3:approve"},
			audit:     []string{"oncall-2 approval.granted", "oncall-3 approval.granted", "bot run.approved", "oncall-3 approval.refused[already_decided]"},
			told:      "Run lab-1 is already running: removing your reaction changes nothing.",
			toldErr:   true,
			planAs:    "approved",
		},
		{
			name: "an approval after quorum is refused as already decided",
			gestures: []gesture{
				{user: "oncall-2", emoji: yes},
				{user: "oncall-3", emoji: yes},
				{user: "lead", emoji: yes},
			},
			state:     store.RunRunning,
			started:   true,
			approvals: []string{"oncall-2:approve", "oncall-3:approve"},
			audit:     []string{"oncall-2 approval.granted", "oncall-3 approval.granted", "bot run.approved", "lead approval.refused[already_decided]"},
			told:      "Run lab-1 is already running: your approve was not counted.",
			toldErr:   true,
			planAs:    "approved",
		},
		{
			name:     "other emoji are ignored",
			gestures: []gesture{{user: "oncall-2", emoji: "eyes"}},
			state:    store.RunPending,
			planAs:   "pending",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			run := f.startRun()
			if run.ID != "lab-1" {
				t.Fatalf("run ID %s", run.ID)
			}
			for _, g := range tt.gestures {
				if g.before != nil {
					g.before(f)
				}
				switch g.emoji {
				case "button:approve", "button:reject":
					f.h.HandleAction(f.ctx, chat.Action{User: chat.User{ID: g.user}, Message: chat.MessageRef(run.ApprovalMsg),
						ActionID: strings.TrimPrefix(g.emoji, "button:"), Value: run.ID})
				default:
					f.react(g.user, run, g.emoji, !g.removed, g.eventID)
				}
			}
			got := f.run(run.ID)
			if got.State != tt.state {
				t.Errorf("run state %s (%s), want %s", got.State, got.StateReason, tt.state)
			}
			if started := slices.Contains(f.exec.Calls(), "start "+run.ID); started != tt.started {
				t.Errorf("executor started the run: %v, want %v", started, tt.started)
			}
			if a := f.approvals(run.ID); !slices.Equal(a, tt.approvals) {
				t.Errorf("approvals in the store %v, want %v", a, tt.approvals)
			}
			all := f.audit(run.ID, "approval.", "run.")
			// The request and the start itself are the executor's records
			// (its own tests check them); these are the decisions.
			all = slices.DeleteFunc(all, func(s string) bool {
				return strings.HasSuffix(s, "run.requested") || strings.HasSuffix(s, "approval.requested") || strings.HasSuffix(s, "run.started")
			})
			if !slices.Equal(all, tt.audit) {
				t.Errorf("audit trail\n got %v\nwant %v", all, tt.audit)
			}
			last := tt.gestures[len(tt.gestures)-1]
			told := f.poster.ephemeralsTo(last.user)
			if tt.told == "" {
				if len(told) != 0 {
					t.Errorf("%s was told %v, want nothing", last.user, told)
				}
			} else {
				if len(told) == 0 {
					t.Fatalf("%s was told nothing, want %q", last.user, tt.told)
				}
				if tt.name == "a redelivered reaction is not counted twice" && len(told) != 1 {
					t.Errorf("%s was answered %d times, want once", last.user, len(told))
				}
				m := told[len(told)-1]
				if !strings.Contains(m.Text, tt.told) || m.Error != tt.toldErr {
					t.Errorf("%s was told %q (error=%v), want %q (error=%v)", last.user, m.Text, m.Error, tt.told, tt.toldErr)
				}
			}
			if v := f.poster.lastPlan(run.ApprovalMsg); v == nil || v.State != tt.planAs {
				t.Errorf("plan message %+v, want state %q", v, tt.planAs)
			} else if tt.planAs == "approved" && !slices.Equal(v.Approvers, []string{"oncall-2", "oncall-3"}) {
				t.Errorf("plan message lists approvers %v", v.Approvers)
			}
		})
	}
}

func TestQuorumStartsTheRunOnce(t *testing.T) {
	f := newFixture(t)
	run := f.startRun()
	f.react("oncall-2", run, yes, true, "a")
	f.react("oncall-3", run, yes, true, "b")
	f.react("lead", run, yes, true, "c")
	n := 0
	for _, c := range f.exec.Calls() {
		if c == "start "+run.ID {
			n++
		}
	}
	if n != 1 {
		t.Errorf("Start called %d times", n)
	}
}

func TestRequesterMayApproveWhenTheRunbookAllowsIt(t *testing.T) {
	f := newFixture(t)
	f.writeRunbook("")
	// A runbook that allows the requester and needs one approval.
	yaml := strings.Replace(labYAML, "  expiry: 15m", "  expiry: 15m\n  allowRequester: true", 1)
	yaml = strings.Replace(yaml, "required: 2", "required: 1", 1)
	writeFile(t, f.dir+"/lab.yaml", strings.Replace(yaml, "%s", "", 1))
	run := f.startRun()
	f.react("oncall-1", run, yes, true, "")
	if got := f.run(run.ID).State; got != store.RunRunning {
		t.Errorf("run is %s, want running", got)
	}
}

func TestRunbookWithoutApprovalStartsAtOnce(t *testing.T) {
	f := newFixture(t)
	yaml := strings.Replace(labYAML, "required: 2", "required: 0", 1)
	writeFile(t, f.dir+"/lab.yaml", strings.Replace(yaml, "%s", "", 1))
	run := f.startRun()
	if got := f.run(run.ID).State; got != store.RunRunning {
		t.Errorf("run is %s, want running", got)
	}
}

func TestExpirePendingExpiresOldRequests(t *testing.T) {
	f := newFixture(t)
	run := f.startRun()
	f.h.ExpirePending(f.ctx)
	if got := f.run(run.ID).State; got != store.RunPending {
		t.Fatalf("run is %s before its expiry", got)
	}
	f.advance(16 * time.Minute)
	f.h.ExpirePending(f.ctx)
	if got := f.run(run.ID).State; got != store.RunExpired {
		t.Errorf("run is %s, want expired", got)
	}
	if v := f.poster.lastPlan(run.ApprovalMsg); v.State != "expired" {
		t.Errorf("plan message says %q", v.State)
	}
}

func TestButtonsRetrySkipAbortAreForResponders(t *testing.T) {
	f := newFixture(t)
	run := f.startRun()
	f.react("oncall-2", run, yes, true, "")
	f.react("oncall-3", run, yes, true, "")
	card := chat.MessageRef{Channel: "#incident-lab", TS: "99"}
	f.h.HandleAction(f.ctx, chat.Action{User: chat.User{ID: "visitor"}, Message: card, ActionID: "retry", Value: run.ID + "/promote_db"})
	if told := f.poster.ephemeralsTo("visitor"); len(told) != 1 || !strings.Contains(told[0].Text, "Only responders may retry") {
		t.Errorf("visitor was told %v", told)
	}
	f.h.HandleAction(f.ctx, chat.Action{User: chat.User{ID: "oncall-2"}, Message: card, ActionID: "skip", Value: run.ID + "/promote_db"})
	f.h.HandleAction(f.ctx, chat.Action{User: chat.User{ID: "oncall-3"}, Message: card, ActionID: "abort", Value: run.ID + "/promote_db"})
	calls := f.exec.Calls()
	for _, want := range []string{"skip promote_db " + run.ID + " by oncall-2", "abort " + run.ID + " by oncall-3"} {
		if !slices.Contains(calls, want) {
			t.Errorf("executor calls %v lack %q", calls, want)
		}
	}
	for _, c := range calls {
		if strings.Contains(c, "visitor") {
			t.Errorf("a visitor's button reached the executor: %s", c)
		}
	}
}

// An Approve button counts only on the run's own plan message: a button
// press whose message is another one (another run's plan, a stale copy, a
// crafted payload) must not approve the run its value names.
func TestApproveButtonOnAnotherMessageIsRefused(t *testing.T) {
	f := newFixture(t)
	run := f.startRun()
	other := chat.MessageRef{Channel: run.ApprovalMsg.Channel, TS: "1111.2222"}
	f.h.HandleAction(f.ctx, chat.Action{User: chat.User{ID: "oncall-2"}, Message: other, ActionID: "approve", Value: run.ID})
	f.h.HandleAction(f.ctx, chat.Action{User: chat.User{ID: "oncall-3"}, Message: chat.MessageRef{Channel: "#elsewhere", TS: run.ApprovalMsg.TS}, ActionID: "approve", Value: run.ID})
	if got := f.approvals(run.ID); len(got) != 0 {
		t.Errorf("approvals from buttons on other messages were recorded: %v", got)
	}
	if got := f.run(run.ID).State; got != store.RunPending {
		t.Errorf("run is %s, want pending", got)
	}
	if got := f.audit(run.ID, "approval.refused"); !slices.Equal(got, []string{"oncall-2 approval.refused[wrong_message]", "oncall-3 approval.refused[wrong_message]"}) {
		t.Errorf("audit = %v", got)
	}
	if told := f.poster.ephemeralsTo("oncall-2"); len(told) != 1 || !told[0].Error {
		t.Errorf("oncall-2 was told %v", told)
	}
	// The same button on the plan message still counts.
	f.h.HandleAction(f.ctx, chat.Action{User: chat.User{ID: "oncall-2"}, Message: chat.MessageRef(run.ApprovalMsg), ActionID: "approve", Value: run.ID})
	if got := f.approvals(run.ID); !slices.Equal(got, []string{"oncall-2:approve"}) {
		t.Errorf("approvals = %v", got)
	}
}

// When the directory cannot say who someone is (users.info failing), the
// bot cannot tell a bot from a person: the approval is refused, not
// counted. deploy-bot is in the oncall group.
func TestApprovalIsRefusedWhenTheDirectoryCannotTellABot(t *testing.T) {
	f := newFixture(t)
	f.h.o.Directory.(*fakeDir).down = []string{"deploy-bot"}
	run := f.startRun()
	f.react("oncall-2", run, yes, true, "a")
	f.react("deploy-bot", run, yes, true, "b")
	f.h.HandleAction(f.ctx, chat.Action{User: chat.User{ID: "deploy-bot"}, Message: chat.MessageRef(run.ApprovalMsg), ActionID: "approve", Value: run.ID})
	if got := f.approvals(run.ID); !slices.Equal(got, []string{"oncall-2:approve"}) {
		t.Errorf("approvals = %v, want oncall-2's only", got)
	}
	if got := f.run(run.ID).State; got != store.RunPending {
		t.Errorf("run is %s, want pending", got)
	}
	if got := f.audit(run.ID, "approval.refused"); !slices.Equal(got, []string{"deploy-bot approval.refused[directory_error]", "deploy-bot approval.refused[directory_error]"}) {
		t.Errorf("audit = %v", got)
	}
}
