package kube

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// node is one fake node: annotated for KWOK, with capacity, no taint.
func (c *Cluster) node(name string) (*corev1.Node, error) {
	res := corev1.ResourceList{}
	for k, v := range map[corev1.ResourceName]string{
		corev1.ResourceCPU: c.opts.NodeCPU, corev1.ResourceMemory: c.opts.NodeMemory, corev1.ResourcePods: c.opts.NodePods,
	} {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("node %s: %s capacity %q: %w", name, k, v, err)
		}
		res[k] = q
	}
	labels := map[string]string{}
	for k, v := range c.opts.NodeLabels {
		labels[k] = v
	}
	labels["kubernetes.io/hostname"] = name
	labels["kubernetes.io/os"] = "linux"
	labels["kubernetes.io/arch"] = "amd64"
	labels["type"] = "kwok"
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Labels:      labels,
			Annotations: map[string]string{NodeAnnotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
		},
		Status: corev1.NodeStatus{Capacity: res, Allocatable: res.DeepCopy()},
	}, nil
}

// createNodes registers the fake nodes (KWOK then makes them Ready).
func (c *Cluster) createNodes(ctx context.Context, client kubernetes.Interface) error {
	for _, name := range c.NodeNames() {
		n, err := c.node(name)
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = client.CoreV1().Nodes().Create(cctx, n, metav1.CreateOptions{})
		cancel()
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create node %s: %w", name, err)
		}
	}
	return nil
}

// NodeReady reports whether n's Ready condition is True.
func NodeReady(n *corev1.Node) bool {
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (c *Cluster) waitNodesReady(ctx context.Context, client kubernetes.Interface) error {
	return c.waitFor(ctx, 60*time.Second, "nodes Ready and untainted", []*proc{c.kwok, c.apiserver}, func(ctx context.Context) error {
		nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		// A node created before KWOK reports it Ready gets the
		// node.kubernetes.io/not-ready taint from the node lifecycle
		// controller, which lifts it a moment after: until then nothing
		// schedules there.
		ready := 0
		for i := range nodes.Items {
			if NodeReady(&nodes.Items[i]) && len(nodes.Items[i].Spec.Taints) == 0 {
				ready++
			}
		}
		if ready < c.opts.Nodes {
			return fmt.Errorf("%d of %d nodes Ready and untainted", ready, c.opts.Nodes)
		}
		return nil
	})
}

// waitDefaultServiceAccount waits until the controller-manager has made
// namespace's "default" ServiceAccount: until then its pods are refused.
func (c *Cluster) waitDefaultServiceAccount(ctx context.Context, client kubernetes.Interface, namespace string) error {
	return c.waitFor(ctx, 30*time.Second, "the default ServiceAccount of "+namespace, []*proc{c.controllerManager},
		func(ctx context.Context) error {
			_, err := client.CoreV1().ServiceAccounts(namespace).Get(ctx, "default", metav1.GetOptions{})
			return err
		})
}

// WaitDefaultServiceAccount waits (up to 30 s) until namespace's "default"
// ServiceAccount exists: pods created in a new namespace before it are
// refused.
func (c *Cluster) WaitDefaultServiceAccount(ctx context.Context, namespace string) error {
	client, err := c.Clientset()
	if err != nil {
		return err
	}
	if err := c.waitDefaultServiceAccount(ctx, client, namespace); err != nil {
		return fmt.Errorf("kube %s: %w", c.opts.Name, err)
	}
	return nil
}
