package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/lab"
	"github.com/failoverbot/failoverbot/internal/logtest"
	"github.com/failoverbot/failoverbot/internal/store"
)

// TestLabFailoverKilledBetweenMilestonesNotifiesEachOnce runs the lab
// failover (with its notify section: the lab's Statuspage and PagerDuty,
// the stakeholders' channel) with the real bot binary, SIGKILLs it between
// two milestones — the database phase told to everyone, the cache phase
// not done — and starts it again on the same store. The restarted bot
// takes the run back when the dead one's lease ends and tells each
// notifier of each milestone exactly once: one status page incident with
// each update once, each PagerDuty note once, each stakeholder message
// once across both processes' outputs.
func TestLabFailoverKilledBetweenMilestonesNotifiesEachOnce(t *testing.T) {
	needLabBinaries(t)
	bin := buildBot(t)
	rb, err := slowLabFailover()
	if err != nil {
		t.Fatal(err)
	}
	// A longer hold than the step kill test's: the status page takes a
	// request every 1.1s, and the database phase must reach it first.
	rb = bytes.ReplaceAll(rb, []byte(fmt.Sprintf("pg_sleep(%g)", holdFor.Seconds())), []byte("pg_sleep(5)"))
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l := upFailedLab(t)
	labEnv := l.Env()
	d := newBotDir(t, map[string]string{"lab-failover.yaml": string(rb)})
	storePath := d.store
	script := func(name, body string) []string { return d.console(name, body, "kill-notify") }
	env := lab.RunbookEnv(labEnv)
	env["FAILOVER_LEASE_TTL"] = "2s"
	incident := l.PagerDutyIncident()

	first := exec.CommandContext(ctx, bin, script("first.txt", "/failover start lab-failover incident="+incident+
		" kill between milestones\n/approve last --as oncall-2\n/approve last --as oncall-3\n/wait last\n")...)
	first.Env = botEnv(env)
	out1 := &logtest.Buffer{}
	first.Stdout, first.Stderr = out1, out1
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = first.Wait(); close(exited) }()

	watch, err := newWatcher(ctx, storePath, labEnv["LAB_PG_STANDBY_DSN"], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.close()
	page, pd := l.Statuspage(), l.PagerDuty()
	// Between two milestones: everyone heard that the database phase is
	// done; the cache phase is not (its hold step runs).
	told := func() bool {
		incs := page.Incidents(lab.StatuspagePage)
		inc, _ := pd.Incident(incident)
		return len(incs) == 1 && len(incs[0].Updates) == 2 && len(inc.Notes) == 3 &&
			strings.Contains(out1.String(), "Promote PostgreSQL in the DR region is done")
	}
	var atKill snapshot
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("the bot exited before the kill point:\n%s", out1)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no kill point within 60s: store %s\n%s\n--- bot:\n%s", atKill, l.SaaSReport(), out1)
		}
		if s, err := watch.snapshot(ctx); err == nil && told() {
			atKill = s
			if s.is("hold_mid_redis", store.StepChecking, store.StepWaiting) && s.is("sentinels_to_dr", "", store.StepPending) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	if s, _ := watch.snapshot(ctx); !s.is("sentinels_to_dr", "", store.StepPending) {
		t.Fatalf("the bot went past the kill point before SIGKILL landed (store: %s)", s)
	}
	watch.close()
	atKillReport := l.SaaSReport()
	t.Logf("killed the bot %s in, store: %s; notified so far:\n%s", time.Since(start).Round(time.Millisecond), atKill, atKillReport)

	second := exec.CommandContext(ctx, bin, script("second.txt", "/wait last\n")...)
	second.Env = botEnv(env)
	out2 := &logtest.Buffer{}
	second.Stdout, second.Stderr = out2, out2
	second.WaitDelay = 5 * time.Second
	restart := time.Now()
	if err := second.Run(); err != nil {
		t.Fatalf("restarted bot: %v\n%s", err, out2)
	}
	if want := "run " + atKill.runID + " succeeded"; !strings.Contains(out2.String(), want) {
		t.Fatalf("restarted bot's output lacks %q:\n%s", want, out2)
	}
	t.Logf("the restarted bot finished the run in %s:\n%s", time.Since(restart).Round(time.Millisecond), l.SaaSReport())

	incs := page.Incidents(lab.StatuspagePage)
	if len(incs) != 1 {
		t.Fatalf("%d status page incidents, want 1:\n%s", len(incs), l.SaaSReport())
	}
	var updates []string
	for _, u := range incs[0].Updates {
		updates = append(updates, u.Status+": "+u.Body)
	}
	same(t, "status page updates", updates, []string{
		"identified: The lab's primary region is unreachable. We are moving the service to its DR region.",
		"identified: The database now runs in the DR region.",
		"identified: The cache now runs in the DR region; the service is back, some requests may be slow.",
		"monitoring: The service answers from the DR region. We are monitoring it.",
		"resolved: The service runs in the DR region. This incident is resolved.",
	})
	for id, want := range map[string][]string{lab.StatuspageComponentAPI: {"major_outage", "degraded_performance", "operational"},
		lab.StatuspageComponentDB: {"major_outage", "operational"}} {
		c, _ := page.Component(lab.StatuspagePage, id)
		same(t, "component "+id, c.History, want)
	}
	inc, _ := pd.Incident(incident)
	var notes []string
	for _, n := range inc.Notes {
		notes = append(notes, strings.SplitN(n.Content, " (", 2)[0])
	}
	id := atKill.runID
	same(t, "PagerDuty notes", notes, []string{"Failover lab-failover", "Failover lab-failover", // requested, started (with the run ID after " (")
		"Failover lab-failover: Promote PostgreSQL in the DR region done", "Failover lab-failover: Move Redis to the DR region done",
		"Failover lab-failover: Validate the DR region done", "Failover lab-failover"})
	if !strings.HasPrefix(inc.Notes[5].Content, "Failover lab-failover (run "+id+") succeeded") || inc.Status != "resolved" {
		t.Errorf("last note %q, incident %s", inc.Notes[5].Content, inc.Status)
	}
	both := out1.String() + out2.String()
	for _, msg := range []string{"A failover of lab-failover was requested", "The lab service is moving to its DR region",
		"Failover of lab-failover: Promote PostgreSQL in the DR region is done.", "Failover of lab-failover: Move Redis to the DR region is done.",
		"Failover of lab-failover: Validate the DR region is done.", "The lab service runs in its DR region again."} {
		if n := strings.Count(both, "@S0LABSTAKE "+msg); n != 1 {
			t.Errorf("stakeholder message %q posted %d times across both bots, want 1", msg, n)
		}
	}
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
}

func same(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}
