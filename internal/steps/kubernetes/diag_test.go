package kubernetes

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failoverbot/failoverbot/internal/lab/kube/kubetest"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/stepstest"
)

// event records an event about a pod, last seen at.
func event(t testing.TB, ns, name, typ, reason, msg string, at time.Time, count int32) {
	t.Helper()
	_, err := kubetest.Client(t).CoreV1().Events(ns).Create(ctxT(t, 5*time.Second), &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "mimir-api-0"},
		Type:           typ, Reason: reason, Message: msg, Count: count,
		FirstTimestamp: metav1.NewTime(at), LastTimestamp: metav1.NewTime(at),
		Source: corev1.EventSource{Component: "test"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

func TestEvents(t *testing.T) {
	ns := kubetest.Namespace(t)
	now := time.Now().UTC().Truncate(time.Second)
	event(t, ns, "a", corev1.EventTypeNormal, "Scheduled", "assigned to node-1", now.Add(-3*time.Hour), 1)
	event(t, ns, "b", corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container", now.Add(-2*time.Minute), 5)
	event(t, ns, "c", corev1.EventTypeNormal, "Started", "Started container api", now.Add(-time.Minute), 1)
	clock := func(at time.Time) string { return at.Format("15:04:05Z") }
	for _, tt := range []struct {
		name string
		cfg  *EventsConfig
		done bool
		want string
	}{
		{"the newest, oldest first", &EventsConfig{Namespace: ns, Limit: 2}, true,
			"3 events in " + ns + " (1 warnings), the newest 2:\n" +
				clock(now.Add(-2*time.Minute)) + " Warning BackOff pod/mimir-api-0: Back-off restarting failed container (×5)\n" +
				clock(now.Add(-time.Minute)) + " Normal Started pod/mimir-api-0: Started container api"},
		{"warnings since an hour, over the limit", &EventsConfig{Namespace: ns, Type: EventWarning, Since: "1h", MaxWarnings: ptr(0)}, false,
			"1 events in " + ns + " (1 warnings)\n" +
				clock(now.Add(-2*time.Minute)) + " Warning BackOff pod/mimir-api-0: Back-off restarting failed container (×5)\n" +
				"more than 0 warnings"},
		{"by field selector", &EventsConfig{Namespace: ns, FieldSelector: "involvedObject.kind=Node"}, true, "0 events in " + ns + " (0 warnings)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if cfg.Limit == 0 {
				cfg.Limit = DefaultEventLimit
			}
			res := stepstest.Check(t, build(t, "kubernetes.events", cfg, conn(t)))
			if res.Done != tt.done || res.Summary != tt.want {
				t.Errorf("Check = %v %q\nwant %v %q", res.Done, res.Summary, tt.done, tt.want)
			}
		})
	}
}

// Logs come from the node's kubelet endpoint (KWOK serves what
// SetContainerLog wrote, for every container).
func TestLogs(t *testing.T) {
	ns := kubetest.Namespace(t)
	cluster := kubetest.Cluster(t)
	if err := cluster.SetContainerLog("starting mimir-api", "Traceback (most recent call last):", `  File "app.py", line 3`, "listening on :8080"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.SetContainerLog("kwok fake container log") })
	deployment(t, ns, "mimir-api", 2, map[string]string{"app.kubernetes.io/name": "mimir-api"})
	waitDeployment(t, ns, "mimir-api", rolledOut(2))

	res := stepstest.Check(t, build(t, "kubernetes.logs", &LogsConfig{PodTarget: PodTarget{Namespace: ns, Selector: "app.kubernetes.io/name=mimir-api"},
		Tail: 100, FailPattern: `Traceback \(most recent call last\)|FATAL`}, conn(t)))
	if res.Done || res.Outputs["lines"] != "8" || res.Outputs["matches"] != "2" {
		t.Errorf("with a traceback: %+v", res)
	}
	lines := strings.Split(res.Summary, "\n")
	if lines[0] != `8 lines from 2 pods, 2 matching Traceback \(most recent call last\)|FATAL` || len(lines) != 5 ||
		!strings.HasSuffix(lines[1], "(app): 4 lines, matching:") || lines[2] != "  Traceback (most recent call last):" {
		t.Errorf("summary %q", res.Summary)
	}

	tail := stepstest.Check(t, build(t, "kubernetes.logs", &LogsConfig{PodTarget: PodTarget{Namespace: ns, Selector: "app.kubernetes.io/name=mimir-api"}, Tail: 1}, conn(t)))
	lines = strings.Split(tail.Summary, "\n")
	if !tail.Done || tail.Outputs["lines"] != "2" || len(lines) != 5 || lines[2] != "  listening on :8080" {
		t.Errorf("tail 1: %+v", tail)
	}
	_, err := build(t, "kubernetes.logs", &LogsConfig{PodTarget: PodTarget{Namespace: ns, Pod: "gone"}, Tail: 10}, conn(t)).Check(ctxT(t, 5*time.Second))
	if !steps.IsPermanent(err) || !strings.Contains(err.Error(), "not found") {
		t.Errorf("a missing pod: %v", err)
	}
}

// The lab's clusters serve no metrics API (no metrics-server): the step
// says so, permanently.
func TestPodMetricsWithoutTheMetricsAPI(t *testing.T) {
	ns := kubetest.Namespace(t)
	_, err := build(t, "kubernetes.podMetrics", &PodMetricsConfig{Namespace: ns}, conn(t)).Check(ctxT(t, 10*time.Second))
	want := "kubernetes.podMetrics: the cluster of test_cluster does not serve the metrics API (metrics.k8s.io/v1beta1): install metrics-server, which kubectl top needs too"
	if !steps.IsPermanent(err) || err.Error() != want {
		t.Errorf("Check = %v\nwant a permanent %q", err, want)
	}
}
