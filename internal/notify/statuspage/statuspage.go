package statuspage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/secret"
)

// Name is the notifier's name in the delivery log.
const Name = "statuspage"

// State keys of a run.
const (
	stateIncident   = "incident"
	stateMonitoring = "monitoring"
)

// timeSkew is how much earlier than the run's start an incident found
// again may have been opened (clocks of the bot and Statuspage differ).
const timeSkew = 5 * time.Minute

// Notifier keeps a run's status page incident: opened at the first
// milestone, updated at each one it is told of, resolved at the end. One
// incident per run across restarts: its ID is kept in the run's notifier
// state, and a redelivered opening first looks for the incident it may
// have opened before the bot died.
type Notifier struct {
	cfg *Config
	c   *Client
	log *slog.Logger
}

var _ notify.Notifier = (*Notifier)(nil)

// NewNotifier builds the notifier of a checked, expanded config.
func NewNotifier(cfg *Config, o notify.BuildOptions) (*Notifier, error) {
	if cfg.on == nil {
		if err := cfg.CheckAndSetDefaults(); err != nil {
			return nil, err
		}
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c, err := New(Options{BaseURL: cfg.BaseURL, APIKey: secret.Value(cfg.APIKey), HTTPClient: o.HTTPClient,
		RequestTimeout: cfg.timeout, Logger: log})
	if err != nil {
		return nil, err
	}
	return &Notifier{cfg: cfg, c: c, log: log}, nil
}

// NewNotifierWithClient builds the notifier on a Client (shared by the
// runs that use the same key, so that they share its rate limit).
func NewNotifierWithClient(cfg *Config, c *Client, log *slog.Logger) *Notifier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{cfg: cfg, c: c, log: log}
}

// Target is the notifier as a pipeline target.
func (s *Notifier) Target() notify.Target {
	return notify.Target{Name: Name, Notifier: s, Wants: notify.WantsKeys(s.cfg.on, s.cfg.MilestoneKeys())}
}

// Default update texts, by milestone.
var defaults = map[notify.Milestone]*notify.Template{
	notify.Started:   notify.MustTemplate("We have identified a regional outage and are moving the service to our standby region."),
	notify.PhaseDone: notify.MustTemplate("{{ .PhaseName }}: done."),
	notify.StepDone:  notify.MustTemplate("{{ .StepName }}: done."),
	notify.Succeeded: notify.MustTemplate("The service now runs in our standby region. This incident is resolved."),
	notify.Failed:    notify.MustTemplate("The move to our standby region has stopped; our engineers are on it."),
	notify.Aborted:   notify.MustTemplate("The move to our standby region was stopped; our engineers are on it."),
}

var fallback = notify.MustTemplate("Update: {{ .Milestone }}.")

// Notify opens, updates or resolves the run's incident.
func (s *Notifier) Notify(ctx context.Context, n *notify.Notification) (bool, error) {
	body, err := s.cfg.messages.Render(n, s.defaultFor(n.Milestone))
	if err != nil {
		return false, fmt.Errorf("statuspage: message for %s: %w", n.Milestone, err)
	}
	id := n.State.Get(stateIncident)
	if id == "" && n.Redelivery {
		if id, err = s.find(ctx, n); err != nil {
			return classify(err)
		}
	}
	if id == "" {
		if n.Milestone.Terminal() {
			return false, nil // never opened: nothing to close
		}
		return s.open(ctx, n, body)
	}
	return s.update(ctx, n, id, body)
}

func (s *Notifier) defaultFor(m notify.Milestone) *notify.Template {
	if t := defaults[m]; t != nil {
		return t
	}
	return fallback
}

// open creates the incident, every component at its `started` state (and
// this milestone's), and remembers it at once.
func (s *Notifier) open(ctx context.Context, n *notify.Notification, body string) (bool, error) {
	f := IncidentFields{Name: s.cfg.Name, Status: Identified, Body: body, ImpactOverride: Impact(s.cfg.Impact)}
	for _, comp := range s.cfg.Components {
		f.ComponentIDs = append(f.ComponentIDs, comp.ID)
	}
	f.Components = s.components(n, true)
	f.Status = s.status(n)
	inc, err := s.c.CreateIncident(ctx, s.cfg.Page, f)
	if err != nil {
		return classify(err)
	}
	if err := n.State.Set(ctx, stateIncident, inc.ID); err != nil {
		// The incident exists: retried, this notification is a
		// redelivery and finds it by name instead of opening another.
		return true, err
	}
	s.log.InfoContext(ctx, "status page incident opened", "run", n.Run.ID, "incident", inc.ID)
	return false, s.remember(ctx, n, f.Status)
}

// find looks for the unresolved incident of the run (by its name), for a
// redelivered opening: the bot may have died after the API opened it.
func (s *Notifier) find(ctx context.Context, n *notify.Notification) (string, error) {
	incs, err := s.c.UnresolvedIncidents(ctx, s.cfg.Page)
	if err != nil {
		return "", err
	}
	for _, inc := range incs {
		if inc.Name == s.cfg.Name && (n.Run.StartedAt.IsZero() || !inc.CreatedAt.Before(n.Run.StartedAt.Add(-timeSkew))) {
			if err := n.State.Set(ctx, stateIncident, inc.ID); err != nil {
				return "", err
			}
			s.log.InfoContext(ctx, "status page incident found again after a restart", "run", n.Run.ID, "incident", inc.ID)
			return inc.ID, nil
		}
	}
	return "", nil
}

// update adds an update entry with the milestone's status and component
// states. A redelivered update that the incident already shows is not
// repeated.
func (s *Notifier) update(ctx context.Context, n *notify.Notification, id, body string) (bool, error) {
	status := s.status(n)
	comps := s.components(n, false)
	if n.Redelivery {
		inc, err := s.c.GetIncident(ctx, s.cfg.Page, id)
		if err != nil {
			return classify(err)
		}
		if inc.Status == Resolved && status != Resolved {
			return false, nil // a human or an earlier run closed it
		}
		if slices.ContainsFunc(inc.Updates, func(u IncidentUpdate) bool { return u.Body == body && u.Status == status }) {
			return false, s.remember(ctx, n, status)
		}
	}
	if _, err := s.c.UpdateIncident(ctx, s.cfg.Page, id, IncidentFields{Status: status, Body: body, Components: comps}); err != nil {
		return classify(err)
	}
	return false, s.remember(ctx, n, status)
}

// remember keeps that the incident reached monitoring.
func (s *Notifier) remember(ctx context.Context, n *notify.Notification, status IncidentStatus) error {
	if status == Monitoring && n.State.Get(stateMonitoring) == "" {
		if err := n.State.Set(ctx, stateMonitoring, "1"); err != nil {
			s.log.WarnContext(ctx, "remember the incident is monitoring", "run", n.Run.ID, "err", err)
		}
	}
	return nil
}

// status is the incident's status after n: resolved at the end, monitoring
// from monitoringAt on, identified before.
func (s *Notifier) status(n *notify.Notification) IncidentStatus {
	if slices.Contains(s.cfg.resolveOn, n.Milestone) {
		return Resolved
	}
	if n.State.Get(stateMonitoring) != "" {
		return Monitoring
	}
	if s.cfg.MonitoringAt != "" && slices.Contains(n.Keys(), s.cfg.MonitoringAt) {
		return Monitoring
	}
	return Identified
}

// components are the states the runbook names for n (with the `started`
// states too when opening).
func (s *Notifier) components(n *notify.Notification, opening bool) map[string]ComponentStatus {
	out := map[string]ComponentStatus{}
	keys := n.Keys()
	if opening && !slices.Contains(keys, string(notify.Started)) {
		keys = append([]string{string(notify.Started)}, keys...)
	}
	for _, comp := range s.cfg.Components {
		// Least specific first, so that the completed phase's state wins.
		for i := len(keys) - 1; i >= 0; i-- {
			if st, ok := comp.At[keys[i]]; ok {
				out[comp.ID] = ComponentStatus(st)
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// classify turns a client error into the pipeline's decision.
func classify(err error) (bool, error) {
	retry, after := Retryable(err)
	var e *Error
	if !errors.As(err, &e) {
		retry = true // a state store failure: worth another try
	}
	return retry, notify.After(err, after)
}
