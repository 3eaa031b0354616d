// Package kubetest is the test plumbing of packages whose tests run against
// a real Kubernetes control plane (package kube): one cluster per test
// package, started in TestMain, and a fresh namespace per test.
//
//	func TestMain(m *testing.M) { kubetest.Main(m, "kubernetes steps") }
//
//	func TestScale(t *testing.T) {
//		ns := kubetest.Namespace(t)       // deleted when the test ends
//		client := kubetest.Client(t)      // admin clientset
//		cfg := kubetest.Config(t)         // admin *rest.Config (a copy)
//		...
//	}
//
// The binaries come from $FAILOVER_KUBE_BIN (set by `make test`) or
// `scripts/kube-bin --cached`. When they are missing, Main exits 1 with a
// message naming `make kube-bin`: a failure, never a skip, with or without
// CI=true.
package kubetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/lab/kube"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// StartTimeout bounds starting a cluster.
const StartTimeout = 3 * time.Minute

var shared *kube.Cluster

// Main is a package's TestMain: it starts the cluster that Cluster, Client,
// Config and Namespace use (with opts, if given), runs the tests, stops the
// cluster and exits with the tests' code. A cluster that cannot start
// (binaries not built, say) fails the package with "<name> tests need a
// Kubernetes cluster: …".
func Main(m *testing.M, name string, opts ...kube.Options) {
	var o kube.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	c, err := kube.Start(ctx, o)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s tests need a Kubernetes cluster: %v\n", name, err)
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "(CI=true: `make test` builds the binaries before the tests; did it run `make kube-bin`?)")
		}
		os.Exit(1)
	}
	shared = c
	code := m.Run()
	if err := c.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping the test cluster: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Cluster is the cluster Main started; it fails t when Main did not run.
func Cluster(t testing.TB) *kube.Cluster {
	t.Helper()
	if shared == nil {
		t.Fatal("kubetest: no cluster: the package's TestMain must call kubetest.Main")
	}
	return shared
}

// Config is a copy of the cluster's admin client configuration.
func Config(t testing.TB) *rest.Config { return Cluster(t).RESTConfig() }

// Client is an admin clientset of the cluster.
func Client(t testing.TB) *kubernetes.Clientset {
	t.Helper()
	cs, err := Cluster(t).Clientset()
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// Namespace creates a namespace of the test's own (named after the test,
// with a random suffix), waits until its default ServiceAccount exists
// (pods are refused before) and deletes it when the test ends.
func Namespace(t testing.TB) string {
	t.Helper()
	c := Cluster(t)
	client := Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: namespaceName(t.Name())},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kubetest: create namespace: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("kubetest: delete namespace %s: %v", ns.Name, err)
		}
	})
	if err := c.WaitDefaultServiceAccount(ctx, ns.Name); err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	return ns.Name
}

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// namespaceName is a DNS label from a test name: lower case, at most 63
// characters, a random suffix.
func namespaceName(test string) string {
	s := strings.Trim(notDNS.ReplaceAllString(strings.ToLower(test), "-"), "-")
	if len(s) > 50 {
		s = strings.TrimRight(s[:50], "-")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	if s == "" {
		s = "test"
	}
	return s + "-" + hex.EncodeToString(b)
}

// Start starts a cluster of the test's own (for a test that breaks one),
// stopped when the test ends; a failure to start or stop fails the test.
func Start(t testing.TB, opts kube.Options) *kube.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	c, err := kube.Start(ctx, opts)
	if err != nil {
		t.Fatalf("kube.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("kube cluster stop: %v", err)
		}
	})
	return c
}
