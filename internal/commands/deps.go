package commands

import (
	"context"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/executor"
	"github.com/failoverbot/failoverbot/internal/runbook"
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

// Executor runs runs (*executor.Executor implements it). Its control
// methods take the acting user's ID ("by") for the audit trail; the
// executor persists every change before it returns.
type Executor interface {
	// Assess runs the runbook's assess checks at once, each under its own
	// deadline.
	Assess(ctx context.Context, rb *runbook.Runbook) chat.AssessView
	// Plan runs Check of every step without changing anything.
	Plan(ctx context.Context, rb *runbook.Runbook, params map[string]string) (executor.Plan, error)
	// Start starts an approved run (pending_approval → running) in the
	// background; it refuses a stale plan.
	Start(ctx context.Context, runID string, rb *runbook.Runbook) error
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
