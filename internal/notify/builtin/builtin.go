// Package builtin wires the notifiers: for each run, the progress card and
// the notifiers its runbook's notify section configures, one line per
// kind. It is the notify.Planner the app gives the pipeline.
package builtin

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/notify/card"
	"github.com/failoverbot/failoverbot/internal/notify/pagerduty"
	"github.com/failoverbot/failoverbot/internal/notify/stakeholders"
	"github.com/failoverbot/failoverbot/internal/notify/statuspage"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/store"
)

// Options configure a Planner. Runbooks and Card are required.
type Options struct {
	Runbooks func(name string) (*runbook.Runbook, error)
	Card     *card.Notifier
	// Poster posts the stakeholder messages.
	Poster chat.Poster
	// HTTPClient sends the notifiers' requests (default: one with dial,
	// TLS and header timeouts).
	HTTPClient *http.Client
	Redactor   *secret.Redactor
	Logger     *slog.Logger
	// Always are targets of every run besides the card (the requests of
	// the gates inside runs).
	Always []notify.Target
}

// Planner builds the plan of each run.
type Planner struct {
	o Options

	mu sync.Mutex
	// pages shares one Statuspage client (and its rate limit) per key.
	pages map[[32]byte]*statuspage.Client
}

// New returns a Planner.
func New(o Options) (*Planner, error) {
	if o.Runbooks == nil || o.Card == nil {
		return nil, errors.New("notify/builtin: Runbooks and Card are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 15 * time.Second,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
		}}
	}
	return &Planner{o: o, pages: map[[32]byte]*statuspage.Client{}}, nil
}

// Plan is the notify.Planner: the card always, then the runbook's
// notifiers built for the run. A notifier that cannot be built is named in
// Plan.Err; the others are returned.
func (p *Planner) Plan(ctx context.Context, run *store.Run) notify.Plan {
	plan := notify.Plan{Targets: append([]notify.Target{p.o.Card.Target()}, p.o.Always...)}
	rb, err := p.o.Runbooks(run.Runbook)
	if err != nil {
		p.o.Logger.WarnContext(ctx, "runbook of a run: its notifiers are not known", "run", run.ID, "runbook", run.Runbook, "err", err)
		return plan
	}
	plan.Channel, plan.Expected = rb.Channel, rb.ExpectedDuration
	plan.Names, plan.Public = map[string]string{}, map[string]bool{}
	for _, ph := range rb.Phases {
		plan.Names[ph.ID] = ph.Name
		for _, s := range ph.Steps {
			plan.Names[s.ID] = s.Name
		}
	}
	if rb.Notify == nil {
		return plan
	}
	for _, id := range rb.Notify.Public {
		plan.Public[id] = true
	}
	cfgs, err := rb.Notify.Build(ctx, runbook.Vars{Params: rb.ParamsWithDefaults(run.Params)})
	errs := []error{err}
	for _, c := range cfgs {
		t, err := p.target(c)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s could not be set up: %w", c.Name, err))
			continue
		}
		plan.Targets = append(plan.Targets, t)
	}
	plan.Err = errors.Join(errs...)
	return plan
}

// target builds one notifier: one line per kind.
func (p *Planner) target(c runbook.NotifierConfig) (notify.Target, error) {
	bo := notify.BuildOptions{HTTPClient: p.o.HTTPClient, Redactor: p.o.Redactor, Logger: p.o.Logger.With("notifier", c.Name)}
	switch cfg := c.Config.(type) {
	case *statuspage.Config:
		cl, err := p.page(cfg, bo.Logger)
		if err != nil {
			return notify.Target{}, err
		}
		return statuspage.NewNotifierWithClient(cfg, cl, bo.Logger).Target(), nil
	case *pagerduty.Config:
		n, err := pagerduty.New(cfg, bo)
		if err != nil {
			return notify.Target{}, err
		}
		return n.Target(), nil
	case *stakeholders.Config:
		n, err := stakeholders.New(cfg, p.o.Poster, bo)
		if err != nil {
			return notify.Target{}, err
		}
		return n.Target(), nil
	}
	return notify.Target{}, fmt.Errorf("no notifier of kind %T", c.Config)
}

// page returns the Statuspage client of a key, made once.
func (p *Planner) page(cfg *statuspage.Config, log *slog.Logger) (*statuspage.Client, error) {
	o := cfg.ClientOptions()
	k := sha256.Sum256([]byte(o.BaseURL + "\x00" + o.APIKey.Reveal()))
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.pages[k]; c != nil {
		return c, nil
	}
	o.HTTPClient, o.Logger = p.o.HTTPClient, log
	c, err := statuspage.New(o)
	if err != nil {
		return nil, err
	}
	p.pages[k] = c
	return c, nil
}
