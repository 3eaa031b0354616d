package publish_test

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/report"
	"github.com/failoverbot/failoverbot/internal/report/chart"
	"github.com/failoverbot/failoverbot/internal/report/chart/charttest"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/store"
)

// block returns the rows of the code block under the line title of a
// report, each split into its columns (two spaces or more apart); nil
// when there is no such section.
func block(md, title string) [][]string {
	i := strings.Index(md, "\n"+title)
	if i < 0 {
		return nil
	}
	rest := md[i+1:]
	open := strings.Index(rest, "```\n")
	if open < 0 {
		return nil
	}
	rest = rest[open+4:]
	body := rest[:strings.Index(rest, "```")]
	var rows [][]string
	for _, l := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		rows = append(rows, regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(l), -1))
	}
	return rows
}

// row returns the first row whose first cells are prefix.
func row(rows [][]string, prefix ...string) []string {
next:
	for _, r := range rows {
		if len(r) < len(prefix) {
			continue
		}
		for i, p := range prefix {
			if r[i] != p {
				continue next
			}
		}
		return r
	}
	return nil
}

func clock(t time.Time) string { return t.UTC().Format("15:04:05.00Z") }

// TestTheReportOfACompleteFailover: a failover run by the real executor
// (fake steps: a promotion retried twice then waited for, a gate approved
// mid-run) with the notification pipeline as its sink. When it ends, the
// report is shared in the card's thread — the Markdown and the chart —
// once, and the pipeline told. The report's numbers are the store's: the
// RTO, the wait and the retries recomputed here from the run's records,
// the approvals of the start and of the gate, the assessment the plan
// carried, each notification with its status, attempts and error.
func TestTheReportOfACompleteFailover(t *testing.T) {
	up := newUploads()
	w := newWorld(t, tempStore(t), up)
	run := w.failover()
	ctx := w.ctx
	waitFor(t, "the report and chart are shared", func() bool { return len(up.all()) == 2 && w.finishes(run.ID) == 1 })

	files := up.all()
	thread := chat.MessageRef{Channel: "#incident", TS: "100.2"}
	if files[0].thread != thread || files[1].thread != thread {
		t.Errorf("shared in %+v and %+v, want the card's thread %+v", files[0].thread, files[1].thread, thread)
	}
	if files[0].file.Name != run.ID+"-report.md" || files[1].file.Name != run.ID+"-timeline.png" {
		t.Errorf("files %q, %q", files[0].file.Name, files[1].file.Name)
	}
	tl, err := report.Build(ctx, w.st, run.ID, w.rb)
	if err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("REPORT_SAMPLE_DIR"); dir != "" { // to look at them
		for _, f := range files {
			must(t, os.WriteFile(filepath.Join(dir, f.file.Name), f.file.Data, 0o644))
		}
	}
	md := string(files[0].file.Data)
	if md != tl.Markdown() {
		t.Errorf("the shared Markdown differs from the report built now:\n%s\n---\n%s", md, tl.Markdown())
	}
	t.Logf("the report:\n%s", md)

	// RTO: the run's start to its last step done, from the store.
	steps, err := w.st.Steps(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*store.StepState{}
	var last time.Time
	for _, s := range steps {
		byID[s.StepID] = s
		if s.Status == store.StepDone && s.EndedAt.After(last) {
			last = s.EndedAt
		}
	}
	rto := last.Sub(run.StartedAt)
	if tl.RTO != rto || !strings.Contains(md, "\n- RTO (run start → last step done): "+report.Dur(rto)+"\n") {
		t.Errorf("RTO %s, want %s (the store's timestamps)", tl.RTO, rto)
	}
	for _, want := range []string{
		"Run " + run.ID + " of lab-failover: succeeded\n",
		"\n- Requested by oncall-1 at " + run.CreatedAt.UTC().Format("2006-01-02 15:04:05Z") + ": primary region down\n",
		"\n- Params: incident=P42\n",
		fmt.Sprintf("\n- Started %s, ended %s (%s)\n", clock(run.StartedAt), clock(run.EndedAt), report.Dur(run.EndedAt.Sub(run.StartedAt))),
		"\n- RPO (replication lag at promotion, step promote_db): 0.25s\n",
		"\nAssessment (with the plan, ",
		"): GO, 2 of 2 checks passed in 1.5s\n",
		"\n- Expected data loss at planning (replication lag): 0.4s\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q", want)
		}
	}

	// The approvals: the start request's two, then the gate's.
	approvals, err := w.st.Approvals(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	rows := block(md, "Approvals:")
	if len(rows) != 1+len(approvals) || len(approvals) != 3 {
		t.Fatalf("approvals table %q, want a row for each of %d approvals", rows, len(approvals))
	}
	audit, err := w.st.Audit(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	var gateAsked, gateApproved time.Time
	for _, e := range audit {
		switch {
		case e.StepID == "confirm" && e.Type == "gate.waiting":
			gateAsked = e.At
		case e.StepID == "confirm" && e.Type == "gate.approved":
			gateApproved = e.At
		}
	}
	for i, a := range approvals {
		want := []string{clock(a.At), a.User, "approve", "the start request", "reaction", report.Dur(a.At.Sub(run.CreatedAt)) + " after the request"}
		if a.Gate != "" {
			want = []string{clock(a.At), a.User, "approve", "gate confirm", "button", report.Dur(a.At.Sub(gateAsked)) + " after the gate asked"}
		}
		if fmt.Sprint(rows[i+1]) != fmt.Sprint(want) {
			t.Errorf("approval row %q, want %q", rows[i+1], want)
		}
	}
	if r := row(block(md, "Assessment"), "primary_down"); fmt.Sprint(r) != "[primary_down ok 1.5s no answer within 1s]" {
		t.Errorf("assessment row %q", r)
	}

	// Phases and steps, with the times the store has.
	phases := block(md, "Phases:")
	for _, ph := range []string{"database", "traffic"} {
		var start, end time.Time
		for _, e := range audit {
			if e.Data["phase"] == ph && e.Type == "phase.started" && start.IsZero() {
				start = e.At
			}
			if e.Data["phase"] == ph && e.Type == "phase.done" {
				end = e.At
			}
		}
		if r := row(phases, ph); len(r) < 5 || r[1] != "done" || r[2] != clock(start) || r[3] != clock(end) || r[4] != report.Dur(end.Sub(start)) {
			t.Errorf("phase row %q, want done %s → %s", r, clock(start), clock(end))
		}
	}
	stepRows := block(md, "Steps:")
	if len(stepRows) != 1+len(steps) {
		t.Errorf("%d step rows, want %d", len(stepRows)-1, len(steps))
	}
	// promote_db: three Apply calls, two retried errors, then a wait from
	// its waiting record after the last Apply to its end.
	var retries int
	var lastApply, waitStart time.Time
	for _, e := range audit {
		if e.StepID != "promote_db" {
			continue
		}
		switch e.Type {
		case "step.retrying":
			retries++
		case "step.applying":
			lastApply, waitStart = e.At, time.Time{}
		case "step.waiting":
			if !lastApply.IsZero() && waitStart.IsZero() {
				waitStart = e.At
			}
		}
	}
	p := byID["promote_db"]
	want := []string{"promote_db", "database", "done", clock(p.StartedAt), clock(p.EndedAt), report.Dur(p.EndedAt.Sub(p.StartedAt)),
		report.Dur(p.EndedAt.Sub(waitStart)), "2", "3", "promoted with token " + secretShown}
	if r := row(stepRows, "promote_db"); fmt.Sprint(r) != fmt.Sprint(want) || retries != 2 || p.Attempts != 3 || waitStart.IsZero() {
		t.Errorf("promote_db row %q\nwant %q (%d retries recorded, %d attempts)", r, want, retries, p.Attempts)
	}
	if r := row(stepRows, "confirm"); len(r) < 7 || r[2] != "done" || r[6] != report.Dur(gateApproved.Sub(gateAsked)) {
		t.Errorf("the gate's row %q, want its wait %s (gate.waiting → gate.approved)", r, report.Dur(gateApproved.Sub(gateAsked)))
	}

	// Every notification of the run, but the report's own.
	ds, err := w.st.Deliveries(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	notes := block(md, "Notifications (")
	others := 0
	for _, d := range ds {
		if d.Notifier != report.SelfNotifier {
			others++
		}
	}
	if len(notes) != 1+others {
		t.Errorf("%d notification rows, want %d (every row of the log but the report's)", len(notes)-1, others)
	}
	if r := row(notes, "statuspage"); len(r) < 4 || r[2] != "delivered" || r[3] != "2" {
		t.Errorf("status page's first notification %q, want delivered on its second attempt", r)
	}
	if r := row(notes, "pagerduty", "step.done promote_db"); len(r) < 7 || r[2] != "failed" || r[3] != "1" ||
		!strings.Contains(r[6], "400 Bad Request: the incident is closed") {
		t.Errorf("PagerDuty's refused notification %q", r)
	}
	if r := row(notes, report.SelfNotifier); r != nil {
		t.Errorf("the report lists its own delivery %q", r)
	}
	if r := row(block(md, "Audit trail"), clock(gateApproved), "bot", "gate.approved confirm"); r == nil {
		t.Errorf("the audit trail lacks the gate's approval")
	}

	// The chart is the one drawn from this timeline, and its bars are
	// where the store's times say.
	if !bytes.Equal(files[1].file.Data, mustPNG(t, tl)) {
		t.Error("the shared chart is not the chart of the timeline")
	}
	bars := checkBars(t, files[1].file.Data, tl, run, byID, audit, approvals, []string{"check_lag", "promote_db", "confirm", "flip_dns"})
	if b := bars["promote_db"]; b.retries != 2 || b.waitPx < 6 || bars["confirm"].waitPx < 6 {
		t.Errorf("the chart shows %+v for promote_db and %+v for the gate: want two retries and the waits, wide enough to check", b, bars["confirm"])
	}
}

// secretShown is what the report shows in place of theSecret.
const secretShown = secret.Redacted

func mustPNG(t *testing.T, tl *report.Timeline) []byte {
	t.Helper()
	b, err := tl.PNG()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkBars decodes the chart and checks each bar against the store: it
// spans its step's start to end; it is in its outcome's colour where the
// step neither backed off nor waited; each retry is hatched grey from its
// record to the step's next one; the wait is hatched over a tint from its
// record to the step's end (a gate's, to its approval); the approvals and
// the gate are marked at their times.
func checkBars(t *testing.T, pngData []byte, tl *report.Timeline, run *store.Run, byID map[string]*store.StepState,
	audit []*store.AuditEvent, approvals []*store.Approval, ids []string) map[string]drawn {
	t.Helper()
	out := map[string]drawn{}
	img, err := png.Decode(bytes.NewReader(pngData))
	if err != nil {
		t.Fatal(err)
	}
	_, lay, err := chart.Draw(tl.Chart(), chart.Options{})
	if err != nil {
		t.Fatal(err)
	}
	x := func(at time.Time) int { return lay.X(at.Sub(run.StartedAt)) }
	if len(lay.Rows) != len(ids) {
		t.Fatalf("%d rows, want %d", len(lay.Rows), len(ids))
	}
	fill, hatch := chart.RetryColors()
	for i, id := range ids {
		s, y := byID[id], lay.Rows[i]
		isGate := false
		for _, e := range audit {
			isGate = isGate || (e.StepID == id && e.Type == "gate.waiting")
		}
		outcome := chart.Done
		if s.AlreadyDone && !isGate {
			outcome = chart.AlreadyDone
		}
		col := chart.OutcomeColor(outcome)
		// The spans, from the audit trail.
		type span struct{ a, b int }
		var retries []span
		var wait span
		for j, e := range audit {
			if e.StepID != id {
				continue
			}
			switch e.Type {
			case "step.retrying":
				end := s.EndedAt
				for _, n := range audit[j+1:] {
					if n.StepID == id {
						end = n.At
						break
					}
				}
				retries = append(retries, span{x(e.At), x(end)})
			case "step.applying":
				wait = span{}
			case "step.waiting", "gate.waiting":
				if wait.a == 0 {
					wait = span{x(e.At), x(s.EndedAt)}
				}
			case "gate.approved":
				wait.b = x(e.At)
			}
		}
		x0, x1 := x(s.StartedAt), x(s.EndedAt)
		if x1-x0 < 4 {
			x1 = x0 + 4 // an instant is drawn 3pt wide
		}
		// Where the bar is: nothing just before, nothing just after. (Just
		// before a step that starts with the run is the run's start line,
		// whose grey is near the blue grey of "already done".)
		if c := img.At(x0-3, y); x0-3 > x(run.StartedAt)+1 && (charttest.Near(c, col, 60) || charttest.Near(c, hatch, 60)) {
			t.Errorf("%s: drawn before its start (x %d)", id, x0)
		}
		if lo, hi := charttest.RunOf(img, y, x1+3, x1+3, col); lo >= 0 || hi >= 0 {
			t.Errorf("%s: drawn past its end (x %d)", id, x1)
		}
		// Solid between the spans (where there is room to tell).
		solid := []span{{x0, x1}}
		for _, sp := range append(append([]span{}, retries...), wait) {
			if sp.b <= sp.a {
				continue
			}
			var next []span
			for _, so := range solid {
				if sp.a > so.a {
					next = append(next, span{so.a, min(so.b, sp.a)})
				}
				if sp.b < so.b {
					next = append(next, span{max(so.a, sp.b), so.b})
				}
			}
			solid = next
		}
		for _, so := range solid {
			if so.b-so.a < 6 {
				continue
			}
			if got := charttest.Share(img, y, so.a+2, so.b-2, col); got < 0.9 {
				t.Errorf("%s: %d–%d is %.0f%% %s, want solid", id, so.a, so.b, 100*got, outcome)
			}
		}
		for _, r := range retries {
			if r.b-r.a < 6 {
				continue
			}
			if f, h := charttest.Share(img, y, r.a+2, r.b-2, fill), charttest.Share(img, y, r.a+2, r.b-2, hatch); f < 0.4 || h < 0.05 {
				t.Errorf("%s: retry %d–%d is %.0f%% fill, %.0f%% hatch", id, r.a, r.b, 100*f, 100*h)
			}
		}
		if wait.b-wait.a >= 6 {
			if tint, h := charttest.Share(img, y, wait.a+2, wait.b-2, chart.WaitColor(outcome)), charttest.Share(img, y, wait.a+2, wait.b-2, col); tint < 0.4 || h < 0.05 {
				t.Errorf("%s: the wait %d–%d is %.0f%% tint, %.0f%% hatch", id, wait.a, wait.b, 100*tint, 100*h)
			}
		}
		out[id] = drawn{retries: len(retries), waitPx: wait.b - wait.a}
	}
	for _, a := range approvals {
		kind := chart.Approval
		if a.Gate != "" {
			kind = chart.Gate
		}
		found := false
		for y := lay.MarkerRow - 14; y <= lay.MarkerRow+14 && !found; y++ {
			if lo, _ := charttest.RunOf(img, y, x(a.At)-3, x(a.At)+3, chart.MarkerColor(kind)); lo >= 0 {
				found = true
			}
		}
		if !found {
			t.Errorf("no %s marker for %s at x %d", kind, a.User, x(a.At))
		}
	}
	return out
}

// drawn is what checkBars found of a step's spans: its retries, and the
// width of its wait in pixels.
type drawn struct{ retries, waitPx int }
