// Package report builds a run's timeline from the store — who asked, who
// approved when, each step with its timings, attempts and outcome — with
// the measured RTO (run start → last step done) and RPO (replication lag
// at promotion), and renders it as text.
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

// Reader is the part of store.Store a report reads.
type Reader interface {
	GetRun(ctx context.Context, id string) (*store.Run, error)
	Steps(ctx context.Context, runID string) ([]*store.StepState, error)
	Approvals(ctx context.Context, runID string) ([]*store.Approval, error)
	Audit(ctx context.Context, runID string) ([]*store.AuditEvent, error)
}

// Step is one step's line of the timeline.
type Step struct {
	ID, Name, Phase, Kind string
	Status                store.StepStatus
	Attempts              int
	AlreadyDone           bool
	Start, End            time.Time
	Summary, Error        string
	Outputs               map[string]string
}

// Duration is End-Start, or 0 when the step has not ended.
func (s Step) Duration() time.Duration {
	if s.Start.IsZero() || s.End.IsZero() {
		return 0
	}
	return s.End.Sub(s.Start)
}

// Timeline is a run's history.
type Timeline struct {
	Run       *store.Run
	Approvals []*store.Approval
	Steps     []Step
	// Events are the run-level audit events (requests, decisions, refusals,
	// operator commands), in order.
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
	for _, e := range audit {
		if isRunLevel(e.Type) {
			t.Events = append(t.Events, e)
		}
	}
	t.Steps = orderSteps(states, rb)
	t.measure()
	return t, nil
}

func isRunLevel(typ string) bool {
	for _, p := range []string{"run.", "approval.", "command."} {
		if strings.HasPrefix(typ, p) {
			return true
		}
	}
	return false
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
