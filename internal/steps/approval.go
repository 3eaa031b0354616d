package steps

import (
	"context"
	"time"
)

// Approval is a step that waits for people: the gate kind. The executor
// does not poll it. It records the run as waiting for approval, has the
// chat layer ask the people the policy names, and waits until they
// approve (the step is done), one of them rejects (it fails), or the
// policy's expiry passes.
type Approval interface {
	Probe
	// Policy says who may approve, how many must, and for how long.
	Policy() ApprovalPolicy
}

// What an approval gate does when it expires without its quorum.
const (
	// OnExpiryPause pauses the run; resuming it asks again (the approvals
	// given so far still count).
	OnExpiryPause = "pause"
	// OnExpiryFail fails the step: retry, skip or abort it.
	OnExpiryFail = "fail"
)

// ApprovalPolicy is a gate's approval policy, with every default filled.
type ApprovalPolicy struct {
	// Message says what the approvers must do or check.
	Message string `json:"message"`
	// Required distinct people must approve.
	Required int `json:"required"`
	// Groups and Users may approve; both empty means the runbook's
	// approvers.
	Groups []string `json:"groups,omitempty"`
	Users  []string `json:"users,omitempty"`
	// AllowRequester lets the person who requested the run approve.
	AllowRequester bool `json:"allowRequester"`
	// AllowEarlierApprovers lets those who approved the run's start (or
	// an earlier gate) approve this gate too.
	AllowEarlierApprovers bool `json:"allowEarlierApprovers"`
	// Expiry bounds the wait, counted from when the gate started waiting.
	Expiry time.Duration `json:"expiry"`
	// OnExpiry is OnExpiryPause or OnExpiryFail.
	OnExpiry string `json:"onExpiry"`
}

// WaitingProbe is what an Approval's Check reports: the executor never
// treats it as done (only a decision ends the wait).
func WaitingProbe(_ context.Context, p ApprovalPolicy) Result {
	return Result{Summary: "waiting for approval: " + p.Message}
}
