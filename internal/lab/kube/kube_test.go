package kube_test

import (
	"context"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/lab/kube"
	"github.com/failoverbot/failoverbot/internal/lab/kube/kubetest"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		orphanChild(dir)
	}
	kubetest.Main(m, "lab/kube")
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestClusterReportsItsVersionAndReadyNodes(t *testing.T) {
	c := kubetest.Cluster(t)
	client := kubetest.Client(t)
	v, err := client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != "v1.36.3" || v.Major != "1" || v.Minor != "36" {
		t.Errorf("server version = %s (major %q minor %q), want v1.36.3", v.GitVersion, v.Major, v.Minor)
	}
	nodes, err := client.CoreV1().Nodes().List(ctxFor(t, 10*time.Second), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != kube.DefaultNodes {
		t.Fatalf("%d nodes, want %d", len(nodes.Items), kube.DefaultNodes)
	}
	for _, n := range nodes.Items {
		if !kube.NodeReady(&n) {
			t.Errorf("node %s not Ready: %+v", n.Name, n.Status.Conditions)
		}
		if len(n.Spec.Taints) != 0 {
			t.Errorf("node %s has taints %v, want none", n.Name, n.Spec.Taints)
		}
		if got := n.Status.Allocatable.Pods().String(); got != kube.DefaultNodePods {
			t.Errorf("node %s allocatable pods = %s, want %s", n.Name, got, kube.DefaultNodePods)
		}
		if ep := n.Status.DaemonEndpoints.KubeletEndpoint.Port; c.KubeletAddr() != "127.0.0.1:"+strconv.Itoa(int(ep)) {
			t.Errorf("node %s kubelet endpoint port %d, want KWOK's %s", n.Name, ep, c.KubeletAddr())
		}
	}
	// The admin kubeconfig on disk works as kubectl would use it.
	cfg, err := clientcmd.BuildConfigFromFlags("", c.AdminKubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kubernetes.NewForConfigOrDie(cfg).CoreV1().Namespaces().Get(ctxFor(t, 10*time.Second), "default", metav1.GetOptions{}); err != nil {
		t.Errorf("admin kubeconfig %s: %v", c.AdminKubeconfig(), err)
	}
}

func deployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app:1"}}},
			},
		},
	}
}

// waitReady waits until the Deployment reports want ready replicas.
func waitReady(ctx context.Context, t *testing.T, client kubernetes.Interface, ns, name string, want int32) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		d, err := client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && d.Status.ReadyReplicas == want && d.Status.UpdatedReplicas == want && d.Status.Replicas == want {
			return time.Since(start)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("deployment %s/%s: want %d ready replicas: %v (last: %+v, err %v)", ns, name, want, ctx.Err(), d.Status, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestDeploymentScaledFromTwoToFiveBecomesReady(t *testing.T) {
	ns := kubetest.Namespace(t)
	client := kubetest.Client(t)
	ctx := ctxFor(t, 60*time.Second)
	if _, err := client.AppsV1().Deployments(ns).Create(ctx, deployment("web", 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("2 replicas ready after %s", waitReady(ctx, t, client, ns, "web", 2).Round(time.Millisecond))

	scale, err := client.AppsV1().Deployments(ns).GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scale.Spec.Replicas = 5
	if _, err := client.AppsV1().Deployments(ns).UpdateScale(ctx, "web", scale, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("scaled 2→5: 5 ready after %s", waitReady(ctx, t, client, ns, "web", 5).Round(time.Millisecond))

	pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	running := 0
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && p.Spec.NodeName != "" {
			running++
		}
	}
	if running != 5 {
		t.Errorf("%d pods running on a node, want 5", running)
	}
}

func TestServiceAccountWithoutPatchIsForbiddenToPatch(t *testing.T) {
	ns := kubetest.Namespace(t)
	admin := kubetest.Client(t)
	ctx := ctxFor(t, 30*time.Second)
	if _, err := admin.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "routing"}, Data: map[string]string{"region": "primary"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "bot"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "read-configmaps"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "bot-reads"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "read-configmaps"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "bot", Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tok, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "bot", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest: %v", err)
	}
	cfg := kubetest.Config(t)
	sa := &rest.Config{Host: cfg.Host, BearerToken: tok.Status.Token, TLSClientConfig: rest.TLSClientConfig{CAData: cfg.CAData}}
	bot := kubernetes.NewForConfigOrDie(sa)

	// The token authenticates and the Role's verbs are allowed...
	cm, err := bot.CoreV1().ConfigMaps(ns).Get(ctx, "routing", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get with the service account's token: %v", err)
	}
	if cm.Data["region"] != "primary" {
		t.Errorf("configmap = %v", cm.Data)
	}
	// ...patch is not.
	patch := []byte(`{"data":{"region":"dr"}}`)
	_, err = bot.CoreV1().ConfigMaps(ns).Patch(ctx, "routing", types.MergePatchType, patch, metav1.PatchOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("patch without the verb: err = %v, want Forbidden", err)
	}
	t.Logf("patch refused: %v", err)
	// Another namespace is out of the Role's reach.
	if _, err := bot.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list in another namespace: err = %v, want Forbidden", err)
	}
	// The admin may patch: the refusal was RBAC, not the request.
	if _, err := admin.CoreV1().ConfigMaps(ns).Patch(ctx, "routing", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Errorf("admin patch: %v", err)
	}
}

func TestPodLogsAreServedByKWOK(t *testing.T) {
	c := kubetest.Cluster(t)
	ns := kubetest.Namespace(t)
	client := kubetest.Client(t)
	ctx := ctxFor(t, 30*time.Second)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "db-0"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "postgres", Image: "registry.invalid/postgres:17"}}},
	}
	if _, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		p, err := client.CoreV1().Pods(ns).Get(ctx, "db-0", metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod not Running: %v", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := c.SetContainerLog("LOG:  database system is ready to accept connections", "LOG:  checkpoint starting"); err != nil {
		t.Fatal(err)
	}
	want := "LOG:  database system is ready to accept connections\nLOG:  checkpoint starting\n"
	// kubectl logs: API server → the node's kubelet endpoint → KWOK.
	rc, err := client.CoreV1().Pods(ns).GetLogs("db-0", &corev1.PodLogOptions{Container: "postgres"}).Stream(ctx)
	if err != nil {
		t.Fatalf("pods/log: %v", err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("logs = %q, want the lines of %s: %q", got, c.LogFile(), want)
	}
}

// BenchmarkClusterStart starts and stops a cluster of its own per
// iteration: s/start is Start's wall time (to nodes Ready), MB-rss the
// cluster's resident memory right after.
func BenchmarkClusterStart(b *testing.B) {
	for b.Loop() {
		c, err := kube.Start(context.Background(), kube.Options{Name: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(c.StartupTime().Seconds(), "s/start")
		b.ReportMetric(float64(c.RSSBytes())/(1<<20), "MB-rss")
		if err := c.Stop(); err != nil {
			b.Fatal(err)
		}
	}
}
