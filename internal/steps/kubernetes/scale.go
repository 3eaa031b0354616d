package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/failoverbot/failoverbot/internal/steps"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Annotations kubernetes.scale leaves on a workload it scaled, written in
// the same patch as the new replica count: the count before, for the
// failback's outputs, survives a restart of the bot (a second Apply after
// a crash finds the workload already scaled and keeps them).
const (
	AnnotationPreviousReplicas = "failoverbot.io/previous-replicas"
	AnnotationScaledTo         = "failoverbot.io/scaled-to"
)

// Scale is a kubernetes.scale step.
type Scale struct {
	cfg    ScaleConfig
	c      *cluster
	sel    selection
	want   int64
	noun   string // deployment, statefulset
	wait   waiter
	picked string // how the workloads are chosen, for messages
	none   string // the error when nothing matches
}

var (
	_ steps.Step   = (*Scale)(nil)
	_ steps.Closer = (*Scale)(nil)
)

func newScale(_ context.Context, cfg *ScaleConfig, env steps.Env) (steps.Step, error) {
	c, err := newCluster("kubernetes.scale", env, cfg.RequestTimeout)
	if err != nil {
		return nil, err
	}
	s := &Scale{cfg: *cfg, c: c, want: int64(*cfg.Replicas), noun: cfg.Workload}
	s.sel = selection{gvr: gvrDeployments, namespace: cfg.Namespace, name: cfg.Name, selector: cfg.Selector}
	if cfg.Workload == WorkloadStatefulSet {
		s.sel.gvr = gvrStatefulSets
	}
	switch {
	case cfg.Name != "":
		s.picked = fmt.Sprintf("%s %s/%s", s.noun, cfg.Namespace, cfg.Name)
	case cfg.Selector != "":
		s.picked = fmt.Sprintf("%ss matching %s in %s", s.noun, cfg.Selector, cfg.Namespace)
		s.none = fmt.Sprintf("kubernetes.scale: no %s in %s matches %s on %s", s.noun, cfg.Namespace, cfg.Selector, c.conn)
	default:
		s.picked = fmt.Sprintf("every %s in %s", s.noun, cfg.Namespace)
		s.none = fmt.Sprintf("kubernetes.scale: no %s in %s on %s", s.noun, cfg.Namespace, c.conn)
	}
	return s, nil
}

// Check is done when every selected workload has spec.replicas at the
// desired count and (with waitReady) its own status says the rollout at
// that size is complete. Outputs: previous (the replicas before the bot
// scaled it: "3", or "api=3,web=2" for several workloads) and workloads
// (their names).
func (s *Scale) Check(ctx context.Context) (steps.Result, error) {
	return s.wait.observe(ctx, s.c, s.sel, s.fetch, s.evaluate)
}

func (s *Scale) fetch(ctx context.Context) ([]*unstructured.Unstructured, error) {
	return s.c.fetch(ctx, s.sel)
}

// scaleState is one workload as Check sees it.
type scaleState struct {
	name     string
	replicas int64
	previous string
	scaled   bool
	roll     rollout
}

func (s *Scale) evaluate(objs []*unstructured.Unstructured) (steps.Result, error) {
	if len(objs) == 0 {
		return steps.Result{}, steps.Permanentf("%s", s.none)
	}
	var states []scaleState
	done := 0
	for _, u := range objs {
		st := scaleState{name: u.GetName(), replicas: replicasOf(u)}
		st.previous = previousReplicas(u, s.want)
		st.scaled = st.replicas == s.want
		switch {
		case !st.scaled:
		case *s.cfg.WaitReady:
			r, err := rolloutOf(u)
			if err != nil {
				return steps.Result{}, fmt.Errorf("kubernetes.scale: %w", err)
			}
			st.roll = r
		default:
			st.roll = rollout{done: true, state: "not waiting for readiness"}
		}
		if st.roll.done {
			done++
		}
		states = append(states, st)
	}
	res := steps.Result{Done: done == len(states), Outputs: scaleOutputs(states)}
	res.Summary = s.summary(states, done)
	return res, nil
}

func (s *Scale) summary(states []scaleState, done int) string {
	line := func(st scaleState) string {
		switch {
		case !st.scaled:
			return fmt.Sprintf("%d replicas, to scale to %d", st.replicas, s.want)
		case st.roll.done:
			return fmt.Sprintf("%d replicas, %s (was %s)", st.replicas, st.roll.state, st.previous)
		}
		return fmt.Sprintf("scaled to %d (was %s), %s", st.replicas, st.previous, st.roll.state)
	}
	if s.cfg.Name != "" && len(states) == 1 {
		return fmt.Sprintf("%s: %s", s.picked, line(states[0]))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d %ss in %s at %d replicas and rolled out", done, len(states), s.noun, s.cfg.Namespace, s.want)
	for _, st := range states {
		fmt.Fprintf(&b, "\n%s: %s", st.name, line(st))
	}
	return b.String()
}

func scaleOutputs(states []scaleState) map[string]string {
	names := make([]string, len(states))
	prev := make([]string, len(states))
	for i, st := range states {
		names[i] = st.name
		prev[i] = st.name + "=" + st.previous
	}
	sort.Strings(names)
	sort.Strings(prev)
	out := map[string]string{"workloads": strings.Join(names, ",")}
	if len(states) == 1 {
		out["previous"] = states[0].previous
	} else {
		out["previous"] = strings.Join(prev, ",")
	}
	return out
}

// replicasOf is spec.replicas (1 when unset, as the API defaults it).
func replicasOf(u *unstructured.Unstructured) int64 {
	n, found, err := unstructured.NestedInt64(u.Object, "spec", "replicas")
	if !found || err != nil {
		return 1
	}
	return n
}

// previousReplicas is the count before the bot scaled the workload to
// want (its annotations), or its count now when it has not.
func previousReplicas(u *unstructured.Unstructured, want int64) string {
	now := replicasOf(u)
	ann := u.GetAnnotations()
	if p, ok := ann[AnnotationPreviousReplicas]; ok && now == want && ann[AnnotationScaledTo] == strconv.FormatInt(want, 10) {
		return p
	}
	return strconv.FormatInt(now, 10)
}

// Apply sets spec.replicas of every selected workload not at the count
// yet, recording the count before in annotations, in one merge patch
// bound to the resourceVersion it read (a workload changed meanwhile is a
// conflict: retried). Workloads already at the count are left alone, so a
// second Apply changes nothing.
func (s *Scale) Apply(ctx context.Context) error {
	objs, err := s.fetch(ctx)
	if err != nil {
		return err
	}
	if len(objs) == 0 {
		return steps.Permanentf("%s", s.none)
	}
	var errs []error
	for _, u := range objs {
		now := replicasOf(u)
		if now == s.want {
			continue
		}
		patch := map[string]any{
			"metadata": map[string]any{
				"resourceVersion": u.GetResourceVersion(),
				"annotations": map[string]string{
					AnnotationPreviousReplicas: strconv.FormatInt(now, 10),
					AnnotationScaledTo:         strconv.FormatInt(s.want, 10),
				},
			},
			"spec": map[string]any{"replicas": s.want},
		}
		data, err := json.Marshal(patch)
		if err != nil {
			return fmt.Errorf("kubernetes.scale: %w", err)
		}
		s.c.log.InfoContext(ctx, "scaling", "connection", s.c.conn, s.noun, ref(u), "from", now, "to", s.want)
		if _, err := s.c.patch(ctx, s.sel.gvr, u.GetNamespace(), u.GetName(), types.MergePatchType, data, metav1.PatchOptions{}); err != nil {
			errs = append(errs, err)
		}
	}
	s.wait.arm()
	return errors.Join(errs...)
}

// Close stops the step's watch and releases its connections.
func (s *Scale) Close() error {
	s.wait.close()
	s.c.close()
	return nil
}
