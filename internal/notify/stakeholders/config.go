package stakeholders

import (
	"fmt"
	"regexp"
	"time"

	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/steps"
)

// DefaultUpdateEvery is when stakeholders are told the next update is due
// by default.
const DefaultUpdateEvery = 15 * time.Minute

// Config is the `notify.stakeholders` section of a runbook:
//
//	stakeholders:
//	  channels: ["#status-updates", C0123ABC]   # required
//	  userGroups: [S0STAKEHOLDERS]               # mentioned as <!subteam^ID> (Slack user group IDs)
//	  mentionOn: [started, succeeded, failed, aborted]  # which messages mention them (default: every one)
//	  on: [approval_requested, started, phase_done, step_failed, paused, gate_waiting, succeeded, failed, aborted]
//	  updateEvery: 15m                           # "next update by …" (default 15m)
//	  messages: {started: "…", database: "…"}
//
// Every message says how long the run has taken against the runbook's
// expected duration, links to the run (its progress card), and, unless the
// run ended, when the next update is due.
type Config struct {
	Channels    []string          `yaml:"channels"`
	UserGroups  []string          `yaml:"userGroups"`
	MentionOn   []string          `yaml:"mentionOn"`
	On          []string          `yaml:"on"`
	UpdateEvery string            `yaml:"updateEvery"`
	Messages    map[string]string `yaml:"messages"`

	on, mentionOn []notify.Milestone
	messages      notify.Messages
	every         time.Duration
}

// DefaultOn are the milestones stakeholders are told of by default.
var DefaultOn = []notify.Milestone{notify.ApprovalRequested, notify.Started, notify.PhaseDone, notify.StepFailed,
	notify.Paused, notify.GateWaiting, notify.Succeeded, notify.Failed, notify.Aborted}

var (
	groupID   = regexp.MustCompile(`^S[A-Z0-9]{2,20}$`)
	channelRe = regexp.MustCompile(`^(#[a-z0-9][a-z0-9._-]{0,79}|[CG][A-Z0-9]{2,20})$`)
)

var _ notify.Config = (*Config)(nil)

// CheckAndSetDefaults fills defaults and checks every field.
func (c *Config) CheckAndSetDefaults() error {
	var errs steps.FieldErrors
	if len(c.Channels) == 0 {
		errs.Add("channels", "at least one channel is required")
	}
	for i, ch := range c.Channels {
		if !steps.IsTemplate(ch) && !channelRe.MatchString(ch) {
			errs.Add(fmt.Sprintf("channels[%d]", i), "%q is not a channel (#name or a channel ID such as C0123ABC)", ch)
		}
	}
	for i, g := range c.UserGroups {
		if !steps.IsTemplate(g) && !groupID.MatchString(g) {
			errs.Add(fmt.Sprintf("userGroups[%d]", i), "%q is not a Slack user group ID (S0123ABC): the bot mentions groups by ID", g)
		}
	}
	c.on = notify.ParseOn(&errs, "on", c.On, DefaultOn)
	c.mentionOn = notify.ParseOn(&errs, "mentionOn", c.MentionOn, nil)
	if c.UpdateEvery == "" {
		c.UpdateEvery = "15m"
	}
	errs.Duration("updateEvery", c.UpdateEvery, time.Minute, "15m")
	c.every = steps.ParseDuration(c.UpdateEvery)
	c.messages = notify.CheckMessages(&errs, "messages", c.Messages)
	return errs.Err()
}

// SecretFields implements notify.Config: none (messages go through the
// bot's own chat).
func (c *Config) SecretFields() []string { return nil }

// MilestoneKeys implements notify.Config.
func (c *Config) MilestoneKeys() []notify.KeyUse { return notify.MessageKeys("messages", c.Messages) }
