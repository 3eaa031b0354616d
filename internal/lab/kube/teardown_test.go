package kube_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/lab/kube"
	"github.com/failoverbot/failoverbot/internal/lab/kube/kubetest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
)

const childEnv = "KUBE_TEST_ORPHAN_CHILD"

// orphanChild is the child process of TestClusterDiesWithItsParent: it
// starts a cluster in dir, prints its processes' ids and waits to be killed.
func orphanChild(dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), kubetest.StartTimeout)
	defer cancel()
	c, err := kube.Start(ctx, kube.Options{Name: "orphan", Nodes: 1, Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("pids", strings.Trim(fmt.Sprint(c.PIDs()), "[]"))
	select {}
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// waitGone waits until none of pids is alive.
func waitGone(t *testing.T, pids []int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("pid %d still alive %s later", pid, within)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// A cluster of its own whose KWOK runs exec'd commands on this machine
// (a ClusterExec in Options.KWOKConfig): kubectl exec goes API server →
// the node's kubelet endpoint → KWOK. Then it is stopped.
func TestClusterExecThroughKWOKAndTeardown(t *testing.T) {
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "marker"), []byte("in the fake container\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := kubetest.Start(t, kube.Options{Name: "stop", Nodes: 1, KWOKConfig: []string{`
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterExec
metadata:
  name: local-exec
spec:
  execs:
  - local:
      workDir: ` + work + `
`}})
	client := kubernetes.NewForConfigOrDie(c.RESTConfig())
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "db-0", Namespace: "default"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "postgres", Image: "registry.invalid/postgres:17"}}},
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		p, err := client.CoreV1().Pods("default").Get(ctx, pod.Name, metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod not Running: %v", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	req := client.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name(pod.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: "postgres", Command: []string{"cat", "marker"}, Stdout: true, Stderr: true},
			scheme.ParameterCodec)
	exec, err := remotecommand.NewSPDYExecutor(c.RESTConfig(), "POST", req.URL())
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr}); err != nil {
		t.Fatalf("exec: %v (stderr %q)", err, stderr.String())
	}
	if stdout.String() != "in the fake container\n" {
		t.Errorf("exec cat marker: stdout %q stderr %q", stdout.String(), stderr.String())
	}

	pids := c.PIDs()
	if len(pids) != len(kube.Binaries) {
		t.Fatalf("%d processes running, want %d", len(pids), len(kube.Binaries))
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pids, 5*time.Second)
	if _, err := os.Stat(c.Dir()); !os.IsNotExist(err) {
		t.Errorf("its temporary directory %s is still there: %v", c.Dir(), err)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("a second Stop: %v", err)
	}
}

// A test binary killed with SIGKILL leaks no cluster: the kernel kills the
// processes with it (Pdeathsig).
func TestClusterDiesWithItsParent(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+t.TempDir())
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	var pids []int
	for _, f := range strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "pids")) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("child printed %q", line)
		}
		pids = append(pids, pid)
	}
	if len(pids) != len(kube.Binaries) {
		t.Fatalf("child runs %d processes (%q), want %d", len(pids), line, len(kube.Binaries))
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waitGone(t, pids, 10*time.Second)
}
