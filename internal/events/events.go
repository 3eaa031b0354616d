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

// Event types.
const (
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
)

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

// Fanout sends every event to each sink in turn.
type Fanout []Sink

// Notify sends e to every sink.
func (f Fanout) Notify(ctx context.Context, e Event) {
	for _, s := range f {
		s.Notify(ctx, e)
	}
}
