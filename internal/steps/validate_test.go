package steps

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// messages lists the messages of a FieldErrors, checking each is a
// *FieldError.
func messages(t *testing.T, e FieldErrors) []string {
	t.Helper()
	var out []string
	for _, err := range e {
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%v is a %T, not a *FieldError", err, err)
		}
		out = append(out, err.Error())
	}
	return out
}

func TestFieldErrorsCollectsEveryProblem(t *testing.T) {
	var e FieldErrors
	if err := e.Err(); err != nil {
		t.Fatalf("empty collector: Err = %v, want nil", err)
	}
	if e.Required("name", "") {
		t.Error(`Required("") = true, want false`)
	}
	if e.Required("tmpl", "{{ .params.x }}") {
		t.Error("Required(template) = true, want false (its form cannot be checked yet)")
	}
	if !e.Required("set", "web") {
		t.Error(`Required("web") = false, want true`)
	}
	e.OneOf("expect", "sideways", "up", "down")
	e.OneOf("expect", "up", "up", "down")
	e.OneOf("expect", "${env:EXPECT}", "up", "down")
	e.OneOf("expect", "", "up", "down")
	e.Add("port", "must be between 1 and %d, got %d", 65535, 0)
	e.Duration("timeout", "soon", time.Nanosecond, "10s, 5m")
	e.Duration("timeout", "0s", time.Nanosecond, "10s, 5m")
	e.Duration("hold", "-1s", 0, "10s, 5m")
	e.Duration("hold", "0s", 0, "10s, 5m")
	e.Duration("period", "500ms", time.Second, "10s, 5m")
	e.Duration("period", "1s", time.Second, "10s, 5m")
	e.Duration("period", "", time.Second, "10s, 5m")
	e.Duration("period", "{{ .params.p }}", time.Second, "10s, 5m")

	want := []string{
		"name: is required",
		`expect: must be one of up, down, got "sideways"`,
		`expect: must be one of up, down, got ""`,
		"port: must be between 1 and 65535, got 0",
		`timeout: is not a duration (like 10s, 5m), got "soon"`,
		"timeout: must be > 0, got 0s",
		"hold: must be > 0, got -1s",
		"period: must be ≥ 1s, got 500ms",
	}
	if got := messages(t, e); !slices.Equal(got, want) {
		t.Errorf("collected:\n got  %q\n want %q", got, want)
	}
	err := e.Err()
	j, ok := err.(interface{ Unwrap() []error })
	if !ok || len(j.Unwrap()) != len(want) {
		t.Errorf("Err = %v, want the %d errors joined", err, len(want))
	}
}

func TestCheckDuration(t *testing.T) {
	tests := []struct {
		v    string
		min  time.Duration
		want DurationProblem
	}{
		{"", time.Second, DurationOK},
		{"${env:T}", time.Second, DurationOK},
		{"{{ .params.t }}", time.Second, DurationOK},
		{"5s", time.Second, DurationOK},
		{"1s", time.Second, DurationOK},
		{"0s", 0, DurationOK},
		{"999ms", time.Second, DurationTooShort},
		{"0s", time.Nanosecond, DurationTooShort},
		{"-1s", 0, DurationTooShort},
		{"5", time.Second, DurationInvalid},
		{"soon", 0, DurationInvalid},
	}
	for _, tt := range tests {
		if got := CheckDuration(tt.v, tt.min); got != tt.want {
			t.Errorf("CheckDuration(%q, %s) = %d, want %d", tt.v, tt.min, got, tt.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for v, want := range map[string]time.Duration{"": 0, "90s": 90 * time.Second, "250ms": 250 * time.Millisecond} {
		if got := ParseDuration(v); got != want {
			t.Errorf("ParseDuration(%q) = %s, want %s", v, got, want)
		}
	}
}

func TestExactlyOne(t *testing.T) {
	var e FieldErrors
	names := []string{"pod", "selector", "all"}
	e.ExactlyOne(names, false, false, false)
	e.ExactlyOne(names, false, true, false)
	e.ExactlyOne(names, true, false, true)
	want := []string{"pod: one of pod, selector, all is required", "pod: at most one of pod, selector, all"}
	if got := messages(t, e); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
