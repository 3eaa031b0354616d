package kubernetes

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failoverbot/failoverbot/internal/lab/kube/kubetest"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/stepstest"
)

func TestScaleOneDeploymentWaitsForItsRollout(t *testing.T) {
	ns := kubetest.Namespace(t)
	deployment(t, ns, "mimir-api", 0, nil)
	waitDeployment(t, ns, "mimir-api", rolledOut(0))
	cfg := &ScaleConfig{Namespace: ns, Name: "mimir-api", Replicas: ptr(3)}
	s := buildStep(t, "kubernetes.scale", cfg, conn(t))

	res := stepstest.Check(t, s)
	if res.Done || !strings.Contains(res.Summary, "0 replicas, to scale to 3") {
		t.Fatalf("before Apply: %+v", res)
	}
	res = stepstest.Converge(t, s, 30*time.Second)
	want := "deployment " + ns + "/mimir-api: 3 replicas, 3 of 3 updated, ready and available (was 0)"
	if res.Summary != want {
		t.Errorf("summary %q, want %q", res.Summary, want)
	}
	if res.Outputs["previous"] != "0" || res.Outputs["workloads"] != "mimir-api" {
		t.Errorf("outputs %v, want previous 0, workloads mimir-api", res.Outputs)
	}
	// Done means what kubectl rollout status means, from the workload's
	// own status, not just some Ready pods.
	d, err := kubetest.Client(t).AppsV1().Deployments(ns).Get(ctxT(t, 5*time.Second), "mimir-api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rolledOut(3)(d) {
		t.Errorf("done, but the status is %+v (generation %d)", d.Status, d.Generation)
	}

	// A second Apply (a crash after the first) changes nothing; a fresh
	// instance (the restarted bot) is done at once and still knows the
	// count before.
	if err := s.Apply(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	again, err := kubetest.Client(t).AppsV1().Deployments(ns).Get(ctxT(t, 5*time.Second), "mimir-api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Generation != d.Generation || again.ResourceVersion != d.ResourceVersion {
		t.Errorf("second Apply changed the deployment: generation %d → %d, resourceVersion %s → %s",
			d.Generation, again.Generation, d.ResourceVersion, again.ResourceVersion)
	}
	fresh := stepstest.Check(t, buildStep(t, "kubernetes.scale", &ScaleConfig{Namespace: ns, Name: "mimir-api", Replicas: ptr(3)}, conn(t)))
	if !fresh.Done || fresh.Outputs["previous"] != "0" {
		t.Errorf("a fresh instance: %+v, want done with previous 0", fresh)
	}
}

func TestScaleEveryDeploymentOrBySelectorAndDown(t *testing.T) {
	ns := kubetest.Namespace(t)
	part := map[string]string{"app.kubernetes.io/part-of": "mimir"}
	deployment(t, ns, "api", 2, part)
	deployment(t, ns, "web", 1, part)
	deployment(t, ns, "other", 1, nil)

	all := stepstest.Converge(t, buildStep(t, "kubernetes.scale", &ScaleConfig{Namespace: ns, All: true, Replicas: ptr(4)}, conn(t)), 30*time.Second)
	if all.Outputs["previous"] != "api=2,other=1,web=1" || all.Outputs["workloads"] != "api,other,web" {
		t.Errorf("all: outputs %v", all.Outputs)
	}
	if !strings.HasPrefix(all.Summary, "3 of 3 deployments in "+ns+" at 4 replicas and rolled out\napi: 4 replicas, 4 of 4 updated") {
		t.Errorf("all: summary %q", all.Summary)
	}
	for _, n := range []string{"api", "web", "other"} {
		waitDeployment(t, ns, n, rolledOut(4))
	}

	down := stepstest.Converge(t, buildStep(t, "kubernetes.scale",
		&ScaleConfig{Namespace: ns, Selector: "app.kubernetes.io/part-of=mimir", Replicas: ptr(0)}, conn(t)), 30*time.Second)
	if down.Outputs["previous"] != "api=4,web=4" {
		t.Errorf("down: outputs %v", down.Outputs)
	}
	// Down means the pods are gone, not merely that spec.replicas is 0.
	pods, err := kubetest.Client(t).CoreV1().Pods(ns).List(ctxT(t, 5*time.Second), metav1.ListOptions{LabelSelector: "app.kubernetes.io/part-of=mimir"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			t.Errorf("pod %s still running after the scale to 0 was done", p.Name)
		}
	}
	waitDeployment(t, ns, "other", rolledOut(4))
}

func TestScaleStatefulSet(t *testing.T) {
	ns := kubetest.Namespace(t)
	labels := map[string]string{"app": "redis"}
	_, err := kubetest.Client(t).AppsV1().StatefulSets(ns).Create(ctxT(t, 10*time.Second), &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "redis", Labels: labels},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr(int32(1)), ServiceName: "redis",
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "redis", Image: "registry.invalid/redis:7"}}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res := stepstest.Converge(t, buildStep(t, "kubernetes.scale",
		&ScaleConfig{Namespace: ns, Workload: WorkloadStatefulSet, Name: "redis", Replicas: ptr(3)}, conn(t)), 60*time.Second)
	if want := "statefulset " + ns + "/redis: 3 replicas, 3 of 3 ready"; !strings.HasPrefix(res.Summary, want) {
		t.Errorf("summary %q, want it to start with %q", res.Summary, want)
	}
	sts, err := kubetest.Client(t).AppsV1().StatefulSets(ns).Get(ctxT(t, 5*time.Second), "redis", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sts.Status.ReadyReplicas != 3 {
		t.Errorf("done with %d ready replicas", sts.Status.ReadyReplicas)
	}
}

func TestScaleMissingWorkloadsArePermanent(t *testing.T) {
	ns := kubetest.Namespace(t)
	for _, tt := range []struct {
		cfg  *ScaleConfig
		want string
	}{
		{&ScaleConfig{Namespace: ns, Name: "nope", Replicas: ptr(1)}, "kubernetes.scale: get deployments.apps " + ns + "/nope on test_cluster: not found"},
		{&ScaleConfig{Namespace: ns, Selector: "app=nothing", Replicas: ptr(1)}, "kubernetes.scale: no deployment in " + ns + " matches app=nothing on test_cluster"},
		{&ScaleConfig{Namespace: ns, All: true, Replicas: ptr(1)}, "kubernetes.scale: no deployment in " + ns + " on test_cluster"},
	} {
		s := buildStep(t, "kubernetes.scale", tt.cfg, conn(t))
		_, err := s.Check(ctxT(t, 10*time.Second))
		if !steps.IsPermanent(err) || err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Check = %v (permanent %v), want a permanent %q", err, steps.IsPermanent(err), tt.want)
		}
		if err := s.Apply(ctxT(t, 10*time.Second)); !steps.IsPermanent(err) {
			t.Errorf("Apply = %v, want permanent", err)
		}
	}
}

// A service account that may read deployments but not patch them: the
// scale is refused with a permanent error that names the verb, the
// resource and the service account.
func TestScaleWithoutPatchPermissionIsForbidden(t *testing.T) {
	ns := kubetest.Namespace(t)
	deployment(t, ns, "api", 1, nil)
	kc := serviceAccount(t, ns, "reader", rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "watch"}})
	c := &steps.Connection{Name: "dr_cluster", Type: "kubernetes", Fields: map[string]string{"kubeconfig": kc}}
	s := buildStep(t, "kubernetes.scale", &ScaleConfig{Namespace: ns, Name: "api", Replicas: ptr(2)}, c)
	if res := stepstest.Check(t, s); res.Done {
		t.Fatalf("Check: %+v", res)
	}
	err := s.Apply(ctxT(t, 10*time.Second))
	if !steps.IsPermanent(err) {
		t.Fatalf("Apply = %v, want a permanent error", err)
	}
	want := "kubernetes.scale: patch deployments.apps " + ns + "/api on dr_cluster: forbidden: system:serviceaccount:" + ns +
		":reader may not patch deployments.apps in namespace " + ns
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Apply = %v\nwant it to start with %q", err, want)
	}
}
