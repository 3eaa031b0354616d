package publish_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/config"
	"github.com/failoverbot/failoverbot/internal/lab"
	"github.com/failoverbot/failoverbot/internal/lab/labtest"
	"github.com/failoverbot/failoverbot/internal/report"
	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/sqlite"
)

// TestTheReportOfALabFailover is a complete failover of the real lab
// (PostgreSQL, Redis and Sentinels, the Statuspage and PagerDuty fakes)
// with the shipped lab-failover runbook, through `bot serve`'s wiring and
// the Slack fake: two approvals by reaction, the run, its notifications.
// When it ends the report and the chart are shared in the card's thread;
// the report's sections, its RTO and RPO and its notifications table are
// checked against the store, its Markdown against `/failover report`, the
// chart's bars against the steps' recorded times.
func TestTheReportOfALabFailover(t *testing.T) {
	l := labtest.Fresh(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := l.FailPrimary(ctx, lab.FailStop); err != nil {
		t.Fatal(err)
	}
	f := newFakeSlack(t)
	cfg := config.Default()
	cfg.RunbookDir = filepath.Join("..", "..", "..", "runbooks")
	cfg.StorePath, cfg.Instance = filepath.Join(t.TempDir(), "bot.db"), "report-lab"
	cfg.Responders.Groups = []string{"oncall"}
	b := startBot(t, f, cfg, lab.RunbookEnv(l.Env()), nil)
	start := time.Now()
	b.command("UALICE", "C0OPS", "start lab-failover incident="+l.PagerDutyIncident()+" lab primary down")
	var run *store.Run
	eventually(t, time.Minute, func() string { return "no plan posted" }, func() bool {
		run = b.latestRun()
		return run != nil && run.ApprovalMsg.TS != ""
	})
	for _, u := range []string{"UBOB", "UCAROL"} {
		if _, err := f.React(u, run.ApprovalMsg.Channel, run.ApprovalMsg.TS, "white_check_mark", true); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 2*time.Minute, func() string { r, _ := b.app.Store.GetRun(ctx, run.ID); return "the run is " + string(r.State) },
		func() bool { r, _ := b.app.Store.GetRun(ctx, run.ID); return r.State == store.RunSucceeded })
	eventually(t, time.Minute, func() string { return fmt.Sprintf("%d files shared", len(completed(f))) },
		func() bool { return len(completed(f)) == 2 })
	t.Logf("failover, notifications and the report took %s", time.Since(start).Round(time.Millisecond))

	run, err := b.app.Store.GetRun(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	files := completed(f)
	mdFile, pngFile := files[0], files[1]
	for _, file := range files {
		if file.Channel != run.Card.Channel || file.ThreadTS != run.Card.TS {
			t.Errorf("%s shared in %s/%s, want the card's thread", file.Filename, file.Channel, file.ThreadTS)
		}
	}
	if mdFile.Filename != run.ID+"-report.md" || pngFile.Filename != run.ID+"-timeline.png" {
		t.Fatalf("files %q, %q", mdFile.Filename, pngFile.Filename)
	}
	md := string(mdFile.Content)
	t.Logf("the report:\n%s", md)
	doc, _ := b.reportCommand("UBOB", "C0OPS", run.ID)
	if doc.Markdown != md {
		t.Errorf("/failover report differs from the shared report:\n%s", doc.Markdown)
	}

	// What the store says, read here on its own.
	st, err := sqlite.Open(ctx, cfg.StorePath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	steps, _ := st.Steps(ctx, run.ID)
	audit, _ := st.Audit(ctx, run.ID)
	approvals, _ := st.Approvals(ctx, run.ID)
	ds, _ := st.Deliveries(ctx, run.ID)
	byID := map[string]*store.StepState{}
	var last time.Time
	for _, s := range steps {
		byID[s.StepID] = s
		if s.Status == store.StepDone && s.EndedAt.After(last) {
			last = s.EndedAt
		}
	}
	rto := last.Sub(run.StartedAt)
	lag := byID["promote_db"].Outputs["lagAtPromotion"]
	for _, want := range []string{
		"Run " + run.ID + " of lab-failover: succeeded\n",
		"\n- RTO (run start → last step done): " + report.Dur(rto) + "\n",
		"\n- RPO (replication lag at promotion, step promote_db): " + lag + "\n",
		"): GO, 5 of 5 checks passed in ",
	} {
		if !strings.Contains(md, want) || lag == "" {
			t.Errorf("the report lacks %q", want)
		}
	}
	// The two reactions are handled by separate workers, so either may be
	// recorded first: each approval the store holds must be its own row.
	rows := block(md, "Approvals:")
	if len(rows) != 3 || len(approvals) != 2 {
		t.Errorf("approvals %q, want the store's %d", rows, len(approvals))
	}
	for _, a := range approvals {
		if row(rows, clock(a.At), a.User) == nil {
			t.Errorf("approval by %s at %s not in %q", a.User, clock(a.At), rows)
		}
	}
	for _, ph := range []string{"database", "cache", "validate"} {
		if r := row(block(md, "Phases:"), ph); len(r) < 2 || r[1] != "done" {
			t.Errorf("phase %s: %q", ph, r)
		}
	}
	stepRows := block(md, "Steps:")
	if len(stepRows) != 1+7 || len(steps) != 7 {
		t.Errorf("%d step rows for %d steps, want the runbook's 7", len(stepRows)-1, len(steps))
	}
	for _, s := range steps {
		r := row(stepRows, s.StepID)
		if len(r) < 9 || r[3] != clock(s.StartedAt) || r[4] != clock(s.EndedAt) || r[5] != report.Dur(s.EndedAt.Sub(s.StartedAt)) || r[8] != fmt.Sprint(s.Attempts) {
			t.Errorf("step row %q, want %s → %s, %d attempts", r, clock(s.StartedAt), clock(s.EndedAt), s.Attempts)
		}
	}
	// Every notification, each delivered: the card, the status page,
	// PagerDuty and the stakeholders' channel.
	notes := block(md, "Notifications (")
	want := map[string]int{}
	for _, d := range ds {
		if d.Notifier != report.SelfNotifier {
			want[d.Notifier]++
		}
	}
	got := map[string]int{}
	for _, r := range notes[1:] {
		got[r[0]]++
		if r[2] != "delivered" {
			t.Errorf("notification %q not delivered", r)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || want["statuspage"] == 0 || want["pagerduty"] == 0 || want["stakeholders"] == 0 || want["card"] == 0 {
		t.Errorf("notifications per notifier %v, want the log's %v", got, want)
	}
	if r := row(notes, "statuspage", "run.succeeded"); r == nil {
		t.Error("the status page's resolution is not in the report")
	}

	rb, err := b.app.Catalog.Get("lab-failover")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := report.Build(ctx, st, run.ID, rb)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pngFile.Content, mustPNG(t, tl)) {
		t.Error("the shared chart is not the chart of the run's timeline")
	}
	var ids []string
	for _, s := range tl.Steps {
		ids = append(ids, s.ID)
	}
	checkBars(t, pngFile.Content, tl, run, byID, audit, approvals, ids)
}
