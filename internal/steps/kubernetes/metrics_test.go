package kubernetes

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/failoverbot/failoverbot/internal/lab/kube"
	"github.com/failoverbot/failoverbot/internal/lab/kube/kubetest"
	"github.com/failoverbot/failoverbot/internal/steps/stepstest"
)

var gvrAPIServices = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// fakeMetricsAPI serves metrics.k8s.io/v1beta1 as an aggregated API of the
// test cluster, the way metrics-server is registered (an APIService): the
// API server's aggregator proxies the step's requests to it. It reports
// usage(pod) for the pods the cluster really has. It is unregistered when
// the test ends.
func fakeMetricsAPI(t *testing.T, ns string, usage func(pod string) (cpu, mem string)) {
	t.Helper()
	fakeMetricsAPIIn(t, kubetest.Cluster(t), ns, usage)
}

// fakeMetricsAPIIn is fakeMetricsAPI for cluster c.
func fakeMetricsAPIIn(t *testing.T, c *kube.Cluster, ns string, usage func(pod string) (cpu, mem string)) {
	t.Helper()
	client, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/apis/metrics.k8s.io/v1beta1", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: "metrics.k8s.io/v1beta1",
			APIResources: []metav1.APIResource{{Name: "pods", Namespaced: true, Kind: "PodMetrics", Verbs: []string{"get", "list"}}}})
	})
	mux.HandleFunc("/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods", func(w http.ResponseWriter, r *http.Request) {
		pods, err := client.CoreV1().Pods(r.PathValue("ns")).List(r.Context(), metav1.ListOptions{LabelSelector: r.URL.Query().Get("labelSelector")})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var items []map[string]any
		for _, p := range pods.Items {
			cpu, mem := usage(p.Name)
			items = append(items, map[string]any{"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
				"metadata":  map[string]any{"name": p.Name, "namespace": p.Namespace, "labels": p.Labels},
				"timestamp": time.Now().UTC().Format(time.RFC3339), "window": "30s",
				"containers": []any{map[string]any{"name": p.Spec.Containers[0].Name, "usage": map[string]string{"cpu": cpu, "memory": mem}}}})
		}
		writeJSON(w, map[string]any{"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": map[string]any{}, "items": items})
	})
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	if _, err := client.CoreV1().Services(ns).Create(ctxT(t, 5*time.Second), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-server"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "localhost", Ports: []corev1.ServicePort{{Port: int32(p)}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dyn := dynamic.NewForConfigOrDie(c.RESTConfig())
	api := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": "v1beta1.metrics.k8s.io"},
		"spec": map[string]any{"group": "metrics.k8s.io", "version": "v1beta1", "insecureSkipTLSVerify": true,
			"groupPriorityMinimum": int64(100), "versionPriority": int64(100),
			"service": map[string]any{"namespace": ns, "name": "metrics-server", "port": int64(p)}},
	}}
	if _, err := dyn.Resource(gvrAPIServices).Create(ctxT(t, 5*time.Second), api, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		err := dyn.Resource(gvrAPIServices).Delete(ctxT(t, 5*time.Second), "v1beta1.metrics.k8s.io", metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("unregister the metrics API: %v", err)
		}
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// The success path, through the API server's aggregator as with
// metrics-server.
func TestPodMetricsFromTheMetricsAPI(t *testing.T) {
	ns := kubetest.Namespace(t)
	deployment(t, ns, "api", 2, map[string]string{"app.kubernetes.io/part-of": "mimir"})
	waitDeployment(t, ns, "api", rolledOut(2))
	pods := podNames(t, ns, "app=api")
	var names []string
	for n := range pods {
		names = append(names, n)
	}
	if len(names) != 2 {
		t.Fatalf("pods %v", names)
	}
	if names[0] > names[1] {
		names[0], names[1] = names[1], names[0]
	}
	fakeMetricsAPI(t, ns, func(pod string) (string, string) {
		if pod == names[0] {
			return "250m", "300Mi"
		}
		return "120m", "700Mi"
	})
	// Until the aggregator finds the API available, the step's errors are
	// transient (503); Converge retries them.
	res := stepstest.Converge(t, build(t, "kubernetes.podMetrics", &PodMetricsConfig{Namespace: ns, Selector: "app.kubernetes.io/part-of=mimir", MaxMemory: "1Gi"}, conn(t)), 60*time.Second)
	want := "2 pods in " + ns + " (app.kubernetes.io/part-of=mimir): highest cpu 250m (" + names[0] + "), memory 700Mi (" + names[1] + ")\n" +
		names[0] + ": cpu 250m, memory 300Mi\n" + names[1] + ": cpu 120m, memory 700Mi"
	if res.Summary != want || res.Outputs["cpu"] != "250m" || res.Outputs["memory"] != "700Mi" {
		t.Errorf("metrics: %+v\nwant %q", res, want)
	}
	over := stepstest.Check(t, build(t, "kubernetes.podMetrics", &PodMetricsConfig{Namespace: ns, MaxCPU: "200m"}, conn(t)))
	if over.Done || !strings.Contains(over.Summary, "; over the limits: "+names[0]+" cpu 250m") {
		t.Errorf("over the cpu limit: %+v", over)
	}
}
