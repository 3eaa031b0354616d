package slack_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/app"
	"github.com/failoverbot/failoverbot/internal/chat/slack"
	"github.com/failoverbot/failoverbot/internal/chat/slack/slackfake"
	"github.com/failoverbot/failoverbot/internal/config"
	"github.com/failoverbot/failoverbot/internal/executor"
	"github.com/failoverbot/failoverbot/internal/lab"
	"github.com/failoverbot/failoverbot/internal/lab/labtest"
)

// newServeStack wires the bot exactly as `bot serve` does (internal/app
// with the Slack transport's Poster and Directory), against the fake Slack.
func newServeStack(t *testing.T, runbookDir string, env map[string]string) *stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("SLACK_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	f := slackfake.New(slackfake.Options{PingInterval: 200 * time.Millisecond})
	for _, u := range []slackfake.User{{ID: "UALICE", Name: "alice"}, {ID: "UBOB", Name: "bob"},
		{ID: "UCAROL", Name: "carol"}, {ID: "UDAVE", Name: "dave"}, {ID: "UEVE", Name: "eve"}, {ID: "UFRANK", Name: "frank"}} {
		f.AddUser(u)
	}
	f.SetGroup("SONCALL", "oncall", "UALICE", "UBOB", "UCAROL")
	f.SetGroup("SDBA", "dba", "UEVE", "UFRANK", "UBOB")
	cfg := config.Default()
	cfg.RunbookDir, cfg.StorePath, cfg.Instance = runbookDir, filepath.Join(t.TempDir(), "bot.db"), "e2e"
	cfg.Responders.Groups = []string{"oncall"}
	bot, err := slack.New(slack.Config{AppToken: slackfake.AppToken, BotToken: slackfake.BotToken, APIURL: f.APIURL()}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(ctx, app.Options{Config: cfg, Poster: bot.Poster(), Directory: bot.Directory(), Logger: log,
		Env:      func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Executor: executor.Config{PollInterval: 50 * time.Millisecond, MaxPollInterval: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	bot.SetHandler(a.Handler)
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, ctx: ctx, fake: f, st: a.Store, bot: bot, exec: a.Executor, cards: a.Cards, done: make(chan error, 1)}
	connected := f.Connected()
	go func() { s.done <- bot.Run(ctx) }()
	select {
	case <-connected:
	case err := <-s.done:
		t.Fatalf("bot stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("bot did not connect")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-s.done; err != nil {
			t.Errorf("bot.Run: %v", err)
		}
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer ccancel()
		if err := a.Close(cctx); err != nil {
			t.Errorf("app.Close: %v", err)
		}
		f.Close()
	})
	return s
}

// TestServeLabFailover is the lab failover through `bot serve`'s own
// wiring (internal/app) and the shipped runbooks directory.
func TestServeLabFailover(t *testing.T) {
	l := labtest.Failed(t, lab.FailStop)
	s := newServeStack(t, filepath.Join("..", "..", "..", "runbooks"), lab.RunbookEnv(l.Env()))
	approveAndRun(t, s, "lab-failover", "lab primary down", 3*time.Minute)
	t.Logf("VmRSS after the lab run: %.1f MiB", float64(rssKiB())/1024)
}
