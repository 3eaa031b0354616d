package publish_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/report"
	"github.com/failoverbot/failoverbot/internal/report/chart"
	"github.com/failoverbot/failoverbot/internal/report/publish"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/store"
)

// chartTexts is every text the chart draws (it draws nothing else).
func chartTexts(ct chart.Timeline) []string {
	out := []string{ct.Title}
	for _, s := range ct.Steps {
		out = append(out, s.Name, s.Phase)
	}
	for _, m := range ct.Markers {
		out = append(out, m.Who, m.Label)
	}
	return out
}

func assertNoSecret(t *testing.T, what string, files []shared, tl *report.Timeline) {
	t.Helper()
	if len(files) != 2 {
		t.Fatalf("%s: %d files shared, want the report and the chart", what, len(files))
	}
	for _, f := range files {
		for _, s := range []string{string(f.file.Data), f.file.Title, f.file.Comment, f.file.Name} {
			if strings.Contains(s, theSecret) {
				t.Errorf("%s: %s shows the secret:\n%s", what, f.file.Name, s)
			}
		}
		if bytes.Contains(f.file.Data, []byte(theSecret)) {
			t.Errorf("%s: the bytes of %s hold the secret", what, f.file.Name)
		}
	}
	for _, s := range chartTexts(tl.Chart()) {
		if strings.Contains(s, theSecret) {
			t.Errorf("%s: the chart draws the secret: %q", what, s)
		}
	}
}

// A secret that slipped into a step's summary, its Apply errors (the
// retried ones, in the audit trail) and a notifier's error never reaches
// the report file, the chart or the upload comment: the executor and the
// pipeline stored them scrubbed, and the report shows the mark instead.
// Then the same run's records are made to hold the secret raw (as a
// record written before the redactor knew it would): the published
// report is scrubbed again on its way out.
func TestNoSecretInTheReportTheChartOrTheComment(t *testing.T) {
	up := newUploads()
	w := newWorld(t, tempStore(t), up)
	run := w.failover()
	waitFor(t, "the report and chart are shared", func() bool { return len(up.all()) == 2 })
	tl, err := report.Build(w.ctx, w.st, run.ID, w.rb)
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecret(t, "scrubbed by the executor", up.all(), tl)
	md := string(up.all()[0].file.Data)
	for _, want := range []string{"promoted with token " + secret.Redacted, "the incident is closed (token " + secret.Redacted + ")"} {
		if !strings.Contains(md, want) {
			t.Errorf("the report does not show %q (the secret's mark in a step summary, a notifier's error):\n%s", want, md)
		}
	}

	// The records hold the secret raw.
	ctx := w.ctx
	sts, err := w.st.Steps(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sts {
		if s.StepID == "promote_db" {
			s.Summary = "promoted, password " + theSecret
			s.Error = "earlier: auth " + theSecret
			s.Outputs = map[string]string{"lagAtPromotion": "0.25s (" + theSecret + ")"}
			must(t, w.st.PutStep(ctx, s))
		}
	}
	must(t, w.st.Append(ctx, &store.AuditEvent{RunID: run.ID, At: run.EndedAt, Actor: "oncall-2", Type: "command.failed",
		Message: "retry: dsn postgres://u:" + theSecret + "@db"}))
	raw, err := report.Build(ctx, w.st, run.ID, w.rb)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(raw.Markdown(), theSecret) || !strings.Contains(raw.Outcome(), theSecret) {
		t.Fatal("the raw records do not reach the report: this test would show nothing")
	}
	again := newUploads()
	pub, err := publish.New(publish.Options{Store: w.st, Runbooks: w.runbook, Uploader: again, Scrub: w.red.Scrub, Settle: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = pub.Notify(ctx, &notify.Notification{Event: events.Event{Type: events.RunSucceeded, RunID: run.ID},
		Run: notify.RunInfo{ID: run.ID, Runbook: run.Runbook, Thread: chat.MessageRef{Channel: "#incident", TS: "100.2"}}})
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecret(t, "raw records", again.all(), raw)
	if c := again.all()[0].file.Comment; !strings.Contains(c, "RPO 0.25s ("+secret.Redacted+")") {
		t.Errorf("the comment %q does not show the RPO with the secret's mark", c)
	}
}
