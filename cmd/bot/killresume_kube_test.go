package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/failoverbot/failoverbot/internal/lab/kube"
	"github.com/failoverbot/failoverbot/internal/lab/kube/kubetest"
	"github.com/failoverbot/failoverbot/internal/logtest"
	kubesteps "github.com/failoverbot/failoverbot/internal/steps/kubernetes"
	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/sqlite"
)

// scaleRunbook scales mimir-api on the connection dr_cluster, whose
// production context the test's connections overlay replaces.
const scaleRunbook = `name: kube-scale
approval: {required: 2, groups: [oncall]}
connections:
  dr_cluster: {type: kubernetes, context: dr-cluster}
phases:
  - id: apps
    steps:
      - id: scale_api
        kind: kubernetes.scale
        connection: dr_cluster
        timeout: 2m
        with: {namespace: mimir, name: mimir-api, replicas: 5}
`

// TestKubernetesScaleKillAndResume SIGKILLs the real bot while a
// kubernetes.scale step waits for its rollout (the nodes are cordoned, so
// the new pods cannot start), uncordons them, and starts the bot again
// on the same store: it takes the run back when the dead one's lease
// ends, checks again, and finishes without scaling twice — the
// Deployment's spec changed once, and the count before (2) is still the
// step's output.
func TestKubernetesScaleKillAndResume(t *testing.T) {
	bin := buildBot(t)
	c := kubetest.Start(t, kube.Options{Name: "kill"})
	client, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	before := mimirAPI(ctx, t, c, client)

	bd := newBotDir(t, map[string]string{"kube-scale.yaml": scaleRunbook})
	overlay := bd.write("lab.yaml", "connections:\n  dr_cluster: {context: kill, kubeconfig: "+c.AdminKubeconfig()+"}\n")
	storePath := bd.store
	args := func(name, script string) []string {
		return bd.console(name, script, "kill-test", "-connections", overlay)
	}
	env := append(botEnv(nil), "FAILOVER_LEASE_TTL=2s")

	cordon(ctx, t, c, client, true)
	first := exec.CommandContext(ctx, bin, args("first.txt",
		"/failover start kube-scale kill-and-resume test\n/approve last --as oncall-2\n/approve last --as oncall-3\n/wait last\n")...)
	first.Env = env
	out1 := &logtest.Buffer{}
	first.Stdout, first.Stderr = out1, out1
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = first.Wait(); close(exited) }()

	// Kill once the scale took effect and the step waits for the rollout.
	runID, status := waitForScaleWait(ctx, t, storePath, client, exited, out1)
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	t.Logf("killed the bot with run %s's scale_api %s and 3 pods unschedulable", runID, status)

	// The restarted bot takes the run back, checks (not done: the nodes
	// are still cordoned), applies again — which must change nothing —
	// and waits; then the pods can start.
	second := exec.CommandContext(ctx, bin, args("second.txt", "/wait last\n/failover report last\n")...)
	second.Env = env
	out2 := &logtest.Buffer{}
	second.Stdout, second.Stderr = out2, out2
	second.WaitDelay = 5 * time.Second
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- second.Wait() }()
	waitAudit(ctx, t, storePath, runID, func(a []*store.AuditEvent) bool { return count(a, "step.applying") == 2 }, out2)
	if d, err := client.AppsV1().Deployments("mimir").Get(ctx, "mimir-api", metav1.GetOptions{}); err != nil || d.Generation != before.Generation+1 {
		t.Errorf("the second Apply changed the Deployment: generation %d → %d (%v)", before.Generation, d.Generation, err)
	}
	cordon(ctx, t, c, client, false)
	if err := <-done; err != nil {
		t.Fatalf("restarted bot: %v\n%s\n--- first:\n%s", err, out2, out1)
	}
	if !strings.Contains(out2.String(), "run "+runID+" succeeded") {
		t.Errorf("the restarted bot did not finish the run:\n%s", out2)
	}

	d, err := client.AppsV1().Deployments("mimir").Get(ctx, "mimir-api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Generation != before.Generation+1 || *d.Spec.Replicas != 5 || d.Status.ReadyReplicas != 5 {
		t.Errorf("mimir-api: generation %d → %d (want one change), replicas %d, ready %d", before.Generation, d.Generation, *d.Spec.Replicas, d.Status.ReadyReplicas)
	}
	if d.Annotations[kubesteps.AnnotationPreviousReplicas] != "2" {
		t.Errorf("annotations %v", d.Annotations)
	}
	st, err := sqlite.Open(ctx, storePath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	steps, err := st.Steps(ctx, runID)
	if err != nil || len(steps) != 1 {
		t.Fatalf("steps %v, %v", steps, err)
	}
	if s := steps[0]; s.Status != store.StepDone || s.Outputs["previous"] != "2" {
		t.Errorf("scale_api: %+v, want done with previous 2", s)
	}
	audit, err := st.Audit(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range audit {
		if e.Type == "run.resumed" || e.Type == "step.applying" || e.Type == "step.done" {
			t.Logf("audit: %s %s %s", e.Type, e.StepID, e.Message)
		}
	}
}

func count(audit []*store.AuditEvent, typ string) int {
	n := 0
	for _, e := range audit {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// waitAudit waits until the run's audit trail satisfies f.
func waitAudit(ctx context.Context, t *testing.T, storePath, runID string, f func([]*store.AuditEvent) bool, out *logtest.Buffer) {
	t.Helper()
	deadline := time.After(45 * time.Second)
	for {
		if st, err := sqlite.Open(ctx, storePath, nil); err == nil {
			a, err := st.Audit(ctx, runID)
			_ = st.Close()
			if err == nil && f(a) {
				return
			}
		}
		select {
		case <-deadline:
			t.Fatalf("the audit trail of %s never got there:\n%s", runID, out)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// mimirAPI creates namespace mimir with mimir-api at 2 Ready replicas.
func mimirAPI(ctx context.Context, t *testing.T, c *kube.Cluster, client *kubernetes.Clientset) *appsv1.Deployment {
	t.Helper()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mimir"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitDefaultServiceAccount(ctx, "mimir"); err != nil {
		t.Fatal(err)
	}
	n := int32(2)
	labels := map[string]string{"app.kubernetes.io/name": "mimir-api"}
	if _, err := client.AppsV1().Deployments("mimir").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "mimir-api"},
		Spec: appsv1.DeploymentSpec{Replicas: &n, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "registry.invalid/mimir-api:1"}}}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		d, err := client.AppsV1().Deployments("mimir").Get(ctx, "mimir-api", metav1.GetOptions{})
		if err == nil && d.Status.ObservedGeneration == d.Generation && d.Status.ReadyReplicas == 2 {
			return d
		}
		select {
		case <-ctx.Done():
			t.Fatalf("mimir-api not Ready: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// cordon marks every node (un)schedulable.
func cordon(ctx context.Context, t *testing.T, c *kube.Cluster, client *kubernetes.Clientset, on bool) {
	t.Helper()
	patch := `{"spec":{"unschedulable":false}}`
	if on {
		patch = `{"spec":{"unschedulable":true}}`
	}
	for _, n := range c.NodeNames() {
		if _, err := client.CoreV1().Nodes().Patch(ctx, n, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// waitForScaleWait returns the run once mimir-api's spec says 5 replicas
// and its scale_api is recorded waiting (its Apply is done and a Check
// after it said the rollout is not complete).
func waitForScaleWait(ctx context.Context, t *testing.T, storePath string, client *kubernetes.Clientset, exited <-chan struct{}, out *logtest.Buffer) (string, store.StepStatus) {
	t.Helper()
	deadline := time.After(45 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("the bot exited before the kill point:\n%s", out)
		case <-deadline:
			t.Fatalf("the scale never reached its wait:\n%s", out)
		case <-time.After(50 * time.Millisecond):
		}
		d, err := client.AppsV1().Deployments("mimir").Get(ctx, "mimir-api", metav1.GetOptions{})
		if err != nil || *d.Spec.Replicas != 5 {
			continue
		}
		st, err := sqlite.Open(ctx, storePath, nil)
		if err != nil {
			continue
		}
		runs, err := st.ListRuns(ctx, store.ListOptions{States: []store.RunState{store.RunRunning}})
		var id string
		var status store.StepStatus
		if err == nil && len(runs) == 1 {
			if steps, err := st.Steps(ctx, runs[0].ID); err == nil && len(steps) == 1 {
				id, status = runs[0].ID, steps[0].Status
			}
		}
		_ = st.Close()
		if status == store.StepWaiting {
			return id, status
		}
	}
}
