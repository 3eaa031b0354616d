package kubernetes

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/failoverbot/failoverbot/internal/lab/kube/kubetest"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/stepstest"
)

func TestResourcesPresentNamesAndCounts(t *testing.T) {
	ns := kubetest.Namespace(t)
	client := kubetest.Client(t)
	for _, n := range []string{"db-credentials", "redis-password"} {
		if _, err := client.CoreV1().Secrets(ns).Create(ctxT(t, 5*time.Second), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: n}, StringData: map[string]string{"password": "hunter2-never-shown"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name string
		cfg  *ResourcesPresentConfig
		done bool
		want string
	}{
		{"named secrets", &ResourcesPresentConfig{Namespace: ns, Resource: "secrets", Names: []string{"db-credentials", "redis-password"}}, true,
			"2 secrets in " + ns + ": db-credentials, redis-password"},
		{"one missing", &ResourcesPresentConfig{Namespace: ns, Resource: "secrets", Names: []string{"db-credentials", "tls"}}, false,
			"1 secrets in " + ns + ": db-credentials; missing: tls"},
		{"one name, missing", &ResourcesPresentConfig{Namespace: ns, Resource: "secret", Names: []string{"tls"}}, false,
			"0 secrets in " + ns + "; missing: tls"},
		{"a count", &ResourcesPresentConfig{Namespace: ns, Resource: "secrets", MinCount: ptr(3)}, false,
			"2 secrets in " + ns + ": db-credentials, redis-password; want at least 3"},
		{"nothing in an empty namespace", &ResourcesPresentConfig{Namespace: ns, Resource: "cronjobs.batch"}, false,
			"0 cronjobs.batch in " + ns + "; want at least 1"},
		{"a secret's field, value not shown", &ResourcesPresentConfig{Namespace: ns, Resource: "secrets", Names: []string{"db-credentials"},
			Fields: []FieldExpectation{{Path: "data.password", Exists: ptr(true)}}}, true,
			"1 secrets in " + ns + ": db-credentials\n" + ns + "/db-credentials: data.password = (value not shown) ✓"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := build(t, "kubernetes.resourcesPresent", tt.cfg, conn(t))
			res := stepstest.Check(t, p)
			if res.Done != tt.done || res.Summary != tt.want {
				t.Errorf("Check = %v %q\nwant %v %q", res.Done, res.Summary, tt.done, tt.want)
			}
			stepstest.NoSecret(t, "hunter2-never-shown", res, nil)
			stepstest.NoSecret(t, "aHVudGVyMi1uZXZlci1zaG93bg", res, nil) // base64
		})
	}
	for _, tt := range []struct {
		cfg  *ResourcesPresentConfig
		want string
	}{
		{&ResourcesPresentConfig{Namespace: ns, Resource: "persistentvolumes"}, "persistentvolumes are cluster-scoped"},
		{&ResourcesPresentConfig{Resource: "secrets"}, "secrets are namespaced: namespace is required"},
		{&ResourcesPresentConfig{Namespace: ns, Resource: "widgets"}, "the cluster serves no such resource"},
	} {
		if _, err := build(t, "kubernetes.resourcesPresent", tt.cfg, conn(t)).Check(ctxT(t, 5*time.Second)); !steps.IsPermanent(err) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want a permanent %q", tt.cfg, err, tt.want)
		}
	}
}

// Claims get Bound by the controller-manager's volume binder while the
// step waits on its watch; field expectations show the live values.
func TestResourcesPresentBoundClaimsAndFields(t *testing.T) {
	ns := kubetest.Namespace(t)
	client := kubetest.Client(t)
	claims := build(t, "kubernetes.resourcesPresent", &ResourcesPresentConfig{Namespace: ns, Resource: "persistentvolumeclaims", Phase: "Bound",
		Fields: []FieldExpectation{{Path: "status.capacity.storage", AtLeast: ptr(1e9)}}}, conn(t))
	class := "manual-" + ns
	if _, err := client.CoreV1().PersistentVolumeClaims(ns).Create(ctxT(t, 5*time.Second), &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data-postgres-0"},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &class, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: apiresource.MustParse("1Gi")}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	res := stepstest.Check(t, claims)
	if res.Done || !strings.Contains(res.Summary, "data-postgres-0: status.phase = Pending ✗ want \"Bound\"") {
		t.Fatalf("pending: %q", res.Summary)
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv-" + ns},
		Spec: corev1.PersistentVolumeSpec{StorageClassName: class, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: apiresource.MustParse("2Gi")},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + ns}}},
	}
	if _, err := client.CoreV1().PersistentVolumes().Create(ctxT(t, 5*time.Second), pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = client.CoreV1().PersistentVolumes().Delete(ctxT(t, 5*time.Second), pv.Name, metav1.DeleteOptions{})
	})
	res = stepstest.Converge(t, claims, 60*time.Second)
	want := "1 persistentvolumeclaims in " + ns + ": data-postgres-0\n" +
		ns + "/data-postgres-0: status.phase = Bound ✓\n" +
		ns + "/data-postgres-0: status.capacity.storage = 2Gi ✓"
	if res.Summary != want || res.Outputs["count"] != "1" {
		t.Errorf("bound: %q, %v\nwant %q", res.Summary, res.Outputs, want)
	}
	vols := stepstest.Check(t, build(t, "kubernetes.resourcesPresent", &ResourcesPresentConfig{Resource: "persistentvolumes", Names: []string{pv.Name}, Phase: "Bound"}, conn(t)))
	if !vols.Done {
		t.Errorf("the volume: %q", vols.Summary)
	}

	deployment(t, ns, "mimir-api", 0, nil)
	waitDeployment(t, ns, "mimir-api", rolledOut(0))
	fields := stepstest.Check(t, build(t, "kubernetes.resourcesPresent", &ResourcesPresentConfig{Namespace: ns, Resource: "deployments.apps", Names: []string{"mimir-api"},
		Fields: []FieldExpectation{
			{Path: "spec.replicas", Equals: 2},
			{Path: `status.conditions[?(@.type=="Available")].status`, In: []any{"True", "Unknown"}},
			{Path: `metadata.annotations.failoverbot\.io/scaled-to`, Exists: ptr(false)},
			{Path: "metadata.name", Equals: "mimir-api"},
		}}, conn(t)))
	want = "1 deployments.apps in " + ns + ": mimir-api; 1 field expectations not met\n" +
		ns + "/mimir-api: spec.replicas = 0 ✗ want 2\n" +
		ns + "/mimir-api: status.conditions[?(@.type==\"Available\")].status = True ✓\n" +
		ns + "/mimir-api: metadata.annotations.failoverbot\\.io/scaled-to = (absent) ✓\n" +
		ns + "/mimir-api: metadata.name = mimir-api ✓"
	if fields.Done || fields.Summary != want {
		t.Errorf("fields: %q\nwant %q", fields.Summary, want)
	}
}

func TestServiceAddressWaitsForTheLoadBalancer(t *testing.T) {
	ns := kubetest.Namespace(t)
	client := kubetest.Client(t)
	svc, err := client.CoreV1().Services(ns).Create(ctxT(t, 5*time.Second), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "mimir-api-service"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "api"},
			Ports: []corev1.ServicePort{{Port: 443}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := build(t, "kubernetes.serviceAddress", &ServiceAddressConfig{Namespace: ns, Name: "mimir-api-service", Require: AddressHostname}, conn(t))
	res := stepstest.Check(t, p)
	if res.Done || res.Summary != "service "+ns+"/mimir-api-service: waiting for its load balancer to get a hostname" {
		t.Fatalf("before: %+v", res)
	}
	// The cloud's controller assigns the address while the step waits.
	go func() {
		time.Sleep(300 * time.Millisecond)
		_, _ = client.CoreV1().Services(ns).Patch(ctxT(t, 5*time.Second), svc.Name, types.MergePatchType,
			[]byte(`{"status":{"loadBalancer":{"ingress":[{"hostname":"dr-api-123.us-west-2.elb.amazonaws.com"}]}}}`), metav1.PatchOptions{}, "status")
	}()
	res = stepstest.Converge(t, p, 20*time.Second)
	if res.Outputs["hostname"] != "dr-api-123.us-west-2.elb.amazonaws.com" || res.Outputs["ip"] != "" ||
		res.Summary != "service "+ns+"/mimir-api-service: load balancer dr-api-123.us-west-2.elb.amazonaws.com" {
		t.Errorf("after: %+v", res)
	}
	if ip := stepstest.Check(t, build(t, "kubernetes.serviceAddress", &ServiceAddressConfig{Namespace: ns, Name: "mimir-api-service", Require: AddressIP}, conn(t))); ip.Done {
		t.Errorf("require ip with only a hostname: %+v", ip)
	}

	if _, err := client.CoreV1().Services(ns).Create(ctxT(t, 5*time.Second), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "internal"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"internal": "is of type ClusterIP, not LoadBalancer", "gone": "not found"} {
		_, err := build(t, "kubernetes.serviceAddress", &ServiceAddressConfig{Namespace: ns, Name: name}, conn(t)).Check(ctxT(t, 5*time.Second))
		if !steps.IsPermanent(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want a permanent %q", name, err, want)
		}
	}
}
