package lab

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// kubeClient is a clientset of a context of the lab's kubeconfig.
func kubeClient(t *testing.T, kubeconfig, kubeContext string) *kubernetes.Clientset {
	t.Helper()
	cfg, err := KubeRESTConfig(kubeconfig, kubeContext)
	if err != nil {
		t.Fatal(err)
	}
	return kubernetes.NewForConfigOrDie(cfg)
}

// The lab with Kubernetes, driven as `bot lab up --kubernetes` and `bot lab
// env|status|fail|restore` drive it (Serve and Remote), through the
// kubeconfig as kubectl would use it.
func TestLabKubernetesClustersSideBySideAndFailingThePrimary(t *testing.T) {
	stateDir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan *State, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, stateDir, Options{Kubernetes: true}, func(l *Lab, st *State) { ready <- st })
	}()
	var st *State
	select {
	case st = <-ready:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(3 * time.Minute):
		t.Fatal("lab not ready within 3 minutes")
	}
	t.Cleanup(func() {
		cancel()
		began := time.Now()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		t.Logf("lab down in %s", time.Since(began).Round(time.Millisecond))
	})
	t.Logf("lab with Kubernetes up in %d ms", st.StartupMillis)
	remote, err := Connect(stateDir)
	if err != nil {
		t.Fatal(err)
	}

	// `bot lab env` exports KUBECONFIG and the context names.
	path := st.Env["KUBECONFIG"]
	if path == "" || st.Env["LAB_KUBE_PRIMARY_CONTEXT"] != KubePrimaryContext || st.Env["LAB_KUBE_DR_CONTEXT"] != KubeDRContext {
		t.Fatalf("env: KUBECONFIG=%q contexts %q %q", path, st.Env["LAB_KUBE_PRIMARY_CONTEXT"], st.Env["LAB_KUBE_DR_CONTEXT"])
	}
	if exports := ExportLines(st.Env); !strings.Contains(exports, "export KUBECONFIG='"+path+"'") {
		t.Errorf("bot lab env does not export KUBECONFIG:\n%s", exports)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig %s: %v, mode %v; want 0600 (it holds client keys)", path, err, fi.Mode())
	}
	raw, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw.Contexts) != 2 || raw.Contexts[KubePrimaryContext] == nil || raw.Contexts[KubeDRContext] == nil || raw.CurrentContext != KubePrimaryContext {
		t.Fatalf("kubeconfig contexts %v current %q, want lab-primary (current) and lab-dr", raw.Contexts, raw.CurrentContext)
	}
	primaryServer := raw.Clusters[raw.Contexts[KubePrimaryContext].Cluster].Server
	if primaryServer != st.Env["LAB_KUBE_PRIMARY_SERVER"] {
		t.Errorf("lab-primary server %s, want the proxy %s", primaryServer, st.Env["LAB_KUBE_PRIMARY_SERVER"])
	}

	primary := kubeClient(t, path, KubePrimaryContext)
	dr := kubeClient(t, path, KubeDRContext)
	rctx, rcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer rcancel()
	// Two clusters, each the right one: their nodes carry their region.
	for region, client := range map[string]*kubernetes.Clientset{"primary": primary, "dr": dr} {
		v, err := client.Discovery().ServerVersion()
		if err != nil || v.GitVersion != "v1.36.3" {
			t.Errorf("%s: version %v, %v; want v1.36.3", region, v, err)
		}
		nodes, err := client.CoreV1().Nodes().List(rctx, metav1.ListOptions{LabelSelector: "topology.kubernetes.io/region=" + region})
		if err != nil || len(nodes.Items) != 2 {
			t.Errorf("%s: nodes of region %s: %v, %v; want 2", region, region, nodes, err)
		}
	}
	marker := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "written-in-primary"}}
	if _, err := primary.CoreV1().ConfigMaps("default").Create(rctx, marker, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := dr.CoreV1().ConfigMaps("default").Get(rctx, marker.Name, metav1.GetOptions{}); err == nil {
		t.Fatal("a ConfigMap created through lab-primary is in lab-dr: both contexts reach one cluster")
	}

	status := func() Status {
		t.Helper()
		s, err := remote.Status(rctx)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := status()
	for _, region := range []string{"primary", "dr"} {
		if svc := serviceByName(s, region, "kube-apiserver"); !svc.Up || !strings.Contains(svc.Detail, "v1.36.3, 2/2 nodes Ready") {
			t.Errorf("status of the %s API server: %+v", region, svc)
		}
	}

	const deadline = 2 * time.Second
	for _, mode := range []FailMode{FailBlackhole, FailRefuse, FailStop} {
		t.Run(string(mode), func(t *testing.T) {
			if err := remote.FailPrimary(rctx, mode); err != nil {
				t.Fatal(err)
			}
			// The client made before the failure (its connection pooled)
			// and a new one both fail within their deadline.
			for name, client := range map[string]*kubernetes.Clientset{"pooled": primary, "new": kubeClient(t, path, KubePrimaryContext)} {
				cctx, ccancel := context.WithTimeout(rctx, deadline)
				began := time.Now()
				_, err := client.CoreV1().ConfigMaps("default").Get(cctx, marker.Name, metav1.GetOptions{})
				took := time.Since(began)
				ccancel()
				if err == nil {
					t.Errorf("%s client: the failed primary answered", name)
				}
				if took > deadline+500*time.Millisecond {
					t.Errorf("%s client: failed after %s, past its %s deadline", name, took, deadline)
				}
				t.Logf("%s client: failed in %s: %v", name, took.Round(time.Millisecond), err)
			}
			dctx, dcancel := context.WithTimeout(rctx, deadline)
			if _, err := dr.CoreV1().Nodes().List(dctx, metav1.ListOptions{}); err != nil {
				t.Errorf("DR cluster with the primary failed: %v", err)
			}
			dcancel()
			s := status()
			if s.Failed != mode || serviceByName(s, "primary", "kube-apiserver").Up || !serviceByName(s, "dr", "kube-apiserver").Up {
				t.Errorf("status with the primary failed (%s):\n%s", mode, s)
			}

			if err := remote.RestorePrimary(rctx); err != nil {
				t.Fatal(err)
			}
			// It answers again, with its data (a killed API server comes
			// back on etcd's state). The pooled client may need a retry
			// for its dead connection, as any client would.
			began := time.Now()
			for {
				cctx, ccancel := context.WithTimeout(rctx, deadline)
				_, err := primary.CoreV1().ConfigMaps("default").Get(cctx, marker.Name, metav1.GetOptions{})
				ccancel()
				if err == nil {
					break
				}
				if time.Since(began) > 10*time.Second {
					t.Fatalf("primary not answering 10s after restore: %v", err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Logf("primary answers %s after restore", time.Since(began).Round(time.Millisecond))
			if svc := serviceByName(status(), "primary", "kube-apiserver"); !svc.Up {
				t.Errorf("status after restore: %+v", svc)
			}
		})
	}

	// After it all, the primary's controllers, scheduler and KWOK work
	// again with the restarted API server: a Deployment gets Ready pods
	// (once their watches' back-off ends: seconds after repeated outages,
	// as in any cluster).
	replicas := int32(3)
	labels := map[string]string{"app": "after-restore"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "after-restore"},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app:1"}}}}},
	}
	if _, err := primary.AppsV1().Deployments("default").Create(rctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	for {
		got, err := primary.AppsV1().Deployments("default").Get(rctx, d.Name, metav1.GetOptions{})
		if err == nil && got.Status.ReadyReplicas == replicas {
			break
		}
		select {
		case <-rctx.Done():
			t.Fatalf("deployment on the restored primary: %v (status %+v, err %v)", rctx.Err(), got.Status, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Logf("a Deployment on the restored primary is ready in %s", time.Since(began).Round(time.Millisecond))
}

// BenchmarkLabUpWithKubernetes is BenchmarkLabUp with both clusters: the
// whole lab's start-up (s/up), and the two clusters' resident memory once
// up (MB-rss-kube, every process of both added up).
func BenchmarkLabUpWithKubernetes(b *testing.B) {
	for b.Loop() {
		l, err := Up(context.Background(), Options{Kubernetes: true})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(l.StartupTime().Seconds(), "s/up")
		p, d := l.KubeClusters()
		b.ReportMetric(float64(p.RSSBytes()+d.RSSBytes())/(1<<20), "MB-rss-kube")
		if err := l.Down(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
