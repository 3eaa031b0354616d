package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat/slack/slackfake"
	"github.com/failoverbot/failoverbot/internal/pgserver/pgtest"
)

// TestServeOperationsEndpoints runs the real `bot serve` against the Slack
// fake and a PostgreSQL store and checks its operations endpoints as the
// chart's probes and Prometheus use them: /healthz answers, /readyz is 200
// only with the store answering and the socket open (and names what is
// missing otherwise), /metrics parses and moves with the bot's work; when
// the store goes away the bot says so in its log, in /readyz and in
// /metrics, and stops leading.
func TestServeOperationsEndpoints(t *testing.T) {
	needLabBinaries(t)
	bin := buildBot(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg := pgtest.Start(t)
	f := newSlack(t, 1)
	env := slackEnv(f)
	env["DATABASE_URL"] = pgtest.NewDatabase(t, pg)
	env["FAILOVER_RUNBOOK_DIR"] = shippedRunbooks(t)
	p := startServe(t, bin, "ops-test", env)

	ready := func() bool { code, _, _ := p.get("/readyz"); return code == 200 }
	waitUntil(t, 30*time.Second, "/readyz 200", ready)
	if code, body, _ := p.get("/readyz"); body != "store: ok\nslack: ok\n" {
		t.Errorf("/readyz = %d %q", code, body)
	}
	if code, body, _ := p.get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	m := p.scrape(t)
	for _, c := range []struct {
		name string
		want float64
	}{{"failover_slack_connected", 1}, {"failover_store_up", 1}, {"failover_runs_scrape_ok", 1}, {"failover_run_leases_held", 0}} {
		if got := m.sum(c.name); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	if m.sum("failover_build_info") != 1 || m.sum("go_goroutines") <= 0 {
		t.Error("build info or Go runtime metrics missing")
	}
	waitUntil(t, 10*time.Second, "the bot to lead (it is alone)", func() bool { return p.scrape(t).sum("failover_leader") == 1 })

	// A command is acked, and the ack counted with its latency.
	env0, err := f.SlashCommand("UALICE", "C0OPS", "help")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WaitAck(ctx, env0); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "the ack in /metrics", func() bool {
		m := p.scrape(t)
		return m.sum("failover_slack_acks_total", "type", "slash_commands", "result", "ok") == 1 &&
			m.sum("failover_slack_ack_latency_seconds", "type", "slash_commands") == 1
	})

	// Slack unreachable: not ready, saying why; ready again once back.
	f.Fail("apps.connections.open", repeat(slackfake.Failure{Status: 503}, 1000)...)
	f.DropConnection()
	waitUntil(t, 10*time.Second, "/readyz 503 without Slack", func() bool {
		code, body, _ := p.get("/readyz")
		return code == 503 && strings.Contains(body, "slack: socket mode not connected") && strings.Contains(body, "store: ok")
	})
	if p.scrape(t).sum("failover_slack_connected") != 0 {
		t.Error("failover_slack_connected is not 0 without a socket")
	}
	f.Heal("apps.connections.open")
	waitUntil(t, 30*time.Second, "/readyz 200 with Slack back", ready)

	// The store goes away.
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	lost := time.Now()
	waitUntil(t, 15*time.Second, "/readyz to report the store", func() bool {
		code, body, _ := p.get("/readyz")
		return code == 503 && strings.Contains(body, "store: unreachable")
	})
	t.Logf("/readyz reported the lost store %s after it stopped", time.Since(lost).Round(time.Millisecond))
	waitUntil(t, 10*time.Second, "the bot to stop leading and say the store is down", func() bool {
		m := p.scrape(t)
		return m.sum("failover_store_up") == 0 && m.sum("failover_leader") == 0
	})
	if !strings.Contains(p.out.String(), "store unreachable: this replica executes nothing") {
		t.Errorf("the log does not say the store was lost:\n%s", tail(p.out.String(), 20))
	}
	if code, _, _ := p.get("/healthz"); code != 200 {
		t.Error("/healthz fails while the store is down: the kubelet would restart a bot that can do nothing better")
	}
	if strings.Contains(p.out.String(), slackfake.BotToken) || strings.Contains(p.out.String(), slackfake.AppToken) {
		t.Error("a token is in the log")
	}
}

func repeat(f slackfake.Failure, n int) []slackfake.Failure {
	out := make([]slackfake.Failure, n)
	for i := range out {
		out[i] = f
	}
	return out
}
