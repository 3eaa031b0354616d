package slack_test

import (
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat/slack/slackfake"
	"github.com/failoverbot/failoverbot/internal/lab"
	"github.com/failoverbot/failoverbot/internal/lab/labtest"
	"github.com/failoverbot/failoverbot/internal/notify/pagerduty/pagerdutyfake"
	"github.com/failoverbot/failoverbot/internal/notify/statuspage/statuspagefake"
	"github.com/failoverbot/failoverbot/internal/store"
)

// durations in notes and messages vary from run to run.
var durationRe = regexp.MustCompile(`\b\d+(\.\d+)?(ms|µs|s|m|h)([0-9.]+(ms|s|m))*\b`)

// clockRe is a time of day ("next update by 22:39 UTC").
var clockRe = regexp.MustCompile(`\b\d\d:\d\d UTC\b`)

func normal(s string) string {
	return durationRe.ReplaceAllString(clockRe.ReplaceAllString(s, "<time> UTC"), "<d>")
}

// startedLink: the run started before its card was posted (the card is
// posted right after the approval) or after: its "started" news links the
// card or, before it exists, the plan.
func startedLink(got []string, i int, approval, card string) string {
	if i < len(got) && strings.Contains(got[i], approval) {
		return approval
	}
	return card
}

// TestServeLabFailoverNotifiesEveryone is a complete lab failover through
// `bot serve`'s wiring and the Slack fake, with the shipped lab-failover
// runbook: the lab's Statuspage, PagerDuty and the stakeholders' channel
// get exactly the milestones the runbook names, in order. Then a second
// run goes with PagerDuty down for all of it: the run is unaffected, the
// failure is said once in its thread, and when PagerDuty is back the notes
// land, in order, once.
func TestServeLabFailoverNotifiesEveryone(t *testing.T) {
	l := labtest.Failed(t, lab.FailStop)
	s := newServeStack(t, filepath.Join("..", "..", "..", "runbooks"), lab.RunbookEnv(l.Env()))
	incident := l.PagerDutyIncident()
	start := time.Now()
	run := approveAndRun(t, s, "lab-failover", "incident="+incident+" lab primary down", 3*time.Minute)
	page, pd := l.Statuspage(), l.PagerDuty()
	s.eventually(30*time.Second, func() string { return "the notifications did not all land:\n" + l.SaaSReport() }, func() bool {
		incs := page.Incidents(lab.StatuspagePage)
		inc, _ := pd.Incident(incident)
		return len(incs) == 1 && incs[0].Status == "resolved" && inc.Status == "resolved" &&
			len(s.fake.Messages(s.fake.ChannelID("#lab-status"))) == 6
	})
	t.Logf("run and notifications took %s", time.Since(start).Round(time.Millisecond))

	// The status page: opened identified with both components down,
	// updated at each public phase with the components the runbook names,
	// monitoring after validation, resolved at the end.
	inc := page.Incidents(lab.StatuspagePage)[0]
	var changes []string
	for _, c := range page.Changes() {
		switch c.Kind {
		case statuspagefake.ComponentChanged:
			changes = append(changes, fmt.Sprintf("component %s → %s", c.Component, c.Status))
		default:
			changes = append(changes, fmt.Sprintf("%s %s: %s", c.Kind, c.Status, c.Body))
		}
	}
	equalLines(t, "status page changes", changes, []string{
		"incident.created identified: The lab's primary region is unreachable. We are moving the service to its DR region.",
		"component labapi → major_outage",
		"component labdb → major_outage",
		"incident.updated identified: The database now runs in the DR region.",
		"component labdb → operational",
		"incident.updated identified: The cache now runs in the DR region; the service is back, some requests may be slow.",
		"component labapi → degraded_performance",
		"incident.updated monitoring: The service answers from the DR region. We are monitoring it.",
		"component labapi → operational",
		"incident.updated resolved: The service runs in the DR region. This incident is resolved.",
	})
	if inc.ImpactOverride != "major" || inc.Name != "Lab service: moving to the DR region" {
		t.Errorf("incident = %+v", inc)
	}

	// PagerDuty: a note per milestone on the incident given as a run
	// parameter, written with the From header, linking the run's thread;
	// the incident resolved at the end.
	approval := slackfake.PermalinkOf(run.ApprovalMsg.Channel, run.ApprovalMsg.TS)
	card := slackfake.PermalinkOf(run.Card.Channel, run.Card.TS)
	pinc, _ := pd.Incident(incident)
	var notes []string
	for _, n := range pinc.Notes {
		notes = append(notes, normal(n.Content))
		if n.From != pagerdutyfake.From {
			t.Errorf("note %q from %q", n.Content, n.From)
		}
	}
	id := run.ID
	equalLines(t, "PagerDuty notes", notes, []string{
		"Failover lab-failover (run " + id + ") requested by UALICE: lab primary down. Waiting for approval.\n" + approval,
		"Failover lab-failover (run " + id + ") started.\n" + startedLink(notes, 1, approval, card),
		"Failover lab-failover: Promote PostgreSQL in the DR region done (<d> of ~<d>).\n" + card,
		"Failover lab-failover: Move Redis to the DR region done (<d> of ~<d>).\n" + card,
		"Failover lab-failover: Validate the DR region done (<d> of ~<d>).\n" + card,
		"Failover lab-failover (run " + id + ") succeeded in <d>.\n" + card,
	})

	// The stakeholders: a message per milestone in #lab-status, the group
	// mentioned by the bot, the run's link, elapsed and the next update.
	var said []string
	for _, m := range s.fake.Messages(s.fake.ChannelID("#lab-status")) {
		said = append(said, normal(messageText(m)))
	}
	g, link := "<!subteam^S0LABSTAKE> ", func(u string) string { return "<" + u + "|run " + id + ">" }
	next := "next update by <time> UTC"
	equalLines(t, "stakeholder messages", said, []string{
		g + "A failover of lab-failover was requested (lab primary down) and waits for approval.\n" + g +
			"A failover of lab-failover was requested (lab primary down) and waits for approval.\n" + link(approval) + " · expected to take ~<d> · " + next,
		g + "The lab service is moving to its DR region after its primary region failed.\n" + g +
			"The lab service is moving to its DR region after its primary region failed.\n" + link(startedLink(said, 1, approval, card)) + " · elapsed <d> of ~<d> expected · " + next,
		g + "Failover of lab-failover: Promote PostgreSQL in the DR region is done.\n" + g +
			"Failover of lab-failover: Promote PostgreSQL in the DR region is done.\n" + link(card) + " · elapsed <d> of ~<d> expected · " + next,
		g + "Failover of lab-failover: Move Redis to the DR region is done.\n" + g +
			"Failover of lab-failover: Move Redis to the DR region is done.\n" + link(card) + " · elapsed <d> of ~<d> expected · " + next,
		g + "Failover of lab-failover: Validate the DR region is done.\n" + g +
			"Failover of lab-failover: Validate the DR region is done.\n" + link(card) + " · elapsed <d> of ~<d> expected · " + next,
		g + "The lab service runs in its DR region again.\n" + g +
			"The lab service runs in its DR region again.\n" + link(card) + " · elapsed <d> of ~<d> expected",
	})
	// Nothing was said about notification failures in the run's thread.
	if th := threadText(s, run.Card); strings.Contains(th, "did not go through") {
		t.Errorf("a notifier failed:\n%s", th)
	}

	// A second run (every step already done), PagerDuty down throughout.
	pd.Down()
	notesBefore := len(pinc.Notes)
	second := time.Now()
	s.command("UALICE", "C0OPS", "start lab-failover incident="+incident+" again, PagerDuty down")
	var run2 *store.Run
	s.eventually(60*time.Second, func() string { return "no second plan: " + s.ephemeralText("UALICE") }, func() bool {
		run2 = s.latestRun()
		return run2 != nil && run2.ID != run.ID && run2.ApprovalMsg.TS != ""
	})
	s.react("UBOB", run2.ApprovalMsg, "white_check_mark")
	s.react("UCAROL", run2.ApprovalMsg, "white_check_mark")
	s.eventually(2*time.Minute, func() string { r, _ := s.st.GetRun(s.ctx, run2.ID); return "second run is " + string(r.State) },
		func() bool { r, _ := s.st.GetRun(s.ctx, run2.ID); return r.State == store.RunSucceeded })
	t.Logf("the second run, PagerDuty down, took %s", time.Since(second).Round(time.Millisecond))
	run2, _ = s.st.GetRun(s.ctx, run2.ID)
	// Said in the run's thread: the plan's until the card is posted.
	threads := func() string { return threadText(s, run2.ApprovalMsg) + "\n" + threadText(s, run2.Card) }
	s.eventually(30*time.Second, func() string { return "the thread does not say PagerDuty fails:\n" + threads() },
		func() bool { return strings.Contains(threads(), "PagerDuty: a notification did not go through") })
	if inc, _ := pd.Incident(incident); len(inc.Notes) != notesBefore {
		t.Fatalf("notes were added while PagerDuty was down")
	}
	if err := pd.Up(); err != nil {
		t.Fatal(err)
	}
	s.eventually(90*time.Second, func() string {
		inc, _ := pd.Incident(incident)
		return fmt.Sprintf("%d notes after recovery", len(inc.Notes))
	},
		func() bool { inc, _ := pd.Incident(incident); return len(inc.Notes) == notesBefore+6 })
	time.Sleep(500 * time.Millisecond) // nothing more comes
	pinc, _ = pd.Incident(incident)
	var again []string
	for _, n := range pinc.Notes[notesBefore:] {
		again = append(again, strings.SplitN(normal(n.Content), "\n", 2)[0])
	}
	equalLines(t, "notes of the second run, after PagerDuty came back", again, []string{
		"Failover lab-failover (run " + run2.ID + ") requested by UALICE: again, PagerDuty down. Waiting for approval.",
		"Failover lab-failover (run " + run2.ID + ") started.",
		"Failover lab-failover: Promote PostgreSQL in the DR region done (<d> of ~<d>).",
		"Failover lab-failover: Move Redis to the DR region done (<d> of ~<d>).",
		"Failover lab-failover: Validate the DR region done (<d> of ~<d>).",
		"Failover lab-failover (run " + run2.ID + ") succeeded in <d>.",
	})
	if th := threads(); strings.Count(th, "did not go through") != 1 || !strings.Contains(th, "PagerDuty: notifications go through again") {
		t.Errorf("the thread should say the failure once and the recovery once:\n%s", th)
	}
}

// threadText is the fallback text of each message of a thread, a line
// each.
func threadText(s *stack, ref store.MessageRef) string {
	var parts []string
	for _, m := range s.fake.Thread(ref.Channel, ref.TS) {
		parts = append(parts, m.Text)
	}
	return strings.Join(parts, "\n")
}

func equalLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
