package report

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/sqlite"
)

var t0 = time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func labRunbook() *runbook.Runbook {
	return &runbook.Runbook{Name: "lab", Phases: []*runbook.Phase{
		{ID: "database", Name: "Database", Steps: []*runbook.Step{
			{ID: "check_lag", Kind: "postgres.replicationLag", Phase: "database"},
			{ID: "promote_db", Kind: "postgres.promote", Phase: "database"},
		}},
		{ID: "cache", Name: "Redis", Steps: []*runbook.Step{
			{ID: "move_redis", Kind: "redis.promote", Phase: "cache"},
		}},
	}}
}

func seed(t testing.TB, promoteOutputs map[string]string) store.Store {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "bot.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	run := &store.Run{ID: "lab-1", Runbook: "lab", Requester: "oncall-1", Reason: "primary down", State: store.RunPending,
		Params: map[string]string{"ticket": "INC-1"}, CreatedAt: at(0), PlanHash: "h"}
	must(t, st.CreateRun(ctx, run))
	must(t, st.PutApproval(ctx, &store.Approval{RunID: "lab-1", User: "oncall-2", Decision: store.Approve, PlanHash: "h", At: at(30)}))
	must(t, st.PutApproval(ctx, &store.Approval{RunID: "lab-1", User: "oncall-3", Decision: store.Approve, PlanHash: "h", At: at(45)}))
	run.State, run.StartedAt, run.EndedAt = store.RunSucceeded, at(46), at(60)
	must(t, st.UpdateRun(ctx, run))
	steps := []*store.StepState{
		{StepID: "move_redis", Status: store.StepDone, Attempts: 2, StartedAt: at(52), EndedAt: at(58.5), Summary: "new master 10.0.0.2"},
		{StepID: "check_lag", Status: store.StepDone, StartedAt: at(46), EndedAt: at(47), Summary: "lag 0.4s", Outputs: map[string]string{"lag": "0.4s"}},
		{StepID: "promote_db", Status: store.StepDone, Attempts: 1, StartedAt: at(47), EndedAt: at(52), Summary: "promoted", Outputs: promoteOutputs},
	}
	for _, s := range steps {
		s.RunID = "lab-1"
		must(t, st.PutStep(ctx, s))
	}
	must(t, st.Append(ctx, &store.AuditEvent{RunID: "lab-1", At: at(0), Actor: "oncall-1", Type: "run.requested", Message: "oncall-1 requested lab"}))
	must(t, st.Append(ctx, &store.AuditEvent{RunID: "lab-1", At: at(50), Actor: "bot", Type: "step.applying", StepID: "promote_db"}))
	return st
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestTimelineMeasuresRTOAndRPO(t *testing.T) {
	tests := []struct {
		name     string
		promote  map[string]string
		rb       *runbook.Runbook
		wantRPO  string
		wantStep string
	}{
		{"the lag the promotion measured", map[string]string{"lagAtPromotion": "0.25s"}, labRunbook(), "0.25s", "promote_db"},
		{"else the lag measured before the promotion", nil, labRunbook(), "0.4s", "check_lag"},
		{"without the runbook, by output name", map[string]string{"lagAtPromotion": "0.25s"}, nil, "0.25s", "promote_db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := seed(t, tt.promote)
			tl, err := Build(t.Context(), st, "lab-1", tt.rb)
			if err != nil {
				t.Fatal(err)
			}
			if !tl.RTOMeasured || tl.RTO != 12500*time.Millisecond {
				t.Errorf("RTO = %s (measured %v), want 12.5s: run start → last step done", tl.RTO, tl.RTOMeasured)
			}
			if tl.RPO != tt.wantRPO || tl.RPOStep != tt.wantStep {
				t.Errorf("RPO = %q from %q, want %q from %q", tl.RPO, tl.RPOStep, tt.wantRPO, tt.wantStep)
			}
		})
	}
}

func TestTimelineText(t *testing.T) {
	st := seed(t, map[string]string{"lagAtPromotion": "0.25s"})
	tl, err := Build(t.Context(), st, "lab-1", labRunbook())
	if err != nil {
		t.Fatal(err)
	}
	text := tl.Text()
	for _, want := range []string{
		"Run lab-1 of lab: succeeded",
		"Requested by oncall-1 at 2026-11-22 04:00:00Z: primary down",
		"Params: ticket=INC-1",
		"  04:00:30.00Z  oncall-2  approve   the start request  —    30s after the request\n",
		"  04:00:45.00Z  oncall-3  approve   the start request  —    45s after the request\n",
		"Started 04:00:46.00Z, ended 04:01:00.00Z (14s)",
		"  database  done    04:00:46.00Z  04:00:52.00Z        6s      2  Database\n",
		"Assessment: not recorded",
		"Notifications: none were sent for this run",
		"RTO (run start → last step done): 12.5s",
		"RPO (replication lag at promotion, step promote_db): 0.25s",
		"oncall-1  run.requested",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	// Steps in runbook order with duration and attempts.
	i1, i2, i3 := strings.Index(text, "check_lag"), strings.Index(text, "promote_db "), strings.Index(text, "move_redis")
	if !(i1 < i2 && i2 < i3) {
		t.Errorf("steps are not in runbook order:\n%s", text)
	}
	if !strings.Contains(text, "  move_redis  cache     done     04:00:52.00Z  04:00:58.50Z      6.5s     —        0    2  new master 10.0.0.2\n") {
		t.Errorf("move_redis line is wrong:\n%s", text)
	}
	if strings.Contains(text, "step.applying") {
		t.Error("step-level audit events belong to the steps table, not the trail")
	}
}

func TestUnfinishedRunHasNoRTO(t *testing.T) {
	st := seed(t, nil)
	ctx := context.Background()
	r, _ := st.GetRun(ctx, "lab-1")
	r.State = store.RunPaused
	must(t, st.UpdateRun(ctx, r))
	tl, err := Build(ctx, st, "lab-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if tl.RTOMeasured || !strings.Contains(tl.Text(), "RTO: not measured (the run is paused)") {
		t.Errorf("text:\n%s", tl.Text())
	}
}

func TestReportOfAnUnknownRun(t *testing.T) {
	st := seed(t, nil)
	if _, err := Build(t.Context(), st, "nope", nil); !errors.Is(err, store.ErrNotFound) || !strings.HasPrefix(err.Error(), "report nope: ") {
		t.Errorf("err = %v", err)
	}
}

// The Markdown is the whole report: nothing shortened, however long the
// reason or the audit trail, with the tables in code blocks so that their
// columns line up in Slack.
func TestTheMarkdownIsWholeAndAligned(t *testing.T) {
	st := seed(t, map[string]string{"lagAtPromotion": "0.25s"})
	ctx := t.Context()
	long := strings.Repeat("the primary region stopped answering; ", 60) + "END-OF-REASON"
	run, err := st.GetRun(ctx, "lab-1")
	if err != nil {
		t.Fatal(err)
	}
	run.Reason = long
	must(t, st.UpdateRun(ctx, run))
	for i := range 40 {
		must(t, st.Append(ctx, &store.AuditEvent{RunID: "lab-1", At: at(61 + float64(i)), Actor: "dave", Type: "approval.refused",
			Message: fmt.Sprintf("refusal %02d: dave is not an approver of lab (group oncall) — %s", i, strings.Repeat("x", 150))}))
	}
	tl, err := Build(ctx, st, "lab-1", labRunbook())
	if err != nil {
		t.Fatal(err)
	}
	doc := tl.Document()
	text := doc.Markdown
	for _, want := range []string{"END-OF-REASON", "refusal 39", strings.Repeat("x", 150), "RTO (run start → last step done): 12.5s",
		"RPO (replication lag at promotion, step promote_db): 0.25s", "```\n  STEP", "```\n  AT"} {
		if !strings.Contains(text, want) {
			t.Errorf("the Markdown lacks %q", want)
		}
	}
	if n := strings.Count(text, "```"); n != 8 {
		t.Errorf("%d fences, want four code blocks (approvals, phases, steps, audit trail):\n%s", n, text)
	}
	if doc.Filename != "lab-1-report.md" || !strings.Contains(doc.Title, "lab-1") {
		t.Errorf("document %q %q", doc.Title, doc.Filename)
	}
	if strings.Contains(tl.Text(), "```") {
		t.Error("the terminal text has code fences")
	}
}
