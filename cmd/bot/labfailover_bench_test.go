package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/app"
	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/chat/console"
	"github.com/failoverbot/failoverbot/internal/config"
	"github.com/failoverbot/failoverbot/internal/lab"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/store"
)

// BenchmarkLabFailover measures the lab failover (runbooks/lab-failover.yaml,
// unchanged) from the approval that reaches the quorum to the run
// succeeded, i.e. validated by its last phase, against a fresh lab whose
// primary region blackholes connections. The bot is wired in process as
// `bot console` wires it (internal/app, the console poster); starting the
// lab, the request, its plan and the first approval are not timed.
//
// Besides ns/op it reports, per failover: total-ms (approval → validated),
// in-steps-ms (wall time inside the steps' Check/Apply calls, overlapping
// calls counted once: waiting on PostgreSQL, Redis and the DR health
// endpoint), postgres-ms, redis-ms and http-ms (the same per backend), and
// overhead-ms (total minus in-steps: the bot's own work: approval, plan
// hash, store writes, scheduling, card posts, building steps).
//
// The executor runs with its defaults, as `bot serve` and `bot console` run
// it. Each failover needs a fresh lab (a few seconds, untimed): prefer a
// fixed count,
//
//	go test -run '^$' -bench LabFailover -benchtime 5x ./cmd/bot/
func BenchmarkLabFailover(b *testing.B) {
	needLabBinaries(b)
	var sum failoverTimes
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		f := newBenchFailover(b)
		b.StartTimer()
		t0 := time.Now()
		f.approveAndWait(b)
		t1 := time.Now()
		b.StopTimer()
		ft := f.times(t0, t1)
		b.Logf("failover %d: %s", i+1, ft)
		sum.add(ft)
		if err := verifyFailover(f.ctx, f.env, io.Discard); err != nil {
			b.Fatalf("the DR region did not take over: %v", err)
		}
		f.close(b)
	}
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / n }
	b.ReportMetric(ms(sum.total), "total-ms")
	b.ReportMetric(ms(sum.inSteps), "in-steps-ms")
	b.ReportMetric(ms(sum.byBackend["postgres"]), "postgres-ms")
	b.ReportMetric(ms(sum.byBackend["redis"]), "redis-ms")
	b.ReportMetric(ms(sum.byBackend["http"]), "http-ms")
	b.ReportMetric(ms(sum.total-sum.inSteps), "overhead-ms")
}

// benchFailover is one lab with a bot wired to it and a run waiting for
// its second approval.
type benchFailover struct {
	ctx    context.Context
	cancel context.CancelFunc
	app    *app.App
	cfg    config.Config
	run    *store.Run
	calls  *callLog
	env    map[string]string
}

func newBenchFailover(b *testing.B) *benchFailover {
	b.Helper()
	l := upFailedLab(b)
	env := l.Env()
	dir := b.TempDir()
	rbDir := filepath.Join(dir, "runbooks")
	if err := writeLabRunbooks(rbDir); err != nil {
		b.Fatal(err)
	}
	cfg := config.Default()
	cfg.RunbookDir, cfg.StorePath, cfg.Instance, cfg.LogLevel = rbDir, filepath.Join(dir, "bot.db"), "bench", "warn"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	f := &benchFailover{ctx: ctx, cancel: cancel, cfg: cfg, calls: &callLog{}, env: env}
	rbEnv := lab.RunbookEnv(env)
	poster := console.NewPoster(io.Discard)
	a, err := app.New(ctx, app.Options{Config: cfg, Poster: poster, Directory: &console.StaticDirectory{Groups: cfg.Groups},
		Env: func(k string) (string, bool) {
			if v, ok := rbEnv[k]; ok {
				return v, true
			}
			return os.LookupEnv(k)
		}})
	if err != nil {
		b.Fatal(err)
	}
	f.app = a
	rb, err := a.Catalog.Get("lab-failover")
	if err != nil {
		b.Fatal(err)
	}
	// The catalog keeps this runbook while its file does not change: the
	// executor builds the steps through these factories.
	for _, s := range rb.AllSteps() {
		s.Factory = timedFactory{inner: s.Factory, step: s.ID, backend: backendOf(s.Kind), log: f.calls}
	}
	if err := a.Start(ctx); err != nil {
		b.Fatal(err)
	}
	script := "/failover start lab-failover benchmark\n/approve last --as oncall-2\n"
	err = console.Run(ctx, console.Options{In: strings.NewReader(script), Out: io.Discard, As: "oncall-1",
		Handler: a.Handler, Poster: poster, Runs: a.Handler, Script: true})
	if err != nil {
		b.Fatalf("request the failover: %v", err)
	}
	runs, err := a.Store.ListRuns(ctx, store.ListOptions{Limit: 1})
	if err != nil || len(runs) != 1 || runs[0].State != store.RunPending {
		b.Fatalf("want one run pending approval, got %v (%v)", runs, err)
	}
	f.run = runs[0]
	return f
}

// approveAndWait adds the approval that reaches the quorum and waits until
// the run ends; it fails unless the run succeeded.
func (f *benchFailover) approveAndWait(b *testing.B) {
	f.app.Handler.HandleReaction(f.ctx, chat.Reaction{EventID: "bench-approval", User: chat.User{ID: "oncall-3", Name: "oncall-3"},
		Message: chat.MessageRef(f.run.ApprovalMsg), Emoji: f.cfg.ApproveEmoji, Added: true})
	for {
		if err := f.app.Executor.Wait(f.ctx, f.run.ID); err != nil {
			b.Fatal(err)
		}
		r, err := f.app.Store.GetRun(f.ctx, f.run.ID)
		if err != nil {
			b.Fatal(err)
		}
		if r.State == store.RunSucceeded {
			return
		}
		if r.State != store.RunRunning && r.State != store.RunPending {
			b.Fatalf("run %s %s: %s", r.ID, r.State, r.StateReason)
		}
		if f.ctx.Err() != nil {
			b.Fatalf("run %s still %s: %v", r.ID, r.State, context.Cause(f.ctx))
		}
		time.Sleep(time.Millisecond)
	}
}

func (f *benchFailover) close(b *testing.B) {
	defer f.cancel()
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.app.Close(cctx); err != nil {
		b.Errorf("close the bot: %v", err)
	}
}

// failoverTimes splits a failover's wall time.
type failoverTimes struct {
	total, inSteps time.Duration
	byBackend      map[string]time.Duration
	byStep         map[string]time.Duration // summed, for the log
}

func (s *failoverTimes) add(o failoverTimes) {
	if s.byBackend == nil {
		s.byBackend = map[string]time.Duration{}
	}
	s.total += o.total
	s.inSteps += o.inSteps
	for k, v := range o.byBackend {
		s.byBackend[k] += v
	}
}

// times splits [t0, t1] into time inside step calls (per backend and
// overall, overlapping calls counted once) and the rest.
func (f *benchFailover) times(t0, t1 time.Time) failoverTimes {
	calls := f.calls.within(t0, t1)
	ft := failoverTimes{total: t1.Sub(t0), inSteps: unionOf(calls), byBackend: map[string]time.Duration{},
		byStep: map[string]time.Duration{}}
	for _, c := range calls {
		ft.byStep[c.step] += c.end.Sub(c.start)
	}
	for _, backend := range []string{"postgres", "redis", "http"} {
		var mine []stepCall
		for _, c := range calls {
			if c.backend == backend {
				mine = append(mine, c)
			}
		}
		ft.byBackend[backend] = unionOf(mine)
	}
	return ft
}

// backendOf is the server a step kind talks to: its name's prefix.
func backendOf(kind string) string {
	b, _, _ := strings.Cut(kind, ".")
	return b
}

// stepCall is one Check or Apply call.
type stepCall struct {
	step, backend string
	start, end    time.Time
}

// callLog records step calls from concurrent steps.
type callLog struct {
	mu    sync.Mutex
	calls []stepCall
}

func (l *callLog) add(step, backend string, start time.Time) {
	end := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, stepCall{step: step, backend: backend, start: start, end: end})
}

// within returns the calls clipped to [t0, t1].
func (l *callLog) within(t0, t1 time.Time) []stepCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []stepCall
	for _, c := range l.calls {
		if c.end.Before(t0) || c.start.After(t1) {
			continue
		}
		if c.start.Before(t0) {
			c.start = t0
		}
		if c.end.After(t1) {
			c.end = t1
		}
		out = append(out, c)
	}
	return out
}

// unionOf is the total length of the union of the calls' intervals.
func unionOf(calls []stepCall) time.Duration {
	calls = slices.Clone(calls)
	slices.SortFunc(calls, func(a, b stepCall) int { return a.start.Compare(b.start) })
	var total time.Duration
	var cur stepCall
	for i, c := range calls {
		switch {
		case i == 0:
			cur = c
		case c.start.After(cur.end):
			total += cur.end.Sub(cur.start)
			cur = c
		case c.end.After(cur.end):
			cur.end = c.end
		}
	}
	if len(calls) > 0 {
		total += cur.end.Sub(cur.start)
	}
	return total
}

// timedFactory builds steps whose Check and Apply calls are logged.
type timedFactory struct {
	inner         runbook.Factory
	step, backend string
	log           *callLog
}

func (f timedFactory) Build(ctx context.Context, vars runbook.Vars) (steps.Probe, error) {
	p, err := f.inner.Build(ctx, vars)
	if err != nil {
		return nil, err
	}
	tp := &timedProbe{inner: p, step: f.step, backend: f.backend, log: f.log}
	if s, ok := p.(steps.Step); ok {
		return &timedStep{timedProbe: tp, inner: s}, nil
	}
	return tp, nil // a probe stays a probe: no Apply
}

type timedProbe struct {
	inner         steps.Probe
	step, backend string
	log           *callLog
}

type timedStep struct {
	*timedProbe
	inner steps.Step
}

func (s *timedProbe) Check(ctx context.Context) (steps.Result, error) {
	defer s.log.add(s.step, s.backend, time.Now())
	return s.inner.Check(ctx)
}

func (s *timedStep) Apply(ctx context.Context) error {
	defer s.log.add(s.step, s.backend, time.Now())
	return s.inner.Apply(ctx)
}

func (s *timedProbe) Close() error {
	if c, ok := s.inner.(steps.Closer); ok {
		return c.Close()
	}
	return nil
}

// String names the split and the slowest steps, for logs.
func (t failoverTimes) String() string {
	ids := slices.SortedFunc(maps.Keys(t.byStep), func(a, b string) int { return cmp.Compare(t.byStep[b], t.byStep[a]) })
	var top []string
	for _, id := range ids[:min(3, len(ids))] {
		top = append(top, fmt.Sprintf("%s %s", id, t.byStep[id].Round(time.Millisecond)))
	}
	return fmt.Sprintf("total %s, in steps %s (postgres %s, redis %s, http %s; slowest: %s), overhead %s",
		t.total.Round(time.Microsecond), t.inSteps.Round(time.Microsecond), t.byBackend["postgres"].Round(time.Microsecond),
		t.byBackend["redis"].Round(time.Microsecond), t.byBackend["http"].Round(time.Microsecond), strings.Join(top, ", "),
		(t.total - t.inSteps).Round(time.Microsecond))
}
