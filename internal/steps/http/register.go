// Package http holds the http.check step kind: an HTTP probe that expects an
// endpoint up or down, one attempt per Check, each with its own deadline.
package http

import (
	"github.com/failoverbot/failoverbot/internal/steps"
)

// Kinds returns the HTTP step kinds.
func Kinds() []steps.Kind {
	return []steps.Kind{{
		Name:      "http.check",
		Doc:       "HTTP endpoint is up (status, body) or down (refused, hung, wrong answer)",
		ReadOnly:  true,
		Outputs:   []string{"status", "state"},
		NewConfig: func() steps.Config { return &CheckConfig{} },
		New:       newKind,
	}}
}

// Register adds the http kinds to r (they need no connection).
func Register(r *steps.Registry) error {
	return r.Register(Kinds()...)
}
