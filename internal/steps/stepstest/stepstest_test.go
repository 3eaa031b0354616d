package stepstest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// recorder is a testing.TB that records Errorf calls instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

type portConfig struct {
	Port int    `yaml:"port"`
	Mode string `yaml:"mode"`
}

func (c *portConfig) CheckAndSetDefaults() error {
	var e steps.FieldErrors
	if c.Port < 1 {
		e.Add("port", "must be ≥ 1, got %d", c.Port)
	}
	e.OneOf("mode", c.Mode, "a", "b")
	return e.Err()
}

func TestFieldErrorsListsEachMessageAndFlagsPlainErrors(t *testing.T) {
	if got := FieldErrors(t, nil); got != nil {
		t.Errorf("FieldErrors(nil) = %q, want nil", got)
	}
	r := &recorder{TB: t}
	err := errors.Join(steps.FieldErrorf("a", "is required"), errors.New("plain"))
	got := FieldErrors(r, err)
	if want := []string{"a: is required", "plain"}; !slices.Equal(got, want) {
		t.Errorf("FieldErrors = %q, want %q", got, want)
	}
	if len(r.errs) != 1 {
		t.Errorf("want one complaint about the plain error, got %q", r.errs)
	}
	if got := FieldErrors(r, steps.FieldErrorf("b", "bad")); !slices.Equal(got, []string{"b: bad"}) {
		t.Errorf("a single FieldError: got %q", got)
	}
}

func TestValidateDecodesStrictlyAndValidates(t *testing.T) {
	k := steps.DeclaredProbe[portConfig](steps.Spec{Name: "test.port"})
	if got := Validate(t, k, "{port: 80, mode: a}"); got != nil {
		t.Errorf("valid config: got %q", got)
	}
	want := []string{"port: must be ≥ 1, got 0", `mode: must be one of a, b, got "c"`}
	if got := Validate(t, k, "{mode: c}"); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
