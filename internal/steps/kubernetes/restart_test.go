package kubernetes

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failoverbot/failoverbot/internal/lab/kube/kubetest"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/stepstest"
)

func podNames(t testing.TB, ns, selector string) map[string]bool {
	t.Helper()
	pods, err := kubetest.Client(t).CoreV1().Pods(ns).List(ctxT(t, 5*time.Second), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out[p.Name] = true
		}
	}
	return out
}

func TestRolloutRestart(t *testing.T) {
	ns := kubetest.Namespace(t)
	deployment(t, ns, "api", 2, nil)
	waitDeployment(t, ns, "api", rolledOut(2))
	before := podNames(t, ns, "app=api")
	at := "2025-03-09T02:04:05Z"
	cfg := func(at string) *RolloutRestartConfig {
		return &RolloutRestartConfig{Namespace: ns, Name: "api", RestartedAt: at}
	}
	s := buildStep(t, "kubernetes.rolloutRestart", cfg(at), conn(t))
	if res := stepstest.Check(t, s); res.Done || res.Summary != "deployment "+ns+"/api: to restart (restart of "+at+")" {
		t.Fatalf("before: %+v", res)
	}
	res := stepstest.Converge(t, s, 30*time.Second)
	if !strings.HasPrefix(res.Summary, "deployment "+ns+"/api: restarted, 2 of 2 updated, ready and available") ||
		res.Outputs["restartedAt"] != at || res.Outputs["workloads"] != "api" {
		t.Errorf("after: %+v", res)
	}
	d := waitDeployment(t, ns, "api", rolledOut(2))
	after := podNames(t, ns, "app=api")
	for p := range before {
		if after[p] {
			t.Errorf("pod %s survived the restart", p)
		}
	}
	if d.Spec.Template.Annotations[RestartAnnotation] != at {
		t.Errorf("annotation %q", d.Spec.Template.Annotations[RestartAnnotation])
	}

	// The bot restarted: the step is built again with the same {{ now }}
	// (the step's first start): done, and no second restart.
	again := buildStep(t, "kubernetes.rolloutRestart", cfg(at), conn(t))
	if res := stepstest.Check(t, again); !res.Done {
		t.Errorf("built again: %+v", res)
	}
	if err := again.Apply(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	d2, err := kubetest.Client(t).AppsV1().Deployments(ns).Get(ctxT(t, 5*time.Second), "api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d2.Generation != d.Generation {
		t.Errorf("a second Apply restarted again: generation %d → %d", d.Generation, d2.Generation)
	}
	// A later run restarts again.
	if res := stepstest.Check(t, buildStep(t, "kubernetes.rolloutRestart", cfg("2025-03-10T00:00:00Z"), conn(t))); res.Done ||
		!strings.Contains(res.Summary, "to restart (last restarted "+at+")") {
		t.Errorf("a later restart: %+v", res)
	}
}

func TestRolloutRestartByLabelStatefulSetsAndMissing(t *testing.T) {
	ns := kubetest.Namespace(t)
	part := map[string]string{"app.kubernetes.io/part-of": "maip"}
	deployment(t, ns, "a", 1, part)
	deployment(t, ns, "b", 1, part)
	res := stepstest.Converge(t, buildStep(t, "kubernetes.rolloutRestart",
		&RolloutRestartConfig{Namespace: ns, Selector: "app.kubernetes.io/part-of=maip", RestartedAt: "2025-03-09T02:04:05.5Z"}, conn(t)), 30*time.Second)
	if !strings.HasPrefix(res.Summary, "2 of 2 deployments in "+ns+" restarted at 2025-03-09T02:04:05.5Z and rolled out\n") {
		t.Errorf("by label: %q", res.Summary)
	}
	for _, n := range []string{"a", "b"} {
		waitDeployment(t, ns, n, func(d *appsv1.Deployment) bool {
			return d.Spec.Template.Annotations[RestartAnnotation] == "2025-03-09T02:04:05.5Z" && rolledOut(1)(d)
		})
	}
	_, err := buildStep(t, "kubernetes.rolloutRestart", &RolloutRestartConfig{Namespace: ns, Name: "nope", RestartedAt: "2025-03-09T02:04:05Z"}, conn(t)).Check(ctxT(t, 5*time.Second))
	if !steps.IsPermanent(err) || !strings.Contains(err.Error(), "not found") {
		t.Errorf("a missing deployment: %v", err)
	}
}
