package notify

import (
	"strings"

	"github.com/failoverbot/failoverbot/internal/events"
)

// Milestone is a point of a run that the people following it care about.
type Milestone string

// The milestones, in the order a run passes them.
const (
	ApprovalRequested Milestone = "approval_requested"
	Approved          Milestone = "approved"
	Rejected          Milestone = "rejected"
	Expired           Milestone = "expired"
	Cancelled         Milestone = "cancelled"
	StartFailed       Milestone = "start_failed"
	Started           Milestone = "started"
	Resumed           Milestone = "resumed"
	PhaseDone         Milestone = "phase_done"
	StepDone          Milestone = "step_done"
	StepFailed        Milestone = "step_failed"
	Paused            Milestone = "paused"
	GateWaiting       Milestone = "gate_waiting"
	Succeeded         Milestone = "succeeded"
	Failed            Milestone = "failed"
	Aborted           Milestone = "aborted"
)

// Public is not a milestone of its own: in a notifier's `on` list it stands
// for the completion of the phases and steps the runbook marks public.
const Public Milestone = "public"

// GateWaitingEvent is the event a gate step announces while it waits for
// its approvers (the executor's gate.waiting).
const GateWaitingEvent events.Type = "gate.waiting"

// Milestones lists every milestone, in order.
var Milestones = []Milestone{ApprovalRequested, Approved, Rejected, Expired, Cancelled, StartFailed, Started,
	Resumed, PhaseDone, StepDone, StepFailed, Paused, GateWaiting, Succeeded, Failed, Aborted}

var byEvent = map[events.Type]Milestone{
	events.ApprovalRequested: ApprovalRequested,
	events.RunApproved:       Approved,
	events.RunRejected:       Rejected,
	events.RunExpired:        Expired,
	events.RunCancelled:      Cancelled,
	events.RunStartFailed:    StartFailed,
	events.RunStarted:        Started,
	events.RunResumed:        Resumed,
	events.PhaseDone:         PhaseDone,
	events.StepDone:          StepDone,
	events.StepFailed:        StepFailed,
	events.RunPaused:         Paused,
	GateWaitingEvent:         GateWaiting,
	events.RunSucceeded:      Succeeded,
	events.RunFailed:         Failed,
	events.RunAborted:        Aborted,
}

// MilestoneOf returns the milestone an event marks, or "".
func MilestoneOf(t events.Type) Milestone { return byEvent[t] }

// Valid reports whether m is a milestone (or Public).
func (m Milestone) Valid() bool {
	if m == Public {
		return true
	}
	for _, x := range Milestones {
		if x == m {
			return true
		}
	}
	return false
}

// Terminal reports whether the run (or its request) ends at m.
func (m Milestone) Terminal() bool {
	switch m {
	case Succeeded, Failed, Aborted, Rejected, Expired, Cancelled, StartFailed:
		return true
	}
	return false
}

// Stops reports whether the run stops at m (it ends or waits for people).
func (m Milestone) Stops() bool {
	return m.Terminal() || m == Paused || m == StepFailed
}

// MilestoneNames is the list of milestone names for error messages.
func MilestoneNames() string {
	names := make([]string, 0, len(Milestones)+1)
	for _, m := range Milestones {
		names = append(names, string(m))
	}
	return strings.Join(append(names, string(Public)), ", ")
}

// Subject returns the phase or step the notification completes ("" when
// it completes neither): the ID a runbook names in `public` and in a
// notifier's per-milestone settings.
func (n *Notification) Subject() string {
	switch n.Milestone {
	case PhaseDone:
		return n.Event.Phase
	case StepDone:
		return n.Event.StepID
	}
	return ""
}

// Keys returns the names a runbook may give this notification in a
// notifier's per-milestone settings (messages, component states), most
// specific first: the completed phase's or step's ID, then the milestone.
func (n *Notification) Keys() []string {
	var ks []string
	if s := n.Subject(); s != "" {
		ks = append(ks, s)
	}
	if n.Milestone != "" {
		ks = append(ks, string(n.Milestone))
	}
	return ks
}

// On builds a Target's Wants from an `on` list of milestones; Public
// stands for the completion of a public phase or step.
func On(list []Milestone) func(n *Notification) bool {
	set := map[Milestone]bool{}
	for _, m := range list {
		set[m] = true
	}
	return func(n *Notification) bool {
		if n.Milestone == "" {
			return false
		}
		return set[n.Milestone] || (set[Public] && n.Public)
	}
}
