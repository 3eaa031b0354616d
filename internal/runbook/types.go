// Package runbook loads YAML runbooks, validates them with precise errors
// (file, line, field), expands templates and computes the plan hash that
// approvals are bound to. The executor only ever sees the validated form
// defined in this file.
package runbook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// Runbook is a validated runbook.
type Runbook struct {
	// Name identifies the runbook in commands (`/failover start <name>`).
	Name        string
	Description string
	// Severity is free text from the runbook ("critical").
	Severity string
	// ExpectedDuration is what the progress card measures elapsed time against.
	ExpectedDuration time.Duration
	// Channel is the incident channel for the progress card.
	Channel  string
	Approval ApprovalPolicy
	Regions  map[string]Region
	// Connections by name; their fields may hold ${secret:…} references,
	// which are only expanded when a step is built.
	Connections map[string]Connection
	Params      []Param
	// Assess are read-only checks run at once by `/failover assess`.
	Assess []*Step
	Phases []*Phase
	// Notify is the notify section (nil when there is none).
	Notify *Notify
	// Source is the file the runbook was loaded from.
	Source string
	// Hash is the plan hash of the runbook with no parameters bound; see
	// PlanHash for a run's hash.
	Hash string

	// exp expands templates and references for runs (nil for runbooks
	// built by hand in tests).
	exp *expander
	// src is the raw form the runbook was validated from (nil for runbooks
	// built by hand in tests): PlanHash and CheckSecrets read it.
	src *rawRunbook
	// overlay, if set, was applied to the connections named in overlaid.
	overlay  *Overlay
	overlaid map[string]bool
}

// ApprovalPolicy says who must approve a run before it starts.
type ApprovalPolicy struct {
	// Required is the number of distinct approvers (default 2; 0 means none).
	Required int
	// Groups are approver groups (Slack user group IDs or handles).
	Groups []string
	// Users are approver user IDs or names.
	Users []string
	// AllowRequester lets the requester count as an approver (default false).
	AllowRequester bool
	// Expiry is how long an approval request stays open (default 15m).
	Expiry time.Duration
}

// Region is a named region ("primary", "dr").
type Region struct {
	Name        string
	Description string
	// Cloud region, e.g. us-east-1.
	CloudRegion string
}

// Connection is a named connection as written in the runbook.
type Connection struct {
	Name   string
	Type   string
	Region string
	// Fields as written: they may contain ${secret:NAME} references.
	Fields map[string]string
}

// Param is a runbook parameter, given as name=value to plan/start.
type Param struct {
	Name        string
	Description string
	Default     string
	Required    bool
}

// Phase is an ordered group of steps; phases run one after another.
type Phase struct {
	ID    string
	Name  string
	Steps []*Step
}

// Poll is how often a step's Check is repeated while the step waits: after
// its Apply, and for a read-only step until its condition holds.
type Poll struct {
	// Interval is the first wait (0: the executor's default, 1s); it
	// doubles up to Max.
	Interval time.Duration
	// Max caps the wait (0: the executor's default, 10s). When the runbook
	// gives an interval and no max, Max is the interval: a steady poll.
	Max time.Duration
}

// Retry bounds the retries of transient errors inside a step's deadline.
type Retry struct {
	// Attempts is the maximum number of Apply attempts (0: until the deadline).
	Attempts int
	// Backoff is the first delay; it doubles, with jitter, up to MaxBackoff.
	Backoff    time.Duration
	MaxBackoff time.Duration
}

// Step is one validated step.
type Step struct {
	// ID is unique in the runbook, [a-z][a-z0-9_]*, so that templates can
	// name it: {{ .steps.<id>.outputs.<name> }}.
	ID   string
	Name string
	Kind string
	// Phase is the ID of the phase holding the step ("" for assess checks).
	Phase string
	// Needs are IDs of steps (of this or earlier phases) that must be done
	// first.
	Needs   []string
	Timeout time.Duration
	Retry   Retry
	// Poll paces the Checks while the step waits (zero: the executor's
	// default backoff).
	Poll Poll
	// ReadOnly is copied from the kind (steps.Kind.ReadOnly): the executor
	// never calls Apply, and plans tell before building that the step only
	// waits.
	ReadOnly bool
	// AlternativeOf names a step this one replaces when that step fails
	// (the appendix's "database won't promote" path). An alternative step
	// is not run otherwise; when it succeeds, the failed step counts as
	// replaced and the steps that need it go on.
	AlternativeOf string
	// Connection is the name of the step's connection, or "".
	Connection string
	// Line is the step's line in Source.
	Line int

	// Factory builds the Step at run time; set by the loader (or by tests).
	Factory Factory
	// When, if set, decides at run time whether the step runs at all; a
	// step whose condition is false is skipped.
	When func(vars Vars) (bool, error)
}

// Vars is the template data of a run: {{ .params.<name> }},
// {{ .steps.<id>.outputs.<name> }}, {{ .run.<field> }} and {{ now }}.
type Vars struct {
	Params  map[string]string
	Outputs map[string]map[string]string
	// Run is what is known of the run once it has started; nil in dry runs
	// (plan) and assessments, where a template naming .run fails with
	// ErrRunNotStarted.
	Run *RunInfo
	// Now is the time {{ now }} gives; zero means the clock's time when the
	// step is built. The executor passes the time the step first started,
	// so that a step built again after a restart renders the same value.
	Now time.Time
}

// RunInfo is the run as templates see it ({{ .run.id }}, …).
type RunInfo struct {
	// ID is the run's ID ({{ .run.id }}).
	ID string
	// Requester is the user who asked for the run ({{ .run.requester }}).
	Requester string
	// StartedAt is when the run started ({{ .run.startedAt }}, RFC 3339 UTC).
	StartedAt time.Time
	// Approvers are the users whose approval of the run's plan counted
	// ({{ .run.approvers }}: comma-separated; a list for join and range).
	Approvers []string
}

// ErrRunNotStarted is wrapped by the error of a template that names
// .run.* while there is no run (a dry run): the value is only known once
// the run starts.
var ErrRunNotStarted = errors.New("not known until the run starts")

// Factory builds a step instance: it expands the step's templates against
// vars, resolves its secrets and connection, decodes the config, fills and
// checks it (CheckAndSetDefaults) and builds it with the kind. The instance
// is a steps.Step when the kind changes something, else only a
// steps.Probe. Errors never contain secret values.
type Factory interface {
	Build(ctx context.Context, vars Vars) (steps.Probe, error)
}

// FactoryFunc adapts a function to Factory.
type FactoryFunc func(ctx context.Context, vars Vars) (steps.Probe, error)

// Build calls f.
func (f FactoryFunc) Build(ctx context.Context, vars Vars) (steps.Probe, error) { return f(ctx, vars) }

// ErrNoFactory is returned by Step.Build for a step without a Factory (a
// step built by hand in a test).
var ErrNoFactory = errors.New("no factory")

// Build builds the step's instance with its Factory.
func (s *Step) Build(ctx context.Context, vars Vars) (steps.Probe, error) {
	if s.Factory == nil {
		return nil, fmt.Errorf("step %s has %w", s.ID, ErrNoFactory)
	}
	return s.Factory.Build(ctx, vars)
}

// MayApply returns inst as a steps.Step when the executor may call its
// Apply: the step's kind is not read-only and the built value has an Apply.
// A probe, or any instance of a read-only step, is only ever checked.
func (s *Step) MayApply(inst steps.Probe) (steps.Step, bool) {
	if s.ReadOnly {
		return nil, false
	}
	st, ok := inst.(steps.Step)
	return st, ok
}

// AllSteps returns the phase steps in order (not the assess checks).
func (rb *Runbook) AllSteps() []*Step {
	var out []*Step
	for _, p := range rb.Phases {
		out = append(out, p.Steps...)
	}
	return out
}

// Step returns the phase step with the given ID, or nil.
func (rb *Runbook) Step(id string) *Step {
	for _, p := range rb.Phases {
		for _, s := range p.Steps {
			if s.ID == id {
				return s
			}
		}
	}
	return nil
}
