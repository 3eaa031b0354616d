package stakeholders_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/chat/slack"
	"github.com/failoverbot/failoverbot/internal/chat/slack/slackfake"
	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/notify/notifytest"
	"github.com/failoverbot/failoverbot/internal/notify/stakeholders"
	"github.com/failoverbot/failoverbot/internal/store"
)

var names = map[string]string{"database": "Promote PostgreSQL", "cache": "Move Redis", "validate": "Validate"}

func newNotifier(t *testing.T, cfg *stakeholders.Config, p chat.Poster) *stakeholders.Notifier {
	t.Helper()
	n, err := stakeholders.New(cfg, p, notify.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// The lab failover's stakeholder messages, in order, in each channel: the
// runbook's text or the default, the groups mentioned where configured,
// the run's link, elapsed against expected, and the next update.
func TestStakeholdersHearOfEachMilestone(t *testing.T) {
	p := &notifytest.Poster{}
	s := newNotifier(t, &stakeholders.Config{Channels: []string{"#status", "C0EXEC"}, UserGroups: []string{"S0STAKE"},
		MentionOn: []string{"approval_requested", "started", "succeeded"}, UpdateEvery: "10m",
		Messages: map[string]string{"database": "Customer data now lives in the DR region."}}, p)
	h := notifytest.New(t, notifytest.Options{Names: names,
		Targets: func(*store.Run) []notify.Target { return []notify.Target{s.Target()} }})
	h.Run("r1", nil)
	start := h.Start
	h.Failover("r1")
	h.Flush("r1")
	next := func(sec int) string {
		return "next update by " + start.Add(time.Duration(sec)*time.Second+10*time.Minute).UTC().Format("15:04 MST")
	}
	link := "https://chat.example/C0INC/1700000000.000001 | run r1"
	want := []string{
		"@S0STAKE | A failover of lab-failover was requested (primary down) and waits for approval. | " + link + " | elapsed 1s of ~2m expected | " + next(1),
		"@S0STAKE | The failover of lab-failover has started. | " + link + " | elapsed 3s of ~2m expected | " + next(3),
		" | Customer data now lives in the DR region. | " + link + " | elapsed 7s of ~2m expected | " + next(7),
		" | Failover of lab-failover: Move Redis is done. | " + link + " | elapsed 11s of ~2m expected | " + next(11),
		" | Failover of lab-failover: Validate is done. | " + link + " | elapsed 15s of ~2m expected | " + next(15),
		"@S0STAKE | The failover of lab-failover is complete. | " + link + " | elapsed 16s of ~2m expected",
	}
	for _, ch := range []string{"#status", "C0EXEC"} {
		var got []string
		for _, m := range p.Posts() {
			if m.Channel == ch {
				got = append(got, m.Text)
			}
		}
		equal(t, "messages in "+ch, got, want)
	}
}

// Through the Slack adapter and the fake: the message is escaped (a reason
// holding <!channel> mentions nobody), the group is mentioned by the bot,
// the link is the card's permalink.
func TestAStakeholderMessageOnSlackIsEscapedAndMentionsOnlyTheGroup(t *testing.T) {
	f := slackfake.New(slackfake.Options{})
	t.Cleanup(f.Close)
	bot, err := slack.New(slack.Config{AppToken: slackfake.AppToken, BotToken: slackfake.BotToken, APIURL: f.APIURL()}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	card, err := bot.Poster().Post(context.Background(), "#incident", chat.Message{Text: "card"})
	if err != nil {
		t.Fatal(err)
	}
	s := newNotifier(t, &stakeholders.Config{Channels: []string{"#status"}, UserGroups: []string{"S0STAKE"}}, bot.Poster())
	h := notifytest.New(t, notifytest.Options{Targets: func(*store.Run) []notify.Target { return []notify.Target{s.Target()} },
		Tweak: func(o *notify.Options) { o.Poster = bot.Poster() }})
	r := h.Run("r1", nil)
	r.Reason, r.Card = "primary down <!channel> & <https://evil.example|click>", store.MessageRef(card)
	h.Runs.Add(r)
	h.Emit("r1", events.ApprovalRequested, "", "", "")
	h.Flush("r1")
	msgs := f.Messages(f.ChannelID("#status"))
	if len(msgs) != 1 {
		t.Fatalf("%d messages in #status", len(msgs))
	}
	all := msgs[0].Text + "\n" + strings.Join(slackfake.BlocksText(msgs[0].Blocks), "\n")
	for _, w := range []string{"<!subteam^S0STAKE> A failover of lab-failover was requested (primary down &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;)",
		"<" + slackfake.PermalinkOf(card.Channel, card.TS) + "|run r1>", "next update by"} {
		if !strings.Contains(all, w) {
			t.Errorf("the message lacks %q:\n%s", w, all)
		}
	}
	if strings.Contains(all, "<!channel>") || strings.Contains(all, "<https://evil") {
		t.Errorf("user input is live in the message:\n%s", all)
	}
	notifytest.AssertNoSecret(t, slackfake.BotToken, map[string]string{"message": all, "logs": h.Logs.String()})
}

// Every chat failure is worth retrying (the pipeline gives up after the
// run's grace period); a retry after one channel failed does not post
// again in the channels that had the message.
func TestAFailedChannelIsRetriedWithoutRepostingInTheOthers(t *testing.T) {
	down := errors.New("slack: chat.postMessage in #exec: after 3 attempts: slack server error: 503 Service Unavailable")
	p := &failing{fail: map[string]int{"#exec": 2}, err: down}
	s := newNotifier(t, &stakeholders.Config{Channels: []string{"#status", "#exec"}}, p)
	h := notifytest.New(t, notifytest.Options{Targets: func(*store.Run) []notify.Target { return []notify.Target{s.Target()} }})
	h.Run("r1", nil)
	h.Emit("r1", events.RunStarted, "", "", "")
	deadline := time.Now().Add(10 * time.Second)
	for len(h.Deliveries("r1", stakeholders.Name)) == 0 || h.Deliveries("r1", stakeholders.Name)[0].Status != store.DeliveryDelivered {
		if time.Now().After(deadline) {
			t.Fatalf("not delivered: %+v\n%s", h.Deliveries("r1", stakeholders.Name), h.Logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	equal(t, "posts", p.posts, []string{"#status", "#exec"})
	if d := h.Deliveries("r1", stakeholders.Name)[0]; d.Attempts != 3 {
		t.Errorf("delivered after %d attempts, want 3", d.Attempts)
	}
	// The decision for each failure is "retry".
	for i := range 3 {
		p := &failing{fail: map[string]int{"#status": 1}, err: fmt.Errorf("failure %d", i)}
		s := newNotifier(t, &stakeholders.Config{Channels: []string{"#status"}}, p)
		retry, err := s.Notify(context.Background(), &notify.Notification{Key: "1", Milestone: notify.Started, Event: events.Event{Type: events.RunStarted}})
		if err == nil || !retry {
			t.Errorf("failure %d: retry %v, err %v", i, retry, err)
		}
	}
}

// failing fails the first posts in some channels.
type failing struct {
	notifytest.Poster
	fail  map[string]int
	err   error
	posts []string
}

func (f *failing) Post(_ context.Context, ch string, _ chat.Message) (chat.MessageRef, error) {
	if f.fail[ch] > 0 {
		f.fail[ch]--
		return chat.MessageRef{}, f.err
	}
	f.posts = append(f.posts, ch)
	return chat.MessageRef{Channel: ch, TS: fmt.Sprint(len(f.posts))}, nil
}

func TestConfigChecksEveryField(t *testing.T) {
	c := &stakeholders.Config{Channels: []string{"status updates"}, UserGroups: []string{"@stakeholders"},
		On: []string{"lunch"}, UpdateEvery: "10s", Messages: map[string]string{"started": "{{ .Nope }}"}}
	err := c.CheckAndSetDefaults()
	for _, w := range []string{`channels[0]: "status updates" is not a channel`, `userGroups[0]: "@stakeholders" is not a Slack user group ID`,
		`on[0]: unknown milestone "lunch"`, "updateEvery: must be ≥ 1m0s", "messages.started: template"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("errors %v lack %q", err, w)
		}
	}
	if err := (&stakeholders.Config{}).CheckAndSetDefaults(); err == nil || !strings.Contains(err.Error(), "channels: at least one") {
		t.Errorf("no channels: %v", err)
	}
}
