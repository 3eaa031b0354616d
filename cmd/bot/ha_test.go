package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/lab"
	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/postgres"
)

// TestHAThreeReplicasKillTheExecutingOne runs three `bot serve` processes
// (bot-a, bot-b, bot-c) on one PostgreSQL store, each with its own socket
// to the Slack fake, which spreads the envelopes across them. A lab
// failover is asked for and approved through Slack; the replica that
// executes it is SIGKILLed in a hold step before promote_db; another
// replica takes the run over when the lease ends and finishes it. Checked:
// the run succeeded, pg_promote reached the DR server once and every step
// was applied at most once (no step done before the kill applied again),
// one progress card edited in place, exactly one replica leading and one
// expiry sweep per period across the replicas, and /metrics (parsed with
// the Prometheus text parser) moving with the run, its steps and its
// approval.
func TestHAThreeReplicasKillTheExecutingOne(t *testing.T) {
	needLabBinaries(t)
	bin := buildBot(t)
	rb, err := slowLabFailover()
	if err != nil {
		t.Fatal(err)
	}
	// Long enough a hold that the kill lands in it.
	rb = bytes.ReplaceAll(rb, []byte(fmt.Sprintf("pg_sleep(%g)", holdFor.Seconds())), []byte("pg_sleep(4)"))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	_, dsn := startStore(t)
	l := upFailedLab(t)
	labEnv := l.Env()
	rbDir := filepath.Join(t.TempDir(), "runbooks")
	if err := os.Mkdir(rbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rbDir, "lab-failover.yaml"), rb, 0o644); err != nil {
		t.Fatal(err)
	}
	tap := newPGTap(t, hostPort(t, labEnv["LAB_PG_STANDBY_DSN"]), false)
	botLab := maps.Clone(labEnv)
	botLab["LAB_PG_STANDBY_DSN"] = withHost(t, labEnv["LAB_PG_STANDBY_DSN"], tap.Addr())
	f := newSlack(t, 3)
	env := lab.RunbookEnv(botLab)
	maps.Copy(env, slackEnv(f))
	env["DATABASE_URL"] = dsn
	env["FAILOVER_RUNBOOK_DIR"] = rbDir
	env["FAILOVER_LEASE_TTL"] = "3s"
	env["FAILOVER_EXPIRY_SWEEP"] = "500ms"
	bots := map[string]*serveProc{}
	for _, name := range []string{"bot-a", "bot-b", "bot-c"} {
		bots[name] = startServe(t, bin, name, env)
	}
	waitUntil(t, 30*time.Second, "three sockets and three ready replicas", func() bool {
		for _, p := range bots {
			if code, _, _ := p.get("/readyz"); code != 200 {
				return false
			}
		}
		return f.OpenSockets() == 3
	})
	t.Logf("lab, store and three replicas up in %s", time.Since(start).Round(time.Millisecond))

	st, err := postgres.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	// Ask and approve through Slack: three envelopes, spread over the sockets.
	incident := f.ChannelID("#incident-lab")
	if _, err := f.SlashCommand("UALICE", "C0OPS", "start lab-failover incident="+l.PagerDutyIncident()+" HA test"); err != nil {
		t.Fatal(err)
	}
	var planTS string
	waitUntil(t, 60*time.Second, "the plan", func() bool {
		for _, m := range f.Messages(incident) {
			if strings.Contains(m.Blocks, `"action_id":"approve"`) {
				planTS = m.TS
				return true
			}
		}
		return false
	})
	// A person reacts seconds later; here, wait until the store knows the
	// plan's message (another replica looks the run up by it).
	waitUntil(t, 10*time.Second, "the plan message recorded with the run", func() bool {
		runs, err := st.ListRuns(ctx, store.ListOptions{Limit: 1})
		return err == nil && len(runs) == 1 && runs[0].ApprovalMsg.TS == planTS
	})
	for _, u := range []string{"UBOB", "UCAROL"} {
		if _, err := f.React(u, incident, planTS, "white_check_mark", true); err != nil {
			t.Fatal(err)
		}
	}
	var run *store.Run
	waitUntil(t, 60*time.Second, "the run to reach its kill window (hold before promote_db)", func() bool {
		runs, err := st.ListRuns(ctx, store.ListOptions{Limit: 1})
		if err != nil || len(runs) == 0 || runs[0].State != store.RunRunning {
			return false
		}
		steps, err := st.Steps(ctx, runs[0].ID)
		if err != nil {
			return false
		}
		for _, s := range steps {
			if s.StepID == "hold_before_promote" && (s.Status == store.StepChecking || s.Status == store.StepWaiting) {
				run = runs[0]
				return true
			}
		}
		return false
	})
	victimName, _, _ := strings.Cut(run.Owner, "/")
	victim := bots[victimName]
	if victim == nil {
		t.Fatalf("run %s is owned by %q, not one of the replicas", run.ID, run.Owner)
	}
	// Counters of all three before the kill (the victim's die with it).
	before := map[string]metricFams{}
	for name, p := range bots {
		before[name] = p.scrape(t)
	}
	atKill, err := st.Steps(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-victim.exited
	killed := time.Now()
	delete(bots, victimName)
	t.Logf("SIGKILLed %s, which executed run %s, %s in", victimName, run.ID, killed.Sub(start).Round(time.Millisecond))

	// Another replica takes it over and finishes it.
	var takeover time.Duration
	waitUntil(t, 60*time.Second, "another replica to take the run over", func() bool {
		audit, err := st.Audit(ctx, run.ID)
		if err != nil {
			return false
		}
		for _, e := range audit {
			if e.Type == "run.resumed" && strings.Contains(e.Message, "taken over by") {
				takeover = e.At.Sub(killed)
				return true
			}
		}
		return false
	})
	t.Logf("taken over %s after the kill (lease 3s)", takeover.Round(time.Millisecond))
	waitUntil(t, 90*time.Second, "the run to succeed", func() bool {
		r, err := st.GetRun(ctx, run.ID)
		return err == nil && r.State == store.RunSucceeded
	})
	final, err := st.GetRun(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	newOwner, _, _ := strings.Cut(final.Owner, "/")
	if bots[newOwner] == nil {
		t.Fatalf("the run ended owned by %q, not a surviving replica", final.Owner)
	}
	t.Logf("%s finished the run %s after the kill", newOwner, time.Since(killed).Round(time.Millisecond))

	// Each Apply once: pg_promote reached the server once; no step applied
	// twice; none done before the kill applied again.
	if n := tap.Promotes(); n != 1 {
		t.Errorf("pg_promote reached the DR server %d times, want once", n)
	}
	audit, err := st.Audit(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	applied := map[string]int{}
	for _, e := range audit {
		if e.Type == "step.applying" {
			applied[e.StepID]++
		}
	}
	for id, n := range applied {
		if n != 1 {
			t.Errorf("step %s applied %d times, want once", id, n)
		}
	}
	steps, err := st.Steps(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	doneAtKill := map[string]int{}
	for _, s := range atKill {
		if s.Status == store.StepDone {
			doneAtKill[s.StepID] = s.Attempts
		}
	}
	for _, s := range steps {
		if s.Status != store.StepDone {
			t.Errorf("step %s is %s, want done", s.StepID, s.Status)
		}
		if a, ok := doneAtKill[s.StepID]; ok && s.Attempts != a {
			t.Errorf("step %s was done at the kill (%d applies) and applied again (%d)", s.StepID, a, s.Attempts)
		}
	}

	// One progress card, edited in place by both executors, ending on the
	// run's success.
	var cards []string
	for _, m := range f.Messages(incident) {
		if m.ThreadTS == "" && m.TS != planTS && strings.Contains(m.Text, run.ID) {
			cards = append(cards, m.TS)
		}
	}
	if len(cards) != 1 || final.Card.TS != cards[0] {
		t.Errorf("progress cards %v (the run's: %s), want exactly one", cards, final.Card.TS)
	} else {
		waitUntil(t, 20*time.Second, "the card to show the success", func() bool {
			c, _ := f.Message(incident, cards[0])
			return strings.Contains(c.Text, "succeeded")
		})
		if c, _ := f.Message(incident, cards[0]); c.Updates < 2 {
			t.Errorf("the card was edited %d times; want it edited in place through the run", c.Updates)
		}
	}

	// Periodic work once: one leader among the survivors; sweeps counted
	// over a window add up to one per period across them.
	var leaders []string
	waitUntil(t, 15*time.Second, "one leader among the survivors", func() bool {
		leaders = nil
		for name, p := range bots {
			if p.scrape(t).sum("failover_leader") == 1 {
				leaders = append(leaders, name)
			}
		}
		return len(leaders) == 1
	})
	sweeps := func() (total float64, by map[string]float64) {
		by = map[string]float64{}
		for name, p := range bots {
			by[name] = p.scrape(t).sum("failover_expiry_sweeps_total")
			total += by[name]
		}
		return total, by
	}
	s0, by0 := sweeps()
	w0 := time.Now()
	time.Sleep(5 * time.Second)
	s1, by1 := sweeps()
	window := time.Since(w0)
	periods := window.Seconds() / 0.5
	if d := s1 - s0; d < periods-2 || d > periods+2 {
		t.Errorf("%v expiry sweeps in %s across the replicas, want one per 500ms (~%.0f)", d, window.Round(time.Millisecond), periods)
	}
	for name := range bots {
		if moved := by1[name] - by0[name]; (name == leaders[0]) != (moved > 0) {
			t.Errorf("%s swept %v times in the window (leader: %s)", name, moved, leaders[0])
		}
	}
	t.Logf("leader %s; %v sweeps in %s", leaders[0], s1-s0, window.Round(time.Millisecond))

	// /metrics moved with the run: counted by the replicas that did the work.
	after := map[string]metricFams{}
	for name, p := range bots {
		after[name] = p.scrape(t)
	}
	total := func(m map[string]metricFams, name string, labels ...string) (n float64) {
		for _, f := range m {
			if v := f.sum(name, labels...); v > 0 {
				n += v
			}
		}
		return n
	}
	if n := total(before, "failover_approvals_total", "gate", "run", "outcome", "approved"); n != 1 {
		t.Errorf("approvals_total{gate=run,outcome=approved} = %v across the replicas before the kill, want 1", n)
	}
	if n := total(before, "failover_run_events_total", "event", "run.started"); n != 1 {
		t.Errorf("run.started counted %v times before the kill, want 1", n)
	}
	if n := total(before, "failover_slack_acks_total", "result", "ok"); n < 3 {
		t.Errorf("%v acks counted, want at least the command and two reactions", n)
	}
	owner := after[newOwner]
	for _, c := range []struct {
		name   string
		labels []string
	}{
		{"failover_run_events_total", []string{"event", "run.resumed"}},
		{"failover_runs_ended_total", []string{"outcome", "succeeded"}},
		{"failover_step_applies_total", []string{"kind", "postgres.promote"}},
		{"failover_steps_total", []string{"kind", "postgres.promote", "outcome", "done"}},
		{"failover_step_duration_seconds", []string{"kind", "redis.promote"}},
	} {
		if v := owner.sum(c.name, c.labels...); v != 1 {
			t.Errorf("%s%v on %s = %v, want 1", c.name, c.labels, newOwner, v)
		}
	}
	if n := total(after, "failover_step_applies_total", "kind", "postgres.promote"); n != 1 {
		t.Errorf("postgres.promote applies across the survivors = %v, want 1", n)
	}
	t.Logf("whole test %s", time.Since(start).Round(time.Millisecond))
}
