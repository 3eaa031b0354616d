// Package report builds a run's timeline from the store — who asked, who
// approved when (the start and every gate inside the run), the assessment
// recorded with the plan, each phase and step with its timings, waits,
// retries and outcome, every notification sent or given up (the delivery
// log), the operator's commands and refusals — with the measured RTO (run
// start → last step done) and RPO (replication lag at promotion). One
// Timeline gives the Markdown (text.go) and the chart (picture.go, drawn by
// report/chart), so that the two always agree.
package report

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
)

// Precision is how finely durations are shown.
const Precision = 10 * time.Millisecond

// Reader is the part of store.Store a report reads. A Reader that is also
// a DeliveryReader (both store backends are) gives the report its
// notifications.
type Reader interface {
	GetRun(ctx context.Context, id string) (*store.Run, error)
	Steps(ctx context.Context, runID string) ([]*store.StepState, error)
	Approvals(ctx context.Context, runID string) ([]*store.Approval, error)
	Audit(ctx context.Context, runID string) ([]*store.AuditEvent, error)
}

// DeliveryReader reads the notification delivery log (store.DeliveryLog).
type DeliveryReader interface {
	Deliveries(ctx context.Context, runID string) ([]*store.Delivery, error)
}

// SelfNotifier is the name the notifier that publishes the report has in
// the delivery log: its own rows are not notifications of the run, and the
// report leaves them out (so that it reads the same before and after it is
// published).
const SelfNotifier = "report"

// Span is a stretch of time; the zero Span is none.
type Span struct{ Start, End time.Time }

// IsZero says the span is unset.
func (s Span) IsZero() bool { return s.Start.IsZero() && s.End.IsZero() }

// Duration is End-Start (0 when either is unset).
func (s Span) Duration() time.Duration {
	if s.Start.IsZero() || s.End.IsZero() {
		return 0
	}
	return s.End.Sub(s.Start)
}

// Step is one step's line of the timeline.
type Step struct {
	ID, Name, Phase, Kind string
	// PhaseName is the runbook's name of Phase ("" without the runbook).
	PhaseName   string
	Status      store.StepStatus
	Attempts    int
	AlreadyDone bool
	Start, End  time.Time
	// Summary and Error are as stored (scrubbed by the executor).
	Summary, Error string
	Outputs        map[string]string
	// Wait is the wait for Check to say done after the last Apply (for a
	// gate, the wait for its approvers); zero when the step did not wait.
	Wait Span
	// Retries are the transient errors retried: each from the failed call
	// to the step's next recorded transition (the backoff and the call
	// after it).
	Retries []Span
	// Gate: the step is an approval inside the run (gate.waiting recorded).
	Gate bool
}

// Duration is End-Start, or 0 when the step has not ended.
func (s Step) Duration() time.Duration { return Span{s.Start, s.End}.Duration() }

// Phase is one phase's line of the timeline.
type Phase struct {
	ID, Name string
	// Status: done, failed, running, skipped or pending.
	Status     string
	Start, End time.Time
	Steps      int
}

// Assessment is the go/no-go assessment the plan was approved with, as
// the run's request recorded it.
type Assessment struct {
	// At is when the plan (with its assessment) was recorded.
	At   time.Time
	View chat.AssessView
	// ExpectedDataLoss is the replication lag at planning ("" if none).
	ExpectedDataLoss string
}

// Delivery is one notification of the run, from the delivery log.
type Delivery struct {
	Notifier string
	// Event is what was notified (the audit type: run.started,
	// phase.done), Subject its phase or step.
	Event, Subject string
	Status         store.DeliveryStatus
	Attempts       int
	// Error is the last error (scrubbed when it was logged).
	Error               string
	QueuedAt, UpdatedAt time.Time
}

// Timeline is a run's history.
type Timeline struct {
	Run *store.Run
	// Approvals are the decisions on the start request and on the gates
	// (Approval.Gate), oldest first.
	Approvals []*store.Approval
	Phases    []Phase
	Steps     []Step
	// Assessment is nil when the run's request recorded none.
	Assessment *Assessment
	// Deliveries are the run's notifications (without the report's own);
	// DeliveriesKnown is false when no delivery log was read.
	Deliveries      []Delivery
	DeliveriesKnown bool
	// Events are the run-level audit events (requests, decisions, gates,
	// refusals, operator commands), in order.
	Events []*store.AuditEvent
	// RTO is the run start → last step done; RTOMeasured is false when
	// the run has not succeeded.
	RTO         time.Duration
	RTOMeasured bool
	// RPO is the replication lag at promotion as the step reported it
	// ("1.2s"), and RPOStep the step that measured it; "" when unknown.
	RPO     string
	RPOStep string
}

// Build reads the run's timeline. rb, when not nil, gives the steps'
// names, phases, kinds and order.
func Build(ctx context.Context, st Reader, runID string, rb *runbook.Runbook) (*Timeline, error) {
	run, err := st.GetRun(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("report %s: %w", runID, err)
	}
	states, err := st.Steps(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("report %s: steps: %w", runID, err)
	}
	approvals, err := st.Approvals(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("report %s: approvals: %w", runID, err)
	}
	audit, err := st.Audit(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("report %s: audit trail: %w", runID, err)
	}
	t := &Timeline{Run: run, Approvals: approvals}
	byStep := map[string][]*store.AuditEvent{}
	for _, e := range audit {
		if e.StepID != "" {
			byStep[e.StepID] = append(byStep[e.StepID], e)
		}
		if isRunLevel(e) {
			t.Events = append(t.Events, e)
		}
	}
	t.Steps = orderSteps(states, rb)
	for i := range t.Steps {
		t.Steps[i].spans(byStep[t.Steps[i].ID])
	}
	t.Phases = phases(t.Steps, audit, rb)
	t.Assessment = assessment(audit)
	if dr, ok := st.(DeliveryReader); ok {
		ds, err := dr.Deliveries(ctx, runID)
		if err != nil {
			return nil, fmt.Errorf("report %s: delivery log: %w", runID, err)
		}
		t.Deliveries, t.DeliveriesKnown = deliveries(ds, audit), true
	}
	t.measure()
	return t, nil
}

// isRunLevel: the events of the audit trail section — the run's lifecycle,
// approvals and gates, commands and refusals, and what an operator did to
// a step (retry, skip).
func isRunLevel(e *store.AuditEvent) bool {
	for _, p := range []string{"run.", "approval.", "command.", "gate."} {
		if strings.HasPrefix(e.Type, p) {
			return true
		}
	}
	return e.Type == "step.retry" || (e.Type == "step.skipped" && e.Actor != "" && e.Actor != "bot")
}

// orderSteps lists the recorded steps in runbook order (unknown ones last,
// by start time).
func orderSteps(states []*store.StepState, rb *runbook.Runbook) []Step {
	byID := map[string]*store.StepState{}
	for _, s := range states {
		byID[s.StepID] = s
	}
	var out []Step
	mk := func(s *store.StepState, rs *runbook.Step) Step {
		st := Step{ID: s.StepID, Status: s.Status, Attempts: s.Attempts, AlreadyDone: s.AlreadyDone,
			Start: s.StartedAt, End: s.EndedAt, Summary: s.Summary, Error: s.Error, Outputs: s.Outputs}
		if rs != nil {
			st.Name, st.Phase, st.Kind = rs.Name, rs.Phase, rs.Kind
			for _, p := range rb.Phases {
				if p.ID == rs.Phase {
					st.PhaseName = p.Name
				}
			}
		}
		return st
	}
	if rb != nil {
		for _, rs := range rb.AllSteps() {
			if s := byID[rs.ID]; s != nil {
				out = append(out, mk(s, rs))
				delete(byID, rs.ID)
			}
		}
	}
	var rest []*store.StepState
	for _, s := range byID {
		rest = append(rest, s)
	}
	slices.SortFunc(rest, func(a, b *store.StepState) int {
		return cmp.Or(a.StartedAt.Compare(b.StartedAt), cmp.Compare(a.StepID, b.StepID))
	})
	for _, s := range rest {
		out = append(out, mk(s, nil))
	}
	return out
}

func (t *Timeline) measure() {
	if t.Run.State == store.RunSucceeded && !t.Run.StartedAt.IsZero() {
		var last time.Time
		for _, s := range t.Steps {
			if s.Status == store.StepDone && s.End.After(last) {
				last = s.End
			}
		}
		if last.IsZero() {
			last = t.Run.EndedAt
		}
		if !last.IsZero() {
			t.RTO, t.RTOMeasured = last.Sub(t.Run.StartedAt), true
		}
	}
	// RPO: the lag the promotion itself measured, else the last lag
	// measured before the promotion, else the last lag measured at all.
	var promoteStart time.Time
	for _, s := range t.Steps {
		if v := s.Outputs["lagAtPromotion"]; v != "" && (s.Kind == "" || s.Kind == "postgres.promote") {
			t.RPO, t.RPOStep = v, s.ID
			return
		}
		if s.Kind == "postgres.promote" {
			promoteStart = s.Start
		}
	}
	var before, anyLag *Step
	for i := range t.Steps {
		s := &t.Steps[i]
		if s.Outputs["lag"] == "" || (s.Kind != "" && s.Kind != "postgres.replicationLag") {
			continue
		}
		anyLag = s
		if promoteStart.IsZero() || !s.End.After(promoteStart) {
			before = s
		}
	}
	if before == nil {
		before = anyLag
	}
	if before != nil {
		t.RPO, t.RPOStep = before.Outputs["lag"], before.ID
	}
}

// Dur formats a duration for people: 1.23s, 450ms, 2m3.5s.
func Dur(d time.Duration) string {
	return chat.FormatDuration(d, Precision)
}
