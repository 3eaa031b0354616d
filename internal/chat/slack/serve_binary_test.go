package slack_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat/slack/slackfake"
	"github.com/failoverbot/failoverbot/internal/lab"
)

// BenchmarkServeBinaryRSS builds cmd/bot, runs `bot serve` against the fake
// Slack and a real lab, and reports the bot process's resident memory at
// idle and at its peak during a lab failover driven through Slack (goal:
// under 60 MiB). The figures are the bot's alone: the fake and the lab run
// in other processes or in this one.
func BenchmarkServeBinaryRSS(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin := filepath.Join(b.TempDir(), "bot")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/failoverbot/failoverbot/cmd/bot").CombinedOutput(); err != nil {
		b.Fatalf("build cmd/bot: %v\n%s", err, out)
	}
	l, err := lab.Up(ctx, lab.Options{})
	if err != nil {
		b.Fatalf("lab up: %v", err)
	}
	defer func() { _ = l.Down(context.Background()) }()
	if err := l.FailPrimary(ctx, lab.FailStop); err != nil {
		b.Fatal(err)
	}
	f := slackfake.New(slackfake.Options{PingInterval: time.Second})
	defer f.Close()
	for _, u := range []slackfake.User{{ID: "UALICE", Name: "alice"}, {ID: "UBOB", Name: "bob"}, {ID: "UCAROL", Name: "carol"}} {
		f.AddUser(u)
	}
	f.SetGroup("SONCALL", "oncall", "UALICE", "UBOB", "UCAROL")
	runbooks, _ := filepath.Abs(filepath.Join("..", "..", "..", "runbooks"))
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = append(os.Environ(), "SLACK_APP_TOKEN="+slackfake.AppToken, "SLACK_BOT_TOKEN="+slackfake.BotToken,
		"SLACK_API_URL="+f.APIURL(), "FAILOVER_RUNBOOK_DIR="+runbooks,
		"FAILOVER_STORE_PATH="+filepath.Join(b.TempDir(), "bot.db"), "FAILOVER_LOG_LEVEL=warn")
	for k, v := range lab.RunbookEnv(l.Env()) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	connected := f.Connected()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	select {
	case <-connected:
	case <-time.After(30 * time.Second):
		b.Fatalf("bot serve did not connect:\n%s", stderr.String())
	}
	time.Sleep(2 * time.Second)
	idle := procRSSKiB(cmd.Process.Pid)

	peak := idle
	sample := func() {
		if r := procRSSKiB(cmd.Process.Pid); r > peak {
			peak = r
		}
	}
	waitFor := func(what string, cond func() bool) {
		deadline := time.Now().Add(3 * time.Minute)
		for !cond() {
			sample()
			if time.Now().After(deadline) {
				b.Fatalf("timed out waiting for %s; bot stderr:\n%s", what, stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	incident := f.ChannelID("#incident-lab")
	if _, err := f.SlashCommand("UALICE", "C0OPS", "start lab-failover lab primary down"); err != nil {
		b.Fatal(err)
	}
	var plan slackfake.Message
	waitFor("the plan", func() bool {
		for _, m := range f.Messages(incident) {
			if strings.Contains(m.Blocks, `"action_id":"approve"`) {
				plan = m
				return true
			}
		}
		return false
	})
	for _, u := range []string{"UBOB", "UCAROL"} {
		if _, err := f.React(u, incident, plan.TS, "white_check_mark", true); err != nil {
			b.Fatal(err)
		}
	}
	waitFor("the card to show the run succeeded", func() bool {
		for _, m := range f.Messages(incident) {
			if m.TS != plan.TS && strings.Contains(m.Text, "succeeded") {
				return true
			}
		}
		return false
	})
	b.ReportMetric(float64(idle)/1024, "idle-rss-MiB")
	b.ReportMetric(float64(peak)/1024, "run-peak-rss-MiB")
}

func procRSSKiB(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var n int
			_, _ = fmt.Sscanf(strings.TrimSpace(rest), "%d", &n)
			return n
		}
	}
	return 0
}

// `bot serve` with a revoked app-level token exits 1 with a message naming
// the variable and Slack's error, and never prints the token.
func TestServeBinaryExitsOnRevokedToken(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "bot")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/failoverbot/failoverbot/cmd/bot").CombinedOutput(); err != nil {
		t.Fatalf("build cmd/bot: %v\n%s", err, out)
	}
	f := slackfake.New(slackfake.Options{})
	defer f.Close()
	f.RevokeToken(slackfake.AppToken)
	runbooks, _ := filepath.Abs(filepath.Join("..", "..", "..", "runbooks"))
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = append(os.Environ(), "SLACK_APP_TOKEN="+slackfake.AppToken, "SLACK_BOT_TOKEN="+slackfake.BotToken,
		"SLACK_API_URL="+f.APIURL(), "FAILOVER_RUNBOOK_DIR="+runbooks, "FAILOVER_STORE_PATH="+filepath.Join(t.TempDir(), "bot.db"))
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("bot serve = %v, want exit status 1; output:\n%s", err, out)
	}
	for _, want := range []string{"SLACK_APP_TOKEN", "token_revoked"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), slackfake.AppToken) || strings.Contains(string(out), slackfake.BotToken) {
		t.Errorf("a token was printed:\n%s", out)
	}
}
