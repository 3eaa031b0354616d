package kubernetes

import (
	"regexp"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// Event types of kubernetes.events.
const (
	EventNormal  = "Normal"
	EventWarning = "Warning"
)

// Defaults of the diagnostic kinds.
const (
	DefaultEventLimit = 20
	DefaultLogTail    = 100
)

// EventsConfig configures kubernetes.events, a read-only probe
// (`kubectl get events --sort-by=.lastTimestamp | tail -20`,
// `kubectl describe pods | grep -A 10 Events:`): the newest events, posted
// to the run's thread. Done unless maxWarnings is set and more Warning
// events than that were seen. Output: warnings (their count).
type EventsConfig struct {
	// Namespace, optional (default: every namespace).
	Namespace string `yaml:"namespace"`
	// FieldSelector, optional, e.g. involvedObject.kind=Pod.
	FieldSelector string `yaml:"fieldSelector"`
	// Type, optional, is Normal or Warning.
	Type string `yaml:"type"`
	// Since, optional, ignores events last seen longer ago (a duration).
	Since string `yaml:"since"`
	// Limit is how many of the newest events are shown (default 20, at most 1000).
	Limit int `yaml:"limit"`
	// MaxWarnings, if set, fails the check with more Warning events.
	MaxWarnings *int `yaml:"maxWarnings"`
	// RequestTimeout bounds each call to the API server (default 10s).
	RequestTimeout string `yaml:"requestTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *EventsConfig) CheckAndSetDefaults() error {
	var e errs
	e.namespace("namespace", c.Namespace, false)
	if c.Type != "" {
		e.OneOf("type", c.Type, EventNormal, EventWarning)
	}
	e.duration("since", c.Since)
	if c.Limit == 0 {
		c.Limit = DefaultEventLimit
	}
	if c.Limit < 1 || c.Limit > 1000 {
		e.Add("limit", "must be between 1 and 1000, got %d", c.Limit)
	}
	e.atLeast("maxWarnings", c.MaxWarnings, 0)
	e.requestTimeout(&c.RequestTimeout)
	return e.Err()
}

// LogsConfig configures kubernetes.logs, a read-only probe
// (`kubectl logs -l app.kubernetes.io/name=mimir-api --tail=100`): the last
// lines of the selected pods' logs, posted to the run's thread. Done unless
// failPattern matches a line. Outputs: lines (lines read), matches (lines
// matching failPattern).
type LogsConfig struct {
	PodTarget `yaml:",inline"`
	// Tail is how many lines per pod are read (default 100, at most 10000).
	Tail int `yaml:"tail"`
	// Since, optional, only reads lines newer than this (a duration).
	Since string `yaml:"since"`
	// FailPattern, optional, is a regular expression; a matching line
	// fails the check (e.g. "FATAL|panic:").
	FailPattern string `yaml:"failPattern"`
	// RequestTimeout bounds each call to the API server (default 10s).
	RequestTimeout string `yaml:"requestTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *LogsConfig) CheckAndSetDefaults() error {
	var e errs
	c.PodTarget.validate(&e)
	if c.Tail == 0 {
		c.Tail = DefaultLogTail
	}
	if c.Tail < 1 || c.Tail > 10000 {
		e.Add("tail", "must be between 1 and 10000, got %d", c.Tail)
	}
	e.duration("since", c.Since)
	if c.FailPattern != "" && !steps.IsTemplate(c.FailPattern) {
		if _, err := regexp.Compile(c.FailPattern); err != nil {
			e.Add("failPattern", "is not a regular expression: %v", err)
		}
	}
	e.requestTimeout(&c.RequestTimeout)
	return e.Err()
}

// PodMetricsConfig configures kubernetes.podMetrics, a read-only probe
// (`kubectl top pods`): CPU and memory of the selected pods from the
// metrics API (metrics.k8s.io), posted to the run's thread. Done when every
// pod is within maxCpu and maxMemory (when set). Outputs: cpu, memory (the
// highest per-pod usage seen, as quantities).
type PodMetricsConfig struct {
	// Namespace of the pods (required).
	Namespace string `yaml:"namespace"`
	// Selector, optional, is a label selector.
	Selector string `yaml:"selector"`
	// MaxCPU, optional, is the most CPU a pod may use (a quantity: 500m, 2).
	MaxCPU string `yaml:"maxCpu"`
	// MaxMemory, optional, is the most memory a pod may use (512Mi, 2Gi).
	MaxMemory string `yaml:"maxMemory"`
	// RequestTimeout bounds each call to the API server (default 10s).
	RequestTimeout string `yaml:"requestTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *PodMetricsConfig) CheckAndSetDefaults() error {
	var e errs
	e.namespace("namespace", c.Namespace, true)
	e.selector("selector", c.Selector)
	for _, q := range []struct{ field, v string }{{"maxCpu", c.MaxCPU}, {"maxMemory", c.MaxMemory}} {
		if q.v != "" && !steps.IsTemplate(q.v) && !quantity.MatchString(q.v) {
			e.Add(q.field, "is not a quantity (like 500m, 2, 512Mi), got %q", q.v)
		}
	}
	e.requestTimeout(&c.RequestTimeout)
	return e.Err()
}
