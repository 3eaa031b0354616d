// Package steps holds the contract every step kind follows (a Probe checks,
// a Step also applies), the classification of step errors, how a kind is
// declared (Spec, ProbeKind, StepKind) and the registry of kinds.
//
// A step kind lives in its own sub-package (steps/postgres, steps/redis, …)
// and is registered by name at start-up; nothing here knows any system.
// README.md in this directory is the guide to writing one.
package steps

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Result is what Check observed.
type Result struct {
	// Done reports whether the desired state already holds.
	Done bool
	// Summary is one line for humans ("standby promoted, timeline 2").
	Summary string
	// Outputs are named values later steps may use through templates
	// ({{ .steps.<id>.outputs.<name> }}). Keys must be declared by the kind.
	Outputs map[string]string
}

// Probe is one configured instance of a read-only step kind (a health
// check, a lag threshold, a readiness test), bound to its connection.
//
// Check observes and changes nothing: the executor calls it for dry runs,
// assessments and plans as freely as for runs. A probe has no Apply: the
// executor polls Check until it reports Done or the step's deadline passes.
type Probe interface {
	Check(ctx context.Context) (Result, error)
}

// Step is one configured instance of a step kind that changes something.
//
// Apply moves the system toward the desired state; the executor calls it
// only when Check said not done, and it must be safe to call again after a
// crash. After Apply the executor polls Check until it reports Done or the
// step's deadline passes.
type Step interface {
	Probe
	Apply(ctx context.Context) error
}

// Closer is implemented by probes and steps that hold connections to
// release when the executor is done with them.
type Closer interface {
	Close() error
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying (bad credentials, a resource that
// does not exist, a refused promotion): the run pauses for the operator.
// Errors not marked are transient and retried with backoff until the step's
// deadline.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// Permanentf is Permanent(fmt.Errorf(format, args...)).
func Permanentf(format string, args ...any) error {
	return Permanent(fmt.Errorf(format, args...))
}

// IsPermanent reports whether err, or any error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// FieldError is a validation error about one field of a step's config.
// Field is relative to the config ("replicas", "sentinels[1]"); the runbook
// loader prefixes it with the step's path and adds file and line.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// FieldErrorf builds a *FieldError.
func FieldErrorf(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Config is a step kind's typed configuration, decoded strictly from the
// step's `with` block (Teleport's CheckAndSetDefaults): it fills the
// defaults of fields left empty, then checks every field, reporting every
// problem at once as *FieldError values joined with errors.Join (nil when
// valid). The loader calls it on the config as written (templates
// unexpanded) and again at build time with templates expanded, so it must
// be idempotent.
type Config interface {
	CheckAndSetDefaults() error
}

// IsTemplate reports whether a config value holds a template or reference
// that is only expanded at run time ({{ … }}, ${secret:…}, ${env:…}). At load
// time a kind's CheckAndSetDefaults must accept such a value in any string field it
// would otherwise check for form (a URL, a duration), and check it again
// when the step is built with the value expanded.
func IsTemplate(s string) bool {
	return strings.Contains(s, "{{") || strings.Contains(s, "${")
}
