package kubernetes

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/failoverbot/failoverbot/internal/lab/kube/kubetest"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/stepstest"
)

func TestNodesReady(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  *NodesReadyConfig
		done bool
		want string
	}{
		{"every node Ready", &NodesReadyConfig{AllReady: true}, true, "2 of 2 nodes Ready on test_cluster"},
		{"by label", &NodesReadyConfig{Selector: "type=kwok", MinReady: ptr(2)}, true, "2 of 2 nodes Ready on test_cluster (type=kwok)"},
		{"too few", &NodesReadyConfig{MinReady: ptr(3)}, false, "2 of 2 nodes Ready on test_cluster, want at least 3"},
		{"a selector that matches nothing", &NodesReadyConfig{Selector: "pool=none"}, false, "0 of 0 nodes Ready on test_cluster (pool=none), want at least 1"},
		{"the cluster is up, not down", &NodesReadyConfig{Expect: ExpectDown}, false, "2 of 2 nodes Ready on test_cluster: the cluster is up"},
		{"down means fewer Ready than minReady", &NodesReadyConfig{Expect: ExpectDown, MinReady: ptr(3)}, true, "2 of 2 nodes Ready on test_cluster: fewer than 3, the cluster is down"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := build(t, "kubernetes.nodesReady", tt.cfg, conn(t))
			res := stepstest.Check(t, p)
			if res.Done != tt.done || res.Summary != tt.want {
				t.Errorf("Check = %v %q, want %v %q", res.Done, res.Summary, tt.done, tt.want)
			}
			// A second Check (which, not done, waits on the watch) gives
			// the same answer.
			again, err := p.Check(ctxT(t, 2*time.Second))
			if err != nil || again.Done != res.Done || again.Summary != res.Summary {
				t.Errorf("a second Check differs: %+v then %+v, %v", res, again, err)
			}
		})
	}
}

// expect: down answers within its request timeout whether the API server
// refuses connections, accepts them and never answers, or was killed;
// expect: up gets a transient error from the same peers, as fast.
func TestNodesReadyAgainstADeadAPIServer(t *testing.T) {
	for _, tt := range []struct {
		name   string
		server func(t *testing.T) string
	}{
		{"refused", func(t *testing.T) string { return "https://" + stepstest.RefusedAddr(t) }},
		{"hung", func(t *testing.T) string { return "https://" + stepstest.BlackholeAddr(t) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := connTo(t, tt.server(t), "token-never-shown-7f3a")
			down := build(t, "kubernetes.nodesReady", &NodesReadyConfig{Expect: ExpectDown, RequestTimeout: "500ms"}, c)
			start := time.Now()
			res := stepstest.Check(t, down)
			if took := time.Since(start); !res.Done || took > 2*time.Second {
				t.Errorf("expect down: %+v after %s, want done within about 500ms", res, took)
			}
			if !strings.HasPrefix(res.Summary, "the API server of test_cluster does not answer: ") || res.Outputs["ready"] != "" {
				t.Errorf("expect down: %+v", res)
			}
			stepstest.NoSecret(t, "token-never-shown-7f3a", res, nil)

			up := build(t, "kubernetes.nodesReady", &NodesReadyConfig{RequestTimeout: "500ms"}, c)
			start = time.Now()
			res, err := up.Check(context.Background())
			if took := time.Since(start); err == nil || steps.IsPermanent(err) || took > 2*time.Second {
				t.Errorf("expect up: %v after %s, want a transient error within about 500ms", err, took)
			}
			stepstest.NoSecret(t, "token-never-shown-7f3a", res, err)

			// The caller's deadline, when shorter, wins.
			long := build(t, "kubernetes.nodesReady", &NodesReadyConfig{RequestTimeout: "30s"}, c)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start = time.Now()
			if _, err := long.Check(ctx); err == nil || time.Since(start) > 1500*time.Millisecond {
				t.Errorf("Check under a 300ms context = %v after %s", err, time.Since(start))
			}
		})
	}
}

// Refused credentials are an answer: permanent, for expect down too, and
// the token is never shown.
func TestNodesReadyWithRefusedCredentials(t *testing.T) {
	c := connTo(t, kubetest.Cluster(t).Server(), "wrong-token-5a1b9c")
	for _, expect := range []string{ExpectUp, ExpectDown} {
		res, err := build(t, "kubernetes.nodesReady", &NodesReadyConfig{Expect: expect}, c).Check(ctxT(t, 10*time.Second))
		if !steps.IsPermanent(err) || !strings.Contains(err.Error(), "refused the credentials of connection test_cluster") {
			t.Errorf("expect %s: %v, want a permanent refusal", expect, err)
		}
		stepstest.NoSecret(t, "wrong-token-5a1b9c", res, err)
	}
}

func TestPodsReady(t *testing.T) {
	ns := kubetest.Namespace(t)
	empty := stepstest.Check(t, build(t, "kubernetes.podsReady", &PodsReadyConfig{Namespace: ns}, conn(t)))
	if empty.Done || empty.Summary != "0 of 0 pods Ready in "+ns+": no pods" {
		t.Errorf("no pods: %+v", empty)
	}
	deployment(t, ns, "api", 2, map[string]string{"app.kubernetes.io/part-of": "mimir"})
	// Without minReady, "every pod Ready" may hold while the ReplicaSet
	// has made only one of the two pods: wait for both, as a runbook
	// would during a rollout.
	p := build(t, "kubernetes.podsReady", &PodsReadyConfig{Namespace: ns, Selector: "app.kubernetes.io/part-of=mimir", MinReady: ptr(2)}, conn(t))
	res := stepstest.Converge(t, p, 30*time.Second)
	if res.Summary != "2 of 2 pods Ready in "+ns+" (app.kubernetes.io/part-of=mimir)" || res.Outputs["ready"] != "2" || res.Outputs["total"] != "2" {
		t.Errorf("Ready: %+v", res)
	}

	// A finished Job's pod is not counted; one not Ready is, and named.
	client := kubetest.Client(t)
	mk := func(name string) *corev1.Pod {
		pod, err := client.CoreV1().Pods(ns).Create(ctxT(t, 5*time.Second), &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/part-of": "mimir"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.invalid/c:1"}},
				NodeSelector: map[string]string{"pool": "nowhere"}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return pod
	}
	mk("pending")
	mk("finished")
	if _, err := client.CoreV1().Pods(ns).Patch(ctxT(t, 5*time.Second), "finished", types.MergePatchType,
		[]byte(`{"status":{"phase":"Succeeded"}}`), metav1.PatchOptions{}, "status"); err != nil {
		t.Fatal(err)
	}
	res = stepstest.Check(t, build(t, "kubernetes.podsReady", &PodsReadyConfig{Namespace: ns}, conn(t)))
	if res.Done || !strings.HasPrefix(res.Summary, "2 of 3 pods Ready in "+ns+"; not Ready: pending (") {
		t.Errorf("with a pending pod: %+v", res)
	}
	min := stepstest.Check(t, build(t, "kubernetes.podsReady", &PodsReadyConfig{Namespace: ns, MinReady: ptr(2)}, conn(t)))
	if !min.Done {
		t.Errorf("minReady 2 with 2 Ready: %+v", min)
	}
}

func TestPodsReadyRestartLimit(t *testing.T) {
	ns := kubetest.Namespace(t)
	deployment(t, ns, "api", 1, nil)
	res := stepstest.Converge(t, build(t, "kubernetes.podsReady", &PodsReadyConfig{Namespace: ns, MaxRestarts: ptr(2)}, conn(t)), 30*time.Second)
	client := kubetest.Client(t)
	pods, err := client.CoreV1().Pods(ns).List(ctxT(t, 5*time.Second), metav1.ListOptions{})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("pods: %v %v", pods, err)
	}
	// The container "crash-loops": its restart count goes past the limit.
	pod := pods.Items[0]
	if _, err := client.CoreV1().Pods(ns).Patch(ctxT(t, 5*time.Second), pod.Name, types.StrategicMergePatchType,
		[]byte(`{"status":{"containerStatuses":[{"name":"app","restartCount":7}]}}`), metav1.PatchOptions{}, "status"); err != nil {
		t.Fatal(err)
	}
	res = stepstest.Check(t, build(t, "kubernetes.podsReady", &PodsReadyConfig{Namespace: ns, MaxRestarts: ptr(2)}, conn(t)))
	want := "over the restart limit of 2: " + pod.Name + "/app restarted 7 times"
	if res.Done || !strings.Contains(res.Summary, want) {
		t.Errorf("crash-looping: %+v, want not done with %q", res, want)
	}
}
