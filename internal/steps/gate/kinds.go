// Package gate holds the gate step kind: the run waits for people to
// confirm a task only a person can do (a second approval inside the run).
//
// The kind is declared so that runbooks validate; the executor and the chat
// layer implement the wait (New is nil until then).
package gate

import (
	"github.com/failoverbot/failoverbot/internal/steps"
)

// Kind is the gate step kind. It needs no connection.
var Kind = steps.Kind{
	Name:      "gate",
	Doc:       "wait for people to confirm a task only a person can do",
	Outputs:   []string{"confirmedBy"},
	NewConfig: func() steps.Config { return &Config{} },
}

// Register adds the gate kind to r.
func Register(r *steps.Registry) error {
	return r.Register(Kind)
}
