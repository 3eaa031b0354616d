package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// RolloutRestart is a kubernetes.rolloutRestart step.
type RolloutRestart struct {
	cfg  RolloutRestartConfig
	c    *cluster
	sel  selection
	at   time.Time
	noun string
	wait waiter
}

var (
	_ steps.Step   = (*RolloutRestart)(nil)
	_ steps.Closer = (*RolloutRestart)(nil)
)

func newRolloutRestart(_ context.Context, cfg *RolloutRestartConfig, env steps.Env) (steps.Step, error) {
	at, err := parseTime(cfg.RestartedAt)
	if err != nil {
		return nil, steps.Permanentf("kubernetes.rolloutRestart: restartedAt %q is not an RFC 3339 time", cfg.RestartedAt)
	}
	c, err := newCluster("kubernetes.rolloutRestart", env, cfg.RequestTimeout)
	if err != nil {
		return nil, err
	}
	r := &RolloutRestart{cfg: *cfg, c: c, at: at, noun: cfg.Workload}
	r.sel = selection{gvr: gvrDeployments, namespace: cfg.Namespace, name: cfg.Name, selector: cfg.Selector}
	if cfg.Workload == WorkloadStatefulSet {
		r.sel.gvr = gvrStatefulSets
	}
	return r, nil
}

// restartedAt is the restart annotation of the workload's pod template
// (zero when absent or not a time).
func restartedAt(u *unstructured.Unstructured) time.Time {
	v, _, _ := unstructured.NestedString(u.Object, "spec", "template", "metadata", "annotations", RestartAnnotation)
	t, err := parseTime(v)
	if err != nil {
		return time.Time{}
	}
	return t
}

// Check is done when every workload's pods were restarted at restartedAt
// or later (the pod template's annotation) and, with waitReady, the
// rollout is complete by the workload's own status.
func (r *RolloutRestart) Check(ctx context.Context) (steps.Result, error) {
	return r.wait.observe(ctx, r.c, r.sel, func(ctx context.Context) ([]*unstructured.Unstructured, error) {
		return r.c.fetch(ctx, r.sel)
	}, r.evaluate)
}

func (r *RolloutRestart) evaluate(objs []*unstructured.Unstructured) (steps.Result, error) {
	if len(objs) == 0 {
		return steps.Result{}, steps.Permanentf("kubernetes.rolloutRestart: no %s in %s matches on %s", r.noun, r.cfg.Namespace, r.c.conn)
	}
	at := r.at.UTC().Format(time.RFC3339Nano)
	var names, lines []string
	done := 0
	for _, u := range objs {
		names = append(names, u.GetName())
		line := ""
		switch t := restartedAt(u); {
		case t.Before(r.at):
			line = "to restart"
			if !t.IsZero() {
				line += " (last restarted " + t.UTC().Format(time.RFC3339) + ")"
			}
		case !*r.cfg.WaitReady:
			done++
			line = "restarted"
		default:
			ro, err := rolloutOf(u)
			if err != nil {
				return steps.Result{}, fmt.Errorf("kubernetes.rolloutRestart: %w", err)
			}
			if ro.done {
				done++
			}
			line = "restarted, " + ro.state
		}
		lines = append(lines, fmt.Sprintf("%s %s: %s", r.noun, ref(u), line))
	}
	out := map[string]string{"restartedAt": at, "workloads": strings.Join(names, ",")}
	res := steps.Result{Done: done == len(objs), Outputs: out}
	if len(lines) == 1 {
		res.Summary = lines[0] + " (restart of " + at + ")"
	} else {
		res.Summary = fmt.Sprintf("%d of %d %ss in %s restarted at %s and rolled out\n%s", done, len(objs), r.noun, r.cfg.Namespace, at, strings.Join(lines, "\n"))
	}
	return res, nil
}

// Apply sets the restart annotation on the workloads restarted before
// restartedAt; the others are left alone (a second Apply changes nothing).
func (r *RolloutRestart) Apply(ctx context.Context) error {
	objs, err := r.c.fetch(ctx, r.sel)
	if err != nil {
		return err
	}
	if len(objs) == 0 {
		return steps.Permanentf("kubernetes.rolloutRestart: no %s in %s matches on %s", r.noun, r.cfg.Namespace, r.c.conn)
	}
	at := r.at.UTC().Format(time.RFC3339Nano)
	data, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{RestartAnnotation: at}}}}})
	if err != nil {
		return err
	}
	var errs []error
	for _, u := range objs {
		if !restartedAt(u).Before(r.at) {
			continue
		}
		r.c.log.InfoContext(ctx, "restarting", "connection", r.c.conn, r.noun, ref(u), "restartedAt", at)
		if _, err := r.c.patch(ctx, r.sel.gvr, u.GetNamespace(), u.GetName(), types.MergePatchType, data, metav1.PatchOptions{}); err != nil {
			errs = append(errs, err)
		}
	}
	r.wait.arm()
	return errors.Join(errs...)
}

// Close stops the step's watch and releases its connections.
func (r *RolloutRestart) Close() error {
	r.wait.close()
	r.c.close()
	return nil
}
