package kubernetes

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/failoverbot/failoverbot/internal/lab/kube"
	"github.com/failoverbot/failoverbot/internal/steps"
)

// outageStep is a step or probe of the outage test and what its summary
// says once it is done.
type outageStep struct {
	kind string
	p    steps.Probe
	done string
}

// outageJob is a Job whose pod, like the workloads', no node takes until
// the test labels one pool=dr.
const outageJob = `
apiVersion: batch/v1
kind: Job
metadata: {name: restore-db}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      nodeSelector: {pool: dr}
      containers: [{name: restore, image: registry.invalid/restore:1}]
`

// outageSteps creates, in namespace default of c, what a step of every
// kind that waits waits for, none of which can be done before the
// outage: pods that no node takes (until a node is labeled pool=dr), a
// LoadBalancer Service without an address, a ConfigMap not yet there.
func outageSteps(t *testing.T, c *kube.Cluster, cc *steps.Connection) []outageStep {
	t.Helper()
	client, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	ns := "default"
	for name, n := range map[string]int32{"api": 0, "restart": 1, "pods": 1} {
		d := workload(ns, name, n, map[string]string{"app": name})
		d.Spec.Template.Spec.NodeSelector = map[string]string{"pool": "dr"}
		if _, err := client.AppsV1().Deployments(ns).Create(ctxT(t, 5*time.Second), d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	lb := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "lb"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
		Selector: map[string]string{"app": "api"}, Ports: []corev1.ServicePort{{Port: 80}}}}
	if _, err := client.CoreV1().Services(ns).Create(ctxT(t, 5*time.Second), lb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return []outageStep{
		{"scale", buildStep(t, "kubernetes.scale", &ScaleConfig{Namespace: ns, Name: "api", Replicas: ptr(2), RequestTimeout: "2s"}, cc),
			"2 replicas, 2 of 2 updated, ready and available (was 0)"},
		{"rolloutRestart", buildStep(t, "kubernetes.rolloutRestart", &RolloutRestartConfig{Namespace: ns, Name: "restart",
			RestartedAt: "2025-03-09T02:04:05Z", RequestTimeout: "2s"}, cc), "restarted, 1 of 1 updated, ready and available"},
		{"apply", buildStep(t, "kubernetes.apply", &ApplyConfig{Namespace: ns, Manifest: outageJob, Wait: true, RequestTimeout: "2s"}, cc),
			"job default/restore-db: complete (1 succeeded)"},
		{"podsReady", build(t, "kubernetes.podsReady", &PodsReadyConfig{Namespace: ns, Selector: "app=pods", RequestTimeout: "2s"}, cc),
			"1 of 1 pods Ready"},
		{"nodesReady", build(t, "kubernetes.nodesReady", &NodesReadyConfig{Selector: "pool=dr", RequestTimeout: "2s"}, cc),
			"1 of 1 nodes Ready"},
		{"serviceAddress", build(t, "kubernetes.serviceAddress", &ServiceAddressConfig{Namespace: ns, Name: "lb", RequestTimeout: "2s"}, cc),
			"load balancer lb.dr.elb.example.com"},
		{"resourcesPresent", build(t, "kubernetes.resourcesPresent", &ResourcesPresentConfig{Namespace: ns, Resource: "configmaps",
			Names: []string{"late"}, RequestTimeout: "2s"}, cc), "1 configmaps in default: late"},
	}
}

// outageOver does, with the API server back, what the waiting steps wait
// for: a node joins pool dr, the cloud assigns the load balancer's
// address, the ConfigMap is created.
func outageOver(t *testing.T, c *kube.Cluster) {
	t.Helper()
	client, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 10*time.Second)
	if _, err := client.CoreV1().Nodes().Patch(ctx, c.NodeNames()[0], types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"pool":"dr"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Services("default").Patch(ctx, "lb", types.MergePatchType,
		[]byte(`{"status":{"loadBalancer":{"ingress":[{"hostname":"lb.dr.elb.example.com"}]}}}`), metav1.PatchOptions{}, "status"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
