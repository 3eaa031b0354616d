package kubernetes

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/failoverbot/failoverbot/internal/executor"
	"github.com/failoverbot/failoverbot/internal/lab/kube/kubetest"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/sqlite"
)

// BenchmarkScaleTenInParallel runs, through the executor, a runbook of
// ten kubernetes.scale steps (one phase, no needs: they run in parallel)
// taking ten Deployments from 1 to 5 replicas, each waiting until its own
// status says the rollout is complete. Each iteration also runs one
// Deployment alone, the same way. It reports:
//
//   - wall/slowest: the run's wall time (approval to the end of the run)
//     over its slowest step (that step's start to done); goal ≤ 1.15;
//   - wall/solo: the same wall time over the one-Deployment run's (how
//     much longer the lab's control plane takes to roll out 40 pods than
//     4, on the machine's cores);
//   - lag-ms: the longest time from a rollout being complete (as an
//     independent watch of the Deployments sees it) to its step being
//     done: the bot's own delay, apart from the cluster's;
//   - wait-req/workload: requests a step made after its PATCH, while it
//     waited for the rollout (counted by a RoundTripper wrapping the
//     step's rest.Config); a watch is one request however long it runs;
//   - req/workload: every request a step made;
//   - s/wall, s/slowest: the times themselves.
func BenchmarkScaleTenInParallel(b *testing.B) {
	const n, replicas = 10, 5
	ns := kubetest.Namespace(b)
	names := []string{"solo"}
	for i := range n {
		names = append(names, fmt.Sprintf("w%d", i))
	}
	for _, name := range names {
		deployment(b, ns, name, 1, nil)
	}
	counts := &requestCounts{byName: map[string]*requestCounter{}}
	reg := countingRegistry(b, counts)
	parallel := scaleRunbook(b, reg, ns, names[1:], replicas)
	solo := scaleRunbook(b, reg, ns, names[:1], replicas)
	ex, st := benchExecutor(b)

	var wallSlowest, wallSolo, waitReq, allReq, wallS, slowestS, lag float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		resetReplicas(b, ns, names, 1)
		counts.reset()
		b.StartTimer()
		wall, slowest, l := timedRun(b, ex, st, parallel, ns, replicas)
		b.StopTimer()
		soloWall, _, _ := timedRun(b, ex, st, solo, ns, replicas)
		w, a := counts.perWorkload(names[1:])
		wallSlowest += wall.Seconds() / slowest.Seconds()
		wallSolo += wall.Seconds() / soloWall.Seconds()
		waitReq, allReq = waitReq+w, allReq+a
		wallS, slowestS, lag = wallS+wall.Seconds(), slowestS+slowest.Seconds(), lag+float64(l)/float64(time.Millisecond)
		b.Logf("iteration %d: wall %s, slowest step %s, one alone %s, lag %s; while waiting: %s", i, wall.Round(time.Millisecond),
			slowest.Round(time.Millisecond), soloWall.Round(time.Millisecond), l.Round(time.Millisecond), counts.of("w0").waitingRequests())
		b.StartTimer()
	}
	N := float64(b.N)
	b.ReportMetric(wallSlowest/N, "wall/slowest")
	b.ReportMetric(wallSolo/N, "wall/solo")
	b.ReportMetric(lag/N, "lag-ms")
	b.ReportMetric(waitReq/N, "wait-req/workload")
	b.ReportMetric(allReq/N, "req/workload")
	b.ReportMetric(wallS/N, "s/wall")
	b.ReportMetric(slowestS/N, "s/slowest")
}

// countingRegistry is the kubernetes connection type and a
// kubernetes.scale kind whose clients count their requests in counts,
// by the step's workload name.
func countingRegistry(b *testing.B, counts *requestCounts) *steps.Registry {
	r := steps.NewRegistry()
	counted := steps.StepKind(spec("kubernetes.scale", "kubernetes.scale, its requests counted", "previous", "workloads"),
		func(ctx context.Context, cfg *ScaleConfig, env steps.Env) (steps.Step, error) {
			s, err := newScale(ctx, cfg, env)
			if err != nil {
				return nil, err
			}
			s.(*Scale).c.wrapTransport = counts.of(cfg.Name).wrap
			return s, nil
		})
	if err := r.RegisterConnection(ConnectionType); err != nil {
		b.Fatal(err)
	}
	if err := r.Register(counted); err != nil {
		b.Fatal(err)
	}
	return r
}

// scaleRunbook is a runbook of one phase with a scale step per name.
func scaleRunbook(b *testing.B, reg *steps.Registry, ns string, names []string, replicas int) *runbook.Runbook {
	var src strings.Builder
	fmt.Fprintf(&src, "name: bench-%d\napproval: {required: 0}\nconnections:\n  dr_cluster: {type: kubernetes, kubeconfig: %q}\n"+
		"phases:\n  - id: apps\n    steps:\n", len(names), kubetest.Cluster(b).AdminKubeconfig())
	for _, name := range names {
		fmt.Fprintf(&src, "      - {id: scale_%s, kind: kubernetes.scale, connection: dr_cluster, timeout: 2m, with: {namespace: %s, name: %s, replicas: %d}}\n",
			name, ns, name, replicas)
	}
	rb, err := runbook.Parse("bench.yaml", []byte(src.String()), reg)
	if err != nil {
		b.Fatal(err)
	}
	return rb
}

func benchExecutor(b *testing.B) (*executor.Executor, store.Store) {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bot.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	ex, err := executor.New(executor.Config{Store: st, Owner: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ex.Close(context.Background()) })
	return ex, st
}

// timedRun runs rb to success and returns its wall time (from the
// approval that starts it to the end of the run), its slowest step's, and
// the longest lag from a Deployment's rollout (to replicas) being
// complete to its step being done.
func timedRun(b *testing.B, ex *executor.Executor, st store.Store, rb *runbook.Runbook, ns string, replicas int32) (wall, slowest, lag time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rolledOutAt := rolloutTimes(ctx, b, ns, replicas)
	run, err := ex.Request(ctx, executor.RunRequest{Runbook: rb, PlanHash: rb.PlanHash(nil), Requester: "oncall-1"})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := ex.Approve(ctx, run.ID, rb, nil); err != nil {
		b.Fatal(err)
	}
	if err := ex.Wait(ctx, run.ID); err != nil {
		b.Fatal(err)
	}
	wall = time.Since(start)
	got, err := st.GetRun(ctx, run.ID)
	if err != nil || got.State != store.RunSucceeded {
		b.Fatalf("run %s: %v (%s), %v", run.ID, got.State, got.StateReason, err)
	}
	states, err := st.Steps(ctx, run.ID)
	if err != nil {
		b.Fatal(err)
	}
	var names []string
	for _, s := range states {
		names = append(names, strings.TrimPrefix(s.StepID, "scale_"))
	}
	at := rolledOutAt(names)
	for _, s := range states {
		if s.Status != store.StepDone || s.AlreadyDone {
			b.Fatalf("step %s: %s (already done: %v): %s", s.StepID, s.Status, s.AlreadyDone, s.Error)
		}
		slowest = max(slowest, s.EndedAt.Sub(s.StartedAt))
		done, ok := at[strings.TrimPrefix(s.StepID, "scale_")]
		if !ok {
			b.Fatalf("step %s is done, but the watch never saw its rollout complete", s.StepID)
		}
		lag = max(lag, s.EndedAt.Sub(done))
	}
	return wall, slowest, lag
}

// rolloutTimes watches the Deployments of ns from now on, recording when
// each is first seen rolled out at replicas. The function it returns
// waits (a few seconds at most) until it has seen those of names, stops
// the watch and returns the times.
func rolloutTimes(ctx context.Context, b *testing.B, ns string, replicas int32) func(names []string) map[string]time.Time {
	ctx, cancel := context.WithCancel(ctx)
	w, err := kubetest.Client(b).AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	at := map[string]time.Time{}
	changed := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			d, ok := ev.Object.(*appsv1.Deployment)
			if !ok || !rolledOut(replicas)(d) {
				continue
			}
			mu.Lock()
			if _, seen := at[d.Name]; !seen {
				at[d.Name] = time.Now()
			}
			mu.Unlock()
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	}()
	return func(names []string) map[string]time.Time {
		timeout := time.After(5 * time.Second)
	wait:
		for {
			mu.Lock()
			n := 0
			for _, name := range names {
				if _, ok := at[name]; ok {
					n++
				}
			}
			mu.Unlock()
			if n == len(names) {
				break
			}
			select {
			case <-changed:
			case <-timeout:
				break wait
			}
		}
		cancel()
		w.Stop()
		<-done
		return at
	}
}

// resetReplicas scales the Deployments to n directly and waits until
// each has rolled out.
func resetReplicas(b *testing.B, ns string, names []string, n int) {
	client := kubetest.Client(b)
	patch := []byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, n))
	for _, name := range names {
		if _, err := client.AppsV1().Deployments(ns).Patch(ctxT(b, 10*time.Second), name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	for _, name := range names {
		waitDeployment(b, ns, name, rolledOut(int32(n)))
	}
}

// requestCounts are the request counters of the steps, by workload.
type requestCounts struct {
	mu     sync.Mutex
	byName map[string]*requestCounter
}

func (c *requestCounts) of(name string) *requestCounter {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byName[name] == nil {
		c.byName[name] = &requestCounter{}
	}
	return c.byName[name]
}

func (c *requestCounts) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byName = map[string]*requestCounter{}
}

// perWorkload is the mean number of requests made while waiting, and in
// all, by the steps of names.
func (c *requestCounts) perWorkload(names []string) (waiting, all float64) {
	for _, name := range names {
		rc := c.of(name)
		rc.mu.Lock()
		waiting, all = waiting+float64(len(rc.waiting)), all+float64(rc.all)
		rc.mu.Unlock()
	}
	return waiting / float64(len(names)), all / float64(len(names))
}

// requestCounter counts the requests of one step's clients, and lists
// those made after its PATCH succeeded (while it waits).
type requestCounter struct {
	mu      sync.Mutex
	all     int
	patched bool
	waiting []string
}

func (c *requestCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		c.mu.Lock()
		c.all++
		if c.patched {
			what := r.Method
			if r.URL.Query().Get("watch") == "true" {
				what = "WATCH"
			}
			c.waiting = append(c.waiting, what+" "+r.URL.Path)
		}
		c.mu.Unlock()
		resp, err := rt.RoundTrip(r)
		if r.Method == http.MethodPatch && err == nil && resp.StatusCode < 300 {
			c.mu.Lock()
			c.patched = true
			c.mu.Unlock()
		}
		return resp, err
	})
}

func (c *requestCounter) waitingRequests() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("%d requests (%s)", len(c.waiting), strings.Join(c.waiting, ", "))
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
