package console_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat/console"
	"github.com/failoverbot/failoverbot/internal/commands"
	"github.com/failoverbot/failoverbot/internal/executor"
	"github.com/failoverbot/failoverbot/internal/logtest"
	"github.com/failoverbot/failoverbot/internal/notify/card"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/sqlite"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// world is what the fake step kinds act on.
type world struct {
	mu   sync.Mutex
	done map[string]bool
	fail map[string]bool
}

type worldConfig struct {
	Effect  string `yaml:"effect"`
	Summary string `yaml:"summary"`
	Lag     string `yaml:"lag"`
}

func (c *worldConfig) CheckAndSetDefaults() error { return nil }

type worldStep struct {
	w   *world
	cfg *worldConfig
}

func (s *worldStep) Check(context.Context) (steps.Result, error) {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	out := map[string]string{}
	if s.cfg.Lag != "" {
		out["lag"] = s.cfg.Lag
		out["lagAtPromotion"] = s.cfg.Lag
	}
	if s.cfg.Effect == "" || s.w.done[s.cfg.Effect] {
		return steps.Result{Done: true, Summary: s.cfg.Summary, Outputs: out}, nil
	}
	return steps.Result{Summary: s.cfg.Effect + " not yet"}, nil
}

func (s *worldStep) Apply(context.Context) error {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	if s.w.fail[s.cfg.Effect] {
		return steps.Permanentf("%s refused", s.cfg.Effect)
	}
	s.w.done[s.cfg.Effect] = true
	return nil
}

func registry(t *testing.T, w *world) *steps.Registry {
	t.Helper()
	r := steps.NewRegistry()
	build := func(_ context.Context, cfg *worldConfig, _ steps.Env) (steps.Step, error) {
		return &worldStep{w: w, cfg: cfg}, nil
	}
	probe := func(ctx context.Context, cfg *worldConfig, env steps.Env) (steps.Probe, error) {
		return build(ctx, cfg, env)
	}
	if err := r.Register(
		steps.ProbeKind(steps.Spec{Name: "test.check"}, probe),
		steps.ProbeKind(steps.Spec{Name: "postgres.replicationLag", Outputs: []string{"lag"}}, probe),
		steps.StepKind(steps.Spec{Name: "postgres.promote", Outputs: []string{"lagAtPromotion"}}, build),
		steps.StepKind(steps.Spec{Name: "test.change"}, build),
	); err != nil {
		t.Fatal(err)
	}
	return r
}

const labYAML = `name: lab
description: Fail the lab over to DR
expectedDuration: 1m
channel: "#incident-lab"
approval: {required: 2, groups: [oncall]}
params:
  - {name: ticket, required: true}
assess:
  - {id: primary_down, kind: test.check, with: {summary: "primary refuses connections"}}
  - {id: standby_lag, kind: postgres.replicationLag, with: {summary: "lag 0.3s, 0 bytes behind", lag: "0.3s"}}
phases:
  - id: database
    name: Database
    steps:
      - {id: promote_db, kind: postgres.promote, with: {effect: promoted, summary: "standby promoted", lag: "0.3s"}}
  - id: cache
    name: Redis
    steps:
      - {id: move_redis, kind: test.change, with: {effect: redis, summary: "new master"}}
`

// bot is the whole console stack: real SQLite store, real executor, the
// commands handler and the progress card, all printing to one buffer.
type bot struct {
	st     store.Store
	h      *commands.Handler
	poster *console.Poster
	cards  *card.Notifier
	w      *world
}

func newBot(t *testing.T, out, cardOut *logtest.Buffer) (*bot, func(script string) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "lab.yaml"), []byte(labYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	w := &world{done: map[string]bool{}, fail: map[string]bool{}}
	cat, err := commands.NewDirCatalog(dir, registry(t, w), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "bot.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	poster := console.NewPoster(out)
	cardPoster := console.NewPoster(cardOut)
	cards, err := card.New(card.Options{Poster: cardPoster, Store: st, Runbooks: cat.Get})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	exec, err := executor.New(executor.Config{Store: st, Sink: cards, Owner: "test", Runbooks: cat.Get,
		PollInterval: 10 * time.Millisecond, RetryBackoff: 10 * time.Millisecond,
		NewRunID: func(rb string) string { n++; return fmt.Sprintf("%s-%d", rb, n) }})
	if err != nil {
		t.Fatal(err)
	}
	dirx := &console.StaticDirectory{Groups: map[string][]string{"oncall": {"oncall-1", "oncall-2", "oncall-3"}}}
	h, err := commands.New(commands.Options{Catalog: cat, Planner: exec.Planner(), Executor: exec, Store: st, Directory: dirx, Poster: poster, Cards: cards,
		Responders: commands.Access{Groups: []string{"oncall"}}})
	if err != nil {
		t.Fatal(err)
	}
	cardsDone := make(chan struct{})
	go func() { cards.Run(ctx); close(cardsDone) }()
	t.Cleanup(func() {
		_ = exec.Close(context.Background())
		cancel()
		<-cardsDone
		st.Close()
	})
	b := &bot{st: st, h: h, poster: poster, cards: cards, w: w}
	run := func(script string) error {
		return console.Run(ctx, console.Options{In: strings.NewReader(script), Out: out, Handler: h, Poster: poster, Runs: h,
			Script: true, Settle: cards.Flush, PollInterval: 10 * time.Millisecond, WaitTimeout: time.Minute})
	}
	return b, run
}

var (
	clockRE = regexp.MustCompile(`\d{2}:\d{2}:\d{2}(\.\d+)?Z`)
	dateRE  = regexp.MustCompile(`\d{4}-\d{2}-\d{2}`)
	durRE   = regexp.MustCompile(`\b\d+(\.\d+)?(ns|µs|ms|s|m|h)(\d+(\.\d+)?(ms|s))?\b`)
	hashRE  = regexp.MustCompile(`plan hash: [0-9a-f]{12}`)
)

// normalize replaces what changes between runs: clock times, dates,
// durations, plan hashes; and pads nothing.
func normalize(s string) string {
	s = clockRE.ReplaceAllString(s, "<time>")
	s = dateRE.ReplaceAllString(s, "<date>")
	s = hashRE.ReplaceAllString(s, "plan hash: <hash>")
	s = durRE.ReplaceAllStringFunc(s, func(d string) string {
		if d == "1m0s" || d == "15m0s" || d == "0.3s" { // from the runbook, fixed
			return d
		}
		return "<dur>"
	})
	// Columns padded around a duration vary with its width.
	s = regexp.MustCompile(` +<dur>`).ReplaceAllString(s, " <dur>")
	return s
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("output differs from %s (go test -update rewrites it):\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

const failoverScript = `# The lab failover, end to end.
/failover list
/failover assess lab
/failover start lab ticket=INC-42 primary region is down
/approve last --as oncall-2
/approve last --as oncall-3
/wait last
/failover status last
/failover report last
`

func TestScriptedFailoverGolden(t *testing.T) {
	out, cardOut := &logtest.Buffer{}, &logtest.Buffer{}
	b, run := newBot(t, out, cardOut)
	if err := run(failoverScript); err != nil {
		t.Fatalf("script failed: %v\n%s", err, out.String())
	}
	golden(t, "failover.golden", normalize(out.String()))

	// The card: posted once, its last edit shows the run succeeded.
	cards := cardOut.String()
	if n := strings.Count(cards, "] message 1:\n"); n != 1 {
		t.Errorf("the card was posted %d times:\n%s", n, cards)
	}
	last := cards[strings.LastIndex(cards, "[#incident-lab] message 1"):]
	last, _, _ = strings.Cut(last, "\n[")
	_, last, _ = strings.Cut(last, "\n") // posted, or edited: timing decides
	last = strings.TrimRight(last, "\n") // the last output, or followed by a thread reply
	golden(t, "card-final.golden", normalize(last))
	for _, want := range []string{"✓ promote_db done: standby promoted", "✓ move_redis done: new master", "✅ run succeeded"} {
		if !strings.Contains(cards, want) {
			t.Errorf("the card's thread lacks %q:\n%s", want, cards)
		}
	}
	if !b.w.done["promoted"] || !b.w.done["redis"] {
		t.Errorf("the steps did not take effect: %v", b.w.done)
	}
}

func TestScriptStopsAtTheFirstFailedLine(t *testing.T) {
	out, cardOut := &logtest.Buffer{}, &logtest.Buffer{}
	b, run := newBot(t, out, cardOut)
	err := run(`/failover start lab ticket=INC-1
/approve last --as oncall-1
/approve last --as oncall-2
`)
	if !errors.Is(err, console.ErrFailed) || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("err = %v, want a failure at line 2\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "You requested run lab-1: someone else must approve it.") {
		t.Errorf("output lacks the refusal:\n%s", out.String())
	}
	if strings.Contains(out.String(), "oncall-2> /approve") {
		t.Error("the script went on after the failed line")
	}
	list, _ := b.st.Approvals(t.Context(), "lab-1")
	if len(list) != 0 {
		t.Errorf("approvals %v", list)
	}
}

func TestWaitFailsWhenTheRunDoesNotSucceed(t *testing.T) {
	out, cardOut := &logtest.Buffer{}, &logtest.Buffer{}
	b, run := newBot(t, out, cardOut)
	b.w.fail["redis"] = true
	err := run(`/failover start lab ticket=INC-1
/approve last --as oncall-2
/approve last --as oncall-3
/wait last
`)
	if !errors.Is(err, console.ErrFailed) || !strings.Contains(err.Error(), "did not succeed: paused") {
		t.Fatalf("err = %v, want the run to pause\n%s", err, out.String())
	}
	if !strings.Contains(cardOut.String(), "retry: /failover retry lab-1 move_redis") {
		t.Errorf("the thread does not offer retry:\n%s", cardOut.String())
	}
	// The operator fixes the cause and retries: the run finishes.
	b.w.mu.Lock()
	b.w.fail["redis"] = false
	b.w.mu.Unlock()
	if err := run("/failover retry last move_redis --as oncall-2\n/wait last\n"); err != nil {
		t.Fatalf("retry: %v\n%s", err, out.String())
	}
}

func TestConsoleLineErrors(t *testing.T) {
	tests := []struct{ line, want string }{
		{"/frobnicate", `unknown console command "/frobnicate"`},
		{"/approve", "expected one run ID (or last)"},
		{"/approve last", "there are no runs yet"},
		{"/wait lab-404", "run lab-404: not found"},
		{"/failover start lab --as", "--as NAME must end the line"},
		{"/failover frobnicate", "the bot answered with an error"},
		{"/as", "usage: /as NAME"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			out, cardOut := &logtest.Buffer{}, &logtest.Buffer{}
			_, run := newBot(t, out, cardOut)
			err := run(tt.line + "\n")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCommentsBlankLinesAndAs(t *testing.T) {
	out, cardOut := &logtest.Buffer{}, &logtest.Buffer{}
	_, run := newBot(t, out, cardOut)
	if err := run("# a comment\n\n   \n/as oncall-3\n/failover status\n"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "oncall-3> /failover status") || strings.Contains(out.String(), "comment") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestInteractiveModeGoesOnAfterAFailedLine(t *testing.T) {
	out, cardOut := &logtest.Buffer{}, &logtest.Buffer{}
	b, _ := newBot(t, out, cardOut)
	err := console.Run(t.Context(), console.Options{In: strings.NewReader("/frobnicate\n/failover status --as oncall-2\n/quit\n/failover list\n"),
		Out: out, Handler: b.h, Poster: b.poster, Runs: b.h})
	if err != nil {
		t.Fatalf("interactive mode returned %v", err)
	}
	s := out.String()
	for _, want := range []string{"oncall-1> ", `! line 1: unknown console command "/frobnicate"`, "No active runs."} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "Runbooks:") {
		t.Error("a line after /quit was executed")
	}
}
