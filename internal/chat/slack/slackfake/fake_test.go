package slackfake

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// A client that never acks gets the event again (same event_id, higher
// retry_attempt), also after reconnecting, and the fake records the misses.
func TestUnackedEventsAreRedelivered(t *testing.T) {
	f := New(Options{PingInterval: 100 * time.Millisecond, AckDeadline: 200 * time.Millisecond,
		RedeliveryDelays: []time.Duration{0, 50 * time.Millisecond, 50 * time.Millisecond}})
	defer f.Close()
	api := slack.New(BotToken, slack.OptionAPIURL(f.APIURL()), slack.OptionAppLevelToken(AppToken))
	sm := socketmode.New(api, socketmode.OptionPingInterval(time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	connected := f.Connected()
	go func() { _ = sm.RunContext(ctx) }()
	<-connected
	eventID, err := f.React("UBOB", "C1", "1.000100", "white_check_mark", true)
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		eventID string
		attempt int
	}
	var seen []got
	for len(seen) < 4 {
		select {
		case evt := <-sm.Events:
			if evt.Type != socketmode.EventTypeEventsAPI {
				continue
			}
			cb := evt.Data.(slackevents.EventsAPIEvent).Data.(*slackevents.EventsAPICallbackEvent)
			seen = append(seen, got{cb.EventID, evt.Request.RetryAttempt})
			if len(seen) == 2 {
				f.DropConnection() // the next redelivery goes to the new socket
			}
		case <-ctx.Done():
			t.Fatalf("only %d deliveries: %+v", len(seen), seen)
		}
	}
	for i, g := range seen {
		if g.eventID != eventID || g.attempt != i {
			t.Errorf("delivery %d = %+v, want event %s attempt %d", i, g, eventID, i)
		}
	}
	if f.Connects() < 2 {
		t.Error("no reconnect happened")
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(f.MissedAcks()); n != 4 {
		t.Errorf("%d missed acks recorded, want 4", n)
	}
}

func TestConnectionsOpenChecksTheAppToken(t *testing.T) {
	f := New(Options{})
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, tc := range []struct{ tok, want string }{
		{"xapp-unknown", "invalid_auth"}, {BotToken, "invalid_auth"},
	} {
		api := slack.New(BotToken, slack.OptionAPIURL(f.APIURL()), slack.OptionAppLevelToken(tc.tok))
		if _, _, err := api.StartSocketModeContext(ctx); err == nil || err.Error() != tc.want {
			t.Errorf("token %s: %v, want %s", tc.tok, err, tc.want)
		}
	}
	f.RevokeToken(AppToken)
	api := slack.New(BotToken, slack.OptionAPIURL(f.APIURL()), slack.OptionAppLevelToken(AppToken))
	if _, _, err := api.StartSocketModeContext(ctx); err == nil || err.Error() != "token_revoked" {
		t.Errorf("revoked: %v", err)
	}
}

func TestWebAPIAcceptsBodyOrBearerTokens(t *testing.T) {
	f := New(Options{})
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	api := slack.New(BotToken, slack.OptionAPIURL(f.APIURL()))
	ch, ts, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("hello", false))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, ch, ts, slack.MsgOptionText("edited", false)); err != nil {
		t.Fatal(err)
	}
	if m, _ := f.Message(ch, ts); m.Text != "edited" || m.Updates != 1 {
		t.Errorf("message = %+v", m)
	}
	if _, err := api.GetUserGroupMembersContext(ctx, "SNONE"); err == nil {
		t.Error("unknown group accepted")
	}
	f.Fail("chat.postMessage", Failure{Status: 429, RetryAfter: "7"})
	_, _, err = api.PostMessageContext(ctx, "C1", slack.MsgOptionText("x", false))
	if rl, ok := err.(*slack.RateLimitedError); !ok || rl.RetryAfter != 7*time.Second {
		t.Errorf("429 = %#v, want RateLimitedError{7s}", err)
	}
	bad := slack.New("xoxb-nope", slack.OptionAPIURL(f.APIURL()))
	if _, err := bad.AuthTestContext(ctx); err == nil || err.Error() != "invalid_auth" {
		t.Errorf("bad token: %v", err)
	}
	if calls := f.Calls("chat.postMessage"); len(calls) != 2 || calls[0].Form.Get("token") != "" {
		t.Errorf("calls = %+v (tokens must not be recorded)", calls)
	}
}

func TestWebAPIAcceptsABearerToken(t *testing.T) {
	f := New(Options{})
	defer f.Close()
	for tok, want := range map[string]string{BotToken: `"ok":true`, "xoxb-nope": "invalid_auth", "": "not_authed"} {
		req, _ := http.NewRequest(http.MethodPost, f.APIURL()+"auth.test", strings.NewReader(""))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), want) {
			t.Errorf("token %q: %s, want %s", tok, body, want)
		}
	}
}

// With Connections > 1 every socket stays open and envelopes go to each
// in turn, as Slack spreads them over an app's connections.
func TestSeveralSocketsShareTheEnvelopes(t *testing.T) {
	f := New(Options{Connections: 3})
	defer f.Close()
	var got [3]atomic.Int32
	for i := range 3 {
		api := slack.New(BotToken, slack.OptionAPIURL(f.APIURL()), slack.OptionAppLevelToken(AppToken))
		sm := socketmode.New(api)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		connected := f.Connected()
		go func() { _ = sm.RunContext(ctx) }()
		go func() {
			for evt := range sm.Events {
				if evt.Type == socketmode.EventTypeSlashCommand {
					got[i].Add(1)
					_ = sm.Ack(*evt.Request)
				}
			}
		}()
		select {
		case <-connected:
		case <-time.After(10 * time.Second):
			t.Fatal("no connection")
		}
	}
	if n := f.OpenSockets(); n != 3 {
		t.Fatalf("%d sockets open, want 3", n)
	}
	for range 6 {
		if _, err := f.SlashCommand("U1", "C1", "help"); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(f.Acks()) < 6 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for i := range 3 {
		if n := got[i].Load(); n != 2 {
			t.Errorf("socket %d got %d of 6 envelopes, want 2", i, n)
		}
	}
}
