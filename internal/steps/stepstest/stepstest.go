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

// FieldErrors lists the messages of a (joined) CheckAndSetDefaults error, nil for nil,
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
// the loader) into a new config of k, calls its CheckAndSetDefaults and
// returns the field error messages (nil: valid). A decode error fails the
// test.
func Validate(t testing.TB, k steps.Kind, with string) []string {
	t.Helper()
	cfg := k.NewConfig()
	dec := yaml.NewDecoder(bytes.NewBufferString(with))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return FieldErrors(t, cfg.CheckAndSetDefaults())
}

// Build checks cfg like the loader (CheckAndSetDefaults) and builds the
// kind named kind, registered by register, on connection c. An instance
// that is a steps.Closer is closed when the test ends.
func Build(t testing.TB, register func(*steps.Registry) error, kind string, cfg steps.Config, c *steps.Connection) steps.Probe {
	t.Helper()
	_, p := build(t, register, kind, cfg, c)
	return p
}

// BuildStep is Build for a kind that changes something: it fails the test
// if the kind is read-only or its instance is not a steps.Step.
func BuildStep(t testing.TB, register func(*steps.Registry) error, kind string, cfg steps.Config, c *steps.Connection) steps.Step {
	t.Helper()
	k, p := build(t, register, kind, cfg, c)
	s, ok := p.(steps.Step)
	if k.ReadOnly() || !ok {
		t.Fatalf("%s: read-only %v, built a %T: not a kind that changes something", kind, k.ReadOnly(), p)
	}
	return s
}

func build(t testing.TB, register func(*steps.Registry) error, kind string, cfg steps.Config, c *steps.Connection) (steps.Kind, steps.Probe) {
	t.Helper()
	r := steps.NewRegistry()
	if err := register(r); err != nil {
		t.Fatal(err)
	}
	k, ok := r.Kind(kind)
	if !ok {
		t.Fatalf("kind %s not registered", kind)
	}
	if err := cfg.CheckAndSetDefaults(); err != nil {
		t.Fatalf("%s: CheckAndSetDefaults: %v", kind, err)
	}
	p, err := k.Build(context.Background(), cfg, steps.Env{Conn: c})
	if err != nil {
		t.Fatalf("%s: Build: %v", kind, err)
	}
	if cl, ok := p.(steps.Closer); ok {
		t.Cleanup(func() { _ = cl.Close() })
	}
	return k, p
}

// CheckTimeout bounds one Check call of Check.
const CheckTimeout = 30 * time.Second

// Check calls s.Check once (within CheckTimeout) and fails the test on an
// error.
func Check(t testing.TB, s steps.Probe) steps.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), CheckTimeout)
	defer cancel()
	res, err := s.Check(ctx)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return res
}
