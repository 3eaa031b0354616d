// Package app wires the bot's parts together in one place: the store, the
// step kinds, the runbook catalog, the executor, the notification pipeline
// (progress card, status page, PagerDuty, stakeholders) and the commands
// handler. The chat transport (Slack or console) supplies the
// Poster and the Directory; cmd/bot and the end-to-end tests use this.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/failoverbot/failoverbot/internal/access"
	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/commands"
	"github.com/failoverbot/failoverbot/internal/config"
	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/executor"
	"github.com/failoverbot/failoverbot/internal/leader"
	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/notify/card"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/builtin"
	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/postgres"
	"github.com/failoverbot/failoverbot/internal/store/sqlite"
)

// Options are what the transport supplies.
type Options struct {
	Config    config.Config
	Poster    chat.Poster
	Directory commands.Directory
	Logger    *slog.Logger
	// Env, if set, replaces the process environment for ${env:…} and
	// ${secret:…} look-ups (the demo points runbooks at its lab this way);
	// the configuration's policy still says which names may be read.
	Env func(string) (string, bool)
	// Executor overrides executor settings that tests and the demo tune
	// (poll intervals); Store, Sink, Owner, Logger, Redactor and Runbooks
	// are always set here.
	Executor executor.Config
	// Redactor learns every resolved secret; pass the one the logger
	// scrubs with (NewLogger) so that logs never show a secret. Nil means
	// a new one.
	Redactor *secret.Redactor
	// Notify, if set, tunes the notification pipeline's options (tests:
	// backoff, grace periods).
	Notify func(o *notify.Options)
	// Instruments, if set, is told what the bot does (the metrics
	// implement it): every executor event, the notifications' outcomes,
	// leadership and the expiry sweeps.
	Instruments Instruments
	// OnStore, if set, is told of each check of the leader's session to
	// the store (nil: it worked).
	OnStore func(err error)
	// Kinds tunes the step kinds (the lab's demo: its AWS time scale, its
	// edge proxy and CA); the zero value is production's.
	Kinds builtin.Options
}

// Instruments is what the app reports to (internal/metrics implements it).
type Instruments interface {
	events.Sink
	notify.Observer
	// Leading: this process started or stopped leading the periodic work.
	Leading(leading bool)
	// ExpirySweep: one approval expiry sweep ran.
	ExpirySweep()
}

// App is a wired bot.
type App struct {
	Store    store.Store
	Registry *steps.Registry
	Catalog  *commands.DirCatalog
	Executor *executor.Executor
	Cards    *card.Notifier
	// Notify is the notification pipeline: the executor's events to the
	// card, the status page, PagerDuty and the stakeholders.
	Notify   *notify.Pipeline
	Handler  *commands.Handler
	Redactor *secret.Redactor
	Logger   *slog.Logger
	// Leader elects, among the processes sharing the store, the one that
	// runs the periodic work (expiry sweeps, notification catch-up).
	Leader leader.Elector

	inst        Instruments
	expiryEvery time.Duration
	// alive says whether a lease owner's process is up (PostgreSQL only).
	alive func(ctx context.Context, owner string) (bool, error)

	wg     sync.WaitGroup
	cancel context.CancelFunc
}

// New opens the store (applying migrations) and builds every part. It
// changes nothing else: runs left by a previous process are taken back by
// Start.
func New(ctx context.Context, o Options) (*App, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := o.Config
	reg, err := o.Kinds.Registry()
	if err != nil {
		return nil, fmt.Errorf("register step kinds: %w", err)
	}
	red := o.Redactor
	if red == nil {
		red = &secret.Redactor{}
	}
	res := Resolver(cfg, o.Env, red)
	ropts := []runbook.Option{runbook.WithSecrets(res), runbook.WithLogger(log)}
	if o.Env != nil {
		ropts = append(ropts, runbook.WithEnv(o.Env))
	}
	overlay, err := LoadOverlay(cfg, reg)
	if err != nil {
		return nil, err
	}
	ropts = append(ropts, runbook.WithOverlay(overlay))
	if st, err := os.Stat(cfg.RunbookDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("load runbooks: %s is not a readable directory", cfg.RunbookDir)
	}
	cat, err := commands.NewDirCatalog(cfg.RunbookDir, reg, log.With("component", "runbooks"), ropts...)
	if cat == nil {
		return nil, fmt.Errorf("load runbooks: %w", err)
	}
	if err != nil {
		// One broken runbook must not keep the bot (and every other
		// runbook) down during an incident: it is refused, named here and
		// by `/failover list`, and the rest stay usable.
		log.ErrorContext(ctx, "some runbooks do not load; they cannot be run until fixed", "dir", cfg.RunbookDir, "err", err)
	}
	if err := overlay.Check(cat.List()); err != nil {
		return nil, fmt.Errorf("connections overlay: %w", err)
	}
	st, err := OpenStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	a := &App{Store: st, Registry: reg, Catalog: cat, Redactor: red, Logger: log, inst: o.Instruments,
		expiryEvery: cfg.ExpirySweep}
	if a.expiryEvery <= 0 {
		a.expiryEvery = 30 * time.Second
	}
	a.Cards, err = card.New(card.Options{Poster: o.Poster, Store: st, Runbooks: cat.Get,
		Self: func() string { return a.Executor.Owner() }, Logger: log.With("component", "card")})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("progress card: %w", err), st.Close())
	}
	if a.Notify, err = newPipeline(a, o, cat.Get, log); err != nil {
		return nil, errors.Join(fmt.Errorf("notifications: %w", err), st.Close())
	}
	ec := o.Executor
	ec.Store, ec.Sink, ec.Owner, ec.LeaseTTL = st, a.Notify, cfg.Instance, cfg.LeaseTTL
	if a.inst != nil {
		ec.Sink = tee{a.Notify, a.inst}
	}
	ec.Logger, ec.Redactor, ec.Runbooks = log.With("component", "executor"), red, cat.Get
	if ec.Access == nil {
		ec.Access = access.Checker{}
	}
	if ec.BindKey, err = bindKey(ctx, cfg, st); err != nil {
		return nil, errors.Join(err, st.Close())
	}
	a.Executor, err = executor.New(ec)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("executor: %w", err), st.Close())
	}
	if a.Leader, err = a.newLeader(cfg, o); err != nil {
		return nil, errors.Join(err, st.Close())
	}
	a.Handler, err = commands.New(commands.Options{
		Catalog: cat, Planner: a.Executor.Planner(), Executor: a.Executor, Store: st, Directory: o.Directory, Poster: o.Poster,
		Cards: a.Cards, Responders: commands.Access{Groups: cfg.Responders.Groups, Users: cfg.Responders.Users},
		ApproveEmoji: cfg.ApproveEmoji, RejectEmoji: cfg.RejectEmoji, Secrets: res, Scrub: red.Scrub,
		Logger: log.With("component", "commands"),
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("commands: %w", err), st.Close())
	}
	return a, nil
}

// LoadOverlay loads the configuration's connections overlay (nil when it
// names none).
func LoadOverlay(cfg config.Config, reg *steps.Registry) (*runbook.Overlay, error) {
	if cfg.Connections == "" {
		return nil, nil
	}
	o, err := runbook.LoadOverlay(cfg.Connections, reg)
	if err != nil {
		return nil, fmt.Errorf("connections overlay: %w", err)
	}
	return o, nil
}

// Resolver is the resolver of runbook references under the configuration's
// policy (config.Config.Policy): env, when set, replaces the process
// environment. It first registers the bot's own credentials with red, so
// that they are scrubbed from everything even before any runbook runs (nil
// red: a new Redactor).
func Resolver(cfg config.Config, env func(string) (string, bool), red *secret.Redactor) *secret.Resolver {
	if red == nil {
		red = &secret.Redactor{}
	}
	pol := cfg.Policy()
	for _, v := range pol.Credentials {
		red.Add(v)
	}
	return &secret.Resolver{Dir: cfg.SecretsDir, Lookup: env, Redactor: red, Policy: pol}
}

// OpenStore opens PostgreSQL when DATABASE_URL is set, else the SQLite file.
func OpenStore(ctx context.Context, cfg config.Config, log *slog.Logger) (store.Store, error) {
	if cfg.DatabaseURL != "" {
		st, err := postgres.Open(ctx, cfg.DatabaseURL, log.With("component", "store"))
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL store: %w", err)
		}
		return st, nil
	}
	st, err := sqlite.Open(ctx, cfg.StorePath, log.With("component", "store"))
	if err != nil {
		return nil, fmt.Errorf("open SQLite store %s: %w", cfg.StorePath, err)
	}
	return st, nil
}

// Start runs the notification pipeline (it resends what a previous process
// queued and did not deliver) and the card refresher, and takes back the
// runs a previous process left running.
func (a *App) Start(ctx context.Context) error {
	ctx, a.cancel = context.WithCancel(ctx)
	a.wg.Go(func() { _ = a.Cards.Run(ctx) })
	a.wg.Go(func() { _ = a.Notify.Run(ctx) })
	a.wg.Go(func() { _ = a.Leader.Run(ctx) })
	a.wg.Go(func() { a.runExpiry(ctx) })
	if err := a.Executor.Recover(ctx, a.Catalog.Get); err != nil {
		return fmt.Errorf("recover runs: %w", err)
	}
	return nil
}

// Close stops the executor (runs stay `running` in the store for the next
// process), lets the last card edits land and closes the store.
func (a *App) Close(ctx context.Context) error {
	err := a.Executor.Close(ctx)
	if a.cancel != nil {
		a.cancel()
	}
	a.wg.Wait()
	return errors.Join(err, a.Store.Close())
}

// NewLogger builds the process logger from the configuration; every record
// is scrubbed of the secrets red knows.
func NewLogger(cfg config.Config, w io.Writer, red *secret.Redactor) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel)))
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(secret.NewLogHandler(h, red))
}

// bindKey is the key of the digest that binds a run's plan to what its
// connections resolve to: FAILOVER_PLAN_KEY, else one the store keeps
// (made once, shared by every process on the store).
func bindKey(ctx context.Context, cfg config.Config, st store.Store) ([]byte, error) {
	if k := cfg.Credentials["FAILOVER_PLAN_KEY"]; k != "" {
		return []byte(k), nil
	}
	ks, ok := st.(store.Keys)
	if !ok {
		return nil, nil
	}
	k, err := ks.Key(ctx, "plan-binding")
	if err != nil {
		return nil, fmt.Errorf("the plan binding key: %w", err)
	}
	return k, nil
}
