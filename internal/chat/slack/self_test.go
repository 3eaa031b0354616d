package slack

import (
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat/slack/slackfake"
)

// The bot's own reactions (its user, from auth.test) never reach the
// handler, so it never answers itself. (One worker: the bot's reaction is
// handled, or dropped, before Bob's.)
func TestTheBotIgnoresItsOwnReactions(t *testing.T) {
	hs := newHarness(t, slackfake.Options{}, func(c *Config) { c.Workers = 1 })
	if _, err := hs.fake.React(slackfake.BotUserID, "C1", "1.1", "white_check_mark", true); err != nil {
		t.Fatal(err)
	}
	if _, err := hs.fake.React("UBOB", "C1", "1.1", "x", true); err != nil {
		t.Fatal(err)
	}
	hs.h.wait(t, "reaction:x")
	for _, r := range hs.h.reactionsSnapshot() {
		if r.User.ID == slackfake.BotUserID {
			t.Errorf("the bot's own reaction reached the handler: %+v", r)
		}
	}
	if n := len(hs.fake.Calls("auth.test")); n == 0 {
		t.Error("the bot never asked auth.test who it is")
	}
}

// When auth.test failed at start, the bot asks again before it handles a
// reaction, and still ignores its own.
func TestTheBotLearnsItsUserLateWhenAuthTestFailedAtStart(t *testing.T) {
	f := slackfake.New(slackfake.Options{PingInterval: 100 * time.Millisecond})
	defer f.Close()
	f.Fail("auth.test", slackfake.Failure{Status: 503})
	f.AddUser(slackfake.User{ID: "UBOB", Name: "bob"})
	cfg := testConfig(f)
	cfg.MaxAttempts, cfg.Workers = 1, 1
	h := newRecorder()
	bot, err := New(cfg, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	connected := f.Connected()
	ctx := ctxT(t)
	done := make(chan error, 1)
	runCtx, stop := contextWithCancel(ctx)
	go func() { done <- bot.Run(runCtx) }()
	defer func() { stop(); <-done }()
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatal("never connected")
	}
	if _, err := f.React(slackfake.BotUserID, "C1", "1.1", "white_check_mark", true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.React("UBOB", "C1", "1.1", "x", true); err != nil {
		t.Fatal(err)
	}
	h.wait(t, "reaction:x")
	for _, r := range h.reactionsSnapshot() {
		if r.User.ID == slackfake.BotUserID {
			t.Errorf("the bot's own reaction reached the handler: %+v", r)
		}
	}
}

// A frame that is not JSON is skipped and the connection kept: the log
// says so, and does not claim a reconnect.
func TestANonJSONFrameIsSkippedAndTheSocketKept(t *testing.T) {
	hs := newHarness(t, slackfake.Options{}, nil)
	if err := hs.fake.SendFrame([]byte("this is not json")); err != nil {
		t.Fatal(err)
	}
	if _, err := hs.fake.SlashCommand("UALICE", "C1", "help"); err != nil {
		t.Fatal(err)
	}
	hs.h.wait(t, "command:help")
	if n := hs.fake.Connects(); n != 1 {
		t.Errorf("%d connections, want the first one kept", n)
	}
	logs := hs.logs.String()
	if strings.Contains(logs, "reconnecting") {
		t.Errorf("the log claims a reconnect:\n%s", logs)
	}
	if !strings.Contains(logs, "slack sent a frame that is not JSON; skipped, the connection stays open") {
		t.Errorf("the log does not say what happened:\n%s", logs)
	}
}
