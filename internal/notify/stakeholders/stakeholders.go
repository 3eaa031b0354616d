// Package stakeholders tells the people who follow an incident without
// running it (support, management, other teams) how a failover goes: a
// message in each configured channel at the run's milestones, mentioning
// the configured user groups, with the run's link, its elapsed time
// against the runbook's expected duration, and when the next update is
// due. Messages go through the chat transport (chat.Poster): the text,
// which carries user input, is escaped by the adapter, and only the bot
// adds mentions and links (chat.NoticeView).
package stakeholders

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/notify"
)

// Name is the notifier's name in the delivery log.
const Name = "stakeholders"

// Notifier posts the stakeholder messages of a run.
type Notifier struct {
	cfg    *Config
	poster chat.Poster
	log    *slog.Logger
}

var _ notify.Notifier = (*Notifier)(nil)

// New builds the notifier of a checked, expanded config.
func New(cfg *Config, poster chat.Poster, o notify.BuildOptions) (*Notifier, error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	if poster == nil {
		return nil, fmt.Errorf("stakeholders: no chat to post in")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{cfg: cfg, poster: poster, log: log}, nil
}

// Target is the notifier as a pipeline target.
func (s *Notifier) Target() notify.Target {
	return notify.Target{Name: Name, Notifier: s, Wants: notify.WantsKeys(s.cfg.on, s.cfg.MilestoneKeys())}
}

var defaults = map[notify.Milestone]*notify.Template{
	notify.ApprovalRequested: notify.MustTemplate("A failover of {{ .Runbook }} was requested ({{ .Reason }}) and waits for approval."),
	notify.Started:           notify.MustTemplate("The failover of {{ .Runbook }} has started."),
	notify.PhaseDone:         notify.MustTemplate("Failover of {{ .Runbook }}: {{ .PhaseName }} is done."),
	notify.StepDone:          notify.MustTemplate("Failover of {{ .Runbook }}: {{ .StepName }} is done."),
	notify.StepFailed:        notify.MustTemplate("Failover of {{ .Runbook }}: {{ .StepName }} failed; the run is paused while the on-call engineers decide."),
	notify.Paused:            notify.MustTemplate("The failover of {{ .Runbook }} is paused."),
	notify.GateWaiting:       notify.MustTemplate("The failover of {{ .Runbook }} waits for an approval before {{ .StepName }}."),
	notify.Succeeded:         notify.MustTemplate("The failover of {{ .Runbook }} is complete."),
	notify.Failed:            notify.MustTemplate("The failover of {{ .Runbook }} failed; the on-call engineers are on it."),
	notify.Aborted:           notify.MustTemplate("The failover of {{ .Runbook }} was aborted."),
}

var fallback = notify.MustTemplate("Failover of {{ .Runbook }}: {{ .Milestone }}.")

// Notify posts the milestone's message in every channel (once per channel:
// a channel posted to is remembered in the run's state, so that a retry
// after one channel failed does not post twice in the others).
func (s *Notifier) Notify(ctx context.Context, n *notify.Notification) (bool, error) {
	t := defaults[n.Milestone]
	if t == nil {
		t = fallback
	}
	text, err := s.cfg.messages.Render(n, t)
	if err != nil {
		return false, fmt.Errorf("stakeholders: message for %s: %w", n.Milestone, err)
	}
	v := s.view(n, text)
	for _, ch := range s.cfg.Channels {
		sent := "sent/" + n.Key + "/" + ch
		if n.State != nil && n.State.Get(sent) != "" {
			continue
		}
		ref, err := s.poster.Post(ctx, ch, chat.Message{View: v})
		if err != nil {
			return true, fmt.Errorf("stakeholders: post in %s: %w", ch, err)
		}
		if n.State != nil {
			if err := n.State.Set(ctx, sent, ref.TS); err != nil {
				s.log.WarnContext(ctx, "remember a stakeholder message (a retry may post it again)", "run", n.Run.ID, "channel", ch, "err", err)
			}
		}
	}
	return false, nil
}

// view is the message: the text, the groups to mention, the run's link,
// elapsed against expected, and the next update.
func (s *Notifier) view(n *notify.Notification, text string) *chat.NoticeView {
	v := &chat.NoticeView{Text: text}
	if len(s.cfg.mentionOn) == 0 || slices.Contains(s.cfg.mentionOn, n.Milestone) {
		v.Groups = s.cfg.UserGroups
	}
	switch {
	case n.Run.Link != "":
		v.Link, v.LinkText = n.Run.Link, "run "+n.Run.ID
	case n.Run.Thread.TS != "":
		v.LinkText = fmt.Sprintf("run %s: see %s, message %s", n.Run.ID, n.Run.Thread.Channel, n.Run.Thread.TS)
	default:
		v.LinkText = "run " + n.Run.ID
	}
	d := notify.DataOf(n)
	if el := n.Elapsed(); el > 0 {
		line := "elapsed " + d.Elapsed
		if d.Expected != "" {
			line += " of ~" + d.Expected + " expected"
		}
		v.Lines = append(v.Lines, line)
	} else if d.Expected != "" && !n.Milestone.Terminal() {
		v.Lines = append(v.Lines, "expected to take ~"+d.Expected)
	}
	if !n.Milestone.Terminal() && !n.Event.At.IsZero() {
		v.Lines = append(v.Lines, "next update by "+n.Event.At.Add(s.cfg.every).UTC().Format("15:04 MST"))
	}
	v.Warning = n.Milestone == notify.StepFailed || n.Milestone == notify.Failed || n.Milestone == notify.Aborted
	return v
}
