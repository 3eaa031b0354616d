package kubernetes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failoverbot/failoverbot/internal/lab/kube/kubetest"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/stepstest"
)

// pod creates a pod and waits until it is Running and Ready (KWOK).
func pod(t testing.TB, ns, name string, labels map[string]string, containers ...string) {
	t.Helper()
	var ctrs []corev1.Container
	for _, c := range containers {
		ctrs = append(ctrs, corev1.Container{Name: c, Image: "registry.invalid/" + c + ":1"})
	}
	client := kubetest.Client(t)
	if _, err := client.CoreV1().Pods(ns).Create(ctxT(t, 5*time.Second), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.PodSpec{Containers: ctrs},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 30*time.Second)
	for {
		got, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && podReady(got) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod %s not Ready", name)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// The commands run through the API server's exec endpoint (pods/exec)
// and the node's kubelet endpoint, which is KWOK: its ClusterExec runs
// them on this machine, in execDir, with the test's fake programs first
// in PATH.
func TestExecCheck(t *testing.T) {
	ns := kubetest.Namespace(t)
	pod(t, ns, "mimir-api-0", map[string]string{"app.kubernetes.io/name": "mimir-api"}, "api", "sidecar")
	for _, tt := range []struct {
		name string
		cfg  *ExecCheckConfig
		done bool
		want string
		out  string
	}{
		{"the seed's db_adapter check, by selector", &ExecCheckConfig{PodTarget: PodTarget{Namespace: ns, Selector: "app.kubernetes.io/name=mimir-api"},
			ExecProbe: ExecProbe{Command: []string{"python", "-c", "import db_adapter; print(db_adapter.test_connection())"}, Output: "True"}},
			true, `python -c import db_adapter; print(db_adapter.test_connection()) in ` + ns + `/mimir-api-0 (api): exit 0, output "True"`, "True"},
		{"the wrong output", &ExecCheckConfig{PodTarget: PodTarget{Namespace: ns, Pod: "mimir-api-0", Container: "sidecar"},
			ExecProbe: ExecProbe{Command: []string{"echo", "False"}, Output: "True"}},
			false, `echo False in ` + ns + `/mimir-api-0 (sidecar): output "False", want "True"`, "False"},
		{"output contains", &ExecCheckConfig{PodTarget: PodTarget{Namespace: ns, Pod: "mimir-api-0"},
			ExecProbe: ExecProbe{Command: []string{"sh", "-c", "echo one; echo two"}, OutputContains: "two"}},
			true, `sh -c echo one; echo two in ` + ns + `/mimir-api-0 (api): exit 0, output "one"`, "one\ntwo"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := stepstest.Check(t, build(t, "kubernetes.execCheck", tt.cfg, conn(t)))
			if res.Done != tt.done || res.Summary != tt.want || res.Outputs["output"] != tt.out {
				t.Errorf("Check = %v %q %q\nwant %v %q %q", res.Done, res.Summary, res.Outputs["output"], tt.done, tt.want, tt.out)
			}
		})
	}
	for _, tt := range []struct {
		cfg       *ExecCheckConfig
		permanent bool
		want      string
	}{
		{&ExecCheckConfig{PodTarget: PodTarget{Namespace: ns, Pod: "nope"}, ExecProbe: ExecProbe{Command: []string{"true"}}}, true, "not found"},
		{&ExecCheckConfig{PodTarget: PodTarget{Namespace: ns, Pod: "mimir-api-0", Container: "db"}, ExecProbe: ExecProbe{Command: []string{"true"}}}, true, "has no container db"},
		{&ExecCheckConfig{PodTarget: PodTarget{Namespace: ns, Selector: "app=none"}, ExecProbe: ExecProbe{Command: []string{"true"}}}, false, "no Running, Ready pod in " + ns + " matches app=none"},
	} {
		_, err := build(t, "kubernetes.execCheck", tt.cfg, conn(t)).Check(ctxT(t, 10*time.Second))
		if err == nil || steps.IsPermanent(err) != tt.permanent || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want permanent %v with %q", tt.cfg.PodTarget, err, tt.permanent, tt.want)
		}
	}
}

// The seed's force_promote: touch a trigger file unless the check
// already holds. Apply runs the command once; a second Apply finds the
// check holding and runs nothing.
func TestExecRunsItsCommandOnlyUntilTheCheckHolds(t *testing.T) {
	ns := kubetest.Namespace(t)
	pod(t, ns, "postgres-standby-0", nil, "postgres")
	trigger := filepath.Join(execDir, "trigger-"+ns)
	counter := filepath.Join(execDir, "runs-"+ns)
	cfg := &ExecConfig{PodTarget: PodTarget{Namespace: ns, Pod: "postgres-standby-0"},
		Command: []string{"sh", "-c", "echo run >> " + counter + " && touch " + trigger},
		Check:   &ExecProbe{Command: []string{"sh", "-c", "test -f " + trigger + " && echo f || echo t"}, Output: "f"}}
	s := buildStep(t, "kubernetes.exec", cfg, conn(t))
	if res := stepstest.Check(t, s); res.Done || !strings.Contains(res.Summary, `output "t", want "f"`) {
		t.Fatalf("before: %+v", res)
	}
	res := stepstest.Converge(t, s, 20*time.Second)
	if res.Outputs["output"] != "f" {
		t.Errorf("after: %+v", res)
	}
	if err := s.Apply(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(counter); err != nil || string(b) != "run\n" {
		t.Errorf("the command ran %q times (%v), want once", b, err)
	}
}

// Exit codes through the API server's exec endpoint and a kubelet that
// reports them as a kubelet does (fakeKubelet): a check that exits
// non-zero does not hold, so Apply runs the command (the seed's
// pg_basebackup with its `test -f backup_manifest` check); a command that
// exits non-zero is a permanent error with its standard error.
func TestExecExitCodesThroughAKubelet(t *testing.T) {
	ns := kubetest.Namespace(t)
	node := fakeKubelet(t)
	kubeletPod(t, ns, "postgres-0", node)
	// A path in the "container" (the fake kubelet's root is execDir).
	manifest := "/tmp/restore-" + ns + "/backup_manifest"
	check := stepstest.Check(t, build(t, "kubernetes.execCheck", &ExecCheckConfig{PodTarget: PodTarget{Namespace: ns, Pod: "postgres-0"},
		ExecProbe: ExecProbe{Command: []string{"sh", "-c", "echo no database >&2; exit 3"}}}, conn(t)))
	if check.Done || check.Summary != "sh -c echo no database >&2; exit 3 in "+ns+"/postgres-0 (postgres): exit 3: no database" {
		t.Errorf("exit 3: %+v", check)
	}
	s := buildStep(t, "kubernetes.exec", &ExecConfig{PodTarget: PodTarget{Namespace: ns, Pod: "postgres-0"},
		Command: []string{"pg_basebackup", "-D", filepath.Dir(manifest)}, Check: &ExecProbe{Command: []string{"test", "-f", manifest}}}, conn(t))
	if res := stepstest.Check(t, s); res.Done || !strings.HasSuffix(res.Summary, ": exit 1") {
		t.Fatalf("before: %+v", res)
	}
	res := stepstest.Converge(t, s, 20*time.Second)
	if !strings.HasSuffix(res.Summary, `: exit 0, output ""`) || !exists(filepath.Join(execDir, manifest)) {
		t.Errorf("after: %+v", res)
	}
	failing := &ExecConfig{PodTarget: PodTarget{Namespace: ns, Pod: "postgres-0"},
		Command: []string{"sh", "-c", "echo pg_ctl: could not send promote signal >&2; exit 1"},
		Check:   &ExecProbe{Command: []string{"false"}}}
	err := buildStep(t, "kubernetes.exec", failing, conn(t)).Apply(ctxT(t, 10*time.Second))
	if !steps.IsPermanent(err) || !strings.HasSuffix(err.Error(), "exited 1: pg_ctl: could not send promote signal") {
		t.Errorf("a failing command: %v", err)
	}
}

// On KWOK (the lab's kubelet) a non-zero exit arrives as an internal
// error: transient, so the step retries until its deadline instead of
// reading "not done" (see fakeKubelet). This pins that behaviour.
func TestExecNonZeroExitOnKWOKIsTransient(t *testing.T) {
	ns := kubetest.Namespace(t)
	pod(t, ns, "app-0", nil, "app")
	_, err := build(t, "kubernetes.execCheck", &ExecCheckConfig{PodTarget: PodTarget{Namespace: ns, Pod: "app-0"},
		ExecProbe: ExecProbe{Command: []string{"false"}}}, conn(t)).Check(ctxT(t, 10*time.Second))
	if err == nil || steps.IsPermanent(err) || !strings.Contains(err.Error(), "exit status 1") {
		t.Errorf("false on KWOK: %v", err)
	}
}

// What a command prints is scrubbed of the run's secrets; a service
// account that may not create pods/exec gets a permanent error naming it.
func TestExecOutputIsScrubbedAndExecIsForbiddenWithoutRBAC(t *testing.T) {
	ns := kubetest.Namespace(t)
	pod(t, ns, "app-0", nil, "app")
	red := &secret.Redactor{}
	red.Add("pg-password-93jd")
	c := conn(t)
	k, _ := kindByName("kubernetes.execCheck")
	cfg := &ExecCheckConfig{PodTarget: PodTarget{Namespace: ns, Pod: "app-0"},
		ExecProbe: ExecProbe{Command: []string{"sh", "-c", "echo postgres://u:pg-password-93jd@db/x"}}}
	if err := cfg.CheckAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	inst, err := k.Build(ctxT(t, time.Second), cfg, steps.Env{Conn: c, Redactor: red})
	if err != nil {
		t.Fatal(err)
	}
	res := stepstest.Check(t, inst)
	stepstest.NoSecret(t, "pg-password-93jd", res, nil)
	if !strings.Contains(res.Outputs["output"], "postgres://u:") {
		t.Errorf("output %q", res.Outputs["output"])
	}

	kc := serviceAccount(t, ns, "no-exec", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}})
	sa := &steps.Connection{Name: "dr_cluster", Type: "kubernetes", Fields: map[string]string{"kubeconfig": kc}}
	_, err = build(t, "kubernetes.execCheck", &ExecCheckConfig{PodTarget: PodTarget{Namespace: ns, Pod: "app-0"},
		ExecProbe: ExecProbe{Command: []string{"true"}}}, sa).Check(ctxT(t, 10*time.Second))
	want := "forbidden: system:serviceaccount:" + ns + ":no-exec may not get and create pods/exec in namespace " + ns
	if !steps.IsPermanent(err) || !strings.Contains(err.Error(), want) {
		t.Errorf("exec without RBAC: %v, want a permanent %q", err, want)
	}
}

func kindByName(name string) (steps.Kind, bool) {
	for _, k := range Kinds() {
		if k.Name() == name {
			return k, true
		}
	}
	return steps.Kind{}, false
}
