// Package store keeps runs, step states, approvals and the append-only audit
// trail. Two backends implement Store with one conformance suite
// (storetest): embedded SQLite (store/sqlite, the default) and PostgreSQL
// (store/postgres).
package store

import (
	"context"
	"errors"
	"time"
)

// Errors every backend returns (wrapped) for the same situations.
var (
	// ErrNotFound: no such run.
	ErrNotFound = errors.New("not found")
	// ErrActiveRun: the runbook already has an active run (pending
	// approval, running or paused): one active run per runbook.
	ErrActiveRun = errors.New("runbook already has an active run")
	// ErrConflict: the run changed since it was read (Version mismatch).
	ErrConflict = errors.New("run was changed concurrently")
	// ErrLeaseHeld: another live executor owns the run.
	ErrLeaseHeld = errors.New("run is owned by another executor")
)

// RunState is the state of a run.
type RunState string

// Run states. Pending, Running, Waiting and Paused are active: they hold
// the runbook's lock.
const (
	RunPending RunState = "pending_approval"
	RunRunning RunState = "running"
	// RunWaiting: running, and waiting for people to approve a gate step.
	RunWaiting   RunState = "waiting_approval"
	RunPaused    RunState = "paused"
	RunSucceeded RunState = "succeeded"
	RunFailed    RunState = "failed"
	RunAborted   RunState = "aborted"
	RunRejected  RunState = "rejected"
	RunExpired   RunState = "expired"
)

// Active reports whether the state holds the runbook's lock.
func (s RunState) Active() bool {
	return s == RunPending || s == RunRunning || s == RunWaiting || s == RunPaused
}

// Executing reports whether the run has started and is being executed
// (running, or waiting for a gate's approval).
func (s RunState) Executing() bool { return s == RunRunning || s == RunWaiting }

// ActiveStates are the states that hold a runbook's lock.
var ActiveStates = []RunState{RunPending, RunRunning, RunWaiting, RunPaused}

// MessageRef points at a chat message (a Slack channel and ts).
type MessageRef struct {
	Channel string
	TS      string
}

// Run is one execution (or request for execution) of a runbook.
type Run struct {
	ID       string
	Runbook  string
	PlanHash string
	Params   map[string]string
	// Requester is the user who asked for the run.
	Requester string
	Reason    string
	State     RunState
	// StateReason says why the run is paused/failed/aborted ("step
	// promote_db: …", "aborted by U123").
	StateReason string
	CreatedAt   time.Time
	StartedAt   time.Time
	EndedAt     time.Time
	// ApprovalMsg is the message approvers react to; Card is the progress
	// card edited in place. Both survive restarts.
	ApprovalMsg MessageRef
	Card        MessageRef
	// Owner is the executor instance holding the run's lease until
	// LeaseUntil; another instance may take the run over once it expires.
	Owner      string
	LeaseUntil time.Time
	// Version increases on every UpdateRun; UpdateRun fails with
	// ErrConflict if the stored Version is not the one read.
	Version int64
}

// StepStatus is the status of one step of a run.
type StepStatus string

// Step statuses.
const (
	StepPending  StepStatus = "pending"
	StepChecking StepStatus = "checking" // Check before any Apply
	StepApplying StepStatus = "applying" // Apply started (persisted before the call)
	StepWaiting  StepStatus = "waiting"  // Apply returned; polling Check
	StepDone     StepStatus = "done"
	StepFailed   StepStatus = "failed"
	StepSkipped  StepStatus = "skipped"  // by operator, or its `when` was false
	StepReplaced StepStatus = "replaced" // failed, then an alternative step succeeded
)

// Terminal reports whether the status is final for the run.
func (s StepStatus) Terminal() bool {
	return s == StepDone || s == StepSkipped || s == StepReplaced
}

// StepState is the persisted state of one step of a run.
type StepState struct {
	RunID  string
	StepID string
	Status StepStatus
	// Attempts counts Apply calls started (persisted before each call).
	Attempts int
	// AlreadyDone is true when the first Check found the state already held.
	AlreadyDone bool
	Summary     string
	Outputs     map[string]string
	Error       string
	StartedAt   time.Time
	EndedAt     time.Time
	// Message is where a gate step asks for approval (a Slack channel and
	// ts); empty for other steps.
	Message MessageRef
}

// Decision is an approver's decision.
type Decision string

// Decisions.
const (
	Approve Decision = "approve"
	Reject  Decision = "reject"
)

// Approval is one person's decision on a run's start request or on one
// of its gate steps, bound to the plan hash they saw.
type Approval struct {
	RunID string
	// Gate is the gate step decided on; "" for the start request.
	Gate     string
	User     string
	Decision Decision
	PlanHash string
	// Via says how it was given: "reaction" or "button".
	Via string
	At  time.Time
}

// AuditEvent is one append-only record of the audit trail. It never holds
// secret values: callers scrub Message and Data first.
type AuditEvent struct {
	// Seq is assigned by the store, increasing.
	Seq     int64
	RunID   string
	At      time.Time
	Actor   string // a user ID, or "bot"
	Type    string // e.g. run.requested, approval.granted, approval.refused, step.applying
	StepID  string
	Message string
	Data    map[string]string
}

// ListOptions filters ListRuns. Zero values mean no filter; results are
// newest first.
type ListOptions struct {
	Runbook string
	States  []RunState
	Limit   int
}

// Store is implemented by the SQLite and PostgreSQL backends. All methods
// are safe for concurrent use, by several processes sharing the database.
type Store interface {
	// CreateRun inserts a run; if the run is active and its runbook
	// already has an active run it fails with ErrActiveRun (atomically,
	// also across processes).
	CreateRun(ctx context.Context, r *Run) error
	// GetRun returns the run, or ErrNotFound.
	GetRun(ctx context.Context, id string) (*Run, error)
	// UpdateRun stores r if the stored version equals r.Version, and
	// increments r.Version; otherwise ErrConflict. Moving a run back into
	// an active state fails with ErrActiveRun if another run of its
	// runbook became active meanwhile. Card is not written: SetCard owns it.
	UpdateRun(ctx context.Context, r *Run) error
	// SetCard records where the run's progress card lives, without
	// changing Version (the card never races the executor); ErrNotFound
	// for an unknown run.
	SetCard(ctx context.Context, id string, ref MessageRef) error
	// ClaimRun makes owner the run's owner until now+ttl if the run has no
	// owner, is owned by owner, or its lease has expired; otherwise
	// ErrLeaseHeld. It returns the updated run. A claim (also a renewal)
	// increments Version, so that copies read before it, such as a
	// previous owner's, can no longer be written by UpdateRun.
	ClaimRun(ctx context.Context, id, owner string, ttl time.Duration) (*Run, error)
	// ListRuns lists runs, newest first.
	ListRuns(ctx context.Context, opts ListOptions) ([]*Run, error)

	// PutStep inserts or replaces the state of one step of a run.
	PutStep(ctx context.Context, s *StepState) error
	// Steps returns the step states of a run (any order).
	Steps(ctx context.Context, runID string) ([]*StepState, error)

	// PutApproval records a decision; a second decision by the same user
	// on the same run and gate replaces the first.
	PutApproval(ctx context.Context, a *Approval) error
	// DeleteApproval withdraws a user's decision on a run's gate ("" for
	// the start request), e.g. a removed reaction.
	DeleteApproval(ctx context.Context, runID, gate, user string) error
	// Approvals returns the decisions on a run and all its gates, oldest
	// first.
	Approvals(ctx context.Context, runID string) ([]*Approval, error)

	// Append adds an event to the audit trail and sets its Seq.
	Append(ctx context.Context, e *AuditEvent) error
	// Audit returns a run's events in order; runID "" returns all.
	Audit(ctx context.Context, runID string) ([]*AuditEvent, error)

	Close() error
}
