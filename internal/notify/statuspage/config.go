package statuspage

import (
	"fmt"
	"slices"
	"time"

	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
)

// Config is the `notify.statuspage` section of a runbook:
//
//	statuspage:
//	  baseURL: "${env:STATUSPAGE_URL}"        # default https://api.statuspage.io/v1
//	  apiKey: "${secret:STATUSPAGE_API_KEY}"  # required, a secret reference
//	  page: "${env:STATUSPAGE_PAGE_ID}"       # required
//	  name: "Checkout: moving to our standby region"   # the incident's title (required)
//	  impact: major                           # none, minor, major, critical (default major)
//	  components:                             # the affected components and their states
//	    - id: "${env:STATUSPAGE_COMPONENT}"
//	      at: {started: major_outage, traffic: degraded_performance, validate: operational}
//	  monitoringAt: validate                  # the incident is "monitoring" from this milestone on
//	  resolveOn: [succeeded]                  # the incident is resolved at these (default succeeded)
//	  on: [started, public, succeeded, failed, aborted]   # the default
//	  messages: {started: "…", traffic: "…", succeeded: "…"}
//
// A milestone key (the keys of `at` and `messages`, `monitoringAt`) is a
// milestone name or the ID of a phase or step whose completion it is. The
// incident is opened (status identified) at the first milestone, with every
// component at its `started` state; each later milestone the notifier gets
// adds an update, and sets the components the runbook names for it.
type Config struct {
	BaseURL    string            `yaml:"baseURL"`
	APIKey     string            `yaml:"apiKey"`
	Page       string            `yaml:"page"`
	Name       string            `yaml:"name"`
	Impact     string            `yaml:"impact"`
	Components []ComponentConfig `yaml:"components"`
	// MonitoringAt is the milestone key from which the incident is
	// "monitoring" ("" for never).
	MonitoringAt string            `yaml:"monitoringAt"`
	ResolveOn    []string          `yaml:"resolveOn"`
	On           []string          `yaml:"on"`
	Messages     map[string]string `yaml:"messages"`
	// RequestTimeout bounds each API call (default 10s).
	RequestTimeout string `yaml:"requestTimeout"`

	on        []notify.Milestone
	resolveOn []notify.Milestone
	messages  notify.Messages
	timeout   time.Duration
}

// ComponentConfig is an affected component and its state at milestones.
type ComponentConfig struct {
	ID string            `yaml:"id"`
	At map[string]string `yaml:"at"`
}

// DefaultOn are the milestones the status page is told of by default.
var DefaultOn = []notify.Milestone{notify.Started, notify.Public, notify.Succeeded, notify.Failed, notify.Aborted}

var _ notify.Config = (*Config)(nil)

// CheckAndSetDefaults fills defaults and checks every field.
func (c *Config) CheckAndSetDefaults() error {
	var errs steps.FieldErrors
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	errs.Required("apiKey", c.APIKey)
	errs.Required("page", c.Page)
	errs.Required("name", c.Name)
	if c.Impact == "" {
		c.Impact = string(ImpactMajor)
	}
	errs.OneOf("impact", c.Impact, string(ImpactNone), string(ImpactMinor), string(ImpactMajor), string(ImpactCritical))
	statuses := []string{string(Operational), string(DegradedPerformance), string(PartialOutage), string(MajorOutage), string(UnderMaintenance)}
	seen := map[string]bool{}
	for i, comp := range c.Components {
		f := fmt.Sprintf("components[%d]", i)
		if errs.Required(f+".id", comp.ID) {
			if seen[comp.ID] {
				errs.Add(f+".id", "component %q is named twice", comp.ID)
			}
			seen[comp.ID] = true
		}
		for k, st := range comp.At {
			errs.OneOf(f+".at."+k, st, statuses...)
		}
	}
	c.on = notify.ParseOn(&errs, "on", c.On, DefaultOn)
	c.resolveOn = notify.ParseOn(&errs, "resolveOn", c.ResolveOn, []notify.Milestone{notify.Succeeded})
	for i, m := range c.resolveOn {
		if !m.Terminal() {
			errs.Add(fmt.Sprintf("resolveOn[%d]", i), "%s is not a milestone a run ends at", m)
		}
	}
	c.messages = notify.CheckMessages(&errs, "messages", c.Messages)
	if c.RequestTimeout == "" {
		c.RequestTimeout = DefaultRequestTimeout.String()
	}
	errs.Duration("requestTimeout", c.RequestTimeout, time.Millisecond, "10s")
	c.timeout = steps.ParseDuration(c.RequestTimeout)
	return errs.Err()
}

// SecretFields implements notify.Config.
func (c *Config) SecretFields() []string { return []string{"apiKey"} }

// MilestoneKeys implements notify.Config.
func (c *Config) MilestoneKeys() []notify.KeyUse {
	var out []notify.KeyUse
	for i, comp := range c.Components {
		for k := range comp.At {
			out = append(out, notify.KeyUse{Field: fmt.Sprintf("components[%d].at.%s", i, k), Key: k})
		}
	}
	if c.MonitoringAt != "" {
		out = append(out, notify.KeyUse{Field: "monitoringAt", Key: c.MonitoringAt})
	}
	out = append(out, notify.MessageKeys("messages", c.Messages)...)
	slices.SortFunc(out, func(a, b notify.KeyUse) int {
		if a.Field < b.Field {
			return -1
		}
		if a.Field > b.Field {
			return 1
		}
		return 0
	})
	return out
}

// ClientOptions are the options of the Client this config talks through
// (without HTTPClient and Logger, which the caller adds).
func (c *Config) ClientOptions() Options {
	return Options{BaseURL: c.BaseURL, APIKey: secret.Value(c.APIKey), RequestTimeout: c.timeout}
}
