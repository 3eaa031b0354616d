package publish_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat/slack/slackfake"
	"github.com/failoverbot/failoverbot/internal/config"
	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/report"
	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/sqlite"
)

const webRunbook = `name: web-failover
description: Check that the DR web tier answers.
expectedDuration: 1m
channel: "#incident"
approval:
  required: 0
phases:
  - id: web
    name: Check the DR web tier
    steps:
      - id: dr_up
        name: DR health endpoint up
        kind: http.check
        timeout: 10s
        with: {url: "%s/health", expect: up, attemptTimeout: 2s}
      - id: dr_ready
        name: DR readiness endpoint up
        kind: http.check
        needs: [dr_up]
        timeout: 10s
        with: {url: "%s/ready", expect: up, attemptTimeout: 2s}
`

// TestTheReportIsSharedOnceAcrossARestart: a run ends while Slack refuses
// every upload; the bot is restarted before any upload went through; the
// new process shares the report and the chart in the run's thread through
// the Slack fake, exactly once, and a third process shares nothing more.
// The Markdown shared is what `/failover report` gives, and in Slack the
// command shares the chart where it was asked.
func TestTheReportIsSharedOnceAcrossARestart(t *testing.T) {
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }))
	defer web.Close()
	f := newFakeSlack(t)
	cfg := config.Default()
	cfg.RunbookDir = writeRunbook(t, fmt.Sprintf(webRunbook, web.URL, web.URL))
	cfg.StorePath, cfg.Instance, cfg.LeaseTTL = filepath.Join(t.TempDir(), "bot.db"), "report-test", time.Second
	cfg.Responders.Groups = []string{"oncall"}
	fast := func(o *notify.Options) {
		o.MinBackoff, o.MaxBackoff, o.Rescan, o.DrainTimeout = 50*time.Millisecond, 200*time.Millisecond, 200*time.Millisecond, time.Second
	}

	// The first process: every upload refused until it stops.
	refusals := make([]slackfake.Failure, 500)
	for i := range refusals {
		refusals[i] = slackfake.Failure{Error: "internal_error"}
	}
	f.Fail("files.getUploadURLExternal", refusals...)
	first := startBot(t, f, cfg, nil, fast)
	first.command("UALICE", "C0OPS", "start web-failover restart before the upload")
	var run *store.Run
	eventually(t, 30*time.Second, func() string { return "the run did not succeed" }, func() bool {
		run = first.latestRun()
		return run != nil && run.State == store.RunSucceeded
	})
	eventually(t, 30*time.Second, func() string { return "no upload was tried" }, func() bool {
		return len(f.Calls("files.getUploadURLExternal")) >= 2
	})
	first.stop()
	if n := len(completed(f)); n != 0 {
		t.Fatalf("%d files shared before the restart, want none (Slack refused them)", n)
	}
	st, err := sqlite.Open(t.Context(), cfg.StorePath, nil)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := st.Deliveries(t.Context(), run.ID)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	queued := 0
	for _, d := range ds {
		if d.Notifier == report.SelfNotifier && d.Status == store.DeliveryQueued {
			queued++
		}
	}
	if queued != 1 {
		t.Fatalf("%d report deliveries queued at the restart, want 1", queued)
	}

	// Slack takes uploads again; the bot comes back on the same store.
	f.Heal("files.getUploadURLExternal")
	second := startBot(t, f, cfg, nil, fast)
	eventually(t, 30*time.Second, func() string { return fmt.Sprintf("%d files shared after the restart", len(completed(f))) },
		func() bool { return len(completed(f)) == 2 })
	run, err = second.app.Store.GetRun(t.Context(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	files := completed(f)
	md, png := files[0], files[1]
	if md.Filename != run.ID+"-report.md" || png.Filename != run.ID+"-timeline.png" {
		t.Errorf("shared %q and %q", md.Filename, png.Filename)
	}
	for _, file := range files {
		if file.Channel != run.Card.Channel || file.ThreadTS != run.Card.TS || run.Card.TS == "" {
			t.Errorf("%s shared in %s/%s, want the card's thread %s/%s", file.Filename, file.Channel, file.ThreadTS, run.Card.Channel, run.Card.TS)
		}
	}
	if !bytes.HasPrefix(png.Content, []byte("\x89PNG\r\n\x1a\n")) || md.Title != "Report of run "+run.ID+" (web-failover)" ||
		!strings.Contains(md.InitialComment, "succeeded in ") {
		t.Errorf("report %q %q; chart %d bytes", md.Title, md.InitialComment, len(png.Content))
	}

	// The Markdown is what /failover report gives; in Slack the command
	// shares the chart where it was asked.
	doc, private := second.reportCommand("UBOB", "C0OPS", run.ID)
	if doc.Markdown != string(md.Content) {
		t.Errorf("/failover report differs from the shared report:\n%s\n--- shared ---\n%s", doc.Markdown, md.Content)
	}
	if private != "" {
		t.Errorf("the requester was told %q", private)
	}
	all := completed(f)
	if len(all) != 3 || all[2].Filename != run.ID+"-timeline.png" || all[2].Channel != "C0OPS" || all[2].ThreadTS != "" {
		t.Errorf("after /failover report: %d files, the last %+v, want the chart shared in C0OPS", len(all), all[len(all)-1].Filename)
	}
	// Asked where the bot may not share files: it says where the chart is.
	f.KeepBotOut("C0PRIVATE")
	if _, private := second.reportCommand("UBOB", "C0PRIVATE", run.ID); !strings.Contains(private, "not_in_channel") ||
		!strings.Contains(private, "the one shared when the run ended is in "+slackfake.PermalinkOf(run.Card.Channel, run.Card.TS)) {
		t.Errorf("asked in a channel the bot is not in, the requester was told %q", private)
	}
	second.stop()

	// A third process: everything was delivered, nothing is shared again.
	third := startBot(t, f, cfg, nil, fast)
	time.Sleep(1500 * time.Millisecond) // the lease is over and several rescans ran
	third.stop()
	if n := len(completed(f)); n != 3 {
		t.Errorf("%d files after a third process, want 3 (nothing shared twice)", n)
	}
	if strings.Count(string(md.Content), "\n  card ") == 0 || !strings.Contains(string(md.Content), "\nNotifications (") {
		t.Errorf("the report lacks the card's notifications:\n%s", md.Content)
	}
	t.Logf("the shared report:\n%s", md.Content)
}
