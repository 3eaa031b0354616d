package kubernetes

import (
	"context"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// PodsReady is a kubernetes.podsReady probe.
type PodsReady struct {
	cfg  PodsReadyConfig
	c    *cluster
	sel  selection
	wait waiter
}

var (
	_ steps.Probe  = (*PodsReady)(nil)
	_ steps.Closer = (*PodsReady)(nil)
)

func newPodsReady(_ context.Context, cfg *PodsReadyConfig, env steps.Env) (steps.Probe, error) {
	c, err := newCluster("kubernetes.podsReady", env, cfg.RequestTimeout)
	if err != nil {
		return nil, err
	}
	return &PodsReady{cfg: *cfg, c: c, wait: waiter{probe: true}, sel: selection{gvr: gvrPods, namespace: cfg.Namespace, selector: cfg.Selector}}, nil
}

// Check counts the selected pods that are Ready. Pods that finished
// (Succeeded) or are being deleted are not counted; with maxRestarts, a
// container restarted more often keeps the check from holding.
func (p *PodsReady) Check(ctx context.Context) (steps.Result, error) {
	return p.wait.observe(ctx, p.c, p.sel, func(ctx context.Context) ([]*unstructured.Unstructured, error) {
		return p.c.fetch(ctx, p.sel)
	}, p.evaluate)
}

func (p *PodsReady) evaluate(objs []*unstructured.Unstructured) (steps.Result, error) {
	total, ready, terminating := 0, 0, 0
	var notReady, restarted []string
	for _, u := range objs {
		pod, err := typed[corev1.Pod](u)
		if err != nil {
			return steps.Result{}, err
		}
		if pod.Status.Phase == corev1.PodSucceeded {
			continue
		}
		if pod.DeletionTimestamp != nil {
			terminating++
			continue
		}
		total++
		if podReady(pod) {
			ready++
		} else {
			notReady = append(notReady, pod.Name+" ("+podState(pod)+")")
		}
		if p.cfg.MaxRestarts != nil {
			for _, cs := range pod.Status.ContainerStatuses {
				if int(cs.RestartCount) > *p.cfg.MaxRestarts {
					restarted = append(restarted, fmt.Sprintf("%s/%s restarted %d times", pod.Name, cs.Name, cs.RestartCount))
				}
			}
		}
	}
	out := map[string]string{"ready": strconv.Itoa(ready), "total": strconv.Itoa(total)}
	where := p.cfg.Namespace
	if p.cfg.Selector != "" {
		where += " (" + p.cfg.Selector + ")"
	}
	summary := fmt.Sprintf("%d of %d pods Ready in %s", ready, total, where)
	if terminating > 0 {
		summary += fmt.Sprintf(", %d terminating (not counted)", terminating)
	}
	var enough bool
	if p.cfg.MinReady != nil {
		enough = ready >= *p.cfg.MinReady
		if !enough {
			summary += fmt.Sprintf(", want at least %d", *p.cfg.MinReady)
		}
	} else {
		enough = total > 0 && ready == total
		if total == 0 {
			summary += ": no pods"
		}
	}
	if len(notReady) > 0 {
		summary += "; not Ready: " + list(notReady, 5)
	}
	if len(restarted) > 0 {
		summary += fmt.Sprintf("; over the restart limit of %d: %s", *p.cfg.MaxRestarts, list(restarted, 5))
		enough = false
	}
	return steps.Result{Done: enough, Summary: summary, Outputs: out}, nil
}

func podReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podState is why a pod is not Ready, in a word or two.
func podState(p *corev1.Pod) string {
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			return w.Reason
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionTrue && c.Reason != "" {
			return c.Reason
		}
	}
	return string(p.Status.Phase)
}

// Close stops the probe's watch and releases its connections.
func (p *PodsReady) Close() error {
	p.wait.close()
	p.c.close()
	return nil
}
