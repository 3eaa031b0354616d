// Package stepstest is the test plumbing shared by the step-kind packages:
// decoding and validating a kind's config as the runbook loader does, and
// building and checking a step.
package stepstest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// FieldErrors lists the messages of a (joined) Validate error, nil for nil,
// and fails the test for each that is not a *steps.FieldError (the loader
// places those at their line).
func FieldErrors(t testing.TB, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	list := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	}
	var out []string
	for _, e := range list {
		var fe *steps.FieldError
		if !errors.As(e, &fe) {
			t.Errorf("%v is a %T, not a *steps.FieldError", e, e)
		}
		out = append(out, e.Error())
	}
	return out
}

// Validate decodes the YAML with strictly (unknown keys are errors, as in
// the loader) into a new config of k, validates it and returns the field
// error messages (nil: valid). A decode error fails the test.
func Validate(t testing.TB, k steps.Kind, with string) []string {
	t.Helper()
	cfg := k.NewConfig()
	dec := yaml.NewDecoder(bytes.NewBufferString(with))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return FieldErrors(t, cfg.Validate())
}

// Build validates cfg like the loader and builds the kind named kind,
// registered by register, on connection c. A step that is a steps.Closer
// is closed when the test ends.
func Build(t testing.TB, register func(*steps.Registry) error, kind string, cfg steps.Config, c *steps.Connection) steps.Step {
	t.Helper()
	r := steps.NewRegistry()
	if err := register(r); err != nil {
		t.Fatal(err)
	}
	k, ok := r.Kind(kind)
	if !ok {
		t.Fatalf("kind %s not registered", kind)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("%s: Validate: %v", kind, err)
	}
	s, err := k.New(context.Background(), cfg, steps.Env{Conn: c})
	if err != nil {
		t.Fatalf("%s: New: %v", kind, err)
	}
	if cl, ok := s.(steps.Closer); ok {
		t.Cleanup(func() { _ = cl.Close() })
	}
	return s
}

// CheckTimeout bounds one Check call of Check.
const CheckTimeout = 30 * time.Second

// Check calls s.Check once (within CheckTimeout) and fails the test on an
// error.
func Check(t testing.TB, s steps.Step) steps.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), CheckTimeout)
	defer cancel()
	res, err := s.Check(ctx)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return res
}
