package commands

import (
	"maps"
	"slices"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/executor"
)

// The executor speaks its own types; the chat adapters render chat views.

// AssessView is the go/no-go card of an assessment.
func AssessView(a executor.Assessment) *chat.AssessView {
	v := &chat.AssessView{Runbook: a.Runbook, Go: a.Go, Took: a.Took, Checks: make([]chat.CheckResult, len(a.Checks))}
	for i, c := range a.Checks {
		v.Checks[i] = chat.CheckResult{ID: c.ID, Name: c.Name, OK: c.OK, Summary: c.Summary, Error: c.Error,
			Duration: c.Duration, Outputs: c.Outputs, NotRun: c.NotRun}
	}
	return v
}

// PlanSteps are the lines of a dry run.
func PlanSteps(p executor.Plan) []chat.PlanStep {
	out := make([]chat.PlanStep, len(p.Steps))
	for i, s := range p.Steps {
		out[i] = chat.PlanStep{Phase: s.Phase, StepID: s.StepID, Name: s.Name, Kind: s.Kind, Verdict: s.Verdict, Summary: s.Summary}
	}
	return out
}

// PreflightView is the preflight section of a plan.
func PreflightView(p executor.Preflight) *chat.PreflightView {
	v := &chat.PreflightView{Checked: p.Checked, Partial: slices.Sorted(maps.Keys(p.Partial))}
	for _, pr := range p.Problems {
		v.Problems = append(v.Problems, chat.PreflightProblem{StepID: pr.StepID, Kind: pr.Kind, Reason: pr.Reason})
	}
	return v
}
