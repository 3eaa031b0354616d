package kubernetes

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// NodesReady is a kubernetes.nodesReady probe.
type NodesReady struct {
	cfg  NodesReadyConfig
	c    *cluster
	sel  selection
	wait waiter
}

var (
	_ steps.Probe  = (*NodesReady)(nil)
	_ steps.Closer = (*NodesReady)(nil)
)

func newNodesReady(_ context.Context, cfg *NodesReadyConfig, env steps.Env) (steps.Probe, error) {
	c, err := newCluster("kubernetes.nodesReady", env, cfg.RequestTimeout)
	if err != nil {
		return nil, err
	}
	return &NodesReady{cfg: *cfg, c: c, wait: waiter{probe: true}, sel: selection{gvr: gvrNodes, selector: cfg.Selector}}, nil
}

// Check counts the Ready nodes. With expect down, an API server that does
// not answer within requestTimeout (refused, unreachable, hung, or
// answering 5xx) is the evidence sought: done, within the request timeout.
// Refused credentials and forbidden lists are errors either way.
func (n *NodesReady) Check(ctx context.Context) (steps.Result, error) {
	if n.cfg.Expect == ExpectDown {
		objs, err := n.c.fetch(ctx, n.sel)
		if err != nil {
			if steps.IsPermanent(err) || ctx.Err() != nil {
				return steps.Result{}, err
			}
			return steps.Result{Done: true, Outputs: map[string]string{"ready": "", "total": ""},
				Summary: fmt.Sprintf("the API server of %s does not answer: %v", n.c.conn, err)}, nil
		}
		return n.evaluate(objs)
	}
	return n.wait.observe(ctx, n.c, n.sel, func(ctx context.Context) ([]*unstructured.Unstructured, error) {
		return n.c.fetch(ctx, n.sel)
	}, n.evaluate)
}

func (n *NodesReady) evaluate(objs []*unstructured.Unstructured) (steps.Result, error) {
	ready := 0
	var notReady []string
	for _, u := range objs {
		node, err := typed[corev1.Node](u)
		if err != nil {
			return steps.Result{}, err
		}
		if nodeReady(node) {
			ready++
		} else {
			notReady = append(notReady, node.Name)
		}
	}
	total := len(objs)
	out := map[string]string{"ready": strconv.Itoa(ready), "total": strconv.Itoa(total)}
	min := *n.cfg.MinReady
	enough := ready >= min && (!n.cfg.AllReady || ready == total)
	counted := fmt.Sprintf("%d of %d nodes Ready on %s", ready, total, n.c.conn)
	if n.cfg.Selector != "" {
		counted += " (" + n.cfg.Selector + ")"
	}
	if len(notReady) > 0 {
		counted += "; not Ready: " + list(notReady, 5)
	}
	if n.cfg.Expect == ExpectDown {
		if enough {
			return steps.Result{Summary: counted + ": the cluster is up", Outputs: out}, nil
		}
		return steps.Result{Done: true, Summary: counted + fmt.Sprintf(": fewer than %d, the cluster is down", min), Outputs: out}, nil
	}
	if !enough {
		want := fmt.Sprintf("at least %d", min)
		if n.cfg.AllReady {
			want = "all"
		}
		return steps.Result{Summary: counted + ", want " + want, Outputs: out}, nil
	}
	return steps.Result{Done: true, Summary: counted, Outputs: out}, nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Close stops the probe's watch and releases its connections.
func (n *NodesReady) Close() error {
	n.wait.close()
	n.c.close()
	return nil
}

// list joins at most max names, saying how many more there are.
func list(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:max], ", ") + fmt.Sprintf(" and %d more", len(names)-max)
}
