package charttest

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/failoverbot/failoverbot/internal/lab/kube/kubetest"
)

func TestMain(m *testing.M) { kubetest.Main(m, "chart") }

// The default values: two replicas on PostgreSQL, credentials only as
// references to the existing Secret, probes on the metrics port, non-root
// with a read-only root, a PDB; no RBAC objects without rules, no
// ServiceMonitor or NetworkPolicy unless asked for.
func TestDefaultValuesRender(t *testing.T) {
	r := mustRender(t, "ops", nil)
	want := map[string]int{"ConfigMap": 2, "Deployment": 1, "ServiceAccount": 1, "Service": 1, "PodDisruptionBudget": 1}
	got := r.kinds()
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%d %s, want %d (all: %v)", got[k], k, n, got)
		}
	}
	for _, k := range []string{"Role", "ClusterRole", "ServiceMonitor", "NetworkPolicy", "PersistentVolumeClaim"} {
		if got[k] != 0 {
			t.Errorf("%s rendered by default", k)
		}
	}
	dep := r.one(t, "Deployment")
	if n := num(dep.Object, "spec", "replicas"); n != 2 {
		t.Errorf("replicas %v, want 2", n)
	}
	c := container(t, dep)
	if p := str(c, "livenessProbe", "httpGet", "path"); p != "/healthz" {
		t.Errorf("liveness probe path %q", p)
	}
	if p := str(c, "readinessProbe", "httpGet", "path"); p != "/readyz" {
		t.Errorf("readiness probe path %q", p)
	}
	if ro, _, _ := unstructured.NestedBool(c, "securityContext", "readOnlyRootFilesystem"); !ro {
		t.Error("root filesystem not read-only")
	}
	if nr, _, _ := unstructured.NestedBool(dep.Object, "spec", "template", "spec", "securityContext", "runAsNonRoot"); !nr {
		t.Error("not runAsNonRoot")
	}
	env, _, _ := unstructured.NestedSlice(c, "env")
	refs := map[string]string{}
	for _, e := range env {
		m := e.(map[string]any)
		if _, literal := m["value"]; literal && strings.Contains(strings.ToUpper(str(m, "name")), "TOKEN") {
			t.Errorf("%s set as a literal", str(m, "name"))
		}
		refs[str(m, "name")] = str(m, "valueFrom", "secretKeyRef", "name")
	}
	for _, v := range []string{"SLACK_APP_TOKEN", "SLACK_BOT_TOKEN", "DATABASE_URL", "PAGERDUTY_TOKEN", "STATUSPAGE_API_KEY"} {
		if refs[v] != "failover-bot" {
			t.Errorf("%s is not read from the Secret failover-bot (%q)", v, refs[v])
		}
	}
	if !contains(r.notes, "kubectl -n ops create secret generic failover-bot", "bot rbac", "bot iam-policy") {
		t.Errorf("NOTES.txt:\n%s", r.notes)
	}
}

// Every option set (testdata/full-values.yaml): each one shows where it
// should.
func TestFullExampleRenders(t *testing.T) {
	r := mustRender(t, "ops", fullValues(t))
	got := r.kinds()
	for _, k := range []string{"ClusterRole", "ClusterRoleBinding", "ServiceMonitor", "NetworkPolicy", "PodDisruptionBudget"} {
		if got[k] != 1 {
			t.Errorf("%d %s, want 1", got[k], k)
		}
	}
	sa := r.one(t, "ServiceAccount")
	if a := sa.GetAnnotations()["eks.amazonaws.com/role-arn"]; a != "arn:aws:iam::123456789012:role/failover-bot" {
		t.Errorf("IRSA annotation %q", a)
	}
	role := r.one(t, "ClusterRole")
	rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
	if len(rules) != 3 {
		t.Errorf("%d rules, want the 3 given", len(rules))
	}
	dep := r.one(t, "Deployment")
	c := container(t, dep)
	if img := str(c, "image"); img != "registry.example.com/sre/failover-bot:v1.4.2" {
		t.Errorf("image %q", img)
	}
	args, _, _ := unstructured.NestedStringSlice(c, "args")
	if strings.Join(args, " ") != "serve -config /etc/failover/bot.yaml -metrics-addr :9191" {
		t.Errorf("args %v", args)
	}
	sm := r.one(t, "ServiceMonitor")
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(eps) != 1 || str(eps[0].(map[string]any), "interval") != "15s" {
		t.Errorf("ServiceMonitor endpoints %v", eps)
	}
	var cfg, runbooks string
	for _, o := range r.objs {
		if o.GetKind() == "ConfigMap" {
			if s := str(o.Object, "data", "bot.yaml"); s != "" {
				cfg = s
			}
			if s := str(o.Object, "data", "lab-failover.yaml"); s != "" {
				runbooks = s
			}
		}
	}
	if !contains(cfg, "expirySweep: 15s", "leaseTTL: 20s", "sre-leads", "logFormat: json") {
		t.Errorf("bot.yaml:\n%s", cfg)
	}
	if !strings.Contains(runbooks, "name: lab-failover") {
		t.Error("the runbook is not in its ConfigMap")
	}
	if strings.Contains(r.notes, "No IAM role") || strings.Contains(r.notes, "No RBAC rules") {
		t.Errorf("NOTES warn about what is set:\n%s", r.notes)
	}
}

// Values the chart refuses, each with a message that names the problem.
func TestBadValuesAreRefused(t *testing.T) {
	for _, c := range []struct {
		name   string
		values map[string]any
		want   []string
	}{
		{"sqlite with two replicas", map[string]any{"store": map[string]any{"type": "sqlite"}}, []string{"store.type sqlite", "replicas: 1"}},
		{"a token in values", map[string]any{"slackBotToken": "xoxb-1"}, []string{"slackBotToken"}},
		{"replicas not a number", map[string]any{"replicas": "two"}, []string{"replicas"}},
		{"no secret", map[string]any{"secrets": map[string]any{"existingSecret": ""}}, []string{"existingSecret"}},
		{"an unknown store", map[string]any{"store": map[string]any{"type": "mysql"}}, []string{"/store/type", "postgres", "sqlite"}},
		{"a bad IAM role", map[string]any{"serviceAccount": map[string]any{"iamRoleArn": "failover-bot"}}, []string{"iamRoleArn"}},
		{"a rule without verbs", map[string]any{"rbac": map[string]any{"rules": []any{map[string]any{"apiGroups": []any{"apps"}}}}}, []string{"verbs"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := render(t, "ops", c.values)
			if err == nil {
				t.Fatal("rendered")
			}
			if !contains(err.Error(), c.want...) {
				t.Errorf("error %q does not name %v", err, c.want)
			}
		})
	}
}
