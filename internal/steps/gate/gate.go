// Package gate holds the gate step kind: the run waits for people to
// confirm a task only a person can do (a second approval inside the run).
//
// The kind is declared (steps.DeclaredStep) so that runbooks validate and
// plan; the executor and the chat layer implement the wait, and until then
// building a gate fails with a clear error.
package gate

import (
	"github.com/failoverbot/failoverbot/internal/steps"
)

// Kinds returns the gate step kind. It needs no connection.
func Kinds() []steps.Kind {
	return []steps.Kind{
		steps.DeclaredStep[Config](steps.Spec{Name: "gate", Doc: "wait for people to confirm a task only a person can do", Outputs: []string{"confirmedBy"}}),
	}
}

// Register adds the gate kind to r.
func Register(r *steps.Registry) error {
	return r.Register(Kinds()...)
}
