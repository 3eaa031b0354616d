package steps

import (
	"errors"
	"strings"
	"time"
)

// FieldErrors collects the field errors of one CheckAndSetDefaults call, so
// that every problem is reported at once. The zero value is ready to use;
// Err joins what was collected.
type FieldErrors []error

// Add records a *FieldError for field with a formatted message.
func (e *FieldErrors) Add(field, format string, args ...any) {
	*e = append(*e, FieldErrorf(field, format, args...))
}

// Required reports an empty string field ("is required"). It returns
// whether v is set and not a template, i.e. whether its form can be
// checked at load time.
func (e *FieldErrors) Required(field, v string) bool {
	if v == "" {
		e.Add(field, "is required")
		return false
	}
	return !IsTemplate(v)
}

// OneOf reports a v that is not one of allowed; a templated v is accepted
// (it is only known at run time). An empty v is checked like any other.
func (e *FieldErrors) OneOf(field, v string, allowed ...string) {
	if IsTemplate(v) {
		return
	}
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	e.Add(field, "must be one of %s, got %q", strings.Join(allowed, ", "), v)
}

// ExactlyOne reports unless exactly one of the alternative fields names is
// set (set[i] says whether names[i] is), on the first field: "one of a, b
// is required" when none is, "at most one of a, b" when several are.
func (e *FieldErrors) ExactlyOne(names []string, set ...bool) {
	n := 0
	for _, s := range set {
		if s {
			n++
		}
	}
	switch {
	case n == 0:
		e.Add(names[0], "one of %s is required", strings.Join(names, ", "))
	case n > 1:
		e.Add(names[0], "at most one of %s", strings.Join(names, ", "))
	}
}

// Duration reports a duration field whose value v is not a Go duration or
// is below min (see CheckDuration; empty and templated values pass). like
// gives the examples of the "is not a duration (like …)" message; a min of
// at most 1ns is worded "must be > 0".
func (e *FieldErrors) Duration(field, v string, min time.Duration, like string) {
	switch CheckDuration(v, min) {
	case DurationInvalid:
		e.Add(field, "is not a duration (like %s), got %q", like, v)
	case DurationTooShort:
		if min <= time.Nanosecond {
			e.Add(field, "must be > 0, got %s", v)
		} else {
			e.Add(field, "must be ≥ %s, got %s", min, v)
		}
	}
}

// Err returns the collected errors joined with errors.Join, or nil.
func (e FieldErrors) Err() error { return errors.Join(e...) }

// DurationProblem is what CheckDuration finds wrong with a duration value.
type DurationProblem int

const (
	// DurationOK means there is nothing to report.
	DurationOK DurationProblem = iota
	// DurationInvalid means the value does not parse as a Go duration.
	DurationInvalid
	// DurationTooShort means the value parses but is below the minimum.
	DurationTooShort
)

// CheckDuration checks the value v of a duration field at load time: an
// empty v (a default is filled or the field is optional) and a templated v
// (expanded at run time) are DurationOK; otherwise v must parse with
// time.ParseDuration and be at least min. Callers word the message, so
// each kind keeps the one its users know.
func CheckDuration(v string, min time.Duration) DurationProblem {
	if v == "" || IsTemplate(v) {
		return DurationOK
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return DurationInvalid
	case d < min:
		return DurationTooShort
	}
	return DurationOK
}

// ParseDuration parses a duration field that was validated and expanded;
// an empty (or, after validation, impossible invalid) value is 0.
func ParseDuration(v string) time.Duration {
	d, _ := time.ParseDuration(v)
	return d
}
