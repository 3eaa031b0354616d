package slack_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat/slack/slackfake"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/store"
)

// injections are user input that Slack would turn into pings and links.
var injections = []string{"<!channel>", "<!here>", "<@UDAVE>", "<https://evil.example|Approve>"}

// echoStep says its `say` value in its summary and, on the first Apply,
// fails saying it: user input (a parameter) in a summary and an error.
type echoStep struct {
	mu    *sync.Mutex
	state map[string]int // say -> applies
	say   string
}

func (e echoStep) Check(context.Context) (steps.Result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state[e.say] >= 2 {
		return steps.Result{Done: true, Summary: "said " + e.say}, nil
	}
	return steps.Result{Summary: "will say " + e.say}, nil
}

func (e echoStep) Apply(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.state[e.say]++
	if e.state[e.say] == 1 {
		return steps.Permanentf("cannot say %s yet", e.say)
	}
	return nil
}

type echoConfig struct {
	Say string `yaml:"say"`
}

func (*echoConfig) CheckAndSetDefaults() error { return nil }

const echoRunbook = `name: echo
description: Say the ticket
channel: "#incident-echo"
approval: {required: 2, groups: [oncall]}
params:
  - {name: ticket, default: none}
assess:
  - {id: ready, name: Ready, kind: test.say, with: {say: ok}}
phases:
  - id: p
    name: Phase
    steps:
      - {id: echo, name: Echo the ticket, kind: test.echo, with: {say: "{{ .params.ticket }}"}}
`

// sent is one message as Slack received it: the method, its text and the
// mrkdwn texts of its blocks.
type sent struct {
	method string
	text   string
	mrkdwn []string
}

func (m sent) all() string { return m.text + "\n" + strings.Join(m.mrkdwn, "\n") }

// received is every message the bot sent Slack (posts, replies, edits,
// ephemerals, response_url answers), each as Slack got it.
func received(f *slackfake.Server) []sent {
	var out []sent
	for _, c := range f.Calls("chat.postMessage", "chat.update", "chat.postEphemeral") {
		m := sent{method: c.Method, text: c.Form.Get("text"), mrkdwn: mrkdwnTexts(c.Form.Get("blocks"))}
		if c.Form.Get("thread_ts") != "" {
			m.method += " (thread)"
		}
		out = append(out, m)
	}
	for _, r := range f.ResponseURLMessages() {
		out = append(out, sent{method: "response_url", text: r.Text, mrkdwn: mrkdwnTexts(r.Blocks)})
	}
	return out
}

// mrkdwnTexts are the texts of the mrkdwn text objects of Block Kit JSON
// (plain_text is never parsed for mentions or links).
func mrkdwnTexts(blocks string) []string {
	var v any
	if json.Unmarshal([]byte(blocks), &v) != nil {
		return nil
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if t, ok := x["text"].(string); ok && x["type"] == "mrkdwn" {
				out = append(out, t)
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(v)
	return out
}

// TestUserInputNeverBecomesAMentionOrALink drives every kind of message
// through the fake Slack with user input that Slack would parse as
// @channel, @here, a user mention and a disguised link (parameters, the
// reason, run and runbook names, a step's summary and error that repeat a
// parameter), and asserts on the text Slack receives: every such string
// arrives escaped, in the fallback text and in every mrkdwn block.
func TestUserInputNeverBecomesAMentionOrALink(t *testing.T) {
	var mu sync.Mutex
	state := map[string]int{}
	reg := steps.NewRegistry()
	newEcho := func(_ context.Context, c *echoConfig, _ steps.Env) (steps.Step, error) {
		return echoStep{mu: &mu, state: state, say: c.Say}, nil
	}
	if err := reg.Register(steps.StepKind(steps.Spec{Name: "test.echo"}, newEcho),
		steps.ProbeKind(steps.Spec{Name: "test.say"}, func(ctx context.Context, c *echoConfig, env steps.Env) (steps.Probe, error) {
			return newEcho(ctx, c, env)
		})); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "echo.yaml"), []byte(echoRunbook), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newStack(t, stackOptions{registry: reg, dir: dir})
	const ch = "C0OPS"
	for _, c := range []string{"help", "list", "history", "assess <!channel>", "status <@UDAVE>", "report <!here>",
		"plan echo ticket=<!here>", "assess echo"} {
		s.command("UALICE", ch, c)
	}
	s.command("UALICE", ch, "start echo ticket=<!here> <!channel> now, see <https://evil.example|Approve> <@UDAVE>")
	var run *store.Run
	s.eventually(30*time.Second, func() string { return "no plan: " + s.ephemeralText("UALICE") }, func() bool {
		run = s.latestRun()
		return run != nil && run.ApprovalMsg.TS != ""
	})
	s.react("UBOB", run.ApprovalMsg, "white_check_mark")
	s.react("UCAROL", run.ApprovalMsg, "white_check_mark")
	s.eventually(30*time.Second, func() string { r, _ := s.st.GetRun(s.ctx, run.ID); return "run is " + string(r.State) }, func() bool {
		r, _ := s.st.GetRun(s.ctx, run.ID)
		return r.State == store.RunPaused
	})
	s.command("UALICE", ch, "retry "+run.ID+" echo")
	s.eventually(30*time.Second, func() string { r, _ := s.st.GetRun(s.ctx, run.ID); return "run is " + string(r.State) }, func() bool {
		r, _ := s.st.GetRun(s.ctx, run.ID)
		return r.State == store.RunSucceeded
	})
	if err := s.bot.Poster().Flush(s.ctx); err != nil {
		t.Fatal(err)
	}
	// The last three answers arrive in any order (a worker pool serves
	// them): wait for all three.
	before := len(s.fake.Messages(ch))
	for _, c := range []string{"status " + run.ID, "report " + run.ID, "history"} {
		s.command("UALICE", ch, c)
	}
	s.eventually(30*time.Second, func() string { return "the status, report and history did not all arrive" }, func() bool {
		return len(s.fake.Messages(ch)) >= before+3
	})
	msgs := received(s.fake)
	for _, m := range msgs {
		for _, inj := range injections {
			if strings.Contains(m.all(), inj) {
				t.Errorf("%s sends %s raw:\n%s", m.method, inj, m.all())
				break
			}
		}
	}
	// Each kind of message shows the input, escaped.
	for what, want := range map[string]struct{ method, marker, escaped string }{
		"the plan (parameter and reason)": {"chat.postMessage", "Waiting for approval", "&lt;https://evil.example|Approve&gt; &lt;@UDAVE&gt;"},
		"the plan's parameters":           {"chat.postMessage", "Waiting for approval", "`ticket=&lt;!here&gt;`"},
		"a dry run's plan":                {"chat.postMessage", "Plan of echo (dry run)", "will say &lt;!here&gt;"},
		"an ephemeral refusal":            {"chat.postEphemeral", "is not a runbook name", "&lt;!channel&gt;"},
		"an unknown run":                  {"chat.postEphemeral", "is not a run ID", "&lt;@UDAVE&gt;"},
		"the run's pause in the thread":   {"chat.postMessage (thread)", "run paused", "cannot say &lt;!here&gt; yet"},
		"the step-failed message":         {"chat.postMessage (thread)", "Retry the step", "cannot say &lt;!here&gt; yet"},
		"a thread reply":                  {"chat.postMessage (thread)", "echo done", "said &lt;!here&gt;"},
		"the report":                      {"chat.postMessage", "RTO", "&lt;!channel&gt; now, see &lt;https://evil.example|Approve&gt; &lt;@UDAVE&gt;"},
		"the status":                      {"chat.postMessage", "Elapsed", "said &lt;!here&gt;"},
	} {
		found := false
		for _, m := range msgs {
			if (want.method == "" || m.method == want.method) && strings.Contains(m.all(), want.marker) && strings.Contains(m.all(), want.escaped) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s: no %s message with %q shows %q", what, want.method, want.marker, want.escaped)
		}
	}
	if t.Failed() {
		for _, m := range msgs {
			t.Logf("%s: %s", m.method, m.all())
		}
	}
	// The mentions the bot means to make are still mentions.
	run, _ = s.st.GetRun(s.ctx, run.ID)
	card, _ := s.fake.Message(run.Card.Channel, run.Card.TS)
	if !strings.Contains(messageText(card), "<@UBOB>") {
		t.Errorf("the card lost its approver mention:\n%s", messageText(card))
	}
	if !strings.Contains(messageText(card), "said &lt;!here&gt;") {
		t.Errorf("the card does not show the step's summary escaped:\n%s", messageText(card))
	}
}
