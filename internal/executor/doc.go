// Package executor runs failover runs: it schedules a runbook's steps in
// phase order and by `needs`, drives each step through the reconciler
// contract (Check → Apply → wait for Check), retries transient errors within
// the step's deadline, pauses the run on a permanent one, persists every
// transition before it announces it, and takes over runs left running by a
// process that died.
//
// # API (called by the commands layer and cmd/bot)
//
// The executor is the one writer of run records: the commands layer
// decides who may do what and calls these verbs.
//
//	New(cfg Config) (*Executor, error)
//	(*Executor).Request(ctx, RunRequest) (*store.Run, error)       a run pending approval
//	(*Executor).PlanPosted(ctx, runID, ref, summary) error        where approvers react
//	(*Executor).Approve(ctx, runID, rb, approvers) error          quorum: Start it
//	(*Executor).Reject / Expire / Cancel(ctx, runID, …) (*store.Run, error)
//	(*Executor).Start(ctx, runID, rb) error
//	(*Executor).Pause / Resume / Abort(ctx, runID, by) error
//	(*Executor).RetryStep / SkipStep(ctx, runID, stepID, by) error
//	(*Executor).Recover(ctx, lookup) error
//	(*Executor).Wait(ctx, runID) error
//	(*Executor).Close(ctx) error
//
// Planner is the store-free half: Assess (the go/no-go checks, each
// under its deadline) and Plan (a dry run: Check every step, Apply none),
// with their own result types; (*Executor).Planner returns one with the
// executor's settings.
//
// Runs are created by Request (state pending_approval); Approve records
// the quorum and starts the run after checking that the runbook's plan
// hash for the run's parameters is still the approved one. A run stops
// when it is terminal (succeeded, aborted, failed) or paused (by an
// operator, or because a step failed: retry-step, skip-step or abort it).
// Control methods return the sentinel errors below (wrapped) when an
// operation does not apply: ErrNotPending, ErrNotRunning, ErrNotPaused,
// ErrRunEnded, ErrStepFailed, ErrStepNotFailed, ErrStepInFlight,
// ErrStepDone, ErrUnknownStep, ErrStalePlan, and store.ErrLeaseHeld when
// another live executor owns the run. Every run update goes through one
// compare-and-swap retry loop (runCtl.updateRun); the progress card
// records where it lives with store.SetCard, which never races it.
//
// # A step
//
// The step is recorded checking, then Check runs. If it reports Done the
// step is done (AlreadyDone when this run never applied it). Otherwise the
// step is recorded applying with Attempts+1, then Apply runs, then Check
// runs at once and, while not done, again with growing intervals
// (recorded waiting) until the step's deadline (its timeout, default 5m).
// Read-only steps are never applied: Check is polled until done or the
// deadline. Transient errors (not steps.IsPermanent) are retried with
// exponential backoff and jitter inside the deadline, at most
// Retry.Attempts Apply calls when set; a permanent error, the deadline, or
// the attempts running out fail the step. A failed step's alternative
// (AlternativeOf) runs if it has one, and an alternative that fails hands
// on to its own alternative (promote_db → force_promote →
// restore_from_backup): one link at a time, never two alternatives of one
// failure at once, depth first in runbook order. When one succeeds, every
// failed step above it is replaced (its outputs are the alternative's) and
// dependents go on; when none is left the run pauses, its reason naming
// each alternative tried. step.failed says which alternative runs next. A
// step whose `when` is false is skipped (an alternative's turn passes on).
//
// # Records
//
// Every transition is written in this order: the step state or run record
// (store.PutStep / UpdateRun), an audit event (store.Append: actor, type,
// step, scrubbed message and data), then the event to the Sink. Errors and
// summaries pass through the Redactor before any of these, and before they
// are logged. Step outputs are stored scrubbed too; their raw values,
// which later steps of the run may use, are kept in memory only (after a
// restart a later step sees the scrubbed value of a secret an output
// held).
//
// # Durability
//
// Each running run holds a lease (store.ClaimRun) renewed every LeaseTTL/3.
// Close leaves runs running; Recover, at start, claims the runs left
// running once their leases have ended, and continues them: a step
// recorded checking, applying or waiting is checked again first and
// applied again only if its Check does not hold. A lease owner is one
// process (Config.Owner and a nonce), so a restarted process, or a second
// one given the same name, waits for the lease of the one before; after
// Recover, every TakeoverInterval and when a lease it saw held ends, runs
// whose lease expired (a dead replica's) are taken over the same way. An executor that loses
// its lease stops the run's steps; one that could not renew it in time
// applies nothing more. Paused runs hold no runner; Resume, RetryStep and
// SkipStep take the lease again.
package executor
