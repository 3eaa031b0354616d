package kubernetes

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

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
	t.Run("a waiting scale goes on once the API server is back", func(t *testing.T) { scaleSurvivesAnOutage(t, c, cc) })
	t.Run("a waiting scale fails at its deadline when it is not", func(t *testing.T) { scaleFailsAtItsDeadline(t, c, cc) })
	t.Run("expect down is done with the API server killed", func(t *testing.T) {
		res := stepstest.Check(t, build(t, "kubernetes.nodesReady", &NodesReadyConfig{Expect: ExpectDown, RequestTimeout: "1s"}, cc))
		if !res.Done || !strings.Contains(res.Summary, "connection refused") {
			t.Errorf("expect down with the API server killed: %+v", res)
		}
	})
}

// The API server dies while the step waits for its rollout: the waiting
// Check fails with a transient error (the executor retries until the
// step's deadline); when the API server is back, the same instance goes
// on and finishes.
func scaleSurvivesAnOutage(t *testing.T, c *kube.Cluster, cc *steps.Connection) {
	client, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	// Pods that no node takes: the rollout waits until the test labels a node.
	d := workload("default", "api", 0, map[string]string{"app": "api"})
	d.Spec.Template.Spec.NodeSelector = map[string]string{"pool": "dr"}
	if _, err := client.AppsV1().Deployments("default").Create(ctxT(t, 5*time.Second), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s := buildStep(t, "kubernetes.scale", &ScaleConfig{Namespace: "default", Name: "api", Replicas: ptr(2), RequestTimeout: "2s"}, cc)
	stepstest.Check(t, s)
	for err := s.Apply(ctxT(t, 10*time.Second)); err != nil; err = s.Apply(ctxT(t, 10*time.Second)) {
		if steps.IsPermanent(err) {
			t.Fatal(err) // a conflict with the deployment controller is retried
		}
	}
	res, err := s.Check(ctxT(t, 2*time.Second)) // waits on the watch, not done
	if err != nil || res.Done || !strings.Contains(res.Summary, "scaled to 2 (was 0), waiting") {
		t.Fatalf("waiting Check = %+v, %v", res, err)
	}

	if err := c.KillAPIServer(); err != nil {
		t.Fatal(err)
	}
	// Within the request timeout and a reflector backoff, the waiting
	// Check reports the outage, transient, on every call until the
	// deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	errs := 0
	for ctx.Err() == nil && errs < 3 {
		start := time.Now()
		_, err := s.Check(ctx)
		if err == nil {
			continue
		}
		errs++
		if steps.IsPermanent(err) {
			t.Fatalf("Check with the API server down = %v: permanent", err)
		}
		if time.Since(start) > 3*time.Second {
			t.Errorf("Check took %s to fail", time.Since(start))
		}
	}
	if errs < 3 {
		t.Fatalf("no error from the waiting Check with the API server down")
	}

	restartAPIServer(t, c)
	patch := []byte(`{"metadata":{"labels":{"pool":"dr"}}}`)
	if _, err := client.CoreV1().Nodes().Patch(ctxT(t, 10*time.Second), c.NodeNames()[0], types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	res = stepstest.Converge(t, s, 60*time.Second)
	if !strings.Contains(res.Summary, "2 replicas, 2 of 2 updated, ready and available (was 0)") {
		t.Errorf("after the outage: %q", res.Summary)
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
