// Package notify is where the executor's events reach the notifiers: the
// progress card (notify/card), the status page (notify/statuspage),
// PagerDuty (notify/pagerduty) and the stakeholders' channels
// (notify/stakeholders). It is built as Alertmanager's notify/ is: one
// small Notifier contract, one fan-out (Pipeline, the executor's
// events.Sink), one retry loop per notifier, and a delivery log in the
// store so that a restarted bot neither loses nor repeats a notification.
//
// The flow of one event: the executor persists a transition, appends its
// audit record and hands the event (with the record's Seq) to
// Pipeline.Notify, which queues it and returns at once. The pipeline's
// dispatcher turns it into a Notification (its Milestone, whether it is
// public), and for each of the run's notifiers that wants it records a
// "queued" row keyed by (run, notifier, Seq) in the delivery log, then hands
// it to that notifier's queue. One worker per (run, notifier) delivers its
// queue in order, retrying what is worth retrying with exponential backoff
// and jitter, and records "delivered" (or "failed", given up) after. A
// notifier that fails never fails or slows the run: its failure is said
// once in the run's thread and retried until it lands or the run's grace
// period ends (see Options.EndGrace and Finish).
//
// After a restart the pipeline resends what was queued and not delivered,
// and catches a run up from its audit trail (events the dead process had
// recorded but not yet queued), so that each notification is sent once.
// A notifier whose remote side may have taken a request before the bot died
// is told so (Notification.Redelivery) and checks before repeating it.
package notify

import (
	"context"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/events"
)

// Notifier delivers notifications to one system. It is Alertmanager's
// contract: Notify reports whether a failure is worth retrying.
type Notifier interface {
	// Notify delivers n under ctx (which carries the call's deadline). On
	// failure it returns retry=true when the same call may succeed later
	// (a timeout, a 5xx, a rate limit), false when it cannot (bad
	// credentials, a 4xx). A notifier ignores a notification it has no use
	// for by returning (false, nil).
	Notify(ctx context.Context, n *Notification) (retry bool, err error)
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(ctx context.Context, n *Notification) (bool, error)

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, n *Notification) (bool, error) { return f(ctx, n) }

// Target is one notifier of one run.
type Target struct {
	// Name names the notifier in the delivery log, logs and the thread
	// ("statuspage", "pagerduty", "stakeholders", "card"): unique per run.
	Name     string
	Notifier Notifier
	// Wants says which notifications the notifier gets; nil: every
	// milestone (events that are not milestones are skipped).
	Wants func(n *Notification) bool
	// Quiet: the notifier's failures are logged, not said in the run's
	// thread (the card, whose thread is where they would be said).
	Quiet bool
}

func (t Target) wants(n *Notification) bool {
	if t.Wants == nil {
		return n.Milestone != ""
	}
	return t.Wants(n)
}

// Notification is one event of one run, as one notifier gets it.
type Notification struct {
	// Key names the event within the run across restarts (its audit Seq):
	// (run, notifier, key) is the delivery log's key.
	Key   string
	Event events.Event
	// Milestone is what the event means for the people following the run
	// ("" for events that are no milestone, such as step.started).
	Milestone Milestone
	// Public: a phase or step the runbook marks public was completed (a
	// public milestone for the status page).
	Public bool
	// Run describes the run at the time of the notification.
	Run RunInfo
	// Attempt is this call's number (1 for the first).
	Attempt int
	// Redelivery: an earlier call for this notification may have reached
	// the remote side (it timed out, or the bot died after queueing it).
	// A notifier that can check whether its change was made does so
	// before making it again.
	Redelivery bool
	// Pending counts the notifications queued behind this one for the same
	// run and notifier (a notifier that shows the latest state, as the
	// card does, renders it only on the last).
	Pending int
	// State is what the notifier keeps for the run across restarts (the
	// Statuspage incident it opened).
	State State
}

// RunInfo is what a notification says about its run.
type RunInfo struct {
	ID, Runbook string
	Requester   string
	Reason      string
	Params      map[string]string
	// Channel is the runbook's incident channel; Thread the run's progress
	// card (or, before it exists, its approval message).
	Channel string
	Thread  chat.MessageRef
	// Link is a permalink to Thread when the chat can give one ("" if
	// not: name Thread's channel and ts instead).
	Link      string
	StartedAt time.Time
	// Expected is the runbook's expected duration (0: none given).
	Expected time.Duration
	// PhaseName and StepName name the event's phase and step.
	PhaseName, StepName string
}

// State is a notifier's durable memory of one run.
type State interface {
	Get(key string) string
	// Set stores a value at once (before the notifier goes on), so that a
	// restarted bot finds it.
	Set(ctx context.Context, key, value string) error
}
