package slack

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/chat/slack/slackfake"
)

func methods(f *slackfake.Server, names ...string) []string {
	var out []string
	for _, c := range f.Calls(names...) {
		out = append(out, c.Method)
	}
	return out
}

// A file shared in a thread through Slack's upload flow (slack-go's three
// calls): the fake keeps it with its name, title, bytes, channel and
// thread, and the comment escaped like any text the bot sends.
func TestUploadSharesTheFileInTheThread(t *testing.T) {
	hs := newHarness(t, slackfake.Options{}, nil)
	ctx := ctxT(t)
	p := hs.bot.Poster()
	card, err := p.Post(ctx, "C0OPS", chat.Message{Text: "card"})
	if err != nil {
		t.Fatal(err)
	}
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7, 0, 255}, 3000)...)
	err = p.Upload(ctx, card, chat.File{Name: "r1-timeline.png", Title: "Timeline of run r1", Data: png,
		Comment: "<!channel> run r1 & its <https://evil|chart>"})
	if err != nil {
		t.Fatal(err)
	}
	files := hs.fake.Files()
	if len(files) != 1 {
		t.Fatalf("%d files, want 1", len(files))
	}
	f := files[0]
	if f.Filename != "r1-timeline.png" || f.Title != "Timeline of run r1" || !bytes.Equal(f.Content, png) ||
		f.Channel != card.Channel || f.ThreadTS != card.TS || !f.Completed {
		t.Errorf("file %s %q in %s/%s, %d bytes, completed %v", f.Filename, f.Title, f.Channel, f.ThreadTS, len(f.Content), f.Completed)
	}
	if want := "&lt;!channel&gt; run r1 &amp; its &lt;https://evil|chart&gt;"; f.InitialComment != want {
		t.Errorf("comment %q, want %q (no live mention or link)", f.InitialComment, want)
	}
	got := methods(hs.fake, "files.getUploadURLExternal", "upload", "files.completeUploadExternal")
	if want := []string{"files.getUploadURLExternal", "upload", "files.completeUploadExternal"}; !reflect.DeepEqual(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
	// No thread: the file goes in the channel itself.
	if err := p.Upload(ctx, chat.MessageRef{Channel: "C0OPS"}, chat.File{Name: "r1-report.md", Data: []byte("# r1\n")}); err != nil {
		t.Fatal(err)
	}
	if f := hs.fake.Files()[1]; f.ThreadTS != "" || f.Channel != "C0OPS" || f.Title != "r1-report.md" || !f.Completed {
		t.Errorf("file %+v", f.Filename)
	}
}

// The upload flow is retried as every call is: a server error of the
// upload host, a rate limit (after Retry-After). Each retry reserves a new
// file; only the last is shared, once.
func TestUploadRetriesServerErrorsAndRateLimits(t *testing.T) {
	hs := newHarness(t, slackfake.Options{}, nil)
	ctx := ctxT(t)
	p := hs.bot.Poster()
	card, err := p.Post(ctx, "C0OPS", chat.Message{Text: "card"})
	if err != nil {
		t.Fatal(err)
	}
	hs.fake.Fail("upload", slackfake.Failure{Status: 503})
	hs.fake.Fail("files.getUploadURLExternal", slackfake.Failure{Status: 429, RetryAfter: "1"})
	start := time.Now()
	if err := p.Upload(ctx, card, chat.File{Name: "r1-report.md", Data: []byte("report")}); err != nil {
		t.Fatal(err)
	}
	var shared []slackfake.File
	for _, f := range hs.fake.Files() {
		if f.Completed {
			shared = append(shared, f)
		}
	}
	if len(shared) != 1 || string(shared[0].Content) != "report" || shared[0].ThreadTS != card.TS {
		t.Fatalf("shared %+v", shared)
	}
	if n := len(hs.fake.Calls("files.getUploadURLExternal")); n != 3 {
		t.Errorf("%d reservations, want 3 (rate limited, upload failed, then good)", n)
	}
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Errorf("took %s: Retry-After (1s) was not honoured", took)
	}
}

// An error that will not go away is not retried, and says what failed.
func TestUploadIntoAChannelTheBotIsNotIn(t *testing.T) {
	hs := newHarness(t, slackfake.Options{}, nil)
	hs.fake.KeepBotOut("C0SECRET")
	err := hs.bot.Poster().Upload(ctxT(t), chat.MessageRef{Channel: "C0SECRET"}, chat.File{Name: "r1-report.md", Data: []byte("x")})
	if err == nil || !strings.Contains(err.Error(), "not_in_channel") || !strings.Contains(err.Error(), "r1-report.md") ||
		!strings.Contains(err.Error(), "C0SECRET") {
		t.Fatalf("Upload = %v, want not_in_channel naming the file and channel", err)
	}
	if n := len(hs.fake.Calls("files.completeUploadExternal")); n != 1 {
		t.Errorf("%d completions, want 1 (not retried)", n)
	}
	for _, bad := range []chat.File{{Name: "", Data: []byte("x")}, {Name: "a.md"}} {
		if err := hs.bot.Poster().Upload(ctxT(t), chat.MessageRef{Channel: "C0OPS"}, bad); err == nil {
			t.Errorf("Upload(%+v) succeeded", bad)
		}
	}
}
