package slack_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat/slack"
	"github.com/failoverbot/failoverbot/internal/chat/slack/slackfake"
	"github.com/failoverbot/failoverbot/internal/commands"
	"github.com/failoverbot/failoverbot/internal/executor"
	"github.com/failoverbot/failoverbot/internal/notify/card"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/sqlite"
)

// stack is `bot serve` wired in-process against the fake Slack: the Slack
// transport, commands, the executor, the progress card and a SQLite store.
type stack struct {
	t     *testing.T
	ctx   context.Context
	fake  *slackfake.Server
	st    store.Store
	bot   *slack.Bot
	exec  *executor.Executor
	cards *card.Notifier
	done  chan error
}

type stackOptions struct {
	registry *steps.Registry
	dir      string // runbook directory
	env      map[string]string
}

func newStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("SLACK_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	f := slackfake.New(slackfake.Options{PingInterval: 200 * time.Millisecond})
	for _, u := range []slackfake.User{{ID: "UALICE", Name: "alice"}, {ID: "UBOB", Name: "bob"},
		{ID: "UCAROL", Name: "carol"}, {ID: "UDAVE", Name: "dave"}, {ID: "UDEPLOY", Name: "deploybot", IsBot: true}} {
		f.AddUser(u)
	}
	f.SetGroup("SONCALL", "oncall", "UALICE", "UBOB", "UCAROL", "UDEPLOY")

	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "bot.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	var ropts []runbook.Option
	var secrets *secret.Resolver
	redactor := &secret.Redactor{}
	if o.env != nil {
		lookup := func(k string) (string, bool) { v, ok := o.env[k]; return v, ok }
		secrets = &secret.Resolver{Lookup: lookup, Redactor: redactor}
		ropts = append(ropts, runbook.WithEnv(lookup), runbook.WithSecrets(secrets))
	}
	cat, err := commands.NewDirCatalog(o.dir, o.registry, log, ropts...)
	if err != nil {
		t.Fatal(err)
	}
	bot, err := slack.New(slack.Config{AppToken: slackfake.AppToken, BotToken: slackfake.BotToken, APIURL: f.APIURL(),
		PingInterval: 2 * time.Second}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	cards, err := card.New(card.Options{Poster: bot.Poster(), Store: st, Runbooks: cat.Get, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	exec, err := executor.New(executor.Config{Store: st, Sink: cards, Owner: "e2e", Logger: log, Runbooks: cat.Get, Redactor: redactor,
		PollInterval: 50 * time.Millisecond, MaxPollInterval: 200 * time.Millisecond, RetryBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h, err := commands.New(commands.Options{Catalog: cat, Planner: exec.Planner(), Executor: exec, Store: st, Directory: bot.Directory(),
		Poster: bot.Poster(), Cards: cards, Responders: commands.Access{Groups: []string{"oncall"}}, Logger: log,
		Secrets: secrets, Scrub: redactor.Scrub})
	if err != nil {
		t.Fatal(err)
	}
	bot.SetHandler(h)
	s := &stack{t: t, ctx: ctx, fake: f, st: st, bot: bot, exec: exec, cards: cards, done: make(chan error, 1)}
	connected := f.Connected()
	var wg sync.WaitGroup
	wg.Go(func() { _ = cards.Run(ctx) })
	go func() { s.done <- bot.Run(ctx) }()
	select {
	case <-connected:
	case err := <-s.done:
		t.Fatalf("bot stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("bot did not connect")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-s.done; err != nil {
			t.Errorf("bot.Run: %v", err)
		}
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		_ = exec.Close(cctx)
		wg.Wait()
		_ = st.Close()
		f.Close()
	})
	return s
}

func (s *stack) command(user, channel, text string) {
	s.t.Helper()
	env, err := s.fake.SlashCommand(user, channel, text)
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	if _, err := s.fake.WaitAck(ctx, env); err != nil {
		s.t.Fatal(err)
	}
}

func (s *stack) react(user string, ref store.MessageRef, emoji string) string {
	s.t.Helper()
	ev, err := s.fake.React(user, ref.Channel, ref.TS, emoji, true)
	if err != nil {
		s.t.Fatal(err)
	}
	return ev
}

// eventually polls cond (up to d) and fails with what() when it never holds.
func (s *stack) eventually(d time.Duration, what func() string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out: %s", what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// latestRun returns the newest run.
func (s *stack) latestRun() *store.Run {
	s.t.Helper()
	runs, err := s.st.ListRuns(s.ctx, store.ListOptions{Limit: 1})
	if err != nil {
		s.t.Fatal(err)
	}
	if len(runs) == 0 {
		return nil
	}
	return runs[0]
}

func (s *stack) approvals(runID string) []string {
	list, err := s.st.Approvals(s.ctx, runID)
	if err != nil {
		s.t.Fatal(err)
	}
	var out []string
	for _, a := range list {
		out = append(out, a.User+":"+string(a.Decision))
	}
	return out
}

func (s *stack) ephemeralText(user string) string {
	var parts []string
	for _, m := range s.fake.Ephemerals(user) {
		parts = append(parts, m.Text)
	}
	return strings.Join(parts, "\n")
}

func (s *stack) channelText(channel string) string {
	var parts []string
	for _, m := range s.fake.Messages(channel) {
		parts = append(parts, m.Text)
		parts = append(parts, slackfake.BlocksText(m.Blocks)...)
	}
	return strings.Join(parts, "\n")
}

func messageText(m slackfake.Message) string {
	return m.Text + "\n" + strings.Join(slackfake.BlocksText(m.Blocks), "\n")
}

// approveAndRun drives a runbook through Slack: assess, start, a refused
// self-approval, an approval whose event is redelivered, an approval from
// outside the group, then the second approval; it waits for the run to end
// and the card to show it.
func approveAndRun(t *testing.T, s *stack, rbName, startArgs string, timeout time.Duration) *store.Run {
	const requestChannel = "C0OPS"
	s.command("UALICE", requestChannel, "assess "+rbName)
	s.eventually(30*time.Second, func() string { return "no assessment card in " + requestChannel + ": " + s.channelText(requestChannel) },
		func() bool { return strings.Contains(s.channelText(requestChannel), "Assessment") })

	s.command("UALICE", requestChannel, "start "+rbName+" "+startArgs)
	var run *store.Run
	s.eventually(60*time.Second, func() string {
		return "no plan posted; alice was told: " + s.ephemeralText("UALICE") + "; channel: " + s.channelText(requestChannel)
	}, func() bool {
		run = s.latestRun()
		return run != nil && run.ApprovalMsg.TS != ""
	})
	plan, ok := s.fake.Message(run.ApprovalMsg.Channel, run.ApprovalMsg.TS)
	if !ok || !strings.Contains(plan.Blocks, `"action_id":"approve"`) {
		t.Fatalf("plan message %+v lacks the Approve button", plan)
	}

	// The requester may not approve her own run.
	before := len(s.fake.Ephemerals("UALICE"))
	s.react("UALICE", run.ApprovalMsg, "white_check_mark")
	s.eventually(10*time.Second, func() string { return "alice was not told why: " + s.ephemeralText("UALICE") },
		func() bool { return len(s.fake.Ephemerals("UALICE")) > before })

	// Bob approves; Slack redelivers the event (the ack was "lost").
	ev := s.react("UBOB", run.ApprovalMsg, "white_check_mark")
	if _, err := s.fake.Redeliver(ev); err != nil {
		t.Fatal(err)
	}
	s.eventually(10*time.Second, func() string { return fmt.Sprintf("bob's approval not recorded: %v", s.approvals(run.ID)) },
		func() bool { return len(s.approvals(run.ID)) > 0 })
	// Bob also presses Approve: one person counts once.
	if _, err := s.fake.Click("UBOB", run.ApprovalMsg.Channel, run.ApprovalMsg.TS, "approve", run.ID); err != nil {
		t.Fatal(err)
	}
	s.eventually(10*time.Second, func() string { return "bob was not told his second approval did not count: " + s.ephemeralText("UBOB") },
		func() bool { return strings.Contains(s.ephemeralText("UBOB"), "counts once") })
	// Dave is not in the approver group. His event comes after the
	// redelivered one, so by the time he is answered a duplicate would show.
	s.react("UDAVE", run.ApprovalMsg, "white_check_mark")
	s.eventually(10*time.Second, func() string { return "dave was not told: " + s.ephemeralText("UDAVE") },
		func() bool { return len(s.fake.Ephemerals("UDAVE")) > 0 })
	if got := s.approvals(run.ID); len(got) != 1 || got[0] != "UBOB:approve" {
		t.Fatalf("approvals after self-approval, bob (reaction redelivered, then button) and dave = %v, want only bob's, once", got)
	}
	if r, _ := s.st.GetRun(s.ctx, run.ID); r.State != store.RunPending {
		t.Fatalf("run is %s after one approval, want pending", r.State)
	}
	plan, _ = s.fake.Message(run.ApprovalMsg.Channel, run.ApprovalMsg.TS)
	if !strings.Contains(messageText(plan), "1 of 2") {
		t.Errorf("the plan does not show 1 of 2 approvals:\n%s", messageText(plan))
	}

	s.react("UCAROL", run.ApprovalMsg, "white_check_mark")
	s.eventually(timeout, func() string {
		r, _ := s.st.GetRun(s.ctx, run.ID)
		return fmt.Sprintf("run %s is %s (%s); channel: %s", run.ID, r.State, r.StateReason, s.channelText(run.ApprovalMsg.Channel))
	}, func() bool {
		r, _ := s.st.GetRun(s.ctx, run.ID)
		return r.State == store.RunSucceeded
	})
	s.eventually(10*time.Second, func() string { return "the run has no progress card reference in the store" }, func() bool {
		run, _ = s.st.GetRun(s.ctx, run.ID)
		return run.Card.TS != ""
	})
	s.eventually(15*time.Second, func() string {
		m, _ := s.fake.Message(run.Card.Channel, run.Card.TS)
		return "the card does not show the run done:\n" + messageText(m)
	}, func() bool {
		m, _ := s.fake.Message(run.Card.Channel, run.Card.TS)
		return strings.Contains(m.Text, "succeeded")
	})
	m, _ := s.fake.Message(run.Card.Channel, run.Card.TS)
	txt := messageText(m)
	for _, want := range []string{"<@UBOB>", "<@UCAROL>", "<@UALICE>"} {
		if !strings.Contains(txt, want) {
			t.Errorf("the card does not show %s:\n%s", want, txt)
		}
	}
	if strings.Contains(txt, ":arrows_counterclockwise:") || strings.Contains(txt, ":white_circle:") {
		t.Errorf("the finished card still shows running or pending lines:\n%s", txt)
	}
	return run
}

// flagStep is a test step kind: not done until applied. Apply of a step
// with a hold channel waits for it.
type flagStep struct {
	mu   *sync.Mutex
	done map[string]bool
	id   string
	hold map[string]chan struct{}
	// entered is closed when a held step's Apply starts.
	entered chan struct{}
}

func (f flagStep) Check(context.Context) (steps.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done[f.id] {
		return steps.Result{Done: true, Summary: f.id + " is in place"}, nil
	}
	return steps.Result{Done: false, Summary: f.id + " not yet"}, nil
}

func (f flagStep) Apply(ctx context.Context) error {
	f.mu.Lock()
	hold := f.hold[f.id]
	f.mu.Unlock()
	if hold != nil {
		close(f.entered)
		select {
		case <-hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.done[f.id] = true
	return nil
}

type flagConfig struct {
	Flag string `yaml:"flag"`
}

func (c *flagConfig) CheckAndSetDefaults() error { return nil }

const flagRunbook = `name: demo-failover
description: Fail the demo over (test kinds)
expectedDuration: 1m
channel: "#incident-demo"
approval:
  required: 2
  groups: [oncall]
params:
  - {name: ticket, default: "none"}
assess:
  - {id: primary_down, name: Primary is down, kind: test.probe, with: {flag: primary_down}}
phases:
  - id: database
    name: Database
    steps:
      - {id: promote_db, name: Promote the standby, kind: test.flag, with: {flag: promote_db}}
  - id: traffic
    name: Traffic
    steps:
      - {id: switch_dns, name: Point DNS at DR, kind: test.flag, needs: [promote_db], with: {flag: switch_dns}}
`

// flagWorld is the state behind the test kinds.
type flagWorld struct {
	mu    sync.Mutex
	flags map[string]bool
	hold  map[string]chan struct{}
	// entered is closed when the held step starts applying.
	entered chan struct{}
}

func newFlagStack(t *testing.T, w *flagWorld) *stack {
	t.Helper()
	reg := steps.NewRegistry()
	newStep := func(_ context.Context, c *flagConfig, _ steps.Env) (steps.Step, error) {
		return flagStep{mu: &w.mu, done: w.flags, id: c.Flag, hold: w.hold, entered: w.entered}, nil
	}
	newProbe := func(ctx context.Context, c *flagConfig, env steps.Env) (steps.Probe, error) {
		return newStep(ctx, c, env)
	}
	if err := reg.Register(
		steps.StepKind(steps.Spec{Name: "test.flag"}, newStep),
		steps.ProbeKind(steps.Spec{Name: "test.probe"}, newProbe),
	); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "demo-failover.yaml"), []byte(flagRunbook), 0o644); err != nil {
		t.Fatal(err)
	}
	return newStack(t, stackOptions{registry: reg, dir: dir})
}

// TestEndToEndWithTestKinds runs the whole Slack path (transport, commands,
// executor, card, SQLite) with in-process step kinds.
func TestEndToEndWithTestKinds(t *testing.T) {
	w := &flagWorld{flags: map[string]bool{"primary_down": true}}
	s := newFlagStack(t, w)
	run := approveAndRun(t, s, "demo-failover", "ticket=INC-7 primary down", 60*time.Second)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.flags["promote_db"] || !w.flags["switch_dns"] {
		t.Errorf("steps not applied: %v", w.flags)
	}
	if run.Card.Channel != s.fake.ChannelID("#incident-demo") {
		t.Errorf("card in %s, want the runbook's channel", run.Card.Channel)
	}
	t.Logf("VmRSS after the run: %.1f MiB", float64(rssKiB())/1024)
}

// A socket disconnect in the middle of a run loses no card update.
func TestEndToEndDisconnectMidRun(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	w := &flagWorld{flags: map[string]bool{"primary_down": true}, hold: map[string]chan struct{}{"switch_dns": release}, entered: entered}
	s := newFlagStack(t, w)
	go func() {
		// Once the last step is applying, drop the socket, then let the
		// step finish while the bot reconnects.
		select {
		case <-entered:
		case <-time.After(60 * time.Second):
		}
		t.Logf("VmRSS during the run: %.1f MiB", float64(rssKiB())/1024)
		_ = s.fake.Disconnect("link_disabled")
		s.fake.DropConnection()
		close(release)
	}()
	approveAndRun(t, s, "demo-failover", "primary down", 60*time.Second)
	if s.fake.Connects() < 2 {
		t.Error("the socket was never dropped: the test did not test a mid-run disconnect")
	}
}

// A ❌ from an approver rejects the run; nothing runs.
func TestEndToEndRejectByReaction(t *testing.T) {
	w := &flagWorld{flags: map[string]bool{"primary_down": true}}
	s := newFlagStack(t, w)
	s.command("UALICE", "C0OPS", "start demo-failover primary down")
	var run *store.Run
	s.eventually(30*time.Second, func() string { return "no plan; alice was told: " + s.ephemeralText("UALICE") }, func() bool {
		run = s.latestRun()
		return run != nil && run.ApprovalMsg.TS != ""
	})
	s.react("UBOB", run.ApprovalMsg, "x")
	s.eventually(10*time.Second, func() string { r, _ := s.st.GetRun(s.ctx, run.ID); return "run is " + string(r.State) }, func() bool {
		r, _ := s.st.GetRun(s.ctx, run.ID)
		return r.State != store.RunPending
	})
	if r, _ := s.st.GetRun(s.ctx, run.ID); r.State == store.RunRunning || r.State == store.RunSucceeded {
		t.Fatalf("run %s after a rejection", r.State)
	}
	s.eventually(10*time.Second, func() string {
		m, _ := s.fake.Message(run.ApprovalMsg.Channel, run.ApprovalMsg.TS)
		return "plan not marked rejected:\n" + messageText(m)
	}, func() bool {
		m, _ := s.fake.Message(run.ApprovalMsg.Channel, run.ApprovalMsg.TS)
		return strings.Contains(m.Blocks, "Rejected") && !strings.Contains(m.Blocks, `"action_id":"approve"`)
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.flags["promote_db"] {
		t.Error("a rejected run changed something")
	}
}

// rssKiB reads this process's resident set size (Linux).
func rssKiB() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var n int
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &n)
			return n
		}
	}
	return 0
}
