package kubernetes

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/failoverbot/failoverbot/internal/lab/kube"
	"github.com/failoverbot/failoverbot/internal/lab/kube/kubetest"
)

// seedLab is what `bot lab up --kubernetes` gives the seed runbooks: two
// clusters, contexts lab-primary and lab-dr in $KUBECONFIG (the lab
// overlay's contexts), with the workloads the seeds name: Mimir in
// namespace mimir (mimir-api, -worker, -analytics, -web, the PostgreSQL
// and Redis pods, mimir-config, the services, claims, backups) and
// cluster-autoscaler in kube-system, MAIP in maip-services. A "cloud
// controller" gives LoadBalancer services their hostnames.
type seedLab struct {
	primary, dr   *kube.Cluster
	pc, dc        *kubernetes.Clientset
	primaryRoot   string // the exec root of the primary's pods
	drRoot        string
	hostnames     map[string]string // "dr/mimir-api-service" → its load balancer
	primaryKubelt string            // the primary's fake kubelet node (postgres-0)
}

var mimirApps = []string{"mimir-api", "mimir-worker", "mimir-analytics", "mimir-web"}

func clusterExecConfig(root string) []string {
	return []string{`
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterExec
metadata:
  name: local-exec
spec:
  execs:
  - local:
      workDir: ` + root + `
`}
}

func startSeedLab(t *testing.T) *seedLab {
	t.Helper()
	l := &seedLab{primaryRoot: t.TempDir(), drRoot: t.TempDir(), hostnames: map[string]string{}}
	l.primary = kubetest.Start(t, kube.Options{Name: "lab-primary", KWOKConfig: clusterExecConfig(l.primaryRoot)})
	l.dr = kubetest.Start(t, kube.Options{Name: "lab-dr", KWOKConfig: clusterExecConfig(l.drRoot)})
	var err error
	if l.pc, err = l.primary.Clientset(); err != nil {
		t.Fatal(err)
	}
	if l.dc, err = l.dr.Clientset(); err != nil {
		t.Fatal(err)
	}
	cfg := l.primary.Kubeconfig(lab("primary"), "")
	dr := l.dr.Kubeconfig(lab("dr"), "")
	cfg.Clusters[lab("dr")], cfg.AuthInfos[lab("dr")], cfg.Contexts[lab("dr")] = dr.Clusters[lab("dr")], dr.AuthInfos[lab("dr")], dr.Contexts[lab("dr")]
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", path)
	for _, region := range []string{"primary", "dr"} {
		l.cloudController(t, region)
		if err := l.cluster(region).SetContainerLog("mimir starting", "connected to postgres-primary-service", "listening on :8080"); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

func lab(region string) string { return "lab-" + region }

func (l *seedLab) client(region string) *kubernetes.Clientset {
	if region == "primary" {
		return l.pc
	}
	return l.dc
}

func (l *seedLab) cluster(region string) *kube.Cluster {
	if region == "primary" {
		return l.primary
	}
	return l.dr
}

// mimir creates Mimir's objects in a region, its applications at 0
// replicas (the DR region before a failover).
func (l *seedLab) mimir(t *testing.T, region string) {
	t.Helper()
	c := l.client(region)
	ctx := ctxT(t, time.Minute)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mimir"}}, metav1.CreateOptions{}))
	if err := l.cluster(region).WaitDefaultServiceAccount(ctx, "mimir"); err != nil {
		t.Fatal(err)
	}
	for _, app := range mimirApps {
		labels := map[string]string{"app.kubernetes.io/part-of": "mimir", "app.kubernetes.io/name": app}
		must(c.AppsV1().Deployments("mimir").Create(ctx, workload("mimir", app, 0, labels), metav1.CreateOptions{}))
	}
	must(c.AppsV1().Deployments("kube-system").Create(ctx, workload("kube-system", "cluster-autoscaler", 0, map[string]string{"app": "cluster-autoscaler"}), metav1.CreateOptions{}))
	must(c.CoreV1().ConfigMaps("mimir").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "mimir-config"},
		Data: map[string]string{"REGION": "us-east-1", "ENVIRONMENT": "production", "LOG_LEVEL": "info"}}, metav1.CreateOptions{}))
	must(c.CoreV1().Secrets("mimir").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mimir-db"},
		StringData: map[string]string{"password": "lab-only"}}, metav1.CreateOptions{}))
	svc := func(name string, typ corev1.ServiceType, sel map[string]string) {
		must(c.CoreV1().Services("mimir").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.ServiceSpec{Type: typ, Selector: sel, Ports: []corev1.ServicePort{{Port: 443}}}}, metav1.CreateOptions{}))
	}
	svc("mimir-api-service", corev1.ServiceTypeLoadBalancer, map[string]string{"app.kubernetes.io/name": "mimir-api"})
	svc("mimir-web-service", corev1.ServiceTypeLoadBalancer, map[string]string{"app.kubernetes.io/name": "mimir-web"})
	svc("postgres-primary-service", corev1.ServiceTypeClusterIP, map[string]string{"app.kubernetes.io/name": "postgres", "app.kubernetes.io/role": "primary"})
	svc("redis-service", corev1.ServiceTypeClusterIP, map[string]string{"app": "redis"})
	must(c.BatchV1().CronJobs("mimir").Create(ctx, &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "postgres-backup"},
		Spec: batchv1.CronJobSpec{Schedule: "0 * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "backup", Image: "registry.invalid/backup:1"}}}}}}}},
		metav1.CreateOptions{}))
	l.boundClaim(t, region)
	// The databases: the DR standby (KWOK runs its commands) and the
	// primary's postgres-0 on a kubelet that reports exit codes (its
	// failback check is `test -f`), redis-0 on KWOK.
	if region == "dr" {
		l.pod(t, region, "postgres-standby-0", map[string]string{"app.kubernetes.io/name": "postgres", "app.kubernetes.io/role": "standby"})
		l.pod(t, region, "redis-0", map[string]string{"app": "redis"})
		return
	}
	if l.primaryKubelt == "" {
		l.primaryKubelt = fakeKubeletIn(t, c, l.primaryRoot)
		l.leases(t, c, l.primaryKubelt)
	}
	kubeletPodIn(t, c, "mimir", "postgres-0", l.primaryKubelt, map[string]string{"app.kubernetes.io/name": "postgres", "app.kubernetes.io/role": "primary"})
	l.pod(t, region, "redis-0", map[string]string{"app": "redis"})
}

// maip creates MAIP's services namespace: two deployments at 0 and a service.
func (l *seedLab) maip(t *testing.T, region string) {
	t.Helper()
	c := l.client(region)
	ctx := ctxT(t, time.Minute)
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "maip-services"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := l.cluster(region).WaitDefaultServiceAccount(ctx, "maip-services"); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"maip-api", "maip-ingest"} {
		if _, err := c.AppsV1().Deployments("maip-services").Create(ctx, workload("maip-services", app, 0, map[string]string{"app": app}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CoreV1().Services("maip-services").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "maip-api"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "maip-api"}, Ports: []corev1.ServicePort{{Port: 8080}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func workload(ns, name string, n int32, labels map[string]string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: &n, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{TerminationGracePeriodSeconds: ptr(int64(0)),
					Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/" + name + ":1"}}}}},
	}
}

// pod creates a KWOK pod in mimir and waits until it is Ready.
func (l *seedLab) pod(t *testing.T, region, name string, labels map[string]string) {
	t.Helper()
	c := l.client(region)
	ctx := ctxT(t, 30*time.Second)
	if _, err := c.CoreV1().Pods("mimir").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "registry.invalid/" + name + ":1"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		p, err := c.CoreV1().Pods("mimir").Get(ctx, name, metav1.GetOptions{})
		if err == nil && podReady(p) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: pod %s not Ready", region, name)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// boundClaim creates a volume, then a claim the volume binder binds to
// it at once, and waits for Bound.
func (l *seedLab) boundClaim(t *testing.T, region string) {
	t.Helper()
	c := l.client(region)
	ctx := ctxT(t, time.Minute)
	class := "mimir-" + region
	if _, err := c.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "mimir-postgres-" + region},
		Spec: corev1.PersistentVolumeSpec{StorageClassName: class, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: apiresource.MustParse("10Gi")},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/postgres"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().PersistentVolumeClaims("mimir").Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data-postgres-0"},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &class, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: apiresource.MustParse("10Gi")}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := c.CoreV1().PersistentVolumeClaims("mimir").Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=data-postgres-0"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		if pvc, ok := ev.Object.(*corev1.PersistentVolumeClaim); ok && pvc.Status.Phase == corev1.ClaimBound {
			return
		}
	}
	t.Fatalf("%s: the claim was not bound", region)
}

// cloudController gives every LoadBalancer service of the region a
// hostname, as a cloud's service controller would, a moment after it
// sees one without.
func (l *seedLab) cloudController(t *testing.T, region string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	c := l.client(region)
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			w, err := c.CoreV1().Services("").Watch(ctx, metav1.ListOptions{})
			if err != nil {
				select {
				case <-ctx.Done():
				case <-time.After(200 * time.Millisecond):
				}
				continue
			}
			for ev := range w.ResultChan() {
				svc, ok := ev.Object.(*corev1.Service)
				if !ok || ev.Type == watch.Deleted || svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Status.LoadBalancer.Ingress) > 0 {
					continue
				}
				time.Sleep(100 * time.Millisecond)
				host := fmt.Sprintf("%s-%s.%s.elb.example.com", svc.Name, strings.ToLower(strings.ReplaceAll(svc.Namespace, "-", "")), region)
				patch := fmt.Sprintf(`{"status":{"loadBalancer":{"ingress":[{"hostname":%q}]}}}`, host)
				_, _ = c.CoreV1().Services(svc.Namespace).Patch(ctx, svc.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "status")
			}
		}
	}()
}

// leases renews the fake kubelet node's lease, as a kubelet does, so that
// the node lifecycle controller keeps it Ready.
func (l *seedLab) leases(t *testing.T, c kubernetes.Interface, node string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			now := metav1.NewMicroTime(time.Now())
			leases := c.CoordinationV1().Leases("kube-node-lease")
			lease, err := leases.Get(ctx, node, metav1.GetOptions{})
			if err != nil {
				_, _ = leases.Create(ctx, &coordv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: node},
					Spec: coordv1.LeaseSpec{HolderIdentity: &node, LeaseDurationSeconds: ptr(int32(40)), RenewTime: &now}}, metav1.CreateOptions{})
			} else {
				lease.Spec.RenewTime = &now
				_, _ = leases.Update(ctx, lease, metav1.UpdateOptions{})
			}
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
			}
		}
	}()
}

// exists says whether a file exists (a command's effect in a pod's root).
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
