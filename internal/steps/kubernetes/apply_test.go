package kubernetes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/failoverbot/failoverbot/internal/lab/kube/kubetest"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/stepstest"
)

const restoreManifest = `
apiVersion: v1
kind: ConfigMap
metadata: {name: restore-settings}
data: {SOURCE: s3://mimir-backups-dr/postgres/latest}
---
apiVersion: batch/v1
kind: Job
metadata: {name: restore-db}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: restore, image: registry.invalid/restore:1, command: [restore, --from, s3://mimir-backups-dr/postgres/latest]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: registry.invalid/api:1}]
`

// The seed's restore_from_backup: server-side apply of a restore Job (and
// what goes with it), waiting for the Job to complete and the Deployment
// to roll out; applied again, nothing changes.
func TestApplyWaitsForTheJobAndTheRollout(t *testing.T) {
	ns := kubetest.Namespace(t)
	file := filepath.Join(t.TempDir(), "backup-restore-job.yaml")
	if err := os.WriteFile(file, []byte(restoreManifest), 0o600); err != nil {
		t.Fatal(err)
	}
	k, _ := kindByName("kubernetes.apply")
	cfg := &ApplyConfig{Namespace: ns, File: "backup-restore-job.yaml", Wait: true}
	if err := cfg.CheckAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	// The file is relative to the runbook's directory (steps.Env.Dir).
	p, err := k.Build(ctxT(t, time.Second), cfg, steps.Env{Conn: conn(t), Dir: filepath.Dir(file)})
	if err != nil {
		t.Fatal(err)
	}
	s := p.(steps.Step)
	t.Cleanup(func() { _ = p.(steps.Closer).Close() })
	res := stepstest.Check(t, s)
	want := "3 objects to apply or wait for\nconfigmap " + ns + "/restore-settings: to create\njob " + ns + "/restore-db: to create\ndeployment " + ns + "/api: to create"
	if res.Done || res.Summary != want {
		t.Fatalf("before: %q\nwant %q", res.Summary, want)
	}
	res = stepstest.Converge(t, s, 60*time.Second)
	want = "3 objects applied\nconfigmap " + ns + "/restore-settings: applied\njob " + ns + "/restore-db: complete (1 succeeded)\ndeployment " + ns + "/api: 2 of 2 updated, ready and available"
	if res.Summary != want {
		t.Errorf("after: %q\nwant %q", res.Summary, want)
	}
	client := kubetest.Client(t)
	job, err := client.BatchV1().Jobs(ns).Get(ctxT(t, 5*time.Second), "restore-db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if job.Status.Succeeded != 1 {
		t.Errorf("job status %+v", job.Status)
	}
	managers := map[string]string{}
	for _, m := range job.ManagedFields {
		managers[m.Manager] = string(m.Operation)
	}
	if managers[FieldManager] != "Apply" {
		t.Errorf("field managers %v, want %s applying", managers, FieldManager)
	}

	// Applied again (the bot restarted): done at once, and a second Apply
	// changes no object.
	again := buildStep(t, "kubernetes.apply", &ApplyConfig{Namespace: ns, Manifest: restoreManifest, Wait: true}, conn(t))
	if res := stepstest.Check(t, again); !res.Done {
		t.Errorf("again: %q", res.Summary)
	}
	if err := again.Apply(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	job2, err := client.BatchV1().Jobs(ns).Get(ctxT(t, 5*time.Second), "restore-db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if job2.ResourceVersion != job.ResourceVersion {
		t.Errorf("a second apply changed the job: %s → %s", job.ResourceVersion, job2.ResourceVersion)
	}

	// A Job's template cannot change: the API server refuses, permanently.
	changed := strings.Replace(restoreManifest, "restore:1", "restore:2", 1)
	_, err = buildStep(t, "kubernetes.apply", &ApplyConfig{Namespace: ns, Manifest: changed}, conn(t)).Check(ctxT(t, 10*time.Second))
	if !steps.IsPermanent(err) || !strings.Contains(err.Error(), "field is immutable") {
		t.Errorf("an immutable change: %v", err)
	}
}

func TestApplyPermanentFailures(t *testing.T) {
	ns := kubetest.Namespace(t)
	kc := serviceAccount(t, ns, "reader", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}})
	configMap(t, ns, "settings", map[string]string{"A": "1"})
	sa := &steps.Connection{Name: "dr_cluster", Type: "kubernetes", Fields: map[string]string{"kubeconfig": kc}}
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {A: '2'}\n"
	_, err := buildStep(t, "kubernetes.apply", &ApplyConfig{Namespace: ns, Manifest: cm}, sa).Check(ctxT(t, 10*time.Second))
	want := "forbidden: system:serviceaccount:" + ns + ":reader may not patch configmaps in namespace " + ns
	if !steps.IsPermanent(err) || !strings.Contains(err.Error(), want) {
		t.Errorf("without patch: %v, want a permanent %q", err, want)
	}
	for manifest, want := range map[string]string{
		"apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n": "the cluster serves no such resource",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n":          "names no namespace, and the step gives none",
	} {
		_, err := buildStep(t, "kubernetes.apply", &ApplyConfig{Manifest: manifest}, conn(t)).Check(ctxT(t, 10*time.Second))
		if !steps.IsPermanent(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want a permanent %q", manifest, err, want)
		}
	}
}

// A Job that failed ends the wait with a permanent error.
func TestApplyFailedJobIsPermanent(t *testing.T) {
	a := &Apply{}
	job := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "batch/v1", "kind": "Job",
		"metadata": map[string]any{"name": "restore-db", "namespace": "mimir"},
		"status": map[string]any{"failed": int64(1), "conditions": []any{
			map[string]any{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}}}}}
	_, err := a.finished(resource{gvk: job.GroupVersionKind(), gvr: gvrPods}, []*unstructured.Unstructured{job})
	if !steps.IsPermanent(err) || err.Error() != "kubernetes.apply: job mimir/restore-db failed: BackoffLimitExceeded: Job has reached the specified backoff limit" {
		t.Errorf("failed job: %v", err)
	}
}
