package executor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/store"
)

// Errors returned (wrapped, with the run and step named) by the executor's
// methods, for the commands layer to test with errors.Is.
var (
	// ErrClosed: the executor was closed.
	ErrClosed = errors.New("executor is closed")
	// ErrStalePlan: the runbook's plan hash no longer matches the run's
	// (the runbook changed after approval).
	ErrStalePlan = errors.New("stale plan: the runbook changed since the run was approved")
	// ErrNotPending: Start on a run that is not pending approval.
	ErrNotPending = errors.New("run is not pending approval")
	// ErrNotRunning: Pause on a run that is not running.
	ErrNotRunning = errors.New("run is not running")
	// ErrNotPaused: Resume on a run that is not paused.
	ErrNotPaused = errors.New("run is not paused")
	// ErrRunEnded: the run already ended (succeeded, failed, aborted,
	// rejected, expired).
	ErrRunEnded = errors.New("run has already ended")
	// ErrUnknownStep: no step of the runbook has that ID.
	ErrUnknownStep = errors.New("no such step")
	// ErrStepNotFailed: RetryStep on a step that has not failed.
	ErrStepNotFailed = errors.New("step has not failed")
	// ErrStepInFlight: SkipStep on a step that is being executed.
	ErrStepInFlight = errors.New("step is being executed")
	// ErrStepDone: SkipStep on a step that already finished.
	ErrStepDone = errors.New("step already finished")
	// ErrStepFailed: Resume while a step has failed: retry it, skip it or
	// abort the run.
	ErrStepFailed = errors.New("a step failed: retry it, skip it or abort the run")
	// ErrNoRunbook: the executor cannot find the run's runbook.
	ErrNoRunbook = errors.New("runbook not available")
)

// Config configures an Executor. Store and Owner are required; everything
// else has a default.
type Config struct {
	// Store persists runs, step states and the audit trail.
	Store store.Store
	// Sink receives events after they are persisted; nil means none.
	// Steps run in parallel, so Notify is called from several goroutines;
	// it must return quickly, and a panic in it is logged, not fatal.
	Sink events.Sink
	// Logger; nil discards.
	Logger *slog.Logger
	// Owner names this instance (the host or pod name) in run leases and
	// the audit trail. The executor adds a nonce of its own (Executor.Owner
	// is "<Owner>/<nonce>"), so that two processes given the same name
	// never share a lease: a restarted process takes its runs back once
	// their leases (of the process that died) expire.
	Owner string
	// LeaseTTL is how long a run's lease lasts; it is renewed every
	// LeaseTTL/3 while the run is executed here. Default 30s.
	LeaseTTL time.Duration
	// Redactor scrubs secrets from every error and summary before it is
	// stored, logged or announced; nil scrubs nothing.
	Redactor *secret.Redactor
	// Now is the clock for recorded times; default time.Now.
	Now func() time.Time
	// Runbooks finds a runbook by name, for runs resumed after a restart
	// (Resume, RetryStep, SkipStep). Recover's lookup replaces it.
	Runbooks func(name string) (*runbook.Runbook, error)
	// PlanHash computes a run's plan hash; default (*runbook.Runbook).PlanHash.
	PlanHash func(rb *runbook.Runbook, params map[string]string) string
	// BindKey keys the digest of resolved connection values that a run's
	// hash binds too (Planner.Hash); nil binds none.
	BindKey []byte
	// Access, if set, checks in every assessment that the bot holds the
	// permissions the runbook's steps need (Planner.Access).
	Access AccessChecker
	// NewRunID draws the ID of a new run; default RandomRunID.
	NewRunID func(runbook string) string

	// StepTimeout is a step's deadline when the runbook gives none. Default 5m.
	StepTimeout time.Duration
	// CheckTimeout is an assessment check's deadline when the runbook gives
	// none, and caps each Check of a dry run. Default 10s.
	CheckTimeout time.Duration
	// PollInterval is the first delay between Checks while waiting for a
	// step to take effect; it doubles up to MaxPollInterval. Defaults 1s, 10s.
	PollInterval    time.Duration
	MaxPollInterval time.Duration
	// RetryBackoff is the first delay after a transient error when the
	// step's retry policy gives none; it doubles, with jitter, up to
	// MaxRetryBackoff. Defaults 1s, 30s.
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration
	// StoreTimeout bounds each store call. Default 10s.
	StoreTimeout time.Duration
	// GatePollInterval is how often a waiting gate reads the decisions
	// recorded by other processes (this process's wake it at once).
	// Default 1s.
	GatePollInterval time.Duration
	// TakeoverInterval is how often, after Recover, the executor looks for
	// running runs whose lease expired (their executor died) and takes
	// them over. Default LeaseTTL; negative disables.
	TakeoverInterval time.Duration
}

func (c *Config) setDefaults() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("executor config: Store is required"))
	}
	if c.Owner == "" {
		errs = append(errs, errors.New("executor config: Owner is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if c.Sink == nil {
		c.Sink = events.SinkFunc(func(context.Context, events.Event) {})
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.PlanHash == nil {
		c.PlanHash = (*runbook.Runbook).PlanHash
	}
	if c.NewRunID == nil {
		c.NewRunID = RandomRunID
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.LeaseTTL, 30*time.Second)
	def(&c.StepTimeout, 5*time.Minute)
	def(&c.CheckTimeout, 10*time.Second)
	def(&c.PollInterval, time.Second)
	def(&c.MaxPollInterval, 10*time.Second)
	def(&c.RetryBackoff, time.Second)
	def(&c.MaxRetryBackoff, 30*time.Second)
	def(&c.StoreTimeout, 10*time.Second)
	def(&c.GatePollInterval, time.Second)
	if c.TakeoverInterval == 0 {
		c.TakeoverInterval = c.LeaseTTL
	}
	if c.MaxPollInterval < c.PollInterval {
		c.MaxPollInterval = c.PollInterval
	}
	if c.MaxRetryBackoff < c.RetryBackoff {
		c.MaxRetryBackoff = c.RetryBackoff
	}
	return nil
}

// Executor runs runs. It is safe for concurrent use.
type Executor struct {
	cfg Config
	// owner is this process's lease owner: cfg.Owner and a nonce.
	owner string
	log   *slog.Logger
	base  context.Context
	stop  context.CancelCauseFunc
	runWG sync.WaitGroup

	mu     sync.Mutex
	runs   map[string]*runCtl
	lookup func(string) (*runbook.Runbook, error)
	closed bool
	// takingOver: the takeover loop runs.
	takingOver bool
	// stalled are the runs stopped because the store could not be
	// written, announced once (RunStalled) until they go on (RunUnstalled).
	stalled map[string]bool
}

// errClosing cancels runners when the executor closes: their runs stay
// running in the store for the next process.
var errClosing = errors.New("executor closing")

// New returns an Executor.
func New(cfg Config) (*Executor, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	base, stop := context.WithCancelCause(context.Background())
	return &Executor{
		cfg:     cfg,
		owner:   cfg.Owner + "/" + nonce(),
		log:     cfg.Logger,
		base:    base,
		stop:    stop,
		runs:    map[string]*runCtl{},
		stalled: map[string]bool{},
		lookup:  cfg.Runbooks,
	}, nil
}

// Owner is this executor's lease owner: Config.Owner and a nonce drawn
// when it was made, unique to it.
func (e *Executor) Owner() string { return e.owner }

// nonce is 8 random hex digits.
func nonce() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Planner returns the executor's dry-run half, with its settings.
func (e *Executor) Planner() *Planner {
	return &Planner{CheckTimeout: e.cfg.CheckTimeout, Redactor: e.cfg.Redactor, Logger: e.log, Now: e.cfg.Now, PlanHash: e.cfg.PlanHash, BindKey: e.cfg.BindKey, Access: e.cfg.Access}
}

// Wait blocks until the run stops executing in this process (it ended, or
// it paused), or ctx is done. It returns nil at once when the run is not
// executing here, and ErrClosed when Close stopped it (the run is still
// running in the store).
func (e *Executor) Wait(ctx context.Context, runID string) error {
	e.mu.Lock()
	c := e.runs[runID]
	e.mu.Unlock()
	if c == nil {
		return nil
	}
	c.mu.Lock()
	done, active := c.done, c.active
	c.mu.Unlock()
	if !active {
		return nil
	}
	select {
	case <-done:
		if e.base.Err() != nil {
			c.mu.Lock()
			st := c.run.State
			c.mu.Unlock()
			if st.Executing() {
				return fmt.Errorf("wait for run %s: %w", runID, ErrClosed)
			}
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for run %s: %w", runID, context.Cause(ctx))
	}
}

// Close stops executing runs: in-flight steps are cancelled and every run
// stays running in the store, with its step states, for Recover in the next
// process. It waits for the run goroutines until ctx is done.
func (e *Executor) Close(ctx context.Context) error {
	e.mu.Lock()
	again := e.closed
	e.closed = true
	e.mu.Unlock()
	e.stop(errClosing)
	done := make(chan struct{})
	go func() { e.runWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("close executor: runs still stopping: %w", context.Cause(ctx))
	}
	if !again {
		e.releaseLeases(ctx)
	}
	return nil
}

// releaseLeases ends the leases of the runs this executor held when it
// closed, so that the next process (a restart, a rolling update) takes
// them back at once; a process that dies keeps them until they expire. A
// run with an Apply still in flight (one that ignored its deadline) keeps
// its lease: nobody else may apply while it may still act.
func (e *Executor) releaseLeases(ctx context.Context) {
	e.mu.Lock()
	ctls := make([]*runCtl, 0, len(e.runs))
	for _, c := range e.runs {
		ctls = append(ctls, c)
	}
	e.mu.Unlock()
	for _, c := range ctls {
		c.mu.Lock()
		held := c.run.Owner == e.owner && c.run.State.Active() && time.Now().Before(c.leaseUntil)
		hung := false
		for _, ch := range c.hung {
			select {
			case <-ch:
			default:
				hung = true
			}
		}
		c.mu.Unlock()
		if !held || hung {
			continue
		}
		_, err := c.updateRun(ctx, func(r *store.Run) error {
			if r.Owner != e.owner {
				return fmt.Errorf("%w (owner %s)", store.ErrLeaseHeld, r.Owner)
			}
			r.LeaseUntil = time.Time{}
			return nil
		})
		if err != nil {
			e.log.WarnContext(ctx, "release the lease of a run; the next process waits for it to expire", "run", c.id, "err", e.scrub(err.Error()))
		}
	}
}

// ctl returns the controller of a run, loading the run and its steps from
// the store if this executor does not know it yet. rb may be nil: it is
// then looked up by name.
func (e *Executor) ctl(ctx context.Context, runID string, rb *runbook.Runbook) (*runCtl, error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, ErrClosed
	}
	c := e.runs[runID]
	lookup := e.lookup
	e.mu.Unlock()
	if c != nil {
		c.mu.Lock()
		if rb != nil && !c.active {
			c.rb = rb
		}
		c.mu.Unlock()
		return c, nil
	}
	run, err := e.getRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	if rb == nil && !run.State.Active() {
		// Control operations only apply to active runs: say so, whether or
		// not the runbook still exists.
		return nil, fmt.Errorf("%w (it is %s)", ErrRunEnded, run.State)
	}
	if rb == nil {
		if lookup == nil {
			return nil, fmt.Errorf("run %s: runbook %s: %w", runID, run.Runbook, ErrNoRunbook)
		}
		if rb, err = lookup(run.Runbook); err != nil {
			return nil, fmt.Errorf("run %s: runbook %s: %w: %w", runID, run.Runbook, ErrNoRunbook, err)
		}
	}
	if rb.Name != run.Runbook {
		return nil, fmt.Errorf("run %s is a run of runbook %s, not %s", runID, run.Runbook, rb.Name)
	}
	c = newRunCtl(e, run, rb)
	if err := c.loadSteps(ctx); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if have := e.runs[runID]; have != nil {
		return have, nil
	}
	e.runs[runID] = c
	return c, nil
}

func (e *Executor) getRun(ctx context.Context, runID string) (*store.Run, error) {
	var run *store.Run
	err := e.storeCall(ctx, func(ctx context.Context) error {
		var err error
		run, err = e.cfg.Store.GetRun(ctx, runID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get run %s: %w", runID, err)
	}
	return run, nil
}

// storeCall runs one store operation under the store timeout, retrying a
// few times when it fails for reasons other than the store's own verdicts.
func (e *Executor) storeCall(ctx context.Context, f func(ctx context.Context) error) error {
	delay := 50 * time.Millisecond
	var err error
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
		err = f(cctx)
		cancel()
		if err == nil || isStoreVerdict(err) || attempt == 4 || ctx.Err() != nil {
			return err
		}
		e.log.WarnContext(ctx, "store call failed, retrying", "attempt", attempt, "err", e.scrub(err.Error()))
		if !sleep(ctx, delay) {
			return err
		}
		delay *= 4
	}
}

func isStoreVerdict(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) ||
		errors.Is(err, store.ErrActiveRun) || errors.Is(err, store.ErrLeaseHeld)
}

func (e *Executor) scrub(s string) string { return e.cfg.Redactor.Scrub(s) }
