package commands

import (
	"context"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/executor"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
)

// Catalog finds runbooks by name. DirCatalog is the directory-backed one.
type Catalog interface {
	// Get returns the current version of a runbook, or an error naming
	// the runbooks that exist.
	Get(name string) (*runbook.Runbook, error)
	// List returns every runbook, sorted by name.
	List() []*runbook.Runbook
}

// Directory answers who is who: group membership and user look-up.
// The Slack adapter implements it with usergroups.users.list and
// users.info; the console with a static map.
type Directory interface {
	// Members returns the user IDs (or names) of a group.
	Members(ctx context.Context, group string) ([]string, error)
	// User returns the user with this ID, with IsBot set.
	User(ctx context.Context, id string) (chat.User, error)
}

// Planner runs the dry parts of a run (*executor.Planner implements it):
// they need no store and change nothing.
type Planner interface {
	// Assess runs the runbook's assess checks at once, each under its own
	// deadline.
	Assess(ctx context.Context, rb *runbook.Runbook) executor.Assessment
	// Plan checks every step without changing anything; it fails only on
	// bad parameters. Its Hash is the one a run is bound to.
	Plan(ctx context.Context, rb *runbook.Runbook, params map[string]string) (executor.Plan, error)
	// Preflight builds every step and check without calling anything: a
	// run with problems could never finish and must not start.
	Preflight(ctx context.Context, rb *runbook.Runbook, params map[string]string) executor.Preflight
	// Hash is the hash a run of rb with params is bound to now (its plan,
	// and what its connections resolve to).
	Hash(rb *runbook.Runbook, params map[string]string) (string, error)
}

var _ Planner = (*executor.Planner)(nil)

// Executor owns the runs (*executor.Executor implements it): this package
// decides who may do what and calls these verbs, which record every change
// in the run, the audit trail and the event stream. The controls take the
// acting user's ID ("by").
type Executor interface {
	// Request creates a run pending approval (store.ErrActiveRun when the
	// runbook has an active run).
	Request(ctx context.Context, req executor.RunRequest) (*store.Run, error)
	// PlanPosted records the message the approvers react to.
	PlanPosted(ctx context.Context, runID string, ref store.MessageRef, summary string) error
	// Approve records the quorum and starts the run; when it cannot
	// start, the request ends and the error says why.
	Approve(ctx context.Context, runID string, rb *runbook.Runbook, approvers []string) error
	// Reject, Expire and Cancel end a pending run.
	Reject(ctx context.Context, runID, by string) (*store.Run, error)
	Expire(ctx context.Context, runID, reason string) (*store.Run, error)
	Cancel(ctx context.Context, runID, by, reason string) (*store.Run, error)

	// ApproveGate and RejectGate decide a waiting gate step; GatePosted
	// records where its approval request is.
	ApproveGate(ctx context.Context, runID, stepID string, approvers []string) error
	RejectGate(ctx context.Context, runID, stepID, by string) error
	GatePosted(ctx context.Context, runID, stepID string, ref store.MessageRef) error

	Pause(ctx context.Context, runID, by string) error
	Resume(ctx context.Context, runID, by string) error
	Abort(ctx context.Context, runID, by string) error
	RetryStep(ctx context.Context, runID, stepID, by string) error
	SkipStep(ctx context.Context, runID, stepID, by string) error
}

var _ Executor = (*executor.Executor)(nil)

// CardOpener posts a run's progress card as soon as the run starts (the
// first event would, a moment later). The progress card notifier
// (notify/card) implements it; it is optional.
type CardOpener interface {
	Open(ctx context.Context, runID string) error
}
