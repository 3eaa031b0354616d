package report

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/report/chart"
	"github.com/failoverbot/failoverbot/internal/store"
)

// codeBlocks returns the lines of each code block of md.
func codeBlocks(md string) [][]string {
	var out [][]string
	var cur []string
	in := false
	for _, l := range strings.Split(md, "\n") {
		switch {
		case l == fence && !in:
			in, cur = true, nil
		case l == fence:
			in = false
			out = append(out, cur)
		case in:
			cur = append(cur, l)
		}
	}
	return out
}

var cellRe = regexp.MustCompile(`\S+(?: \S+)*`)

// cells returns the rune offsets where each cell of a table line starts
// and ends (cells are two spaces or more apart).
func cells(line string) [][2]int {
	var out [][2]int
	for _, m := range cellRe.FindAllStringIndex(line, -1) {
		out = append(out, [2]int{utf8.RuneCountInString(line[:m[0]]), utf8.RuneCountInString(line[:m[1]])})
	}
	return out
}

// Every table of the report lines up: in each row, each cell starts where
// its column's header starts (left-aligned) or ends where it ends
// (right-aligned), counting characters — "—" and "→" are one column wide.
func TestEveryTableLinesUp(t *testing.T) {
	st := seed(t, map[string]string{"lagAtPromotion": "0.25s"})
	ctx := t.Context()
	must(t, st.Append(ctx, &store.AuditEvent{RunID: "lab-1", At: at(59), Actor: "dave", Type: "approval.refused",
		Message: "dave is not an approver — group oncall → refused"}))
	must(t, st.PutApproval(ctx, &store.Approval{RunID: "lab-1", Gate: "move_redis", User: "oncall-2", Decision: store.Approve, PlanHash: "h", Via: "button", At: at(55)}))
	plan, _ := json.Marshal(chat.PlanView{Assessment: &chat.AssessView{Go: true, Checks: []chat.CheckResult{
		{ID: "primary_down", OK: true, Summary: "no answer → down", Duration: 2e9}, {ID: "lag", OK: true, Summary: "0.4s", Duration: 1e7}}}})
	must(t, st.Append(ctx, &store.AuditEvent{RunID: "lab-1", At: at(0), Actor: "oncall-1", Type: "run.requested", Data: map[string]string{"plan": string(plan)}}))
	for i, n := range []string{"statuspage", "pagerduty"} {
		d := &store.Delivery{RunID: "lab-1", Notifier: n, Key: "x" + n, QueuedAt: at(float64(50 + i))}
		if _, err := st.(store.DeliveryLog).QueueDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	must(t, st.(store.DeliveryLog).FinishDelivery(ctx, "lab-1", "pagerduty", "xpagerduty", store.DeliveryFailed, 12, "pagerduty: 503 — giving up"))
	tl, err := Build(ctx, st, "lab-1", labRunbook())
	if err != nil {
		t.Fatal(err)
	}
	blocks := codeBlocks(tl.Markdown())
	if len(blocks) != 6 {
		t.Fatalf("%d code blocks, want approvals, assessment, phases, steps, notifications, audit trail:\n%s", len(blocks), tl.Markdown())
	}
	for _, b := range blocks {
		head := cells(b[0])
		for _, l := range b[1:] {
			cs := cells(l)
			if len(cs) < len(head)-1 {
				// Only the last, unpadded, cell may be empty.
				t.Errorf("row %q has %d cells, header %d", l, len(cs), len(head))
				continue
			}
			for i := range head[:len(head)-1] {
				if cs[i][0] != head[i][0] && cs[i][1] != head[i][1] {
					t.Errorf("column %d of %q is at %v, header %q at %v", i, l, cs[i], b[0], head[i])
				}
			}
			if strings.HasSuffix(l, " ") {
				t.Errorf("trailing spaces in %q", l)
			}
		}
	}
}

// The notifications come from the delivery log: each row with the event
// its key names (the audit Seq), or the event its payload holds; the
// report's own rows are left out; a Reader without a log says so.
func TestNotificationsFromTheDeliveryLog(t *testing.T) {
	st := seed(t, nil)
	ctx := t.Context()
	audit, _ := st.Audit(ctx, "lab-1")
	seq := func(typ string) string {
		for _, e := range audit {
			if e.Type == typ {
				return strconvI(e.Seq)
			}
		}
		t.Fatalf("no %s record", typ)
		return ""
	}
	payload, _ := json.Marshal(map[string]string{"Type": "phase.done", "Phase": "database"})
	rows := []*store.Delivery{
		{Notifier: "statuspage", Key: seq("run.requested"), Status: store.DeliveryDelivered, Attempts: 3},
		{Notifier: "pagerduty", Key: seq("step.applying"), Status: store.DeliveryFailed, Attempts: 1, Error: "pagerduty: 400 Bad Request"},
		{Notifier: "stakeholders", Key: "x7", Payload: payload, Status: store.DeliveryQueued},
		{Notifier: SelfNotifier, Key: seq("run.requested"), Status: store.DeliveryDelivered, Attempts: 1},
	}
	log := st.(store.DeliveryLog)
	for _, d := range rows {
		d.RunID, d.QueuedAt = "lab-1", at(1)
		status := d.Status
		if _, err := log.QueueDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
		if d.Status = status; status != store.DeliveryQueued {
			must(t, log.FinishDelivery(ctx, "lab-1", d.Notifier, d.Key, d.Status, d.Attempts, d.Error))
		}
	}
	tl, err := Build(ctx, st, "lab-1", labRunbook())
	if err != nil {
		t.Fatal(err)
	}
	md := tl.Markdown()
	for _, want := range []string{
		"\nNotifications (1 delivered, 1 failed, 1 still queued):\n",
		"\n  statuspage    run.requested           delivered    3  04:00:01.00Z  ",
		"\n  pagerduty     step.applying promote_db  failed       1  04:00:01.00Z  ",
		"  pagerduty: 400 Bad Request\n",
		"\n  stakeholders  phase.done database     queued       0  04:00:01.00Z  —             —\n",
	} {
		if !strings.Contains(strings.Join(strings.Fields(md), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("the report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "\n  "+SelfNotifier+" ") {
		t.Errorf("the report lists its own delivery:\n%s", md)
	}
	tl, err = Build(ctx, onlyReader{st}, "lab-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tl.Markdown(), "\nNotifications: not known (no delivery log was read)\n") || tl.DeliveriesKnown {
		t.Errorf("without a delivery log:\n%s", tl.Markdown())
	}
}

func strconvI(i int64) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// onlyReader hides the store's delivery log.
type onlyReader struct{ st store.Store }

func (o onlyReader) GetRun(ctx context.Context, id string) (*store.Run, error) {
	return o.st.GetRun(ctx, id)
}
func (o onlyReader) Steps(ctx context.Context, id string) ([]*store.StepState, error) {
	return o.st.Steps(ctx, id)
}
func (o onlyReader) Approvals(ctx context.Context, id string) ([]*store.Approval, error) {
	return o.st.Approvals(ctx, id)
}
func (o onlyReader) Audit(ctx context.Context, id string) ([]*store.AuditEvent, error) {
	return o.st.Audit(ctx, id)
}

// The assessment is the one the run's request recorded with its plan;
// without one the report says it is not recorded.
func TestTheAssessmentComesFromTheRequest(t *testing.T) {
	st := seed(t, nil)
	ctx := t.Context()
	tl, _ := Build(ctx, st, "lab-1", nil)
	if !strings.Contains(tl.Markdown(), "\nAssessment: not recorded (the run's request carries no assessment)\n") {
		t.Errorf("no plan recorded:\n%s", tl.Markdown())
	}
	plan, _ := json.Marshal(chat.PlanView{ExpectedDataLoss: "1.2s", Assessment: &chat.AssessView{Go: false, Took: 2e9, Checks: []chat.CheckResult{
		{ID: "primary_down", OK: true, Summary: "no answer", Duration: 2e9},
		{ID: "dr_lag", OK: false, Error: "lag 90s over 60s", Duration: 1e7},
		{ID: "dr_kube", NotRun: true, Error: "kind kubernetes.nodesReady: no such kind"}}}})
	must(t, st.Append(ctx, &store.AuditEvent{RunID: "lab-1", At: at(0), Actor: "oncall-1", Type: "run.requested",
		Data: map[string]string{"plan": string(plan)}}))
	tl, _ = Build(ctx, st, "lab-1", nil)
	md := tl.Markdown()
	for _, want := range []string{
		"\nAssessment (with the plan, 04:00:00.00Z): NO-GO, 1 of 3 checks passed in 2s\n",
		"\n  primary_down  ok         2s  no answer\n",
		"\n  dr_lag        failed   10ms  error: lag 90s over 60s\n",
		"\n  dr_kube       not run    0s  kind kubernetes.nodesReady: no such kind\n",
		"\n- Expected data loss at planning (replication lag): 1.2s\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q:\n%s", want, md)
		}
	}
}

// The chart is drawn from the same timeline: one bar per step that ran,
// in runbook order, coloured by outcome; a step still running has no end;
// the counted approvals are markers.
func TestTheChartIsTheTimeline(t *testing.T) {
	st := seed(t, nil)
	ctx := t.Context()
	must(t, st.PutStep(ctx, &store.StepState{RunID: "lab-1", StepID: "later", Status: store.StepPending}))
	must(t, st.PutStep(ctx, &store.StepState{RunID: "lab-1", StepID: "stuck", Status: store.StepApplying, StartedAt: at(58)}))
	must(t, st.PutApproval(ctx, &store.Approval{RunID: "lab-1", User: "mallory", Decision: store.Approve, PlanHash: "old", At: at(20)}))
	tl, err := Build(ctx, st, "lab-1", labRunbook())
	if err != nil {
		t.Fatal(err)
	}
	ct := tl.Chart()
	var got []string
	for _, s := range ct.Steps {
		got = append(got, s.Phase+"/"+s.Name+":"+string(s.Outcome))
	}
	want := "[database/check_lag:done database/promote_db:done cache/move_redis:done /stuck:running]"
	if fmtList(got) != want {
		t.Errorf("chart steps %v, want %s", got, want)
	}
	if !ct.Steps[3].End.IsZero() || ct.Start != at(46) || ct.End != at(60) {
		t.Errorf("a running step ends at %v; the chart spans %v–%v", ct.Steps[3].End, ct.Start, ct.End)
	}
	if len(ct.Markers) != 2 || ct.Markers[0].Kind != chart.Approval || ct.Markers[0].Who != "oncall-2" || ct.Markers[1].At != at(45) {
		t.Errorf("markers %+v, want the two counted approvals", ct.Markers)
	}
	if png, err := tl.PNG(); err != nil || len(png) < 1000 {
		t.Errorf("PNG: %d bytes, %v", len(png), err)
	}
	files, err := tl.Files(nil)
	if err != nil || len(files) != 2 || files[0].Name != "lab-1-report.md" || files[1].Name != "lab-1-timeline.png" ||
		files[0].Comment != "The report of run lab-1 of lab: succeeded in 14s (RTO 12.5s, RPO 0.4s)." {
		t.Errorf("files %v (%v)", files, err)
	}

	// A run that never started has a report and no chart.
	tl.Run = &store.Run{ID: "lab-2", Runbook: "lab", State: store.RunRejected, CreatedAt: at(0)}
	if _, err := tl.PNG(); !errors.Is(err, ErrNotStarted) {
		t.Errorf("PNG of a run that never started: %v", err)
	}
	if files, err := tl.Files(nil); err != nil || len(files) != 1 {
		t.Errorf("files of a run that never started: %d, %v", len(files), err)
	}
}

func fmtList(s []string) string { return "[" + strings.Join(s, " ") + "]" }
