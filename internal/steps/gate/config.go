package gate

import (
	"fmt"
	"time"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// MaxMessage bounds a gate's message: it is posted in the run's thread.
const MaxMessage = 3000

// Config configures a gate: the run waits, mid-phase, for people to
// confirm something only a person can do or judge ("rebuild the primary",
// "check the Grafana dashboards", a DBA's sign-off before the promotion).
// The bot posts the message in the run's thread with Approve/Reject; the
// step is done when required distinct people allowed by groups/users
// approved, and fails on a rejection. Expiry (default: the step's timeout)
// bounds the wait; onExpiry says what then happens. Output: confirmedBy
// (comma-separated).
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
	// AllowEarlierApprovers lets those who approved the run's start or an
	// earlier gate approve this one (default true; false for a sign-off
	// that must come from other people).
	AllowEarlierApprovers *bool `yaml:"allowEarlierApprovers"`
	// Expiry bounds the wait, a Go duration (default: the step's timeout).
	Expiry string `yaml:"expiry"`
	// OnExpiry is what an expired gate does: pause (the run pauses;
	// resuming asks again, the approvals given still count) or fail (the
	// step fails: retry, skip or abort). Default pause.
	OnExpiry string `yaml:"onExpiry"`
}

// Policy is the approval policy of a checked config (CheckAndSetDefaults).
func (c *Config) Policy() steps.ApprovalPolicy {
	return steps.ApprovalPolicy{Message: c.Message, Required: c.Required, Groups: c.Groups, Users: c.Users,
		AllowRequester: *c.AllowRequester, AllowEarlierApprovers: *c.AllowEarlierApprovers,
		Expiry: steps.ParseDuration(c.Expiry), OnExpiry: c.OnExpiry}
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
	yes := true
	if c.AllowRequester == nil {
		c.AllowRequester = &yes
	}
	if c.AllowEarlierApprovers == nil {
		c.AllowEarlierApprovers = &yes
	}
	fe := steps.FieldErrors(errs)
	fe.Duration("expiry", c.Expiry, time.Second, "30m, 8h")
	if c.OnExpiry == "" {
		c.OnExpiry = steps.OnExpiryPause
	}
	fe.OneOf("onExpiry", c.OnExpiry, steps.OnExpiryPause, steps.OnExpiryFail)
	return fe.Err()
}
