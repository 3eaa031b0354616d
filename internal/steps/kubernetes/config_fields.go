package kubernetes

import (
	"fmt"
	"time"

	"k8s.io/client-go/util/jsonpath"

	"github.com/failoverbot/failoverbot/internal/steps"
)

var _ steps.Config = (*RolloutRestartConfig)(nil)

// FieldExpectation is an assertion on one field of every object a
// kubernetes.resourcesPresent step matches; the live value is shown in
// the summary. Exactly one of equals, in, atLeast and exists.
type FieldExpectation struct {
	// Path is a field path in kubectl's JSONPath without the braces
	// (required): spec.replicas, status.phase,
	// metadata.annotations.kubectl\.kubernetes\.io/restartedAt,
	// status.conditions[?(@.type=="Available")].status.
	Path string `yaml:"path"`
	// Equals is the value the field must have (a string, number or
	// true/false; numbers compare as numbers).
	Equals any `yaml:"equals"`
	// In lists the values the field may have.
	In []any `yaml:"in"`
	// AtLeast is the least the field may be: a number, or a quantity
	// field (status.capacity.storage) compared by its value.
	AtLeast *float64 `yaml:"atLeast"`
	// Exists says whether the field must be present (true) or absent (false).
	Exists *bool `yaml:"exists"`
}

// validate checks one expectation at fields[i].
func (f *FieldExpectation) validate(e *errs, prefix string) {
	if f.Path == "" {
		e.Add(prefix+"path", "is required (a field path such as spec.replicas or status.phase)")
	} else if !steps.IsTemplate(f.Path) {
		if _, err := parseFieldPath(f.Path); err != nil {
			e.Add(prefix+"path", "is not a field path (like spec.replicas, status.conditions[0].status): %v", err)
		}
	}
	n := 0
	for _, set := range []bool{f.Equals != nil, f.In != nil, f.AtLeast != nil, f.Exists != nil} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		e.Add(prefix+"equals", "one of equals, in, atLeast, exists is required")
	case n > 1:
		e.Add(prefix+"equals", "at most one of equals, in, atLeast, exists")
	}
	if f.In != nil && len(f.In) == 0 {
		e.Add(prefix+"in", "must list at least one value")
	}
	for i, v := range append([]any{f.Equals}, f.In...) {
		switch v.(type) {
		case nil, string, bool, int, int64, float64, uint64:
		default:
			field := prefix + "equals"
			if i > 0 {
				field = fmt.Sprintf("%sin[%d]", prefix, i-1)
			}
			e.Add(field, "must be a string, a number or true/false, got %T", v)
		}
	}
}

// parseFieldPath parses a path as kubectl's JSONPath {.path}.
func parseFieldPath(path string) (*jsonpath.JSONPath, error) {
	jp := jsonpath.New("field").AllowMissingKeys(true)
	if err := jp.Parse("{." + path + "}"); err != nil {
		return nil, err
	}
	return jp, nil
}

// RestartAnnotation is the pod-template annotation `kubectl rollout
// restart` sets; kubernetes.rolloutRestart sets the same.
const RestartAnnotation = "kubectl.kubernetes.io/restartedAt"

// RolloutRestartConfig configures kubernetes.rolloutRestart
// (`kubectl rollout restart deployment/…`): set the restart annotation of
// the workloads' pod template to restartedAt, then wait for the rollout
// as kubernetes.scale does. Check is done when every workload's
// annotation is restartedAt (or later) and its rollout is complete, so a
// step built again after a restart of the bot — whose {{ now }} is the
// time the step first started — never restarts twice. Exactly one of
// name, selector and all. Outputs: restartedAt, workloads.
type RolloutRestartConfig struct {
	// Namespace of the workloads (required).
	Namespace string `yaml:"namespace"`
	// Workload is deployment (default) or statefulset.
	Workload string `yaml:"workload"`
	// Name of one workload.
	Name string `yaml:"name"`
	// Selector is a label selector of the workloads.
	Selector string `yaml:"selector"`
	// All selects every workload of the namespace.
	All bool `yaml:"all"`
	// RestartedAt is the restart's time, RFC 3339 (required; write
	// "{{ now }}": the time the step first started, the same after a
	// restart of the bot).
	RestartedAt string `yaml:"restartedAt"`
	// WaitReady also waits for the rollout to complete (default true).
	WaitReady *bool `yaml:"waitReady"`
	// RequestTimeout bounds each call to the API server (default 10s).
	RequestTimeout string `yaml:"requestTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *RolloutRestartConfig) CheckAndSetDefaults() error {
	var e errs
	e.workloads(c.Namespace, &c.Workload, c.Name, c.Selector, c.All)
	switch {
	case c.RestartedAt == "":
		e.Add("restartedAt", `is required: write restartedAt: "{{ now }}" (the time the step first started, the same after a restart of the bot)`)
	case !steps.IsTemplate(c.RestartedAt):
		if _, err := parseTime(c.RestartedAt); err != nil {
			e.Add("restartedAt", "must be an RFC 3339 time (like 2025-03-09T02:04:05Z, or {{ now }}), got %q", c.RestartedAt)
		}
	}
	if c.WaitReady == nil {
		t := true
		c.WaitReady = &t
	}
	e.requestTimeout(&c.RequestTimeout)
	return e.Err()
}

// parseTime reads an RFC 3339 time.
func parseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }
