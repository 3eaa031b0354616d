package pagerduty

import (
	"strings"
	"time"

	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/steps"
)

// Defaults of Config.
const (
	DefaultBaseURL        = "https://api.pagerduty.com"
	DefaultEventsURL      = "https://events.pagerduty.com"
	DefaultRequestTimeout = 10 * time.Second
)

// Config is the `notify.pagerduty` section of a runbook:
//
//	pagerduty:
//	  baseURL: "${env:PAGERDUTY_URL}"           # REST API (default https://api.pagerduty.com)
//	  eventsURL: "${env:PAGERDUTY_EVENTS_URL}"  # Events API (default https://events.pagerduty.com, or baseURL when that is given)
//	  token: "${secret:PAGERDUTY_TOKEN}"        # REST API token
//	  from: failoverbot@example.com             # the From header of REST writes
//	  incident: "{{ .params.incident }}"        # notes go on this incident…
//	  routingKey: "${secret:PAGERDUTY_ROUTING_KEY}"  # …or, when it is empty, Events v2 (dedup key: the run)
//	  severity: critical                        # of Events v2 triggers (default critical)
//	  resolve: true                             # resolve when the run succeeds (default false: left for a human)
//	  on: [approval_requested, started, phase_done, step_failed, paused, gate_waiting, succeeded, failed, aborted]
//	  messages: {started: "…", phase_done: "…"}
//
// With an incident (a run parameter: /failover start … incident=PXXXX) each
// milestone is a note on it (REST API); without one each milestone is an
// Events v2 trigger with the run's ID as dedup key (one alert per run),
// and a resolve at the end when resolve is set.
type Config struct {
	BaseURL    string            `yaml:"baseURL"`
	EventsURL  string            `yaml:"eventsURL"`
	Token      string            `yaml:"token"`
	From       string            `yaml:"from"`
	Incident   string            `yaml:"incident"`
	RoutingKey string            `yaml:"routingKey"`
	Severity   string            `yaml:"severity"`
	Resolve    bool              `yaml:"resolve"`
	On         []string          `yaml:"on"`
	Messages   map[string]string `yaml:"messages"`
	// RequestTimeout bounds each API call (default 10s).
	RequestTimeout string `yaml:"requestTimeout"`

	on       []notify.Milestone
	messages notify.Messages
	timeout  time.Duration
}

// DefaultOn are the milestones PagerDuty is told of by default: every one
// of the run, not of its approval beyond the request.
var DefaultOn = []notify.Milestone{notify.ApprovalRequested, notify.Started, notify.PhaseDone, notify.StepFailed,
	notify.Paused, notify.GateWaiting, notify.Succeeded, notify.Failed, notify.Aborted}

var _ notify.Config = (*Config)(nil)

// CheckAndSetDefaults fills defaults and checks every field. An incident
// needs token and from; without one, routingKey is required (an incident
// given by a template may come out empty: then routingKey is what is used,
// and its absence is an error when the run's notifiers are built).
func (c *Config) CheckAndSetDefaults() error {
	var errs steps.FieldErrors
	if c.EventsURL == "" {
		c.EventsURL = DefaultEventsURL
		if c.BaseURL != "" {
			c.EventsURL = c.BaseURL
		}
	}
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	for _, f := range []struct{ name, v string }{{"baseURL", c.BaseURL}, {"eventsURL", c.EventsURL}} {
		if !steps.IsTemplate(f.v) && !strings.HasPrefix(f.v, "https://") && !strings.HasPrefix(f.v, "http://") {
			errs.Add(f.name, "must be an http(s) URL, got %q", f.v)
		}
		if strings.HasSuffix(f.v, "/") {
			errs.Add(f.name, "must not end in /")
		}
	}
	switch {
	case c.Incident != "":
		errs.Required("token", c.Token)
		if errs.Required("from", c.From) && !strings.Contains(c.From, "@") {
			errs.Add("from", "must be the email address of a PagerDuty user, got %q", c.From)
		}
		if !steps.IsTemplate(c.Incident) && strings.ContainsAny(c.Incident, "/?# ") {
			errs.Add("incident", "is not a PagerDuty incident ID: %q", c.Incident)
		}
	case c.RoutingKey == "":
		errs.Add("routingKey", "is required when no incident is given (one of incident, routingKey)")
	}
	if c.RoutingKey != "" && !steps.IsTemplate(c.RoutingKey) && len(c.RoutingKey) != 32 {
		errs.Add("routingKey", "an Events v2 integration key has 32 characters")
	}
	if c.Severity == "" {
		c.Severity = "critical"
	}
	errs.OneOf("severity", c.Severity, "critical", "error", "warning", "info")
	c.on = notify.ParseOn(&errs, "on", c.On, DefaultOn)
	c.messages = notify.CheckMessages(&errs, "messages", c.Messages)
	if c.RequestTimeout == "" {
		c.RequestTimeout = DefaultRequestTimeout.String()
	}
	errs.Duration("requestTimeout", c.RequestTimeout, time.Millisecond, "10s")
	c.timeout = steps.ParseDuration(c.RequestTimeout)
	return errs.Err()
}

// SecretFields implements notify.Config.
func (c *Config) SecretFields() []string { return []string{"token", "routingKey"} }

// MilestoneKeys implements notify.Config.
func (c *Config) MilestoneKeys() []notify.KeyUse { return notify.MessageKeys("messages", c.Messages) }
