package slackfake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

func uploadCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// slack-go's three-call upload (UploadFileContext: the V2 upload, renamed in
// v0.35) into a thread: the fake keeps the file with its bytes, title,
// channel and thread.
func TestAFileUploadedIntoAThread(t *testing.T) {
	f := New(Options{})
	defer f.Close()
	api := slack.New(BotToken, slack.OptionAPIURL(f.APIURL()))
	ctx := uploadCtx(t)
	ch, ts, err := api.PostMessageContext(ctx, "#incident", slack.MsgOptionText("card", false))
	if err != nil {
		t.Fatal(err)
	}
	report := "Run r1 of lab-failover\nRTO 14.2s, RPO 0.3s\n"
	sum, err := api.UploadFileContext(ctx, slack.UploadFileParameters{
		Filename: "failover-r1.txt", FileSize: len(report), Content: report, Title: "Failover report",
		Channel: ch, ThreadTimestamp: ts, InitialComment: "The report of run r1",
	})
	if err != nil {
		t.Fatal(err)
	}
	files := f.Files()
	if len(files) != 1 || sum.ID != files[0].ID || sum.Title != "Failover report" {
		t.Fatalf("summary %+v, files %+v", sum, files)
	}
	got := files[0]
	if string(got.Content) != report || got.Filename != "failover-r1.txt" || got.Title != "Failover report" ||
		got.Channel != ch || got.ThreadTS != ts || got.InitialComment != "The report of run r1" || !got.Uploaded || !got.Completed {
		t.Errorf("file = %+v", got)
	}
	var methods []string
	for _, c := range f.Calls() {
		methods = append(methods, c.Method)
	}
	want := []string{"chat.postMessage", "files.getUploadURLExternal", "upload", "files.completeUploadExternal"}
	if !reflect.DeepEqual(methods, want) {
		t.Errorf("calls %v, want %v", methods, want)
	}
}

// Binary content from a Reader (a PNG chart), no thread, title defaulting to
// the file name.
func TestABinaryFileFromAReader(t *testing.T) {
	f := New(Options{})
	defer f.Close()
	api := slack.New(BotToken, slack.OptionAPIURL(f.APIURL()))
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0, 1, 2, 255}, 5000)...)
	sum, err := api.UploadFileContext(uploadCtx(t), slack.UploadFileParameters{
		Filename: "timeline.png", FileSize: len(png), Reader: bytes.NewReader(png), Channel: "C1",
	})
	if err != nil {
		t.Fatal(err)
	}
	got, ok := f.File(sum.ID)
	if !ok || !bytes.Equal(got.Content, png) || got.Title != "timeline.png" || got.Channel != "C1" || got.ThreadTS != "" {
		t.Errorf("file = %+v (%d bytes)", got.Filename, len(got.Content))
	}
}

// Errors as Slack gives them, as slack-go reports them.
func TestFileUploadErrors(t *testing.T) {
	f := New(Options{})
	defer f.Close()
	api := slack.New(BotToken, slack.OptionAPIURL(f.APIURL()))
	ctx := uploadCtx(t)
	ch, ts, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("card", false))
	if err != nil {
		t.Fatal(err)
	}
	f.KeepBotOut("C2")
	up := func(p slack.UploadFileParameters) error {
		if p.Filename == "" {
			p.Filename = "r.txt"
		}
		if p.Content == "" {
			p.Content = "hello"
		}
		if p.FileSize == 0 {
			p.FileSize = len(p.Content)
		}
		_, err := api.UploadFileContext(ctx, p)
		return err
	}
	slackErr := func(code string) func(error) bool {
		return func(err error) bool {
			var e slack.SlackErrorResponse
			return errors.As(err, &e) && e.Err == code
		}
	}
	status := func(code int) func(error) bool {
		return func(err error) bool {
			var e slack.StatusCodeError
			return errors.As(err, &e) && e.Code == code
		}
	}
	for _, tc := range []struct {
		name  string
		setup func()
		p     slack.UploadFileParameters
		is    func(error) bool
	}{
		{"a length that does not match the bytes", nil, slack.UploadFileParameters{FileSize: 10, Channel: ch}, status(400)},
		{"a channel the bot is not in", nil, slack.UploadFileParameters{Channel: "C2"}, slackErr("not_in_channel")},
		{"a thread that does not exist", nil, slack.UploadFileParameters{Channel: ch, ThreadTimestamp: "1.000001"}, slackErr("thread_not_found")},
		{"a rate-limited reservation", func() { f.Fail("files.getUploadURLExternal", Failure{Status: 429, RetryAfter: "3"}) },
			slack.UploadFileParameters{Channel: ch}, func(err error) bool {
				var rl *slack.RateLimitedError
				return errors.As(err, &rl) && rl.RetryAfter == 3*time.Second
			}},
		{"an upload host error", func() { f.Fail("upload", Failure{Status: 503}) }, slack.UploadFileParameters{Channel: ch}, status(503)},
		{"a failing completion", func() { f.Fail("files.completeUploadExternal", Failure{Error: "internal_error"}) },
			slack.UploadFileParameters{Channel: ch, ThreadTimestamp: ts}, slackErr("internal_error")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			if err := up(tc.p); !tc.is(err) {
				t.Errorf("error %v (%T)", err, err)
			}
		})
	}
	for _, file := range f.Files() {
		if file.Completed {
			t.Errorf("a failed upload was shared: %+v", file)
		}
	}

	_, err = api.CompleteUploadExternalContext(ctx, slack.CompleteUploadExternalParameters{
		Files: []slack.FileSummary{{ID: "FNOPE"}}, Channel: ch})
	if !slackErr("file_not_found")(err) {
		t.Errorf("completing an unknown file: %v", err)
	}
	bad := slack.New("xoxb-nope", slack.OptionAPIURL(f.APIURL()))
	if _, err := bad.UploadFileContext(ctx, slack.UploadFileParameters{Filename: "a", FileSize: 1, Content: "a", Channel: ch}); !slackErr("invalid_auth")(err) {
		t.Errorf("a bad token: %v", err)
	}
}

// What slack-go checks before sending, the fake checks too.
func TestGetUploadURLChecksItsArguments(t *testing.T) {
	f := New(Options{})
	defer f.Close()
	for form, want := range map[string]string{
		"filename=a&length=abc": "invalid_arguments",
		"length=3":              "invalid_arguments",
		"filename=a&length=0":   "invalid_length",
		"filename=a&length=3":   `"ok":true`,
	} {
		v, _ := url.ParseQuery(form)
		v.Set("token", BotToken)
		resp, err := http.Post(f.APIURL()+"files.getUploadURLExternal", "application/x-www-form-urlencoded", strings.NewReader(v.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), want) {
			t.Errorf("%s: %s, want %s", form, body, want)
		}
	}
	// An upload URL takes its bytes once.
	v := url.Values{"token": {BotToken}, "filename": {"a"}, "length": {"2"}}
	resp, _ := http.PostForm(f.APIURL()+"files.getUploadURLExternal", v)
	var r struct {
		UploadURL string `json:"upload_url"`
	}
	_ = jsonDecode(resp.Body, &r)
	resp.Body.Close()
	for i, want := range []int{200, 400} {
		resp, err := http.Post(r.UploadURL, "application/octet-stream", strings.NewReader("ab"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("upload %d: %d, want %d", i, resp.StatusCode, want)
		}
	}
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
