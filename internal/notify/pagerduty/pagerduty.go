package pagerduty

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	pd "github.com/PagerDuty/go-pagerduty"

	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/secret"
)

// Name is the notifier's name in the delivery log.
const Name = "pagerduty"

// Notifier tells PagerDuty of a run's milestones: notes on the incident,
// or Events v2 triggers with the run as dedup key.
type Notifier struct {
	cfg *Config
	c   *pd.Client
	red *secret.Redactor
	log *slog.Logger
}

var _ notify.Notifier = (*Notifier)(nil)

// New builds the notifier of a checked, expanded config.
func New(cfg *Config, o notify.BuildOptions) (*Notifier, error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	if cfg.Incident == "" && cfg.RoutingKey == "" {
		return nil, errors.New("pagerduty: no incident given (e.g. /failover start … incident=PXXXX) and no routingKey for Events v2")
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	// go-pagerduty has no per-call timeout of its own: the client's bounds
	// every call (the pipeline's call timeout bounds them all).
	bounded := *hc
	bounded.Timeout = cfg.timeout
	c := pd.NewClient(cfg.Token, pd.WithAPIEndpoint(cfg.BaseURL), pd.WithV2EventsAPIEndpoint(cfg.EventsURL))
	c.HTTPClient = &bounded
	red := &secret.Redactor{}
	red.Add(cfg.Token)
	red.Add(cfg.RoutingKey)
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{cfg: cfg, c: c, red: red, log: log}, nil
}

// String describes the notifier without its credentials.
func (p *Notifier) String() string {
	if p.cfg.Incident != "" {
		return "pagerduty.Notifier{incident " + p.cfg.Incident + "}"
	}
	return "pagerduty.Notifier{events}"
}

// GoString is String, for %#v.
func (p *Notifier) GoString() string { return p.String() }

// Target is the notifier as a pipeline target.
func (p *Notifier) Target() notify.Target {
	return notify.Target{Name: Name, Notifier: p, Wants: notify.WantsKeys(p.cfg.on, p.cfg.MilestoneKeys())}
}

var defaults = map[notify.Milestone]*notify.Template{
	notify.ApprovalRequested: notify.MustTemplate("Failover {{ .Runbook }} (run {{ .Run }}) requested by {{ .Requester }}: {{ .Reason }}. Waiting for approval."),
	notify.Started:           notify.MustTemplate("Failover {{ .Runbook }} (run {{ .Run }}) started."),
	notify.PhaseDone:         notify.MustTemplate("Failover {{ .Runbook }}: {{ .PhaseName }} done ({{ .Elapsed }}{{ if .Expected }} of ~{{ .Expected }}{{ end }})."),
	notify.StepDone:          notify.MustTemplate("Failover {{ .Runbook }}: {{ .StepName }} done ({{ .Elapsed }})."),
	notify.StepFailed:        notify.MustTemplate("Failover {{ .Runbook }}: step {{ .StepName }} failed: {{ .Error }}. The run is paused."),
	notify.Paused:            notify.MustTemplate("Failover {{ .Runbook }} paused: {{ .Summary }}"),
	notify.GateWaiting:       notify.MustTemplate("Failover {{ .Runbook }} is waiting for approval at {{ .StepName }}."),
	notify.Succeeded:         notify.MustTemplate("Failover {{ .Runbook }} (run {{ .Run }}) succeeded in {{ .Elapsed }}."),
	notify.Failed:            notify.MustTemplate("Failover {{ .Runbook }} (run {{ .Run }}) failed: {{ .Error }}{{ .Summary }}"),
	notify.Aborted:           notify.MustTemplate("Failover {{ .Runbook }} (run {{ .Run }}) aborted: {{ .Summary }}"),
}

var fallback = notify.MustTemplate("Failover {{ .Runbook }} (run {{ .Run }}): {{ .Milestone }}.")

// Notify sends the milestone: a note (REST), or an event (Events v2).
func (p *Notifier) Notify(ctx context.Context, n *notify.Notification) (bool, error) {
	t := defaults[n.Milestone]
	if t == nil {
		t = fallback
	}
	text, err := p.cfg.messages.Render(n, t)
	if err != nil {
		return false, fmt.Errorf("pagerduty: message for %s: %w", n.Milestone, err)
	}
	if n.Run.Link != "" {
		text += "\n" + n.Run.Link
	}
	if p.cfg.Incident != "" {
		err = p.note(ctx, n, text)
	} else {
		err = p.event(ctx, n, text)
	}
	if err != nil {
		return Retryable(err), p.red.ScrubError(err)
	}
	return false, nil
}

// note adds text to the incident (once: a redelivery looks first), and
// resolves it when the run succeeded and resolve is set.
func (p *Notifier) note(ctx context.Context, n *notify.Notification, text string) error {
	id := p.cfg.Incident
	have := false
	if n.Redelivery {
		notes, err := p.c.ListIncidentNotesWithContext(ctx, id)
		if err != nil {
			return fmt.Errorf("pagerduty: list the notes of incident %s: %w", id, err)
		}
		have = slices.ContainsFunc(notes, func(x pd.IncidentNote) bool { return x.Content == text })
	}
	if !have {
		_, err := p.c.CreateIncidentNoteWithContext(ctx, id, pd.IncidentNote{Content: text, User: pd.APIObject{Summary: p.cfg.From}})
		if err != nil {
			return fmt.Errorf("pagerduty: add a note to incident %s: %w", id, err)
		}
	}
	if n.Milestone != notify.Succeeded || !p.cfg.Resolve {
		return nil
	}
	_, err := p.c.ManageIncidentsWithContext(ctx, p.cfg.From, []pd.ManageIncidentsOptions{{ID: id, Status: "resolved"}})
	if alreadyResolved(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pagerduty: resolve incident %s: %w", id, err)
	}
	p.log.InfoContext(ctx, "pagerduty incident resolved", "run", n.Run.ID, "incident", id)
	return nil
}

// alreadyResolved: a resolve that took effect before (a redelivery, or a
// human was quicker).
func alreadyResolved(err error) bool {
	var api pd.APIError
	if !errors.As(err, &api) || api.StatusCode != http.StatusBadRequest || !api.APIError.Valid {
		return false
	}
	if strings.Contains(api.APIError.ErrorObject.Message, "Already Resolved") {
		return true
	}
	return slices.ContainsFunc(api.APIError.ErrorObject.Errors, func(s string) bool { return strings.Contains(s, "Already Resolved") })
}

// event triggers (or, at a successful end with resolve, resolves) the
// run's alert: the dedup key is the run, so repeating it is harmless.
func (p *Notifier) event(ctx context.Context, n *notify.Notification, text string) error {
	e := &pd.V2Event{RoutingKey: p.cfg.RoutingKey, Action: "trigger", DedupKey: n.Run.ID,
		Payload: &pd.V2Payload{Summary: firstLine(text), Source: "failoverbot/" + n.Run.Runbook, Severity: p.cfg.Severity,
			Details: map[string]string{"run": n.Run.ID, "runbook": n.Run.Runbook, "milestone": string(n.Milestone),
				"message": text, "elapsed": notify.DataOf(n).Elapsed}}}
	if n.Milestone == notify.Succeeded && p.cfg.Resolve {
		e.Action, e.Payload = "resolve", nil
	}
	if _, err := p.c.ManageEventWithContext(ctx, e); err != nil {
		return fmt.Errorf("pagerduty: %s event for run %s: %w", e.Action, n.Run.ID, err)
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if r := []rune(s); len(r) > 1000 {
		s = string(r[:1000]) + "…"
	}
	return s
}
