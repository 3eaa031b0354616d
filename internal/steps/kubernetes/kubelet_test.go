package kubernetes

import (
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/failoverbot/failoverbot/internal/lab/kube"
	"github.com/failoverbot/failoverbot/internal/lab/kube/kubetest"
)

// KWOK, the test cluster's kubelet, reports a command's non-zero exit as
// an internal error with the status in its text (it wraps the exec error,
// so the kubelet streaming code it uses cannot see an exit code). A real
// kubelet sends the v4 remotecommand status NonZeroExitCode with the
// code. fakeKubelet is a node whose kubelet endpoint speaks that protocol
// (kube.ExecHandler): the API server's exec endpoint proxies to it as to
// any kubelet, and the commands run on this machine in execDir.

// fakeKubelet registers a node of the test cluster served by a local
// kubelet exec endpoint and returns its name; pods bound to it are marked
// Running and Ready by kubeletPod.
func fakeKubelet(t testing.TB) string {
	t.Helper()
	return fakeKubeletIn(t, kubetest.Client(t), execDir)
}

// fakeKubeletIn is fakeKubelet for the cluster of client. Its "containers"
// share the file system root: commands run in root, and arguments that
// are absolute paths under /tmp/ or /scripts/ are taken inside root.
func fakeKubeletIn(t testing.TB, client kubernetes.Interface, root string) string {
	t.Helper()
	srv := httptest.NewTLSServer(kube.ExecHandler(func(ctx context.Context, c kube.ExecCommand) error {
		argv := c.Command
		for i, a := range argv {
			if strings.HasPrefix(a, "/tmp/") || strings.HasPrefix(a, "/scripts/") {
				argv[i] = filepath.Join(root, a)
			}
		}
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir, cmd.Stdin, cmd.Stdout, cmd.Stderr = root, c.Stdin, c.Stdout, c.Stderr
		return cmd.Run()
	}))
	t.Cleanup(srv.Close)
	_, portStr, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	name := "fake-kubelet-" + strings.ToLower(strconv.FormatInt(time.Now().UnixNano()%1e9, 36))
	node, err := client.CoreV1().Nodes().Create(ctxT(t, 5*time.Second), &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.NodeSpec{Taints: []corev1.Taint{{Key: "fake-kubelet", Effect: corev1.TaintEffectNoSchedule}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.CoreV1().Nodes().Delete(ctxT(t, 5*time.Second), name, metav1.DeleteOptions{}) })
	status, _ := json.Marshal(map[string]any{"status": corev1.NodeStatus{
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(port)}},
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "FakeKubelet",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
	}})
	if _, err := client.CoreV1().Nodes().Patch(ctxT(t, 5*time.Second), node.Name, types.StrategicMergePatchType, status, metav1.PatchOptions{}, "status"); err != nil {
		t.Fatal(err)
	}
	return name
}

// kubeletPod creates a pod bound to the fake kubelet's node and marks it
// Running and Ready, as a kubelet would.
func kubeletPod(t testing.TB, ns, name, node string) {
	t.Helper()
	kubeletPodIn(t, kubetest.Client(t), ns, name, node, nil)
}

// kubeletPodIn is kubeletPod for the cluster of client, with labels.
func kubeletPodIn(t testing.TB, client kubernetes.Interface, ns, name, node string, labels map[string]string) {
	t.Helper()
	p, err := client.CoreV1().Pods(ns).Create(ctxT(t, 5*time.Second), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "postgres", Image: "registry.invalid/postgres:17"}},
			Tolerations: []corev1.Toleration{{Key: "fake-kubelet", Operator: corev1.TolerationOpExists}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	status, _ := json.Marshal(map[string]any{"status": corev1.PodStatus{Phase: corev1.PodRunning,
		Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "postgres", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}})
	if _, err := client.CoreV1().Pods(ns).Patch(ctxT(t, 5*time.Second), p.Name, types.MergePatchType, status, metav1.PatchOptions{}, "status"); err != nil {
		t.Fatal(err)
	}
}
