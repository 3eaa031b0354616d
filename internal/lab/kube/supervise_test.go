package kube_test

import (
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failoverbot/failoverbot/internal/lab/kube/kubetest"
)

// KWOK dying on its own (a crash: SIGKILL from outside, not Stop) is
// restarted, and the cluster goes on running pods: a Deployment created
// after the crash becomes Ready.
func TestKWOKIsRestartedAfterACrash(t *testing.T) {
	c := kubetest.Cluster(t)
	ns := kubetest.Namespace(t)
	client := kubetest.Client(t)
	ctx := ctxFor(t, 90*time.Second)
	before := c.KWOKPID()
	if before == 0 {
		t.Fatal("kwok is not running")
	}
	if err := syscall.Kill(before, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if pid := c.KWOKPID(); pid != 0 && pid != before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("kwok was not restarted within 30s of its crash")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := client.AppsV1().Deployments(ns).Create(ctx, deployment("after-crash", 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("2 replicas ready %s after the restart", waitReady(ctx, t, client, ns, "after-crash", 2).Round(time.Millisecond))
}
