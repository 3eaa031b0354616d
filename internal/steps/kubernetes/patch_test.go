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
	"github.com/failoverbot/failoverbot/internal/steps/stepstest"
)

func configMap(t testing.TB, ns, name string, data map[string]string) *corev1.ConfigMap {
	t.Helper()
	cm, err := kubetest.Client(t).CoreV1().ConfigMaps(ns).Create(ctxT(t, 5*time.Second),
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: data}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

// The seed's patch of mimir-config: a merge patch; Check compares the
// live object, so a re-run is a no-op.
func TestPatchConfigMapIsANoOpWhenRunAgain(t *testing.T) {
	ns := kubetest.Namespace(t)
	configMap(t, ns, "mimir-config", map[string]string{"REGION": "us-east-1", "LOG_LEVEL": "info"})
	cfg := func() *PatchConfig {
		return &PatchConfig{Namespace: ns, Resource: "configmap", Name: "mimir-config", Type: PatchMerge,
			Patch: map[string]any{"data": map[string]any{"REGION": "us-west-2", "ENVIRONMENT": "dr-production"}}}
	}
	s := buildStep(t, "kubernetes.patch", cfg(), conn(t))
	res := stepstest.Check(t, s)
	want := "configmaps " + ns + `/mimir-config differs: data.ENVIRONMENT: (none) → "dr-production", data.REGION: "us-east-1" → "us-west-2"`
	if res.Done || res.Summary != want {
		t.Fatalf("before: %q\nwant %q", res.Summary, want)
	}
	res = stepstest.Converge(t, s, 20*time.Second)
	if res.Summary != "configmaps "+ns+"/mimir-config holds the patch" {
		t.Errorf("after: %q", res.Summary)
	}
	client := kubetest.Client(t)
	cm, err := client.CoreV1().ConfigMaps(ns).Get(ctxT(t, 5*time.Second), "mimir-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["REGION"] != "us-west-2" || cm.Data["ENVIRONMENT"] != "dr-production" || cm.Data["LOG_LEVEL"] != "info" {
		t.Errorf("data after the patch: %v", cm.Data)
	}
	// Run again (a crash after the patch): Check is done at once, and an
	// Apply sends nothing.
	again := buildStep(t, "kubernetes.patch", cfg(), conn(t))
	if res := stepstest.Check(t, again); !res.Done {
		t.Errorf("run again: %+v", res)
	}
	if err := again.Apply(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	after, err := client.CoreV1().ConfigMaps(ns).Get(ctxT(t, 5*time.Second), "mimir-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != cm.ResourceVersion {
		t.Errorf("a second Apply changed the object: resourceVersion %s → %s", cm.ResourceVersion, after.ResourceVersion)
	}
}

// One container's env var, by container name, with a strategic merge
// patch: the other container and the other variables stay as they were.
func TestPatchOneContainersEnvByName(t *testing.T) {
	ns := kubetest.Namespace(t)
	d := workload(ns, "api", 1, map[string]string{"app": "api"})
	d.Spec.Template.Spec.Containers = []corev1.Container{
		{Name: "app", Image: "registry.invalid/app:1", Env: []corev1.EnvVar{{Name: "REGION", Value: "us-east-1"}}},
		{Name: "proxy", Image: "registry.invalid/proxy:1", Env: []corev1.EnvVar{{Name: "UPSTREAM", Value: "localhost"}, {Name: "REGION", Value: "us-east-1"}}},
	}
	if _, err := kubetest.Client(t).AppsV1().Deployments(ns).Create(ctxT(t, 5*time.Second), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	patch := map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
		"containers": []any{map[string]any{"name": "proxy", "env": []any{map[string]any{"name": "REGION", "value": "us-west-2"}}}}}}}}
	s := buildStep(t, "kubernetes.patch", &PatchConfig{Namespace: ns, Resource: "deployments.apps", Name: "api", Patch: patch}, conn(t))
	if res := stepstest.Check(t, s); res.Done || !strings.Contains(res.Summary, "differs: spec.template.spec.containers") {
		t.Fatalf("before: %+v", res)
	}
	stepstest.Converge(t, s, 20*time.Second)
	got, err := kubetest.Client(t).AppsV1().Deployments(ns).Get(ctxT(t, 5*time.Second), "api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]map[string]string{}
	for _, c := range got.Spec.Template.Spec.Containers {
		env[c.Name] = map[string]string{}
		for _, e := range c.Env {
			env[c.Name][e.Name] = e.Value
		}
	}
	if env["proxy"]["REGION"] != "us-west-2" || env["proxy"]["UPSTREAM"] != "localhost" || env["app"]["REGION"] != "us-east-1" || len(got.Spec.Template.Spec.Containers) != 2 {
		t.Errorf("containers after the patch: %v", env)
	}
	if res := stepstest.Check(t, s); !res.Done {
		t.Errorf("after: %+v", res)
	}
}

// The seed's patch of postgres-primary-service (strategic, a singular
// resource name), and JSON patches, whose removes are done once the path
// is gone.
func TestPatchServiceAndJSONPatch(t *testing.T) {
	ns := kubetest.Namespace(t)
	client := kubetest.Client(t)
	_, err := client.CoreV1().Services(ns).Create(ctxT(t, 5*time.Second), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "postgres-primary-service", Annotations: map[string]string{"old": "x", "keep": "y"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app.kubernetes.io/name": "postgres", "app.kubernetes.io/role": "primary"},
			Ports: []corev1.ServicePort{{Port: 5432}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stepstest.Converge(t, buildStep(t, "kubernetes.patch", &PatchConfig{Namespace: ns, Resource: "service", Name: "postgres-primary-service",
		Patch: map[string]any{"spec": map[string]any{"selector": map[string]any{"app.kubernetes.io/name": "postgres", "app.kubernetes.io/role": "standby"}}}}, conn(t)), 20*time.Second)
	jp := func() *PatchConfig {
		return &PatchConfig{Namespace: ns, Resource: "svc", Name: "postgres-primary-service", Type: PatchJSON,
			Patch: `[{"op":"remove","path":"/metadata/annotations/old"},{"op":"replace","path":"/spec/ports/0/port","value":5433}]`}
	}
	stepstest.Converge(t, buildStep(t, "kubernetes.patch", jp(), conn(t)), 20*time.Second)
	svc, err := client.CoreV1().Services(ns).Get(ctxT(t, 5*time.Second), "postgres-primary-service", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Selector["app.kubernetes.io/role"] != "standby" || svc.Spec.Ports[0].Port != 5433 || svc.Annotations["old"] != "" || svc.Annotations["keep"] != "y" {
		t.Errorf("service after the patches: selector %v, port %d, annotations %v", svc.Spec.Selector, svc.Spec.Ports[0].Port, svc.Annotations)
	}
	again := buildStep(t, "kubernetes.patch", jp(), conn(t))
	if res := stepstest.Check(t, again); !res.Done {
		t.Errorf("the JSON patch run again: %+v", res)
	}
	if err := again.Apply(ctxT(t, 5*time.Second)); err != nil {
		t.Errorf("the JSON patch applied again: %v", err)
	}
	// A test operation that fails is a patch that can never apply.
	_, err = buildStep(t, "kubernetes.patch", &PatchConfig{Namespace: ns, Resource: "svc", Name: "postgres-primary-service", Type: PatchJSON,
		Patch: `[{"op":"test","path":"/spec/ports/0/port","value":1}]`}, conn(t)).Check(ctxT(t, 5*time.Second))
	if !steps.IsPermanent(err) || !strings.Contains(err.Error(), "the patch does not apply") {
		t.Errorf("a failing test op: %v", err)
	}
}

func TestPatchPermanentFailures(t *testing.T) {
	ns := kubetest.Namespace(t)
	configMap(t, ns, "cm", nil)
	merge := map[string]any{"data": map[string]any{"a": "b"}}
	for _, tt := range []struct {
		cfg  *PatchConfig
		want string
	}{
		{&PatchConfig{Namespace: ns, Resource: "configmap", Name: "missing", Type: PatchMerge, Patch: merge},
			"kubernetes.patch: get configmaps " + ns + "/missing on test_cluster: not found"},
		{&PatchConfig{Namespace: ns, Resource: "frobnicators", Name: "x", Type: PatchMerge, Patch: merge},
			"kubernetes.patch: discover frobnicators on test_cluster: the cluster serves no such resource"},
		{&PatchConfig{Resource: "configmaps", Name: "cm", Type: PatchMerge, Patch: merge},
			"kubernetes.patch: configmaps are namespaced: namespace is required"},
		{&PatchConfig{Namespace: ns, Resource: "nodes", Name: "x", Type: PatchMerge, Patch: merge},
			"kubernetes.patch: nodes are cluster-scoped: namespace must be empty"},
	} {
		s := buildStep(t, "kubernetes.patch", tt.cfg, conn(t))
		_, err := s.Check(ctxT(t, 10*time.Second))
		if !steps.IsPermanent(err) || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Check = %v, want a permanent %q", err, tt.want)
		}
	}
}

func TestPatchWithoutPatchPermissionIsForbidden(t *testing.T) {
	ns := kubetest.Namespace(t)
	configMap(t, ns, "mimir-config", map[string]string{"REGION": "us-east-1"})
	kc := serviceAccount(t, ns, "viewer", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}})
	c := &steps.Connection{Name: "dr_cluster", Type: "kubernetes", Fields: map[string]string{"kubeconfig": kc}}
	s := buildStep(t, "kubernetes.patch", &PatchConfig{Namespace: ns, Resource: "configmap", Name: "mimir-config", Type: PatchMerge,
		Patch: map[string]any{"data": map[string]any{"REGION": "us-west-2"}}}, c)
	if res := stepstest.Check(t, s); res.Done {
		t.Fatalf("Check: %+v", res)
	}
	err := s.Apply(ctxT(t, 10*time.Second))
	want := "forbidden: system:serviceaccount:" + ns + ":viewer may not patch configmaps in namespace " + ns
	if !steps.IsPermanent(err) || !strings.Contains(err.Error(), want) {
		t.Errorf("Apply = %v, want a permanent error with %q", err, want)
	}
}
