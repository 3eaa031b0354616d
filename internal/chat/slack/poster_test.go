package slack

import (
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/chat/slack/slackfake"
)

func TestRateLimitedPostWaitsForRetryAfter(t *testing.T) {
	hs := newHarness(t, slackfake.Options{}, nil)
	hs.fake.Fail("chat.postMessage", slackfake.Failure{Status: 429, RetryAfter: "1"})
	ref, err := hs.bot.Poster().Post(ctxT(t), "C1", chat.Message{Text: "plan"})
	if err != nil {
		t.Fatalf("Post: %v", err)
	}
	calls := hs.fake.Calls("chat.postMessage")
	if len(calls) != 2 {
		t.Fatalf("%d chat.postMessage calls, want 2 (429, then the retry)", len(calls))
	}
	if gap := calls[1].At.Sub(calls[0].At); gap < 900*time.Millisecond {
		t.Errorf("retried after %s, want Retry-After (1s) honoured", gap)
	}
	if m, ok := hs.fake.Message("C1", ref.TS); !ok || m.Text != "plan" {
		t.Errorf("message = %+v", m)
	}
}

func TestRateLimitWithoutRetryAfterBacksOff(t *testing.T) {
	hs := newHarness(t, slackfake.Options{}, nil)
	hs.fake.Fail("chat.postEphemeral", slackfake.Failure{Status: 429})
	if err := hs.bot.Poster().Ephemeral(ctxT(t), "C1", "UALICE", chat.Message{Text: "usage"}); err != nil {
		t.Fatal(err)
	}
	calls := hs.fake.Calls("chat.postEphemeral")
	if len(calls) != 2 || calls[1].At.Sub(calls[0].At) < 900*time.Millisecond {
		t.Fatalf("calls = %d, want a retry after about 1s", len(calls))
	}
}

func TestPermanentErrorsAreNotRetried(t *testing.T) {
	hs := newHarness(t, slackfake.Options{}, nil)
	hs.fake.Fail("chat.postMessage", slackfake.Failure{Error: "channel_not_found"})
	_, err := hs.bot.Poster().Post(ctxT(t), "CNOPE", chat.Message{Text: "x"})
	if err == nil || !strings.Contains(err.Error(), "channel_not_found") || !strings.Contains(err.Error(), "CNOPE") {
		t.Fatalf("Post = %v, want channel_not_found naming the channel", err)
	}
	if n := len(hs.fake.Calls("chat.postMessage")); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
}

func TestUpdatesAreCoalescedAndTheLatestLands(t *testing.T) {
	hs := newHarness(t, slackfake.Options{}, nil)
	ctx := ctxT(t)
	p := hs.bot.Poster()
	ref, err := p.Post(ctx, "C1", chat.Message{Text: "v0"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := p.Post(ctx, "C2", chat.Message{Text: "w0"})
	if err != nil {
		t.Fatal(err)
	}
	// Midway, one chat.update is rate limited: it is retried, not lost.
	start := time.Now()
	for i := 1; i <= 30; i++ {
		if err := p.Update(ctx, ref, chat.Message{Text: "v" + itoa(i)}); err != nil {
			t.Fatal(err)
		}
		if i == 15 {
			hs.fake.Fail("chat.update", slackfake.Failure{Status: 429, RetryAfter: "1"})
		}
		if err := p.Update(ctx, other, chat.Message{Text: "w" + itoa(i)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // 1.5s of updates
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if m, _ := hs.fake.Message("C1", ref.TS); m.Text != "v30" {
		t.Errorf("C1 card = %q, want the latest (v30)", m.Text)
	}
	if m, _ := hs.fake.Message("C2", other.TS); m.Text != "w30" {
		t.Errorf("C2 card = %q, want the latest (w30)", m.Text)
	}
	perChannel := map[string][]time.Time{}
	for _, c := range hs.fake.Calls("chat.update") {
		perChannel[c.Form.Get("channel")] = append(perChannel[c.Form.Get("channel")], c.At)
	}
	for ch, ats := range perChannel {
		// 60 updates over ~1.5s (+ a 1s Retry-After) collapse to a handful.
		if max := int(elapsed/time.Second) + 3; len(ats) > max {
			t.Errorf("%s: %d chat.update calls in %s, want at most %d", ch, len(ats), elapsed, max)
		}
		for i := 1; i < len(ats); i++ {
			if gap := ats[i].Sub(ats[i-1]); gap < 900*time.Millisecond {
				t.Errorf("%s: two chat.update calls %s apart, want about 1s", ch, gap)
			}
		}
	}
}

func TestUpdateOfAMissingMessageFailsClearly(t *testing.T) {
	hs := newHarness(t, slackfake.Options{}, nil)
	if err := hs.bot.Poster().Update(ctxT(t), chat.MessageRef{Channel: "C1"}, chat.Message{Text: "x"}); err == nil {
		t.Error("Update with no ts accepted")
	}
}

func TestDirectoryCachesUsersAndListsGroups(t *testing.T) {
	hs := newHarness(t, slackfake.Options{}, nil)
	hs.fake.AddUser(slackfake.User{ID: "UDEPLOY", Name: "deploybot", IsBot: true})
	hs.fake.SetGroup("SONCALL", "oncall", "UALICE", "UBOB")
	ctx := ctxT(t)
	d := hs.bot.Directory()
	for range 3 {
		u, err := d.User(ctx, "UDEPLOY")
		if err != nil || !u.IsBot || u.Name != "deploybot" {
			t.Fatalf("User = %+v, %v", u, err)
		}
	}
	if n := len(hs.fake.Calls("users.info")); n != 1 {
		t.Errorf("users.info called %d times, want 1 (cached)", n)
	}
	for _, g := range []string{"SONCALL", "oncall", "@oncall"} {
		m, err := d.Members(ctx, g)
		if err != nil || strings.Join(m, ",") != "UALICE,UBOB" {
			t.Errorf("Members(%s) = %v, %v", g, m, err)
		}
	}
	if _, err := d.Members(ctx, "sre"); err == nil || !strings.Contains(err.Error(), "no user group") {
		t.Errorf("Members of an unknown handle = %v", err)
	}
	if _, err := d.Members(ctx, "SNOPE"); err == nil || !strings.Contains(err.Error(), "no_such_subteam") {
		t.Errorf("Members of a missing group = %v", err)
	}
	if _, err := d.User(ctx, "UNOPE"); err == nil || !strings.Contains(err.Error(), "user_not_found") {
		t.Errorf("User of a missing user = %v", err)
	}
}
