package kubernetes

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/failoverbot/failoverbot/internal/lab/kube"
	"github.com/failoverbot/failoverbot/internal/lab/kube/kubetest"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/stepstest"
)

// conn is a connection to the test cluster as its admin (the kubeconfig
// file of the cluster, its current context).
func conn(t testing.TB) *steps.Connection {
	t.Helper()
	return &steps.Connection{Name: "test_cluster", Type: "kubernetes",
		Fields: map[string]string{"kubeconfig": kubetest.Cluster(t).AdminKubeconfig()}}
}

// connTo is a connection to server (a dead peer, say) with the cluster's
// CA and the given bearer token.
func connTo(t testing.TB, server, token string) *steps.Connection {
	t.Helper()
	return &steps.Connection{Name: "test_cluster", Type: "kubernetes",
		Fields: map[string]string{"kubeconfig": writeKubeconfig(t, server, token)}}
}

// writeKubeconfig writes a kubeconfig for server authenticating with a
// bearer token (context "test").
func writeKubeconfig(t testing.TB, server, token string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: kubetest.Cluster(t).CAData()}
	cfg.AuthInfos["test"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	cfg.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func build(t testing.TB, kind string, cfg steps.Config, c *steps.Connection) steps.Probe {
	t.Helper()
	return stepstest.Build(t, Register, kind, cfg, c)
}

func buildStep(t testing.TB, kind string, cfg steps.Config, c *steps.Connection) steps.Step {
	t.Helper()
	return stepstest.BuildStep(t, Register, kind, cfg, c)
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func ptr[T any](v T) *T { return &v }

// deployment creates a Deployment of n replicas with labels on the
// Deployment and its pods (app=name plus extra).
func deployment(t testing.TB, ns, name string, n int32, extra map[string]string) *appsv1.Deployment {
	t.Helper()
	labels := map[string]string{"app": name}
	for k, v := range extra {
		labels[k] = v
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(n),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/" + name + ":1"}},
					TerminationGracePeriodSeconds: ptr(int64(0))},
			},
		},
	}
	out, err := kubetest.Client(t).AppsV1().Deployments(ns).Create(ctxT(t, 10*time.Second), d, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create deployment %s: %v", name, err)
	}
	return out
}

// waitDeployment waits (watching) until f holds for the Deployment.
func waitDeployment(t testing.TB, ns, name string, f func(*appsv1.Deployment) bool) *appsv1.Deployment {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	client := kubetest.Client(t)
	for {
		d, err := client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if f(d) {
			return d
		}
		w, err := client.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name, ResourceVersion: d.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		for ev := range w.ResultChan() {
			if d, ok := ev.Object.(*appsv1.Deployment); ok && ev.Type != watch.Deleted && f(d) {
				w.Stop()
				return d
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("deployment %s/%s: condition not met: %v", ns, name, ctx.Err())
		}
	}
}

func rolledOut(n int32) func(*appsv1.Deployment) bool {
	return func(d *appsv1.Deployment) bool {
		return d.Status.ObservedGeneration >= d.Generation && d.Status.ReadyReplicas == n && d.Status.AvailableReplicas == n &&
			d.Status.UpdatedReplicas == n && d.Status.Replicas == n
	}
}

// serviceAccount creates a service account bound to a Role of rules and
// returns a kubeconfig acting as it.
func serviceAccount(t testing.TB, ns, name string, rules ...rbacv1.PolicyRule) string {
	t.Helper()
	ctx := ctxT(t, 10*time.Second)
	client := kubetest.Client(t)
	if _, err := client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tok, err := client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return writeKubeconfig(t, kubetest.Cluster(t).Server(), tok.Status.Token)
}

// ownCluster starts a cluster of the test's own, for a test that kills
// its API server (the package's cluster is never killed: after an outage
// the controllers' watches come back with a backoff that the next test
// would pay for).
func ownCluster(t testing.TB, name string) (*kube.Cluster, *steps.Connection) {
	t.Helper()
	c := kubetest.Start(t, kube.Options{Name: name, Nodes: 1})
	return c, &steps.Connection{Name: "test_cluster", Type: "kubernetes", Fields: map[string]string{"kubeconfig": c.AdminKubeconfig()}}
}

// restartAPIServer brings a killed API server of c back (and fails the
// test if it cannot). It returns once the controllers, the scheduler and KWOK work again (a
// canary Deployment's pod is Ready): after an outage their watches come
// back with a backoff of up to 30 s, and the next test must not pay for it.
func restartAPIServer(t testing.TB, c *kube.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if !c.APIServerRunning() {
		if err := c.RestartAPIServer(ctx); err != nil {
			t.Fatalf("restart the API server: %v", err)
		}
	}
	client, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("canary-%d", time.Now().UnixNano())
	labels := map[string]string{"canary": name}
	one := int32(1)
	for {
		_, err := client.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.invalid/canary:1"}}}}},
		}, metav1.CreateOptions{})
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("create the canary: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	defer func() {
		_ = client.AppsV1().Deployments("default").Delete(context.Background(), name, metav1.DeleteOptions{})
	}()
	for {
		d, err := client.AppsV1().Deployments("default").Get(ctx, name, metav1.GetOptions{})
		if err == nil && d.Status.ObservedGeneration >= d.Generation && d.Status.AvailableReplicas == 1 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the control plane did not come back after the API server restart: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// execDir is the working directory of commands exec'd in the test
// cluster's pods (KWOK's ClusterExec runs them on this machine).
var execDir string

// fakeBin holds the programs the pods' commands find first in PATH.
var fakeBin string

// TestMain starts the package's cluster with a KWOK ClusterExec: commands
// exec'd in any pod run on this machine in execDir, with fakeBin first
// in PATH (the "images" of the test pods: psql, python).
func TestMain(m *testing.M) {
	var err error
	if execDir, err = os.MkdirTemp("", "kube-exec-"); err != nil {
		panic(err)
	}
	if fakeBin, err = os.MkdirTemp("", "kube-bin-"); err != nil {
		panic(err)
	}
	writeFakeBin()
	_ = os.Setenv("PATH", fakeBin+string(os.PathListSeparator)+os.Getenv("PATH"))
	kubetest.Main(m, "kubernetes steps", kube.Options{Name: "steps", KWOKConfig: []string{`
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterExec
metadata:
  name: local-exec
spec:
  execs:
  - local:
      workDir: ` + execDir + `
`}})
}

// writeFakeBin writes the pods' programs: python answers the seed's
// db_adapter.test_connection() with True; psql answers
// pg_is_in_recovery() from the file pg_in_recovery of its working
// directory (default f) and runs any -f script as a success; pg_basebackup
// and redis-cli do what the failback seeds use them for.
func writeFakeBin() {
	files := map[string]string{
		"python": `#!/bin/sh
case "$*" in
*test_connection*) echo True ;;
*) echo "fake python: $*" >&2; exit 2 ;;
esac
`,
		// pg_basebackup -D DIR …: a base backup is its backup_manifest.
		"pg_basebackup": `#!/bin/sh
d=
while [ $# -gt 0 ]; do case "$1" in -D) shift; d="$1" ;; esac; shift; done
[ -n "$d" ] || { echo "pg_basebackup: no -D" >&2; exit 1; }
mkdir -p "$d" && touch "$d/backup_manifest" && echo "base backup written to $d"
`,
		// redis-cli … REPLICAOF host port makes this node a replica; ROLE says which.
		"redis-cli": `#!/bin/sh
case "$*" in
*REPLICAOF*) echo slave > redis-role; echo OK ;;
*ROLE*) cat redis-role 2>/dev/null || echo master ;;
*) echo "fake redis-cli: $*" >&2; exit 2 ;;
esac
`,
		"psql": `#!/bin/sh
case "$*" in
*pg_is_in_recovery*) cat pg_in_recovery 2>/dev/null || echo f ;;
*" -f "*) echo "validation ok" ;;
*) echo "fake psql: $*" >&2; exit 2 ;;
esac
`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(fakeBin, name), []byte(body), 0o755); err != nil {
			panic(err)
		}
	}
}
