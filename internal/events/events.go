// Package events defines what the executor announces about a run, after it
// has persisted it. Notifiers (the Slack progress card, the status page,
// PagerDuty, the console) subscribe; none of them can fail a run.
package events

import (
	"context"
	"time"
)

// Type names an event.
type Type string

// Event types. The first group is the approval request, before the run
// starts; PreStart tells them apart.
const (
	RunRequested      Type = "run.requested"      // a run was asked for (pending approval)
	ApprovalRequested Type = "approval.requested" // its plan was posted for approval
	RunApproved       Type = "run.approved"       // quorum reached; Start follows
	RunRejected       Type = "run.rejected"       // an approver rejected the plan
	RunExpired        Type = "run.expired"        // the request expired, or its plan went stale
	RunCancelled      Type = "run.cancelled"      // the request was withdrawn, or could not be posted
	RunStartFailed    Type = "run.start_failed"   // approved, but it could not start (it ended failed or expired)

	RunStarted   Type = "run.started"
	RunResumed   Type = "run.resumed" // after pause, or taken over after a crash
	RunPaused    Type = "run.paused"
	RunSucceeded Type = "run.succeeded"
	RunFailed    Type = "run.failed"
	RunAborted   Type = "run.aborted"
	PhaseStarted Type = "phase.started"
	PhaseDone    Type = "phase.done"
	StepStarted  Type = "step.started"  // first Check
	StepApplying Type = "step.applying" // Apply called
	StepDone     Type = "step.done"
	StepFailed   Type = "step.failed" // the run pauses; the operator may retry, skip or abort
	StepSkipped  Type = "step.skipped"
	StepRetrying Type = "step.retrying" // a transient error, retried

	// A gate step (an approval inside the run): it waits (the run is
	// waiting_approval; Data: policy, expires, message channel/ts once
	// posted), then is approved (Data: approvers), rejected or expired.
	// The store cannot be written: the run stalls (nothing more is
	// applied until its transitions can be recorded), then goes on. These
	// are announced without an audit record (the store is what failed).
	RunStalled   Type = "run.stalled"
	RunUnstalled Type = "run.unstalled"

	GateWaiting  Type = "gate.waiting"
	GatePosted   Type = "gate.posted" // its request was posted (Data: channel, ts)
	GateApproved Type = "gate.approved"
	GateRejected Type = "gate.rejected"
	GateExpired  Type = "gate.expired"
)

// PreStart reports whether t is about an approval request rather than a
// run that started (no progress card exists for those yet).
func (t Type) PreStart() bool {
	switch t {
	case RunRequested, ApprovalRequested, RunApproved, RunRejected, RunExpired, RunCancelled, RunStartFailed:
		return true
	}
	return false
}

// Event is one announcement. Summary and Error are already scrubbed of
// secrets.
type Event struct {
	Type    Type
	At      time.Time
	RunID   string
	Runbook string
	Phase   string
	StepID  string
	Summary string
	Error   string
	// Elapsed is the run's elapsed time at the event.
	Elapsed time.Duration
	// Data holds an event's details, also kept in its audit record
	// (approvers, the plan message's channel and ts), scrubbed.
	Data map[string]string
	// Seq is the Seq of the event's audit record (store.AuditEvent): it
	// names the event across restarts (the notification delivery log's
	// key). 0 when the event has no audit record.
	Seq int64
}

// Sink receives events. Notify must return quickly (queue slow work) and
// never fails the run.
type Sink interface {
	Notify(ctx context.Context, e Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, e Event)

// Notify calls f.
func (f SinkFunc) Notify(ctx context.Context, e Event) { f(ctx, e) }
