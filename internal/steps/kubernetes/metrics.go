package kubernetes

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// gvrPodMetrics is the metrics API's pods (metrics-server serves it).
var gvrPodMetrics = schema.GroupVersionResource{Group: "metrics.k8s.io", Version: "v1beta1", Resource: "pods"}

// PodMetrics is a kubernetes.podMetrics probe.
type PodMetrics struct {
	cfg            PodMetricsConfig
	c              *cluster
	maxCPU, maxMem *apiresource.Quantity
}

var (
	_ steps.Probe  = (*PodMetrics)(nil)
	_ steps.Closer = (*PodMetrics)(nil)
)

func newPodMetrics(_ context.Context, cfg *PodMetricsConfig, env steps.Env) (steps.Probe, error) {
	c, err := newCluster("kubernetes.podMetrics", env, cfg.RequestTimeout)
	if err != nil {
		return nil, err
	}
	p := &PodMetrics{cfg: *cfg, c: c}
	for _, q := range []struct {
		field, v string
		dst      **apiresource.Quantity
	}{{"maxCpu", cfg.MaxCPU, &p.maxCPU}, {"maxMemory", cfg.MaxMemory, &p.maxMem}} {
		if q.v == "" {
			continue
		}
		v, err := apiresource.ParseQuantity(q.v)
		if err != nil {
			return nil, steps.Permanentf("kubernetes.podMetrics: %s: %v", q.field, err)
		}
		*q.dst = &v
	}
	return p, nil
}

// podUsage is one pod's usage, its containers added up.
type podUsage struct {
	name     string
	cpu, mem apiresource.Quantity
}

// Check lists the pods' metrics (`kubectl top pods`) and is done when
// there are some and every pod is within the limits. A cluster that does
// not serve the metrics API is a permanent error that says so. Outputs:
// cpu and memory, the highest per-pod usage.
func (p *PodMetrics) Check(ctx context.Context) (steps.Result, error) {
	objs, err := p.c.fetchList(ctx, selection{gvr: gvrPodMetrics, namespace: p.cfg.Namespace, selector: p.cfg.Selector})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return steps.Result{}, steps.Permanentf("kubernetes.podMetrics: the cluster of %s does not serve the metrics API (metrics.k8s.io/v1beta1): "+
				"install metrics-server, which kubectl top needs too", p.c.conn)
		}
		return steps.Result{}, err
	}
	var pods []podUsage
	for _, u := range objs {
		pods = append(pods, usageOf(u))
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].name < pods[j].name })
	where := p.cfg.Namespace
	if p.cfg.Selector != "" {
		where += " (" + p.cfg.Selector + ")"
	}
	if len(pods) == 0 {
		return steps.Result{Summary: "no pod metrics in " + where + " yet", Outputs: map[string]string{"cpu": "", "memory": ""}}, nil
	}
	var topCPU, topMem podUsage
	var over []string
	var lines []string
	for i, u := range pods {
		if i == 0 || u.cpu.Cmp(topCPU.cpu) > 0 {
			topCPU = u
		}
		if i == 0 || u.mem.Cmp(topMem.mem) > 0 {
			topMem = u
		}
		line := fmt.Sprintf("%s: cpu %s, memory %s", u.name, u.cpu.String(), u.mem.String())
		if p.maxCPU != nil && u.cpu.Cmp(*p.maxCPU) > 0 {
			over = append(over, u.name+" cpu "+u.cpu.String())
			line += " (over the cpu limit)"
		}
		if p.maxMem != nil && u.mem.Cmp(*p.maxMem) > 0 {
			over = append(over, u.name+" memory "+u.mem.String())
			line += " (over the memory limit)"
		}
		lines = append(lines, line)
	}
	summary := fmt.Sprintf("%d pods in %s: highest cpu %s (%s), memory %s (%s)", len(pods), where,
		topCPU.cpu.String(), topCPU.name, topMem.mem.String(), topMem.name)
	if len(over) > 0 {
		summary += "; over the limits: " + list(over, 5)
	}
	out := map[string]string{"cpu": topCPU.cpu.String(), "memory": topMem.mem.String()}
	return steps.Result{Done: len(over) == 0, Summary: summary + "\n" + strings.Join(lines, "\n"), Outputs: out}, nil
}

// usageOf adds up the containers of a PodMetrics object.
func usageOf(u *unstructured.Unstructured) podUsage {
	pu := podUsage{name: u.GetName()}
	ctrs, _, _ := unstructured.NestedSlice(u.Object, "containers")
	for _, c := range ctrs {
		m, _ := c.(map[string]any)
		usage, _ := m["usage"].(map[string]any)
		if s, ok := usage["cpu"].(string); ok {
			if q, err := apiresource.ParseQuantity(s); err == nil {
				pu.cpu.Add(q)
			}
		}
		if s, ok := usage["memory"].(string); ok {
			if q, err := apiresource.ParseQuantity(s); err == nil {
				pu.mem.Add(q)
			}
		}
	}
	return pu
}

// Close releases the probe's connections.
func (p *PodMetrics) Close() error {
	p.c.close()
	return nil
}
