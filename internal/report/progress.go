package report

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/store"
)

// ProgressReader is the part of store.Store a progress view is built from.
type ProgressReader interface {
	GetRun(ctx context.Context, id string) (*store.Run, error)
	Steps(ctx context.Context, runID string) ([]*store.StepState, error)
	Approvals(ctx context.Context, runID string) ([]*store.Approval, error)
	Audit(ctx context.Context, runID string) ([]*store.AuditEvent, error)
}

// stepStatus maps a stored step status to the card's vocabulary.
func stepStatus(s store.StepStatus) string {
	switch s {
	case store.StepChecking, store.StepApplying, store.StepWaiting:
		return "running"
	case "":
		return "pending"
	}
	return string(s)
}

// Progress is a run's progress card (its live state) read from the
// store. rb gives the phases and step names; when it is nil the recorded
// steps are shown in one list.
func Progress(ctx context.Context, st ProgressReader, rb *runbook.Runbook, runID string, now time.Time) (*chat.ProgressView, error) {
	run, err := st.GetRun(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("progress of %s: %w", runID, err)
	}
	states, err := st.Steps(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("progress of %s: steps: %w", runID, err)
	}
	approvals, err := st.Approvals(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("progress of %s: approvals: %w", runID, err)
	}
	v := &chat.ProgressView{RunID: run.ID, Runbook: run.Runbook, Requester: run.Requester, State: string(run.State), StateReason: run.StateReason}
	for _, a := range approvals {
		if a.Gate == "" && a.Decision == store.Approve && a.PlanHash == run.PlanHash {
			v.Approvers = append(v.Approvers, a.User)
		}
	}
	if !run.StartedAt.IsZero() {
		end := now
		if !run.EndedAt.IsZero() {
			end = run.EndedAt
		}
		v.Elapsed = end.Sub(run.StartedAt)
	}
	byID := map[string]*store.StepState{}
	for _, s := range states {
		byID[s.StepID] = s
	}
	if rb != nil {
		v.Expected = rb.ExpectedDuration
		for _, p := range rb.Phases {
			pp := chat.PhaseProgress{Name: cmp.Or(p.Name, p.ID)}
			for _, s := range p.Steps {
				ss := byID[s.ID]
				if s.AlternativeOf != "" && ss == nil {
					continue // an alternative that was not needed
				}
				pp.Steps = append(pp.Steps, stepLine(s.ID, cmp.Or(s.Name, s.ID), ss))
			}
			pp.Status = phaseStatus(pp.Steps)
			v.Phases = append(v.Phases, pp)
		}
	} else {
		slices.SortFunc(states, func(a, b *store.StepState) int {
			return cmp.Or(a.StartedAt.Compare(b.StartedAt), cmp.Compare(a.StepID, b.StepID))
		})
		pp := chat.PhaseProgress{Name: "steps"}
		for _, s := range states {
			pp.Steps = append(pp.Steps, stepLine(s.StepID, s.StepID, s))
		}
		pp.Status = phaseStatus(pp.Steps)
		v.Phases = append(v.Phases, pp)
	}
	v.Current = current(v)
	if run.State == store.RunWaiting {
		if v.Waiting, err = waitingGates(ctx, st, run, rb, states, approvals); err != nil {
			return nil, fmt.Errorf("progress of %s: %w", runID, err)
		}
	}
	return v, nil
}

// waitingGates are the gates a run waits on, with their policy (from the
// gate.waiting record) and the approvals they have.
func waitingGates(ctx context.Context, st ProgressReader, run *store.Run, rb *runbook.Runbook,
	states []*store.StepState, approvals []*store.Approval) ([]chat.GateWait, error) {
	audit, err := st.Audit(ctx, run.ID)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	var out []chat.GateWait
	for _, s := range states {
		if s.Status != store.StepWaiting {
			continue
		}
		p, ok := GatePolicy(audit, s.StepID)
		if !ok {
			continue
		}
		g := chat.GateWait{StepID: s.StepID, Name: s.StepID, Message: p.Message, Required: p.Required,
			Who: AccessWords(p.Groups, p.Users), Request: chat.MessageRef(s.Message)}
		if rb != nil {
			if rs := rb.Step(s.StepID); rs != nil && rs.Name != "" {
				g.Name = rs.Name
			}
		}
		for _, a := range approvals {
			if a.Gate == s.StepID && a.Decision == store.Approve && a.PlanHash == run.PlanHash {
				g.Approved++
			}
		}
		out = append(out, g)
	}
	return out, nil
}

// GatePolicy is the policy of gate stepID's latest wait, from the audit
// trail (its gate.waiting record).
func GatePolicy(audit []*store.AuditEvent, stepID string) (steps.ApprovalPolicy, bool) {
	var p steps.ApprovalPolicy
	found := false
	for _, e := range audit {
		if e.StepID == stepID && e.Type == string(events.GateWaiting) {
			var q steps.ApprovalPolicy
			if json.Unmarshal([]byte(e.Data["policy"]), &q) == nil {
				p, found = q, true
			}
		}
	}
	return p, found
}

// AccessWords says who may approve: "group dba or user U1"; "the
// runbook's approvers" when both are empty.
func AccessWords(groups, users []string) string {
	var parts []string
	for _, g := range groups {
		parts = append(parts, "group "+g)
	}
	for _, u := range users {
		parts = append(parts, "user "+u)
	}
	if len(parts) == 0 {
		return "the runbook's approvers"
	}
	return strings.Join(parts, " or ")
}

func stepLine(id, name string, s *store.StepState) chat.StepProgress {
	sp := chat.StepProgress{ID: id, Name: name, Status: "pending"}
	if s != nil {
		sp.Status = stepStatus(s.Status)
		sp.Summary = s.Summary
		if s.Status == store.StepFailed && s.Error != "" {
			sp.Summary = s.Error
		}
		if s.AlreadyDone && s.Status == store.StepDone {
			sp.Summary = "already done: " + s.Summary
		}
	}
	return sp
}

// phaseStatus: failed if a step failed; running while some steps are
// done or running and others are not; skipped if every step was skipped;
// done when all are finished.
func phaseStatus(steps []chat.StepProgress) string {
	if len(steps) == 0 {
		return "pending"
	}
	var pending, running, finished, skipped, failed int
	for _, s := range steps {
		switch s.Status {
		case "failed":
			failed++
		case "running":
			running++
		case "skipped":
			skipped++
			finished++
		case "done", "replaced":
			finished++
		default:
			pending++
		}
	}
	switch {
	case failed > 0:
		return "failed"
	case skipped == len(steps):
		return "skipped"
	case finished == len(steps):
		return "done"
	case running > 0 || finished > 0:
		return "running"
	}
	return "pending"
}

func current(v *chat.ProgressView) string {
	for _, p := range v.Phases {
		for _, s := range p.Steps {
			switch s.Status {
			case "running":
				return p.Name + " › " + s.Name
			case "failed":
				return p.Name + " › " + s.Name + " (failed)"
			}
		}
	}
	return ""
}
