package gate

import (
	"errors"
	"fmt"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// MaxMessage bounds a gate's message: it is posted in the run's thread.
const MaxMessage = 3000

// Config configures a gate: the run waits, mid-phase, for people to
// confirm something only a person can do or judge ("rebuild the primary",
// "check the Grafana dashboards"). The executor posts the message with
// Confirm/Reject choices; the step is done when required distinct people
// allowed by groups/users confirmed, and fails permanently on a rejection.
// The step's timeout bounds the wait. Output: confirmedBy (comma-separated).
type Config struct {
	// Message says what to do or check before confirming (required). It
	// may use templates, e.g. an address from an earlier step's outputs.
	Message string `yaml:"message"`
	// Required is the number of distinct people who must confirm (default 1).
	Required int `yaml:"required"`
	// Groups and Users who may confirm (default: the runbook's approvers).
	Groups []string `yaml:"groups"`
	Users  []string `yaml:"users"`
	// AllowRequester lets the person who started the run confirm (default
	// true: a gate confirms work, it is not the two-person approval).
	AllowRequester *bool `yaml:"allowRequester"`
}

var _ steps.Config = (*Config)(nil)

// CheckAndSetDefaults fills defaults and checks every field.
func (c *Config) CheckAndSetDefaults() error {
	var errs []error
	switch {
	case c.Message == "":
		errs = append(errs, steps.FieldErrorf("message", "is required: say what the person must do or check"))
	case len(c.Message) > MaxMessage && !steps.IsTemplate(c.Message):
		errs = append(errs, steps.FieldErrorf("message", "must be at most %d bytes, got %d", MaxMessage, len(c.Message)))
	}
	if c.Required == 0 {
		c.Required = 1
	}
	if c.Required < 1 {
		errs = append(errs, steps.FieldErrorf("required", "must be ≥ 1, got %d", c.Required))
	}
	for _, l := range []struct {
		field string
		list  []string
	}{{"groups", c.Groups}, {"users", c.Users}} {
		for i, v := range l.list {
			if v == "" {
				errs = append(errs, steps.FieldErrorf(fmt.Sprintf("%s[%d]", l.field, i), "must not be empty"))
			}
		}
	}
	if c.AllowRequester == nil {
		t := true
		c.AllowRequester = &t
	}
	return errors.Join(errs...)
}
