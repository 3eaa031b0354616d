package kubernetes

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failoverbot/failoverbot/internal/lab/kube"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/stepstest"
	"github.com/failoverbot/failoverbot/internal/store"
)

// TestAPIServerOutage kills the API server of a cluster of its own (the
// package's is never killed) while steps wait: one outage it comes back
// from, one it does not, then nodesReady's expect down.
func TestAPIServerOutage(t *testing.T) {
	c, cc := ownCluster(t, "outage")
	if res := stepstest.Check(t, build(t, "kubernetes.nodesReady", &NodesReadyConfig{Expect: ExpectDown, RequestTimeout: "1s"}, cc)); res.Done {
		t.Errorf("expect down with the API server up: %+v", res)
	}
	t.Run("every waiting kind goes on once the API server is back", func(t *testing.T) { waitsSurviveAnOutage(t, c, cc) })
	t.Run("a waiting scale fails at its deadline when it is not", func(t *testing.T) { scaleFailsAtItsDeadline(t, c, cc) })
	t.Run("expect down is done with the API server killed", func(t *testing.T) {
		res := stepstest.Check(t, build(t, "kubernetes.nodesReady", &NodesReadyConfig{Expect: ExpectDown, RequestTimeout: "1s"}, cc))
		if !res.Done || !strings.Contains(res.Summary, "connection refused") {
			t.Errorf("expect down with the API server killed: %+v", res)
		}
	})
}

// The API server dies while a step of every kind that waits is waiting
// (scale, rolloutRestart and apply after their Apply, the probes after a
// Check that said not done): each one's waiting Check fails, transient
// (the executor retries until the step's deadline), within its request
// timeout and a reflector backoff; when the API server is back, the same
// instances go on and finish.
func waitsSurviveAnOutage(t *testing.T, c *kube.Cluster, cc *steps.Connection) {
	waiting := outageSteps(t, c, cc)
	for _, w := range waiting {
		if s, ok := w.p.(steps.Step); ok {
			stepstest.Check(t, s)
			for err := s.Apply(ctxT(t, 10*time.Second)); err != nil; err = s.Apply(ctxT(t, 10*time.Second)) {
				if steps.IsPermanent(err) {
					t.Fatalf("%s: %v", w.kind, err) // a conflict with a controller is retried
				}
			}
		} else {
			stepstest.Check(t, w.p) // not done: arms the watch
		}
		res, err := w.p.Check(ctxT(t, 2*time.Second)) // waits on the watch, not done
		if err != nil || res.Done {
			t.Fatalf("%s: waiting Check = %+v, %v", w.kind, res, err)
		}
	}

	if err := c.KillAPIServer(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, w := range waiting {
		wg.Go(func() { failsTransiently(t, w) })
	}
	wg.Wait()

	restartAPIServer(t, c)
	outageOver(t, c)
	for _, w := range waiting {
		ctx := ctxT(t, 60*time.Second)
		for {
			res, err := w.p.Check(ctx)
			if err == nil && res.Done {
				if !strings.Contains(res.Summary, w.done) {
					t.Errorf("%s after the outage: %q, want %q in it", w.kind, res.Summary, w.done)
				}
				break
			}
			if steps.IsPermanent(err) || ctx.Err() != nil {
				t.Fatalf("%s after the outage: %+v, %v", w.kind, res, err)
			}
			if err != nil { // the watch is not back yet
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
}

// failsTransiently calls the waiting Check of w with the API server
// down until it failed three times, each within 3 s, transient, with the
// API server's own error (not the canceled context of a request).
func failsTransiently(t *testing.T, w outageStep) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	errs := 0
	for ctx.Err() == nil && errs < 3 {
		start := time.Now()
		_, err := w.p.Check(ctx)
		if err == nil {
			continue
		}
		errs++
		if errs == 1 {
			t.Logf("%s: %v", w.kind, err)
		}
		if steps.IsPermanent(err) || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("%s: Check with the API server down = %v\nwant a transient error saying the connection was refused", w.kind, err)
			return
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("%s: Check took %s to fail", w.kind, took)
		}
	}
	if errs < 3 {
		t.Errorf("%s: %d errors from the waiting Check with the API server down, want 3", w.kind, errs)
	}
}

// The API server dies while a scale waits for its rollout and does not
// come back: the step's errors are transient (retried, the run goes on
// waiting) until the step's deadline, which then fails it: the run pauses
// with the deadline and the last error.
func scaleFailsAtItsDeadline(t *testing.T, c *kube.Cluster, cc *steps.Connection) {
	client, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	ns := "default"
	d := workload(ns, "mimir-web", 0, map[string]string{"app": "mimir-web"})
	d.Spec.Template.Spec.NodeSelector = map[string]string{"pool": "never"}
	if _, err := client.AppsV1().Deployments(ns).Create(ctxT(t, 5*time.Second), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	src := `name: outage
approval: {required: 0}
connections:
  dr_cluster: {type: kubernetes, kubeconfig: "` + cc.Fields["kubeconfig"] + `"}
phases:
  - id: apps
    steps:
      - {id: scale_api, kind: kubernetes.scale, connection: dr_cluster, timeout: 8s, with: {namespace: ` + ns + `, name: mimir-web, replicas: 2, requestTimeout: 1s}}
`
	var killed time.Time
	run, s := runOne(t, src, func() {
		if err := c.KillAPIServer(); err != nil {
			t.Fatal(err)
		}
		killed = time.Now()
	})
	took := time.Since(killed)
	if run.State != store.RunPaused || s.Status != store.StepFailed || !strings.HasPrefix(s.Error, "not done within 8s") || !strings.Contains(s.Error, "connection refused") {
		t.Errorf("run %s (%s), step %s: %s\nwant paused, the step failed at its deadline with the API server's error", run.State, run.StateReason, s.Status, s.Error)
	}
	if took > 9*time.Second {
		t.Errorf("the step failed %s after the API server died; its deadline is 8s from its start", took)
	}
	t.Logf("step error: %s", s.Error)
}
