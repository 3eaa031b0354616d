package slack

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/chat/slack/slackfake"
)

// A notice's text and lines are escaped; only the bot's own mentions (of
// valid user group IDs) and its link are live.
func TestANoticeEscapesItsTextAndMentionsOnlyTheGroups(t *testing.T) {
	v := &chat.NoticeView{Text: "Run started by <!channel> & <@U123>: <https://evil|click>",
		Groups: []string{"S0STAKE", "<!here>", "s-bad"}, Link: "https://fake.slack.com/archives/C1/p1", LinkText: "progress card",
		Lines: []string{"elapsed 1m of 2m <!everyone>"}}
	text, blocks := Render(chat.Message{View: v})
	want := "<!subteam^S0STAKE> Run started by &lt;!channel&gt; &amp; &lt;@U123&gt;: &lt;https://evil|click&gt;"
	if text != want {
		t.Errorf("text = %q\nwant  %q", text, want)
	}
	all := strings.Join(blocksText(t, blocks), "\n")
	for _, w := range []string{want, "<https://fake.slack.com/archives/C1/p1|progress card>", "elapsed 1m of 2m &lt;!everyone&gt;"} {
		if !strings.Contains(all, w) {
			t.Errorf("blocks lack %q:\n%s", w, all)
		}
	}
	for _, bad := range []string{"<!here>", "<!channel>", "<!everyone>", "<@U123>", "s-bad"} {
		if strings.Contains(all, bad) || strings.Contains(text, bad) {
			t.Errorf("%q is live in the notice:\n%s", bad, all)
		}
	}
	// A link that could break out of <url|label> is shown as text only.
	_, blocks = Render(chat.Message{View: &chat.NoticeView{Text: "x", Link: "https://a|b>c", LinkText: "card C1/1.2"}})
	if all := strings.Join(blocksText(t, blocks), "\n"); strings.Contains(all, "https://a") || !strings.Contains(all, "card C1/1.2") {
		t.Errorf("unsafe link rendered:\n%s", all)
	}
}

func TestPermalinkComesFromChatGetPermalink(t *testing.T) {
	hs := newHarness(t, slackfake.Options{}, nil)
	ref, err := hs.bot.Poster().Post(ctxT(t), "C1", chat.Message{Text: "card"})
	if err != nil {
		t.Fatal(err)
	}
	link, err := hs.bot.Poster().Permalink(ctxT(t), ref)
	if err != nil {
		t.Fatal(err)
	}
	if want := slackfake.PermalinkOf(ref.Channel, ref.TS); link != want {
		t.Errorf("permalink = %q, want %q", link, want)
	}
	if _, err := hs.bot.Poster().Permalink(ctxT(t), chat.MessageRef{Channel: "C1", TS: "1.000009"}); err == nil ||
		!strings.Contains(err.Error(), "message_not_found") {
		t.Errorf("permalink of no message: %v, want message_not_found", err)
	}
}

// blocksText is the text of rendered blocks, as the fake reads them.
func blocksText(t *testing.T, blocks []slack.Block) []string {
	t.Helper()
	js, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	return slackfake.BlocksText(string(js))
}
