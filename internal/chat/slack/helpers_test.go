package slack

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/logtest"
	"github.com/failoverbot/failoverbot/internal/secret"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/chat/slack/slackfake"
)

// recorder is a small chat.Handler that records what it gets and can be
// told how to behave.
type recorder struct {
	mu        sync.Mutex
	commands  []chat.Request
	reactions []chat.Reaction
	actions   []chat.Action
	onCommand func(ctx context.Context, req chat.Request, out chat.Responder)
	onReact   func(ctx context.Context, r chat.Reaction)
	signal    chan string
}

func newRecorder() *recorder { return &recorder{signal: make(chan string, 1000)} }

func (r *recorder) HandleCommand(ctx context.Context, req chat.Request, out chat.Responder) {
	r.mu.Lock()
	r.commands = append(r.commands, req)
	f := r.onCommand
	r.mu.Unlock()
	if f != nil {
		f(ctx, req, out)
	}
	r.signal <- "command:" + req.Text
}

func (r *recorder) HandleReaction(ctx context.Context, re chat.Reaction) {
	r.mu.Lock()
	r.reactions = append(r.reactions, re)
	f := r.onReact
	r.mu.Unlock()
	if f != nil {
		f(ctx, re)
	}
	r.signal <- "reaction:" + re.Emoji
}

func (r *recorder) HandleAction(_ context.Context, a chat.Action) {
	r.mu.Lock()
	r.actions = append(r.actions, a)
	r.mu.Unlock()
	r.signal <- "action:" + a.ActionID
}

// wait waits for the handler to signal want.
func (r *recorder) wait(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case got := <-r.signal:
			if got == want {
				return
			}
		case <-timeout:
			t.Fatalf("handler never saw %q", want)
		}
	}
}

func (r *recorder) reactionsSnapshot() []chat.Reaction {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]chat.Reaction(nil), r.reactions...)
}

type harness struct {
	fake *slackfake.Server
	bot  *Bot
	h    *recorder
	logs *logtest.Buffer
	stop context.CancelFunc
	done chan error
}

func testConfig(f *slackfake.Server) Config {
	return Config{
		AppToken:        slackfake.AppToken,
		BotToken:        slackfake.BotToken,
		APIURL:          f.APIURL(),
		PingInterval:    time.Second,
		CallTimeout:     5 * time.Second,
		UpdateInterval:  time.Second,
		ShutdownTimeout: 10 * time.Second,
	}
}

// newHarness starts a fake Slack and a bot connected to it.
func newHarness(t testing.TB, opts slackfake.Options, tweak func(*Config)) *harness {
	t.Helper()
	if opts.PingInterval == 0 {
		opts.PingInterval = 100 * time.Millisecond
	}
	f := slackfake.New(opts)
	f.AddUser(slackfake.User{ID: "UALICE", Name: "alice"})
	f.AddUser(slackfake.User{ID: "UBOB", Name: "bob"})
	f.AddUser(slackfake.User{ID: "UCAROL", Name: "carol"})
	cfg := testConfig(f)
	if tweak != nil {
		tweak(&cfg)
	}
	h := newRecorder()
	logs := &logtest.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if os.Getenv("SLACK_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	bot, err := New(cfg, h, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	connected := f.Connected()
	ctx, cancel := context.WithCancel(context.Background())
	hs := &harness{fake: f, bot: bot, h: h, logs: logs, stop: cancel, done: make(chan error, 1)}
	go func() { hs.done <- bot.Run(ctx) }()
	select {
	case <-connected:
	case err := <-hs.done:
		t.Fatalf("bot stopped before connecting: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("bot did not connect to the fake")
	}
	t.Cleanup(func() {
		hs.shutdown(t)
		f.Close()
	})
	return hs
}

// shutdown stops the bot (once) and returns Run's error.
func (hs *harness) shutdown(t testing.TB) error {
	t.Helper()
	hs.stop()
	select {
	case err, ok := <-hs.done:
		if ok {
			close(hs.done)
		}
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("bot did not stop")
		return nil
	}
}

// eventually polls cond until it holds.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func itoa(i int) string { return strconv.Itoa(i) }

func secretValue(s string) secret.Value { return secret.Value(s) }

func slogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func contextWithCancel(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithCancel(ctx)
}
