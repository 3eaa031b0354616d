package kubernetes

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// ResourcesPresent is a kubernetes.resourcesPresent probe.
type ResourcesPresent struct {
	cfg    ResourcesPresentConfig
	c      *cluster
	fields []fieldCheck
	wait   waiter

	mu  sync.Mutex
	res *resource
}

var (
	_ steps.Probe  = (*ResourcesPresent)(nil)
	_ steps.Closer = (*ResourcesPresent)(nil)
)

func newResourcesPresent(_ context.Context, cfg *ResourcesPresentConfig, env steps.Env) (steps.Probe, error) {
	c, err := newCluster("kubernetes.resourcesPresent", env, cfg.RequestTimeout)
	if err != nil {
		return nil, err
	}
	p := &ResourcesPresent{cfg: *cfg, c: c, wait: waiter{probe: true}}
	if cfg.Phase != "" {
		p.fields = append(p.fields, mustFieldCheck(FieldExpectation{Path: "status.phase", Equals: cfg.Phase}))
	}
	for i, f := range cfg.Fields {
		fc, err := newFieldCheck(f)
		if err != nil {
			return nil, steps.Permanentf("kubernetes.resourcesPresent: fields[%d].path: %v", i, err)
		}
		p.fields = append(p.fields, fc)
	}
	return p, nil
}

func (p *ResourcesPresent) selection(ctx context.Context) (resource, selection, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.res == nil {
		r, err := p.c.lookup(ctx, p.cfg.Resource)
		if err != nil {
			return resource{}, selection{}, err
		}
		if err := scopeCheck("kubernetes.resourcesPresent", r, p.cfg.Namespace); err != nil {
			return resource{}, selection{}, err
		}
		p.res = &r
	}
	sel := selection{gvr: p.res.gvr, namespace: p.cfg.Namespace, selector: p.cfg.Selector}
	if len(p.cfg.Names) == 1 && p.cfg.Selector == "" {
		sel.name = p.cfg.Names[0]
	}
	return *p.res, sel, nil
}

// Check lists the objects (one request; then a watch while the step
// waits) and is done when every named one exists, at least minCount
// match, and every one found meets the phase and the field expectations.
func (p *ResourcesPresent) Check(ctx context.Context) (steps.Result, error) {
	r, sel, err := p.selection(ctx)
	if err != nil {
		return steps.Result{}, err
	}
	// A LIST even for one name: a missing object is an observation here
	// (an empty list), not an error.
	return p.wait.observe(ctx, p.c, sel, func(ctx context.Context) ([]*unstructured.Unstructured, error) {
		return p.c.fetchList(ctx, sel)
	}, func(objs []*unstructured.Unstructured) (steps.Result, error) { return p.evaluate(r, objs) })
}

func (p *ResourcesPresent) evaluate(r resource, objs []*unstructured.Unstructured) (steps.Result, error) {
	var found []*unstructured.Unstructured
	have := map[string]bool{}
	for _, u := range objs {
		have[u.GetName()] = true
		if len(p.cfg.Names) == 0 || slices.Contains(p.cfg.Names, u.GetName()) {
			found = append(found, u)
		}
	}
	var missing []string
	for _, n := range p.cfg.Names {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	where := "cluster-wide"
	if p.cfg.Namespace != "" {
		where = "in " + p.cfg.Namespace
	}
	if p.cfg.Selector != "" {
		where += " (" + p.cfg.Selector + ")"
	}
	var names []string
	for _, u := range found {
		names = append(names, u.GetName())
	}
	head := fmt.Sprintf("%d %s %s", len(found), r, where)
	if len(names) > 0 {
		head += ": " + list(names, 8)
	}
	var problems, details []string
	if len(missing) > 0 {
		problems = append(problems, "missing: "+list(missing, 8))
	}
	if len(found) < *p.cfg.MinCount {
		problems = append(problems, fmt.Sprintf("want at least %d", *p.cfg.MinCount))
	}
	failing := 0
	for _, u := range found {
		for _, f := range p.fields {
			ok, line := f.check(u, r.gvk.Kind != "Secret")
			if !ok {
				failing++
			}
			details = append(details, ref(u)+": "+line)
		}
	}
	if failing > 0 {
		problems = append(problems, fmt.Sprintf("%d field expectations not met", failing))
	}
	summary := head
	if len(problems) > 0 {
		summary += "; " + strings.Join(problems, "; ")
	}
	if len(details) > 0 {
		if len(details) > 20 {
			details = append(details[:20], fmt.Sprintf("… and %d more", len(details)-20))
		}
		summary += "\n" + strings.Join(details, "\n")
	}
	return steps.Result{Done: len(problems) == 0, Summary: summary, Outputs: map[string]string{"count": strconv.Itoa(len(found))}}, nil
}

// Close stops the probe's watch and releases its connections.
func (p *ResourcesPresent) Close() error {
	p.wait.close()
	p.c.close()
	return nil
}
