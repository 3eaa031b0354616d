package slack

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/chat/slack/slackfake"
	"github.com/failoverbot/failoverbot/internal/logtest"
)

func TestAckComesBeforeTheWork(t *testing.T) {
	hs := newHarness(t, slackfake.Options{}, nil)
	release := make(chan struct{})
	started := make(chan struct{})
	hs.h.onCommand = func(ctx context.Context, req chat.Request, out chat.Responder) {
		close(started)
		<-release // a slow command: longer than Slack's ack deadline would allow
		if err := out.Respond(ctx, chat.Message{Text: "done: " + req.Text}); err != nil {
			t.Errorf("Respond: %v", err)
		}
	}
	env, err := hs.fake.SlashCommand("UALICE", "C1", "assess lab")
	if err != nil {
		t.Fatal(err)
	}
	ack, err := hs.fake.WaitAck(ctxT(t), env)
	if err != nil {
		t.Fatal(err)
	}
	<-started
	if ack.Latency >= 3*time.Second {
		t.Errorf("ack took %s; Slack allows 3s", ack.Latency)
	}
	if got := hs.fake.Messages("C1"); len(got) != 0 {
		t.Fatalf("the command's reply was posted before the ack was checked: %+v", got)
	}
	close(release)
	hs.h.wait(t, "command:assess lab")
	msgs := hs.fake.Messages("C1")
	if len(msgs) != 1 || msgs[0].Text != "done: assess lab" {
		t.Fatalf("channel C1 = %+v, want the command's reply", msgs)
	}
	req := hs.h.commands[0]
	if req.User.ID != "UALICE" || req.User.Name != "alice" || req.User.IsBot || req.Channel != "C1" {
		t.Errorf("request = %+v", req)
	}
	if missed := hs.fake.MissedAcks(); len(missed) != 0 {
		t.Errorf("envelopes not acked in time: %v", missed)
	}
}

// In a channel the bot is not a member of, a command is answered through
// its response_url.
func TestCommandOutsideTheBotsChannelsUsesResponseURL(t *testing.T) {
	hs := newHarness(t, slackfake.Options{}, nil)
	hs.fake.KeepBotOut("CPRIVATE")
	hs.h.onCommand = func(ctx context.Context, req chat.Request, out chat.Responder) {
		if err := out.Ephemeral(ctx, chat.Message{Text: "usage: ..."}); err != nil {
			t.Errorf("Ephemeral: %v", err)
		}
		if err := out.Respond(ctx, chat.Message{View: &chat.AssessView{Runbook: "lab", Go: true}}); err != nil {
			t.Errorf("Respond: %v", err)
		}
	}
	if _, err := hs.fake.SlashCommand("UALICE", "CPRIVATE", "assess"); err != nil {
		t.Fatal(err)
	}
	hs.h.wait(t, "command:assess")
	got := hs.fake.ResponseURLMessages()
	if len(got) != 2 || got[0].ResponseType != "ephemeral" || got[0].Text != "usage: ..." ||
		got[1].ResponseType != "in_channel" || !strings.Contains(got[1].Blocks, "Assessment: lab") {
		t.Fatalf("response_url messages = %+v", got)
	}
}

func TestRedeliveredEventIsHandledOnce(t *testing.T) {
	hs := newHarness(t, slackfake.Options{}, nil)
	ev, err := hs.fake.React("UBOB", "C1", "1700000000.000100", "white_check_mark", true)
	if err != nil {
		t.Fatal(err)
	}
	hs.h.wait(t, "reaction:white_check_mark")
	env, err := hs.fake.Redeliver(ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hs.fake.WaitAck(ctxT(t), env); err != nil {
		t.Fatalf("the redelivered envelope must still be acked: %v", err)
	}
	// A later, different event marks the point by which a duplicate would
	// have been handled (one worker keeps the order).
	if _, err := hs.fake.React("UCAROL", "C1", "1700000000.000100", "x", true); err != nil {
		t.Fatal(err)
	}
	hs.h.wait(t, "reaction:x")
	rs := hs.h.reactionsSnapshot()
	if len(rs) != 2 {
		t.Fatalf("handler got %d reactions, want 2 (the redelivery dropped): %+v", len(rs), rs)
	}
	r := rs[0]
	want := chat.Reaction{EventID: ev, User: chat.User{ID: "UBOB", Name: "bob"}, Emoji: "white_check_mark", Added: true,
		Message: chat.MessageRef{Channel: "C1", TS: "1700000000.000100"}}
	if r != want {
		t.Errorf("reaction = %+v, want %+v", r, want)
	}
}

// When an ack is lost, Slack redelivers the event after the ack deadline
// (retry_attempt 1); the bot acks it and does not handle it again.
func TestLostAckRedeliveryIsHandledOnce(t *testing.T) {
	hs := newHarness(t, slackfake.Options{AckDeadline: 300 * time.Millisecond}, nil)
	hs.fake.LoseAcks(1)
	ev, err := hs.fake.React("UBOB", "C1", "1700000000.000100", "white_check_mark", true)
	if err != nil {
		t.Fatal(err)
	}
	hs.h.wait(t, "reaction:white_check_mark")
	eventually(t, "the redelivery to be acked", func() bool {
		env := hs.fake.EnvelopeOf(ev)
		_, acked := hs.fake.AckOf(env)
		return len(hs.fake.MissedAcks()) == 1 && acked
	})
	if _, err := hs.fake.React("UCAROL", "C1", "1700000000.000100", "x", true); err != nil {
		t.Fatal(err)
	}
	hs.h.wait(t, "reaction:x")
	if rs := hs.h.reactionsSnapshot(); len(rs) != 2 {
		t.Fatalf("handler got %d reactions, want 2 (the redelivery dropped): %+v", len(rs), rs)
	}
}

// With the work queue full, a reaction is left unacked and Slack's
// redelivery brings it back later: nothing is lost and nothing counted twice.
func TestFullQueueLeavesEventsForRedelivery(t *testing.T) {
	hs := newHarness(t, slackfake.Options{AckDeadline: 200 * time.Millisecond,
		RedeliveryDelays: []time.Duration{0, 100 * time.Millisecond, 100 * time.Millisecond}},
		func(c *Config) { c.Workers, c.QueueSize = 1, 1 })
	release, started := make(chan struct{}), make(chan struct{})
	hs.h.onReact = func(ctx context.Context, r chat.Reaction) {
		if r.Emoji == "one" {
			close(started)
			<-release
		}
	}
	react := func(emoji string) {
		if _, err := hs.fake.React("UBOB", "C1", "1.000100", emoji, true); err != nil {
			t.Fatal(err)
		}
	}
	react("one") // taken by the only worker, which blocks
	<-started
	react("two")   // waits in the queue
	react("three") // queue full: left unacked
	eventually(t, "the third event to miss its ack", func() bool { return len(hs.fake.MissedAcks()) > 0 })
	// A command cannot wait for redelivery: its author is told at once.
	if _, err := hs.fake.SlashCommand("UALICE", "C1", "status"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the overload answer", func() bool {
		e := hs.fake.Ephemerals("UALICE")
		return len(e) == 1 && strings.Contains(e[0].Text, "overloaded")
	})
	close(release)
	hs.h.wait(t, "reaction:three")
	var got []string
	for _, r := range hs.h.reactionsSnapshot() {
		got = append(got, r.Emoji)
	}
	if strings.Join(got, ",") != "one,two,three" {
		t.Errorf("handled %v, want one, two, three once each", got)
	}
	if !strings.Contains(hs.logs.String(), "queue full") {
		t.Error("the full queue was not logged")
	}
}

func TestReactionOnAFileIsIgnored(t *testing.T) {
	hs := newHarness(t, slackfake.Options{}, nil)
	if _, err := hs.fake.Event(map[string]any{"type": "reaction_added", "user": "UBOB", "reaction": "x",
		"item": map[string]string{"type": "file", "file": "F1"}, "event_ts": "1.1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := hs.fake.React("UBOB", "C1", "1.2", "white_check_mark", false); err != nil {
		t.Fatal(err)
	}
	hs.h.wait(t, "reaction:white_check_mark")
	rs := hs.h.reactionsSnapshot()
	if len(rs) != 1 || rs[0].Added {
		t.Fatalf("reactions = %+v, want only the removal on the message", rs)
	}
}

func TestUnknownInnerEventIsAcked(t *testing.T) {
	hs := newHarness(t, slackfake.Options{}, nil)
	env, err := hs.fake.UnknownEvent("brand_new_event")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hs.fake.WaitAck(ctxT(t), env); err != nil {
		t.Fatal(err)
	}
}

func TestButtonPressBecomesAnAction(t *testing.T) {
	hs := newHarness(t, slackfake.Options{}, nil)
	env, err := hs.fake.Click("UCAROL", "C9", "1700000000.000200", "retry", "run-1/promote_db")
	if err != nil {
		t.Fatal(err)
	}
	hs.h.wait(t, "action:retry")
	// The ack is sent before the work, but the fake reads it off the
	// socket concurrently: wait for it rather than race it.
	if _, err := hs.fake.WaitAck(ctxT(t), env); err != nil {
		t.Errorf("interactive envelope not acked: %v", err)
	}
	want := chat.Action{User: chat.User{ID: "UCAROL", Name: "carol"}, ActionID: "retry", Value: "run-1/promote_db",
		Message: chat.MessageRef{Channel: "C9", TS: "1700000000.000200"}}
	if got := hs.h.actions[0]; got != want {
		t.Errorf("action = %+v, want %+v", got, want)
	}
}

func TestDisconnectReconnectsWithoutLosingWork(t *testing.T) {
	hs := newHarness(t, slackfake.Options{}, nil)
	ctx := ctxT(t)
	ref, err := hs.bot.Poster().Post(ctx, "C1", chat.Message{Text: "card v1"})
	if err != nil {
		t.Fatal(err)
	}
	next := hs.fake.Connected()
	if err := hs.fake.Disconnect("refresh_requested"); err != nil {
		t.Fatal(err)
	}
	// An update issued while the socket is being replaced still lands: the
	// Web API does not need the socket.
	if err := hs.bot.Poster().Update(ctx, ref, chat.Message{Text: "card v2"}); err != nil {
		t.Fatal(err)
	}
	// A reaction sent while no socket is open is delivered on the new one.
	hs.fake.DropConnection()
	ev, err := hs.fake.React("UBOB", "C1", ref.TS, "white_check_mark", true)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-next:
	case <-time.After(10 * time.Second):
		t.Fatal("bot did not reconnect after disconnect")
	}
	hs.h.wait(t, "reaction:white_check_mark")
	if got := hs.h.reactionsSnapshot(); len(got) != 1 || got[0].EventID != ev {
		t.Errorf("reactions = %+v", got)
	}
	if err := hs.bot.Poster().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if m, _ := hs.fake.Message("C1", ref.TS); m.Text != "card v2" {
		t.Errorf("card = %q, want the update issued during the disconnect", m.Text)
	}
	if n := hs.fake.Connects(); n < 2 {
		t.Errorf("connects = %d, want a reconnect", n)
	}
}

func TestLostPingsReconnect(t *testing.T) {
	hs := newHarness(t, slackfake.Options{}, func(c *Config) { c.PingInterval = 400 * time.Millisecond })
	next := hs.fake.Connected()
	hs.fake.StopPings()
	select {
	case <-next:
	case <-time.After(10 * time.Second):
		t.Fatal("no reconnect after pings stopped")
	}
	if _, err := hs.fake.SlashCommand("UALICE", "C1", "status"); err != nil {
		t.Fatal(err)
	}
	hs.h.wait(t, "command:status")
}

func TestRevokedAppTokenEndsRunClearly(t *testing.T) {
	hs := newHarness(t, slackfake.Options{}, nil)
	hs.fake.RevokeToken(slackfake.AppToken)
	hs.fake.DropConnection()
	var err error
	select {
	case err = <-hs.done:
		close(hs.done)
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not end after the app token was revoked")
	}
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("Run = %v, want ErrAuth", err)
	}
	for _, want := range []string{"SLACK_APP_TOKEN", "token_revoked"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error()+hs.logs.String(), slackfake.AppToken) {
		t.Error("the token leaked into the error or the logs")
	}
}

func TestRevokedBotTokenEndsRunClearly(t *testing.T) {
	hs := newHarness(t, slackfake.Options{}, nil)
	hs.h.onCommand = func(ctx context.Context, req chat.Request, out chat.Responder) {
		if err := out.Respond(ctx, chat.Message{Text: "hi"}); err == nil {
			t.Error("Respond succeeded with a revoked token")
		}
	}
	hs.fake.RevokeToken(slackfake.BotToken)
	if _, err := hs.fake.SlashCommand("UALICE", "C1", "status"); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-hs.done:
		close(hs.done)
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not end after the bot token was revoked")
	}
	if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "SLACK_BOT_TOKEN") || !strings.Contains(err.Error(), "token_revoked") {
		t.Fatalf("Run = %v, want ErrAuth naming SLACK_BOT_TOKEN and token_revoked", err)
	}
	if strings.Contains(err.Error()+hs.logs.String(), slackfake.BotToken) {
		t.Error("the token leaked into the error or the logs")
	}
}

// Slack being briefly unreachable at start is not fatal: the bot keeps
// trying and serves once Slack answers.
func TestUnreachableSlackAtStartIsRetried(t *testing.T) {
	f := slackfake.New(slackfake.Options{PingInterval: 100 * time.Millisecond})
	defer f.Close()
	f.Fail("auth.test", slackfake.Failure{Status: 503})
	f.Fail("apps.connections.open", slackfake.Failure{Status: 503})
	f.AddUser(slackfake.User{ID: "UALICE", Name: "alice"})
	cfg := testConfig(f)
	cfg.MaxAttempts = 1
	h := newRecorder()
	bot, err := New(cfg, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	connected := f.Connected()
	go func() { done <- bot.Run(ctx) }()
	select {
	case <-connected:
	case err := <-done:
		t.Fatalf("Run gave up: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("never connected after Slack came back")
	}
	if _, err := f.SlashCommand("UALICE", "C1", "help"); err != nil {
		t.Fatal(err)
	}
	h.wait(t, "command:help")
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v after shutdown", err)
	}
}

func TestWrongTokensAreRefusedAtStart(t *testing.T) {
	for _, tc := range []struct {
		name, app, bot, want string
	}{
		{"bot", slackfake.AppToken, "xoxb-wrong", "SLACK_BOT_TOKEN"},
		{"app", "xapp-wrong", slackfake.BotToken, "SLACK_APP_TOKEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := slackfake.New(slackfake.Options{})
			defer f.Close()
			cfg := testConfig(f)
			cfg.AppToken, cfg.BotToken = secretValue(tc.app), secretValue(tc.bot)
			logs := &logtest.Buffer{}
			bot, err := New(cfg, newRecorder(), slogTo(logs))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			err = bot.Run(ctx)
			if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "invalid_auth") {
				t.Fatalf("Run = %v, want ErrAuth naming %s and invalid_auth", err, tc.want)
			}
			if strings.Contains(err.Error()+logs.String(), "wrong") {
				t.Error("the token leaked into the error or the logs")
			}
		})
	}
}

func TestPanicInHandlerIsReportedAndSurvived(t *testing.T) {
	hs := newHarness(t, slackfake.Options{}, func(c *Config) { c.Workers = 1 })
	hs.h.onCommand = func(ctx context.Context, req chat.Request, out chat.Responder) {
		if req.Text == "boom" {
			panic("nil map in commands")
		}
	}
	hs.h.onReact = func(ctx context.Context, r chat.Reaction) {
		if r.Emoji == "bomb" {
			panic("reaction bug")
		}
	}
	if _, err := hs.fake.SlashCommand("UALICE", "C1", "boom"); err != nil {
		t.Fatal(err)
	}
	if _, err := hs.fake.React("UBOB", "C1", "1700000000.000500", "bomb", true); err != nil {
		t.Fatal(err)
	}
	// The single worker survives both panics and serves the next command.
	if _, err := hs.fake.SlashCommand("UALICE", "C1", "status"); err != nil {
		t.Fatal(err)
	}
	hs.h.wait(t, "command:status")
	eventually(t, "panic reports", func() bool {
		return len(hs.fake.Ephemerals("UALICE")) == 1 && len(hs.fake.Thread("C1", "1700000000.000500")) == 1
	})
	if e := hs.fake.Ephemerals("UALICE")[0]; !strings.Contains(e.Text, "Internal error") || e.Channel != "C1" {
		t.Errorf("ephemeral report = %+v", e)
	}
	if r := hs.fake.Thread("C1", "1700000000.000500")[0]; !strings.Contains(r.Text, "Internal error") {
		t.Errorf("thread report = %+v", r)
	}
	if !strings.Contains(hs.logs.String(), "nil map in commands") {
		t.Error("the panic was not logged")
	}
}

func TestShutdownDrainsInFlightWork(t *testing.T) {
	hs := newHarness(t, slackfake.Options{}, nil)
	var finished atomic.Bool
	started := make(chan struct{})
	hs.h.onCommand = func(ctx context.Context, req chat.Request, out chat.Responder) {
		close(started)
		time.Sleep(500 * time.Millisecond)
		if err := out.Respond(ctx, chat.Message{Text: "finished"}); err != nil {
			t.Errorf("Respond during shutdown: %v", err)
		}
		finished.Store(true)
	}
	if _, err := hs.fake.SlashCommand("UALICE", "C1", "start lab"); err != nil {
		t.Fatal(err)
	}
	<-started
	if err := hs.shutdown(t); err != nil {
		t.Fatalf("Run = %v, want nil on shutdown", err)
	}
	if !finished.Load() {
		t.Fatal("Run returned before the in-flight command finished")
	}
	msgs := hs.fake.Messages("C1")
	if len(msgs) != 1 || msgs[0].Text != "finished" {
		t.Fatalf("messages = %+v", msgs)
	}
	// A card notifier's last edit after the socket closed still lands.
	ref := chat.MessageRef{Channel: msgs[0].Channel, TS: msgs[0].TS}
	if err := hs.bot.Poster().Update(ctxT(t), ref, chat.Message{Text: "run paused: bot stopping"}); err != nil {
		t.Fatal(err)
	}
	if err := hs.bot.Poster().Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if m, _ := hs.fake.Message(ref.Channel, ref.TS); m.Text != "run paused: bot stopping" {
		t.Errorf("last edit after shutdown = %q", m.Text)
	}
}

// A panic value can carry anything the handler had in hand (a DSN with its
// password, a token): the report in Slack says what happened, not the value.
func TestPanicValueIsNotPostedInSlack(t *testing.T) {
	const secretValue = "postgres://app:hunter2-s3cret@db:5432/app"
	hs := newHarness(t, slackfake.Options{}, func(c *Config) { c.Workers = 1 })
	hs.h.onCommand = func(ctx context.Context, req chat.Request, out chat.Responder) {
		panic("connect " + secretValue + ": refused")
	}
	hs.h.onReact = func(ctx context.Context, r chat.Reaction) {
		panic(errors.New("dial " + secretValue))
	}
	if _, err := hs.fake.SlashCommand("UALICE", "C1", "start lab"); err != nil {
		t.Fatal(err)
	}
	if _, err := hs.fake.React("UBOB", "C1", "1700000000.000500", "white_check_mark", true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "panic reports", func() bool {
		return len(hs.fake.Ephemerals("UALICE")) == 1 && len(hs.fake.Thread("C1", "1700000000.000500")) == 1
	})
	for _, m := range []string{hs.fake.Ephemerals("UALICE")[0].Text, hs.fake.Thread("C1", "1700000000.000500")[0].Text} {
		if !strings.Contains(m, "Internal error") {
			t.Errorf("report = %q, want it to say there was an internal error", m)
		}
		if strings.Contains(m, "hunter2") {
			t.Errorf("the panic value reached Slack: %q", m)
		}
	}
}

// A person who adds ✅ and takes it back at once sends reaction_added then
// reaction_removed. With several workers the removal must not be handled
// before the addition (it would withdraw nothing, and the approval would
// then count with the reaction gone).
func TestReactionEventsOfOnePersonOnOneMessageAreHandledInOrder(t *testing.T) {
	hs := newHarness(t, slackfake.Options{}, func(c *Config) { c.Workers = 4 })
	var mu sync.Mutex
	var seen []string
	hs.h.onReact = func(ctx context.Context, r chat.Reaction) {
		if r.Added {
			time.Sleep(100 * time.Millisecond) // a slow store
		}
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s %t", r.User.ID, r.Added))
		mu.Unlock()
	}
	if _, err := hs.fake.React("UBOB", "C1", "1700000000.000700", "white_check_mark", true); err != nil {
		t.Fatal(err)
	}
	if _, err := hs.fake.React("UBOB", "C1", "1700000000.000700", "white_check_mark", false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both reactions handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 2
	})
	mu.Lock()
	defer mu.Unlock()
	if seen[0] != "UBOB true" || seen[1] != "UBOB false" {
		t.Errorf("handled in the order %v, want the addition first", seen)
	}
}
