package access

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/failoverbot/failoverbot/internal/lab/kube/kubetest"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/builtin"
)

func TestMain(m *testing.M) { kubetest.Main(m, "access") }

// The bot's service account in the lab.
const (
	saNamespace = "failover-bot"
	saName      = "failover-bot"
	saUser      = "system:serviceaccount:" + saNamespace + ":" + saName
)

// restoreJob stands in for the Mimir team's manifest the seed names
// (kept next to the runbook, not shipped).
const restoreJob = `apiVersion: batch/v1
kind: Job
metadata: {name: postgres-restore}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: restore, image: postgres:16, command: [pg_restore]}]
`

// seedAsServiceAccount loads the Mimir failover seed with both clusters
// pointed at the lab cluster as the bot's service account (a kubeconfig
// that impersonates it), next to a manifest for its restore step.
func seedAsServiceAccount(t *testing.T) *runbook.Runbook {
	t.Helper()
	dir := t.TempDir()
	src, err := os.ReadFile("../../runbooks/mimir-region-failover.yaml")
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(dir, "mimir-region-failover.yaml"), src, 0o600))
	must(t, os.MkdirAll(filepath.Join(dir, "mimir"), 0o700))
	must(t, os.WriteFile(filepath.Join(dir, "mimir", "backup-restore-job.yaml"), []byte(restoreJob), 0o600))
	kc := kubetest.Cluster(t).Kubeconfig("bot", "")
	for _, ai := range kc.AuthInfos {
		ai.Impersonate = saUser
	}
	kcPath := filepath.Join(dir, "kubeconfig")
	must(t, clientcmd.WriteToFile(*kc, kcPath))
	reg, err := builtin.Registry()
	must(t, err)
	overlay, err := runbook.ParseOverlay("lab", []byte(`name: lab
connections:
  primary_cluster: {type: kubernetes, kubeconfig: `+kcPath+`, context: bot}
  dr_cluster: {type: kubernetes, kubeconfig: `+kcPath+`, context: bot}
`), reg)
	must(t, err)
	rb, err := runbook.Load(filepath.Join(dir, "mimir-region-failover.yaml"), reg, runbook.WithOverlay(overlay))
	must(t, err)
	return rb
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// mimirObjects creates what the seed's Kubernetes steps act on, as admin.
func mimirObjects(t *testing.T, ctx context.Context, cs *kubernetes.Clientset) {
	t.Helper()
	for _, ns := range []string{"mimir", saNamespace} {
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		must(t, err)
	}
	_, err := cs.CoreV1().ServiceAccounts(saNamespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: saName}}, metav1.CreateOptions{})
	must(t, err)
	deploy := func(ns, name string, replicas int32) {
		labels := map[string]string{"app": name, "app.kubernetes.io/part-of": "mimir"}
		_, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "mimir:1"}}}}},
		}, metav1.CreateOptions{})
		must(t, err)
	}
	deploy("kube-system", "cluster-autoscaler", 0)
	for _, d := range []string{"mimir-api", "mimir-worker", "mimir-analytics", "mimir-web"} {
		deploy("mimir", d, 1)
	}
	_, err = cs.CoreV1().ConfigMaps("mimir").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "mimir-config"},
		Data: map[string]string{"REGION": "us-east-1"}}, metav1.CreateOptions{})
	must(t, err)
	for _, svc := range []string{"postgres-primary-service", "mimir-api-service", "mimir-web-service"} {
		_, err := cs.CoreV1().Services("mimir").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: svc},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": svc},
				Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
		must(t, err)
	}
	_, err = cs.CoreV1().Pods("mimir").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "postgres-standby-0", Labels: map[string]string{"app": "postgres"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "postgres", Image: "postgres:16"}}}}, metav1.CreateOptions{})
	must(t, err)
}

// applyObjects creates the generated RBAC objects, as admin.
func applyObjects(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, objs []any) {
	t.Helper()
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *rbacv1.ClusterRole:
			_, err = cs.RbacV1().ClusterRoles().Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRoleBinding:
			_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.Role:
			_, err = cs.RbacV1().Roles(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.RoleBinding:
			_, err = cs.RbacV1().RoleBindings(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		default:
			t.Fatalf("unexpected object %T", o)
		}
		must(t, err)
	}
}

// allowed asks the API server whether the service account may verb the
// resource (SubjectAccessReview, as admin).
func allowed(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, verb, group, resource, ns, name string) bool {
	t.Helper()
	res, sub, _ := strings.Cut(resource, "/")
	r, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User: saUser, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + saNamespace, "system:authenticated"},
		ResourceAttributes: &authzv1.ResourceAttributes{Verb: verb, Group: group, Resource: res, Subresource: sub, Namespace: ns, Name: name}}}, metav1.CreateOptions{})
	must(t, err)
	return r.Status.Allowed
}

func TestSeedRBACLetsEveryKubernetesStepRunAsTheServiceAccount(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cs := kubetest.Client(t)
	rb := seedAsServiceAccount(t)
	clusters := Clusters(Derive([]*runbook.Runbook{rb}))
	if len(clusters) != 1 || len(clusters[0].Uncovered) > 0 {
		t.Fatalf("want one cluster (both connections name the same context), every step covered; got %+v", clusters)
	}
	c := clusters[0]
	mimirObjects(t, ctx, cs)
	applyObjects(t, ctx, cs, c.Objects(Subject{Name: "failover-bot", ServiceAccount: saName, Namespace: saNamespace}))

	// Every request the rules describe is allowed, and no more: the same
	// verbs on another object, or another verb, are denied.
	for _, r := range c.Rules {
		names := r.Names
		if len(names) == 0 {
			names = []string{""}
		}
		for _, v := range r.Verbs {
			for _, n := range names {
				if !allowed(t, ctx, cs, v, r.Group, r.Resource, r.Namespace, n) {
					t.Errorf("SubjectAccessReview denies %s %s.%s %q in %q, which the rules grant", v, r.Resource, r.Group, n, r.Namespace)
				}
			}
		}
	}
	for _, deny := range []struct{ verb, group, resource, ns, name string }{
		{"delete", "apps", "deployments", "mimir", "mimir-api"},
		{"patch", "apps", "deployments", "mimir", "some-other-app"},
		{"get", "", "secrets", "mimir", "db-password"},
		{"patch", "", "configmaps", "kube-system", "mimir-config"},
		{"list", "", "pods", "default", ""},
	} {
		if allowed(t, ctx, cs, deny.verb, deny.group, deny.resource, deny.ns, deny.name) {
			t.Errorf("the service account may %s %s.%s %q in %q, which no step needs", deny.verb, deny.resource, deny.group, deny.name, deny.ns)
		}
	}

	// Run every Kubernetes step's Check, then Apply, then Check again
	// (which follows a watch) as the service account: none is forbidden.
	vars := runbook.Vars{Params: rb.ParamsWithDefaults(map[string]string{"allow_restore_from_backup": "yes"}), Outputs: map[string]map[string]string{}}
	ran := 0
	for _, s := range append(slices.Clone(rb.Assess), rb.AllSteps()...) {
		if !strings.HasPrefix(s.Kind, "kubernetes.") {
			continue
		}
		ran++
		inst, err := s.Build(ctx, vars)
		if err != nil {
			t.Errorf("step %s: build: %v", s.ID, err)
			continue
		}
		forbidden := func(what string, err error) {
			if apierrors.IsForbidden(err) || (err != nil && strings.Contains(err.Error(), "forbidden")) {
				t.Errorf("step %s (%s): %s as %s: %v", s.ID, s.Kind, what, saUser, err)
			}
		}
		sctx, scancel := context.WithTimeout(ctx, 3*time.Second)
		_, err = inst.Check(sctx)
		forbidden("check", err)
		if err != nil && mustSucceed(s.Kind) {
			t.Errorf("step %s (%s): check: %v", s.ID, s.Kind, err)
		}
		if st, ok := s.MayApply(inst); ok {
			err := st.Apply(sctx)
			forbidden("apply", err)
			if err != nil && mustSucceed(s.Kind) {
				t.Errorf("step %s (%s): apply: %v", s.ID, s.Kind, err)
			}
		}
		_, err = inst.Check(sctx)
		forbidden("check after apply", err)
		scancel()
		if c, ok := inst.(steps.Closer); ok {
			_ = c.Close()
		}
	}
	if ran < 20 {
		t.Errorf("ran %d Kubernetes steps of the seed, want its 20-odd", ran)
	}
	// The Applies took effect (as the service account).
	d, err := cs.AppsV1().Deployments("mimir").Get(ctx, "mimir-api", metav1.GetOptions{})
	must(t, err)
	if *d.Spec.Replicas != 3 {
		t.Errorf("mimir-api has %d replicas after the scale step ran as the service account, want 3", *d.Spec.Replicas)
	}
	if _, err := cs.BatchV1().Jobs("mimir").Get(ctx, "postgres-restore", metav1.GetOptions{}); err != nil {
		t.Errorf("the restore Job was not created by the apply step as the service account: %v", err)
	}

	// One verb fewer: without patch on mimir-worker, its scale step is
	// forbidden, and the error names the verb.
	role, err := cs.RbacV1().Roles("mimir").Get(ctx, "failover-bot", metav1.GetOptions{})
	must(t, err)
	removed := false
	for i, r := range role.Rules {
		if slices.Equal(r.ResourceNames, []string{"mimir-worker"}) {
			role.Rules[i].Verbs = slices.DeleteFunc(slices.Clone(r.Verbs), func(v string) bool { return v == "patch" })
			removed = true
		}
	}
	if !removed {
		t.Fatal("no rule names mimir-worker")
	}
	_, err = cs.RbacV1().Roles("mimir").Update(ctx, role, metav1.UpdateOptions{})
	must(t, err)
	_, err = cs.AppsV1().Deployments("mimir").Patch(ctx, "mimir-worker", "application/merge-patch+json", []byte(`{"spec":{"replicas":1}}`), metav1.PatchOptions{})
	must(t, err)
	scale := rb.Step("scale_worker")
	if scale == nil {
		t.Fatal("the seed has no step scale_worker")
	}
	inst, err := scale.Build(ctx, vars)
	must(t, err)
	defer inst.(steps.Closer).Close()
	st, _ := scale.MayApply(inst)
	err = st.Apply(ctx)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "patch") || !strings.Contains(err.Error(), "mimir-worker") {
		t.Errorf("scale without patch = %v; want forbidden, naming patch and mimir-worker", err)
	}
	if !steps.IsPermanent(err) {
		t.Errorf("a forbidden patch is not permanent: %v", err)
	}
}

// mustSucceed lists the kinds whose calls the lab answers in full (the
// others reach a kubelet or an API the lab's cluster does not serve:
// exec, logs, the metrics API; their requests must still be allowed).
func mustSucceed(kind string) bool {
	switch kind {
	case "kubernetes.exec", "kubernetes.execCheck", "kubernetes.logs", "kubernetes.podMetrics":
		return false
	}
	return true
}
