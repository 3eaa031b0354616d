// Package chat is the transport-neutral boundary between chat adapters
// (chat/slack, chat/console) and the commands package. Adapters turn their
// transport's events into Request, Reaction and Action values and render
// Message values; nothing below the adapters imports a chat SDK.
package chat

import (
	"context"
	"time"
)

// User is the person (or bot) behind an event.
type User struct {
	ID   string
	Name string
	// IsBot is true for bots and apps: they never count as approvers.
	IsBot bool
}

// MessageRef points at a posted message (Slack: channel + ts).
type MessageRef struct {
	Channel string
	TS      string
}

// Request is one `/failover …` command.
type Request struct {
	User    User
	Channel string
	// Text is what follows the command name: "start lab reason words".
	Text string
}

// Reaction is an emoji added to, or removed from, a message.
type Reaction struct {
	// EventID deduplicates redelivered events ("" when the transport has none).
	EventID string
	User    User
	Message MessageRef
	Emoji   string // without colons: "white_check_mark"
	Added   bool
}

// Action is a button press on a message the bot posted.
type Action struct {
	User     User
	Message  MessageRef
	ActionID string // approve, reject, retry, skip, abort
	Value    string // the run ID, or "runID/stepID"
}

// Message is what the bot says. Text is the plain fallback; View, when set,
// is one of the *View types below, which each adapter renders in its own
// way (Block Kit, terminal text).
type Message struct {
	Text string
	View any
	// Error marks a reply that reports a failure (bad usage, a refusal,
	// an unknown run): adapters may style it, and the console's script
	// mode fails on it.
	Error bool
}

// Poster posts and edits messages. Implemented by each adapter.
type Poster interface {
	Post(ctx context.Context, channel string, m Message) (MessageRef, error)
	Update(ctx context.Context, ref MessageRef, m Message) error
	// Reply posts into the thread of ref.
	Reply(ctx context.Context, thread MessageRef, m Message) (MessageRef, error)
	// Ephemeral shows m to one user only.
	Ephemeral(ctx context.Context, channel, userID string, m Message) error
}

// Responder answers the person who sent a Request.
type Responder interface {
	// Respond is visible to everyone in the channel.
	Respond(ctx context.Context, m Message) error
	// Ephemeral is visible to the requester only (usage errors, refusals).
	Ephemeral(ctx context.Context, m Message) error
}

// Handler is implemented by the commands package and called by adapters.
type Handler interface {
	HandleCommand(ctx context.Context, req Request, out Responder)
	HandleReaction(ctx context.Context, r Reaction)
	HandleAction(ctx context.Context, a Action)
}

// RunStatus is what an adapter may ask about a run, e.g. the console's
// /approve (which message to react to) and /wait (has it stopped).
type RunStatus struct {
	ID string
	// State is the run's state (pending_approval, running, paused, …) and
	// Reason why it is in it.
	State  string
	Reason string
	// Approval is the message approvals of the run are given on (its plan
	// message; "" TS when there is none).
	Approval MessageRef
	// Stopped: the run ended or paused; Succeeded: it ended well.
	Stopped   bool
	Succeeded bool
	// AwaitingApproval: the run waits for people to approve a gate, whose
	// request (Approval) is posted.
	AwaitingApproval bool
}

// CheckResult is one assessment check.
type CheckResult struct {
	ID       string
	Name     string
	OK       bool
	Summary  string
	Error    string
	Duration time.Duration
	// Outputs are the check's named outputs (postgres.replicationLag:
	// lag, bytes), when the executor passes them on.
	Outputs map[string]string
	// NotRun: the check could not run at all (it could not be built);
	// Error says why. An assessment with such a check is never GO.
	NotRun bool
}

// PreflightProblem is a step that could never run: the run must not start.
type PreflightProblem struct {
	StepID string
	Kind   string
	Reason string
}

// PreflightView is what the preflight of a run found: every step and
// check built before anyone approves.
type PreflightView struct {
	// Checked counts the steps and checks built.
	Checked  int
	Problems []PreflightProblem
	// Partial are the steps checked in part: the rest of their config
	// waits for earlier steps' outputs and is checked just before they run.
	Partial []string
}

// AssessView is the go/no-go card of `/failover assess`.
type AssessView struct {
	Runbook string
	Go      bool
	Checks  []CheckResult
	Took    time.Duration
}

// PlanStep is one line of a dry run.
type PlanStep struct {
	Phase   string
	StepID  string
	Name    string
	Kind    string
	Verdict string // "will change", "already done", "unknown until <step> runs", "cannot tell: <err>"
	Summary string
}

// PlanView is the plan posted by `start` (and `plan`) that approvers react to.
type PlanView struct {
	RunID     string
	Runbook   string
	Requester string
	Reason    string
	PlanHash  string
	Params    map[string]string
	// Overlay, if set, is the connections overlay the runbook was loaded
	// with ("lab (runbooks/overlays/lab.yaml): dr_cluster.context=lab-dr"):
	// the plan runs against that environment.
	Overlay string
	Steps   []PlanStep
	// Assessment, if any, was run just before the plan.
	Assessment *AssessView
	// Preflight, if any, was run with the plan.
	Preflight *PreflightView
	// ExpectedDataLoss is the replication lag at planning time ("1.2s").
	ExpectedDataLoss string
	Approvers        []string
	Required         int
	ExpiresAt        time.Time
	// State: pending, approved, rejected, expired ("" for a plain plan).
	State string
	// ApproveEmoji and RejectEmoji are the reactions that approve and
	// reject ("" for white_check_mark and x).
	ApproveEmoji, RejectEmoji string
}

// GateView is the approval request of a gate step (an approval inside a
// run), posted in the run's thread: people react ✅/❌ or press
// Approve/Reject (buttons valued "runID/stepID").
type GateView struct {
	RunID   string
	Runbook string
	StepID  string
	Name    string
	// Message says what the approvers must do or check.
	Message   string
	Required  int
	Approvers []string
	// Who may approve, in words ("group dba, not the requester").
	Who       string
	ExpiresAt time.Time
	// State: waiting, approved, rejected, expired.
	State string
	// ApproveEmoji and RejectEmoji ("" for white_check_mark and x).
	ApproveEmoji, RejectEmoji string
}

// GateWait is a gate a run waits on, as the progress card shows it.
type GateWait struct {
	StepID   string
	Name     string
	Message  string
	Required int
	Approved int
	// Who may approve ("group dba").
	Who string
	// Request is the message approvals are given on ("" TS until posted).
	Request MessageRef
}

// StepProgress is one step's line on the progress card.
type StepProgress struct {
	ID      string
	Name    string
	Status  string // pending, running, done, failed, skipped, replaced
	Summary string
}

// PhaseProgress is one phase's line on the progress card.
type PhaseProgress struct {
	Name   string
	Status string // pending, running, done, failed, skipped
	Steps  []StepProgress
}

// ProgressView is the live progress card of a run.
type ProgressView struct {
	RunID       string
	Runbook     string
	Requester   string
	Approvers   []string
	State       string
	StateReason string
	Phases      []PhaseProgress
	Current     string
	Elapsed     time.Duration
	Expected    time.Duration
	// Waiting are the gates the run waits on (state waiting_approval).
	Waiting []GateWait
}

// StepFailedView is posted in the card's thread when a step fails; it
// offers Retry / Skip / Abort.
type StepFailedView struct {
	RunID  string
	StepID string
	Error  string
}

// DocumentView is a long document, such as a run's report: a title and
// Markdown (plain lines, with aligned tables in ``` code blocks) kept as one
// value. Adapters show it whole — Slack over several messages when it is
// longer than one — and never cut it. Filename names it as a file, for the
// adapters that upload it as one.
type DocumentView struct {
	Title    string
	Filename string
	Markdown string
}

// FormatDuration formats a duration for people: under a second to the
// millisecond ("450ms"), above it rounded to precision ("2m3.5s"). Each
// renderer picks the precision that suits its medium.
func FormatDuration(d, precision time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(precision).String()
	}
}
