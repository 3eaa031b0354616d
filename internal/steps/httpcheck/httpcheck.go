// Package httpcheck holds the http.check step kind: an HTTP probe that
// expects an endpoint up or down, one attempt per Check, each with its own
// deadline. (The package is not named http so that it does not shadow
// net/http, which it uses.)
package httpcheck

import (
	"github.com/failoverbot/failoverbot/internal/steps"
)

// Kinds returns the HTTP step kinds.
func Kinds() []steps.Kind {
	return []steps.Kind{
		steps.ProbeKind(steps.Spec{Name: "http.check", Doc: "HTTP endpoint is up (status, body) or down (refused, hung, wrong answer)",
			Outputs: []string{"status", "state"}}, buildCheck),
	}
}

// Register adds the http kinds to r (they need no connection).
func Register(r *steps.Registry) error {
	return r.Register(Kinds()...)
}
