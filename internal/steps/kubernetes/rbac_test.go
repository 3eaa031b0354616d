package kubernetes

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failoverbot/failoverbot/internal/lab/kube/kubetest"
	"github.com/failoverbot/failoverbot/internal/steps"
)

// TestForbiddenForEveryKind runs every kind as a service account the
// cluster grants nothing: its first request is refused, and the error is
// permanent (the run pauses at once, as TestForbiddenScalePausesTheRun
// shows through the executor) and names the service account, the verb
// and the resource.
func TestForbiddenForEveryKind(t *testing.T) {
	ns := kubetest.Namespace(t)
	client := kubetest.Client(t)
	deployment(t, ns, "api", 1, nil)
	if _, err := client.CoreV1().ConfigMaps(ns).Create(ctxT(t, 5*time.Second), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := &steps.Connection{Name: "dr_cluster", Type: "kubernetes", Fields: map[string]string{"kubeconfig": serviceAccount(t, ns, "nobody")}}
	pod := PodTarget{Namespace: ns, Selector: "app=api"}
	probe := ExecProbe{Command: []string{"true"}}
	in := " in namespace " + ns
	cases := []struct {
		kind string
		cfg  steps.Config
		want string // verb and resource
	}{
		{"kubernetes.nodesReady", &NodesReadyConfig{}, "list nodes cluster-wide"},
		{"kubernetes.podsReady", &PodsReadyConfig{Namespace: ns}, "list pods" + in},
		{"kubernetes.scale", &ScaleConfig{Namespace: ns, Name: "api", Replicas: ptr(2)}, "get deployments.apps" + in},
		{"kubernetes.patch", &PatchConfig{Namespace: ns, Resource: "configmaps", Name: "cfg", Type: PatchMerge, Patch: map[string]any{"data": map[string]any{"a": "b"}}}, "get configmaps" + in},
		{"kubernetes.rolloutRestart", &RolloutRestartConfig{Namespace: ns, Name: "api", RestartedAt: "2025-03-09T02:04:05Z"}, "get deployments.apps" + in},
		{"kubernetes.resourcesPresent", &ResourcesPresentConfig{Namespace: ns, Resource: "configmaps", Names: []string{"cfg"}}, "list configmaps" + in},
		{"kubernetes.serviceAddress", &ServiceAddressConfig{Namespace: ns, Name: "lb"}, "get services" + in},
		{"kubernetes.exec", &ExecConfig{PodTarget: pod, Command: []string{"true"}, Check: &probe}, "list pods" + in},
		{"kubernetes.execCheck", &ExecCheckConfig{PodTarget: pod, ExecProbe: probe}, "list pods" + in},
		{"kubernetes.apply", &ApplyConfig{Namespace: ns, Manifest: restoreManifest}, "list configmaps" + in},
		{"kubernetes.events", &EventsConfig{Namespace: ns}, "list events" + in},
		{"kubernetes.logs", &LogsConfig{PodTarget: pod}, "list pods" + in},
		{"kubernetes.podMetrics", &PodMetricsConfig{Namespace: ns}, "list pods.metrics.k8s.io" + in},
	}
	who := "system:serviceaccount:" + ns + ":nobody"
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			_, err := build(t, tc.kind, tc.cfg, c).Check(ctxT(t, 10*time.Second))
			want := "forbidden: " + who + " may not " + tc.want + " (grant it with RBAC)"
			if err == nil || !steps.IsPermanent(err) || !strings.Contains(err.Error(), want) {
				t.Errorf("Check = %v\nwant a permanent error with %q", err, want)
			}
		})
	}
}

// A service account that may read Deployments but not patch them: the
// restart's Check answers, its Apply is refused naming patch.
func TestRolloutRestartWithoutPatchPermissionIsForbidden(t *testing.T) {
	ns := kubetest.Namespace(t)
	deployment(t, ns, "api", 1, nil)
	kc := serviceAccount(t, ns, "reader", rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "watch"}})
	s := buildStep(t, "kubernetes.rolloutRestart", &RolloutRestartConfig{Namespace: ns, Name: "api", RestartedAt: "2025-03-09T02:04:05Z"},
		&steps.Connection{Name: "dr_cluster", Type: "kubernetes", Fields: map[string]string{"kubeconfig": kc}})
	if res, err := s.Check(ctxT(t, 10*time.Second)); err != nil || res.Done {
		t.Fatalf("Check = %+v, %v", res, err)
	}
	err := s.Apply(ctxT(t, 10*time.Second))
	want := "kubernetes.rolloutRestart: patch deployments.apps " + ns + "/api on dr_cluster: forbidden: system:serviceaccount:" + ns +
		":reader may not patch deployments.apps in namespace " + ns + " (grant it with RBAC)"
	if err == nil || !steps.IsPermanent(err) || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Apply = %v\nwant a permanent error starting with %q", err, want)
	}
}
