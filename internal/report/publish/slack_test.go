package publish_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/app"
	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/chat/slack"
	"github.com/failoverbot/failoverbot/internal/chat/slack/slackfake"
	"github.com/failoverbot/failoverbot/internal/config"
	"github.com/failoverbot/failoverbot/internal/executor"
	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/store"
)

// newFakeSlack is a Slack the bot is connected to, with the people of the
// on-call group.
func newFakeSlack(t *testing.T) *slackfake.Server {
	f := slackfake.New(slackfake.Options{PingInterval: 200 * time.Millisecond})
	for _, u := range []slackfake.User{{ID: "UALICE", Name: "alice"}, {ID: "UBOB", Name: "bob"}, {ID: "UCAROL", Name: "carol"}} {
		f.AddUser(u)
	}
	f.SetGroup("SONCALL", "oncall", "UALICE", "UBOB", "UCAROL")
	t.Cleanup(f.Close)
	return f
}

// slackBot is the bot wired as `bot serve` wires it (internal/app with the
// Slack transport), against the fake Slack.
type slackBot struct {
	t      *testing.T
	ctx    context.Context
	fake   *slackfake.Server
	app    *app.App
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// startBot starts a bot on the store file of cfg; tune adjusts its
// notification pipeline.
func startBot(t *testing.T, f *slackfake.Server, cfg config.Config, env map[string]string, tune func(*notify.Options)) *slackBot {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("REPORT_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	bot, err := slack.New(slack.Config{AppToken: slackfake.AppToken, BotToken: slackfake.BotToken, APIURL: f.APIURL()}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(ctx, app.Options{Config: cfg, Poster: bot.Poster(), Directory: bot.Directory(), Logger: log,
		Env:      func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Executor: executor.Config{PollInterval: 50 * time.Millisecond, MaxPollInterval: 200 * time.Millisecond}, Notify: tune})
	if err != nil {
		t.Fatal(err)
	}
	bot.SetHandler(a.Handler)
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	b := &slackBot{t: t, ctx: ctx, fake: f, app: a, cancel: cancel, done: make(chan error, 1)}
	connected := f.Connected()
	go func() { b.done <- bot.Run(ctx) }()
	select {
	case <-connected:
	case err := <-b.done:
		t.Fatalf("bot stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("bot did not connect")
	}
	t.Cleanup(b.stop)
	return b
}

// stop shuts the bot down as `bot serve` does on SIGTERM (once).
func (b *slackBot) stop() {
	b.once.Do(func() {
		b.cancel()
		if err := <-b.done; err != nil {
			b.t.Errorf("bot.Run: %v", err)
		}
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer ccancel()
		if err := b.app.Close(cctx); err != nil {
			b.t.Errorf("app.Close: %v", err)
		}
	})
}

func (b *slackBot) command(user, channel, text string) {
	b.t.Helper()
	env, err := b.fake.SlashCommand(user, channel, text)
	if err != nil {
		b.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	if _, err := b.fake.WaitAck(ctx, env); err != nil {
		b.t.Fatal(err)
	}
}

// latestRun is the newest run in the bot's store.
func (b *slackBot) latestRun() *store.Run {
	runs, err := b.app.Store.ListRuns(b.ctx, store.ListOptions{Limit: 1})
	if err != nil || len(runs) == 0 {
		return nil
	}
	return runs[0]
}

// reportCommand is `/failover report <run>` as the commands handler
// answers it: the report document, and what the requester alone was told.
func (b *slackBot) reportCommand(user, channel, runID string) (*chat.DocumentView, string) {
	b.t.Helper()
	var out answers
	b.app.Handler.HandleCommand(b.ctx, chat.Request{User: chat.User{ID: user}, Channel: channel, Text: "report " + runID}, &out)
	var doc *chat.DocumentView
	for _, m := range out.public {
		if d, ok := m.View.(*chat.DocumentView); ok {
			doc = d
		}
	}
	if doc == nil {
		b.t.Fatalf("/failover report gave no document: %+v (ephemeral: %v)", out.public, out.private)
	}
	return doc, strings.Join(out.private, "\n")
}

// answers is a chat.Responder that keeps what it is told.
type answers struct {
	mu      sync.Mutex
	public  []chat.Message
	private []string
}

func (a *answers) Respond(_ context.Context, m chat.Message) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.public = append(a.public, m)
	return nil
}

func (a *answers) Ephemeral(_ context.Context, m chat.Message) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.private = append(a.private, m.Text)
	return nil
}

// completed are the files the fake has shared, in order.
func completed(f *slackfake.Server) []slackfake.File {
	var out []slackfake.File
	for _, file := range f.Files() {
		if file.Completed {
			out = append(out, file)
		}
	}
	return out
}

// eventually polls cond for up to d.
func eventually(t *testing.T, d time.Duration, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func writeRunbook(t *testing.T, yaml string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "runbook.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
