// Package gate holds the gate step kind: an approval inside the run. The
// run waits, in a state of its own (waiting for approval), for people to
// confirm what only a person can do or judge — a DBA signing off the
// promotion, "rebuild the primary", "check the dashboards" — with the same
// approval mechanism as the run's start: the gate's message is posted in
// the run's thread with reactions and buttons, each approval is bound to
// the run, the gate and the plan hash, and one person counts once.
package gate

import (
	"context"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// Kinds returns the gate step kind. It needs no connection.
func Kinds() []steps.Kind {
	return []steps.Kind{
		steps.ProbeKind(steps.Spec{Name: "gate", Doc: "wait for people to approve (a second approval inside the run)", Outputs: []string{"confirmedBy"}}, newGate),
	}
}

// Register adds the gate kind to r.
func Register(r *steps.Registry) error {
	return r.Register(Kinds()...)
}

// Gate is a built gate: its policy, for the executor to wait on.
type Gate struct {
	policy steps.ApprovalPolicy
}

var _ steps.Approval = (*Gate)(nil)

func newGate(_ context.Context, c *Config, _ steps.Env) (steps.Probe, error) {
	return &Gate{policy: c.Policy()}, nil
}

// Check says the gate is waiting: only a decision ends it.
func (g *Gate) Check(ctx context.Context) (steps.Result, error) {
	return steps.WaitingProbe(ctx, g.policy), nil
}

// Policy is the gate's approval policy.
func (g *Gate) Policy() steps.ApprovalPolicy { return g.policy }
