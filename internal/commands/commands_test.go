package commands

import (
	"slices"
	"strings"
	"testing"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/store"
)

func TestBadCommandsGetAnEphemeralUsageAndChangeNothing(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"an unknown verb", "frobnicate lab", `unknown command "frobnicate"`},
		{"start without a runbook", "start", "start needs a runbook name"},
		{"start of an unknown runbook", "start nosuch", `unknown runbook "nosuch" (runbooks: lab)`},
		{"start with an unknown parameter", "start lab tickt=1", "unknown parameter tickt"},
		{"plan of an unknown runbook", "plan nosuch", `unknown runbook "nosuch"`},
		{"retry without a step", "retry lab-1", "retry needs a run and a step"},
		{"pause of an unknown run", "pause lab-404", `Unknown run "lab-404"`},
		{"skip of an unknown run", "skip lab-404 promote_db", `Unknown run "lab-404"`},
		{"report of an unknown run", "report lab-404", `Unknown run "lab-404"`},
		{"status of an unknown run", "status lab-404", `Unknown run "lab-404"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			out := f.command("oncall-1", tt.text)
			if len(out.replies) != 1 {
				t.Fatalf("got %d replies, want 1: %s", len(out.replies), out.text())
			}
			r := out.replies[0]
			if r.Public || !r.Msg.Error {
				t.Errorf("reply public=%v error=%v, want an ephemeral error", r.Public, r.Msg.Error)
			}
			if !strings.Contains(r.Msg.Text, tt.want) {
				t.Errorf("reply %q does not say %q", r.Msg.Text, tt.want)
			}
			runs, _ := f.st.ListRuns(f.ctx, store.ListOptions{})
			if len(runs) != 0 {
				t.Errorf("a bad command created %d run(s)", len(runs))
			}
			for _, c := range f.exec.Calls() {
				if !strings.HasPrefix(c, "assess") && !strings.HasPrefix(c, "plan") {
					t.Errorf("a bad command called the executor: %s", c)
				}
			}
		})
	}
}

func TestUsageRepliesNameTheVerbsUsage(t *testing.T) {
	f := newFixture(t)
	out := f.command("oncall-1", "retry lab-1")
	if !strings.Contains(out.text(), "Usage: /failover retry <run> <step>") {
		t.Errorf("reply %q lacks the usage", out.text())
	}
}

func TestAccessControl(t *testing.T) {
	tests := []struct {
		user    string
		text    string
		allowed bool
	}{
		{"visitor", "help", true},
		{"visitor", "list", true},
		{"visitor", "assess lab", true},
		{"visitor", "plan lab", true},
		{"visitor", "status", true},
		{"visitor", "history", true},
		{"visitor", "start lab", false},
		{"visitor", "pause lab-1", false},
		{"visitor", "resume lab-1", false},
		{"visitor", "abort lab-1", false},
		{"visitor", "retry lab-1 promote_db", false},
		{"visitor", "skip lab-1 promote_db", false},
		{"deploy-bot", "start lab", false}, // in the group, but a bot
		{"oncall-2", "start lab", true},
		{"lead", "start lab", true}, // listed by user
	}
	for _, tt := range tests {
		t.Run(tt.user+" "+tt.text, func(t *testing.T) {
			f := newFixture(t)
			out := &fakeResponder{}
			f.h.HandleCommand(f.ctx, chat.Request{User: chat.User{ID: tt.user, IsBot: tt.user == "deploy-bot"}, Channel: "#ops", Text: tt.text}, out)
			refused := strings.Contains(out.text(), "Only responders may use")
			if refused == tt.allowed {
				t.Fatalf("allowed=%v, but the reply is %q", tt.allowed, out.text())
			}
			if refused {
				if out.replies[0].Public || !out.replies[0].Msg.Error {
					t.Error("a refusal must be an ephemeral error")
				}
				if !strings.Contains(out.text(), "group oncall or user lead") {
					t.Errorf("refusal %q does not say who may", out.text())
				}
				if got := f.audit("", "command.refused"); len(got) != 1 {
					t.Errorf("audit of the refusal = %v, want one command.refused", got)
				}
				runs, _ := f.st.ListRuns(f.ctx, store.ListOptions{})
				if len(runs) != 0 || len(f.exec.Calls()) != 0 {
					t.Errorf("a refused command did something: runs %d, executor %v", len(runs), f.exec.Calls())
				}
			}
		})
	}
}

func TestStartPostsThePlanAndCreatesAPendingRun(t *testing.T) {
	f := newFixture(t)
	out := f.command("oncall-1", "start lab ticket=INC-7 primary region is down")
	run := f.startRunFromStore()
	if run.State != store.RunPending || run.Requester != "oncall-1" || run.Reason != "primary region is down" || run.Params["ticket"] != "INC-7" {
		t.Errorf("run = %+v", run)
	}
	rb, _ := f.h.o.Catalog.Get("lab")
	if run.PlanHash != rb.PlanHash(map[string]string{"ticket": "INC-7"}) {
		t.Error("the run is not bound to the plan hash of its runbook and parameters")
	}
	if run.ApprovalMsg.Channel != "#incident-lab" || run.ApprovalMsg.TS == "" {
		t.Errorf("approval message = %+v, want a message in the runbook's channel", run.ApprovalMsg)
	}
	v := f.poster.lastPlan(run.ApprovalMsg)
	if v == nil {
		t.Fatal("no plan view was posted")
	}
	if v.State != "pending" || v.Required != 2 || len(v.Steps) != 1 || v.Steps[0].Verdict != "will change" {
		t.Errorf("plan view = %+v", v)
	}
	if v.Assessment == nil || !v.Assessment.Go {
		t.Error("the plan lacks the assessment")
	}
	if v.ExpectedDataLoss != "lag 0.2s, 0 bytes behind" {
		t.Errorf("expected data loss = %q, want the replication-lag check's summary", v.ExpectedDataLoss)
	}
	if !v.ExpiresAt.Equal(f.clock().Add(15 * 60e9)) {
		t.Errorf("expires at %v", v.ExpiresAt)
	}
	if !strings.Contains(out.text(), "it needs 2 approvals from group oncall (not the requester) within 15m0s") || out.replies[0].Public {
		t.Errorf("requester was told %q", out.text())
	}
	if got := f.audit(run.ID, "run.", "approval."); !slices.Equal(got, []string{"oncall-1 run.requested", "bot approval.requested"}) {
		t.Errorf("audit = %v", got)
	}
	if slices.Contains(f.exec.Calls(), "start "+run.ID) {
		t.Error("the run started without approval")
	}
}

func (f *fixture) startRunFromStore() *store.Run {
	f.t.Helper()
	runs, err := f.st.ListRuns(f.ctx, store.ListOptions{Limit: 1})
	if err != nil || len(runs) != 1 {
		f.t.Fatalf("runs: %v %v", runs, err)
	}
	return runs[0]
}

func TestSecondStartOfARunbookNamesTheActiveRun(t *testing.T) {
	f := newFixture(t)
	first := f.startRun()
	out := f.command("oncall-2", "start lab")
	want := "Runbook lab already has an active run " + first.ID + " (pending_approval)"
	if !strings.Contains(out.text(), want) || !out.replies[0].Msg.Error {
		t.Errorf("reply %q, want an error saying %q", out.text(), want)
	}
	runs, _ := f.st.ListRuns(f.ctx, store.ListOptions{})
	if len(runs) != 1 {
		t.Errorf("%d runs, want 1", len(runs))
	}
}

func TestStartAfterAnExpiredRequestExpiresItAndGoesOn(t *testing.T) {
	f := newFixture(t)
	first := f.startRun()
	f.advance(16 * 60e9)
	f.command("oncall-2", "start lab")
	if got := f.run(first.ID).State; got != store.RunExpired {
		t.Errorf("first run is %s, want expired", got)
	}
	runs, _ := f.st.ListRuns(f.ctx, store.ListOptions{States: []store.RunState{store.RunPending}})
	if len(runs) != 1 || runs[0].ID == first.ID {
		t.Errorf("pending runs = %v, want the new one", runs)
	}
}

func TestRunControlsCallTheExecutor(t *testing.T) {
	tests := []struct {
		text, call, reply string
	}{
		{"pause %s", "pause %s by oncall-2", "oncall-2 paused run %s"},
		{"resume %s", "resume %s by oncall-2", "oncall-2 resumed run %s"},
		{"abort %s", "abort %s by oncall-2", "oncall-2 aborted run %s"},
		{"retry %s promote_db", "retry promote_db %s by oncall-2", "oncall-2 is retrying step promote_db of run %s"},
		{"skip %s promote_db", "skip promote_db %s by oncall-2", "oncall-2 skipped step promote_db of run %s"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			f := newFixture(t)
			run := f.startRun()
			f.react("oncall-2", run, "white_check_mark", true, "")
			f.react("oncall-3", run, "white_check_mark", true, "")
			out := f.command("oncall-2", sprintf(tt.text, run.ID))
			if !slices.Contains(f.exec.Calls(), sprintf(tt.call, run.ID)) {
				t.Errorf("executor calls %v lack %q", f.exec.Calls(), sprintf(tt.call, run.ID))
			}
			if !strings.Contains(out.text(), sprintf(tt.reply, run.ID)) {
				t.Errorf("reply %q", out.text())
			}
		})
	}
}

func sprintf(format, id string) string { return strings.ReplaceAll(format, "%s", id) }

func TestRetryOfAnUnknownStepIsRefused(t *testing.T) {
	f := newFixture(t)
	run := f.startRun()
	out := f.command("oncall-2", "retry "+run.ID+" no_such_step")
	if !strings.Contains(out.text(), `Runbook lab has no step "no_such_step"`) {
		t.Errorf("reply %q", out.text())
	}
	for _, c := range f.exec.Calls() {
		if strings.HasPrefix(c, "retry") {
			t.Errorf("executor called: %s", c)
		}
	}
}

func TestAbortOfAPendingRunCancelsTheRequest(t *testing.T) {
	f := newFixture(t)
	run := f.startRun()
	out := f.command("oncall-2", "abort "+run.ID)
	if got := f.run(run.ID); got.State != store.RunAborted {
		t.Errorf("run is %s, want aborted", got.State)
	}
	if !strings.Contains(out.text(), "cancelled the approval request") {
		t.Errorf("reply %q", out.text())
	}
	if v := f.poster.lastPlan(run.ApprovalMsg); v.State != "aborted" {
		t.Errorf("plan message state %q, want aborted", v.State)
	}
	f.react("oncall-2", run, "white_check_mark", true, "")
	if slices.Contains(f.exec.Calls(), "start "+run.ID) {
		t.Error("an aborted request was started")
	}
}

func TestEveryoneCanReadStatusHistoryAndReport(t *testing.T) {
	f := newFixture(t)
	run := f.startRun()
	for _, text := range []string{"status", "status " + run.ID, "status last", "history", "report " + run.ID, "list", "assess", "plan lab ticket=X"} {
		out := f.command("visitor", text)
		if len(out.replies) != 1 || out.replies[0].Msg.Error || !out.replies[0].Public {
			t.Errorf("%s: replies %+v", text, out.replies)
		}
	}
	out := f.command("visitor", "status "+run.ID)
	v, ok := out.replies[0].Msg.View.(*chat.ProgressView)
	if !ok || v.RunID != run.ID || v.State != "pending_approval" || len(v.Phases) != 1 {
		t.Errorf("status view = %+v", out.replies[0].Msg.View)
	}
	out = f.command("visitor", "history")
	if !strings.Contains(out.text(), run.ID) {
		t.Errorf("history %q lacks the run", out.text())
	}
}

func TestExpectedDataLossIsTheLagOutputWhenThereIsOne(t *testing.T) {
	f := newFixture(t)
	f.exec.lagOutputs = map[string]string{"lag": "1.25s", "bytes": "0"}
	run := f.startRun()
	if v := f.poster.lastPlan(run.ApprovalMsg); v.ExpectedDataLoss != "1.25s" {
		t.Errorf("expected data loss = %q, want the check's lag output", v.ExpectedDataLoss)
	}
}
