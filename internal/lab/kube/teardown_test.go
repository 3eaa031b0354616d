package kube_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
	utilexec "k8s.io/client-go/util/exec"
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

// A cluster of its own whose pods' commands run on this machine
// (Options.Exec): kubectl exec goes API server → the node's kubelet
// endpoint, which reports output, input and exit codes as a kubelet does,
// and passes pod logs through to KWOK. Then it is stopped.
func TestClusterExecWithExitCodesAndTeardown(t *testing.T) {
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "marker"), []byte("in the fake container\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		seen []string // the containers Exec ran commands in
	)
	c := kubetest.Start(t, kube.Options{Name: "stop", Nodes: 1, Exec: func(ctx context.Context, ec kube.ExecCommand) error {
		mu.Lock()
		seen = append(seen, ec.Namespace+"/"+ec.Pod+"/"+ec.Container)
		mu.Unlock()
		cmd := exec.CommandContext(ctx, ec.Command[0], ec.Command[1:]...)
		cmd.Dir, cmd.Stdin, cmd.Stdout, cmd.Stderr = work, ec.Stdin, ec.Stdout, ec.Stderr
		return cmd.Run()
	}})
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
	// Through the API server over WebSocket (kubectl's default), and
	// over SPDY (older clients): the API server speaks SPDY to the kubelet
	// either way.
	for _, ws := range []bool{true, false} {
		run := func(stdin string, argv ...string) (stdout, stderr string, err error) {
			req := client.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name(pod.Name).SubResource("exec").
				VersionedParams(&corev1.PodExecOptions{Container: "postgres", Command: argv, Stdin: stdin != "", Stdout: true, Stderr: true},
					scheme.ParameterCodec)
			var ex remotecommand.Executor
			if ws {
				ex, err = remotecommand.NewWebSocketExecutor(c.RESTConfig(), "GET", req.URL().String())
			} else {
				ex, err = remotecommand.NewSPDYExecutor(c.RESTConfig(), "POST", req.URL())
			}
			if err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			opts := remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut}
			if stdin != "" {
				opts.Stdin = strings.NewReader(stdin)
			}
			err = ex.StreamWithContext(ctx, opts)
			return out.String(), errOut.String(), err
		}
		mu.Lock()
		seen = nil
		mu.Unlock()
		if out, errOut, err := run("", "cat", "marker"); err != nil || out != "in the fake container\n" {
			t.Errorf("websocket %v: exec cat marker: stdout %q stderr %q, %v", ws, out, errOut, err)
		}
		if out, _, err := run("from stdin\n", "cat"); err != nil || out != "from stdin\n" {
			t.Errorf("websocket %v: exec cat with stdin: stdout %q, %v", ws, out, err)
		}
		var exit utilexec.ExitError
		_, errOut, err := run("", "sh", "-c", "echo no backup >&2; exit 3")
		if !errors.As(err, &exit) || exit.ExitStatus() != 3 || errOut != "no backup\n" {
			t.Errorf("websocket %v: exec exit 3: %v (an exit status: %v), stderr %q; want exit status 3 and its stderr", ws, err, exit != nil, errOut)
		}
		mu.Lock()
		if want := "default/db-0/postgres"; len(seen) != 3 || seen[0] != want {
			t.Errorf("websocket %v: Exec saw %q, want 3 commands in %s", ws, seen, want)
		}
		mu.Unlock()
	}
	if err := c.SetContainerLog("LOG:  checkpoint starting"); err != nil {
		t.Fatal(err)
	}
	rc, err := client.CoreV1().Pods("default").GetLogs(pod.Name, &corev1.PodLogOptions{Container: "postgres"}).Stream(ctx)
	if err != nil {
		t.Fatalf("pods/log through the kubelet front: %v", err)
	}
	logs, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(logs) != "LOG:  checkpoint starting\n" {
		t.Errorf("pods/log through the kubelet front = %q, %v; want KWOK's log", logs, err)
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
