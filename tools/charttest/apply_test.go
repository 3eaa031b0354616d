package charttest

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/failoverbot/failoverbot/internal/lab/kube/kubetest"
)

// applier applies objects with server-side apply, for real or as a
// server-side dry run, with strict field validation: the API server, not
// the test, decides whether an object is valid.
type applier struct {
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newApplier(t *testing.T) *applier {
	t.Helper()
	cfg := kubetest.Config(t)
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &applier{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}
}

func (a *applier) apply(ctx context.Context, ns string, o *unstructured.Unstructured, dryRun bool) error {
	gvk := o.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return err
	}
	var ri dynamic.ResourceInterface = a.dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = a.dyn.Resource(m.Resource).Namespace(ns)
	}
	data, err := json.Marshal(o.Object)
	if err != nil {
		return err
	}
	force := true
	opts := metav1.PatchOptions{FieldManager: "charttest", Force: &force, FieldValidation: "Strict"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err = ri.Patch(ctx, o.GetName(), types.ApplyPatchType, data, opts)
	return err
}

// installServiceMonitorCRD installs testdata/servicemonitor-crd.yaml (once
// per cluster) and waits until it is served.
func installServiceMonitorCRD(t *testing.T, a *applier) {
	t.Helper()
	b, err := os.ReadFile("testdata/servicemonitor-crd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(b, &crd); err != nil {
		t.Fatal(err)
	}
	cs, err := apiextensions.NewForConfig(kubetest.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cs.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, &crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("install the ServiceMonitor CRD: %v", err)
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		c, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, cond := range c.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("the ServiceMonitor CRD was not established: %v", err)
	}
	a.mapper.Reset()
}

// Every object of the default and of the full rendering passes a
// server-side dry run against the lab's kube-apiserver v1.36 (strict
// field validation; the ServiceMonitor against its CRD).
func TestRenderedObjectsPassServerSideDryRun(t *testing.T) {
	a := newApplier(t)
	installServiceMonitorCRD(t, a)
	for name, values := range map[string]map[string]any{"defaults": nil, "full": fullValues(t)} {
		t.Run(name, func(t *testing.T) {
			ns := kubetest.Namespace(t)
			r := mustRender(t, ns, values)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for _, o := range r.objs {
				if err := a.apply(ctx, ns, o, true); err != nil {
					t.Errorf("%s %s: the API server refused it: %v", o.GetKind(), o.GetName(), err)
				}
			}
			t.Logf("%d objects accepted: %v", len(r.objs), r.kinds())
		})
	}
	// The dry run does validate: a field the API does not know is refused.
	ns := kubetest.Namespace(t)
	r := mustRender(t, ns, fullValues(t))
	sm := r.one(t, "ServiceMonitor").DeepCopy()
	_ = unstructured.SetNestedField(sm.Object, "10s", "spec", "endpoints_interval")
	if err := a.apply(context.Background(), ns, sm, true); err == nil {
		t.Error("a ServiceMonitor with an unknown field passed the dry run")
	}
	dep := r.one(t, "Deployment").DeepCopy()
	_ = unstructured.SetNestedField(dep.Object, "yes", "spec", "replicas")
	if err := a.apply(context.Background(), ns, dep, true); err == nil {
		t.Error("a Deployment with replicas: yes passed the dry run")
	}
}

// The default rendering applied for real: the Deployment's two pods are
// scheduled on the cluster's KWOK nodes, spread over both, and become
// Ready.
func TestDeploymentRunsOnKWOKNodes(t *testing.T) {
	a := newApplier(t)
	ns := kubetest.Namespace(t)
	client := kubetest.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "failover-bot", Namespace: ns},
		StringData: map[string]string{"SLACK_APP_TOKEN": "xapp-test", "SLACK_BOT_TOKEN": "xoxb-test", "DATABASE_URL": "postgres://bot@db/bot"}}
	if _, err := client.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := mustRender(t, ns, nil)
	for _, o := range r.objs {
		if err := a.apply(ctx, ns, o, false); err != nil {
			t.Fatalf("apply %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	dep := r.one(t, "Deployment")
	start := time.Now()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := client.AppsV1().Deployments(ns).Get(ctx, dep.GetName(), metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return d.Status.ReadyReplicas == 2 && d.Status.AvailableReplicas == 2 && d.Status.ObservedGeneration == d.Generation, nil
	})
	if err != nil {
		t.Fatalf("the Deployment did not get 2 ready pods: %v", err)
	}
	t.Logf("2 pods Ready in %s", time.Since(start).Round(time.Millisecond))
	pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=bot"})
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]bool{}
	for _, p := range pods.Items {
		n, err := client.CoreV1().Nodes().Get(ctx, p.Spec.NodeName, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("pod %s on node %q: %v", p.Name, p.Spec.NodeName, err)
		}
		if n.Labels["type"] != "kwok" {
			t.Errorf("pod %s on %s, not a KWOK node", p.Name, n.Name)
		}
		nodes[n.Name] = true
		ready := false
		for _, c := range p.Status.Conditions {
			ready = ready || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
		}
		if !ready {
			t.Errorf("pod %s not Ready", p.Name)
		}
	}
	if len(nodes) != 2 {
		t.Errorf("the 2 pods run on %d nodes, want spread over both", len(nodes))
	}
}
