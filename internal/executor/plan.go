package executor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"

	"github.com/failoverbot/failoverbot/internal/runbook"
)

// Plan is the dry run of a runbook for a set of parameters.
type Plan struct {
	Runbook string
	// Params are the bound parameters (defaults filled).
	Params map[string]string
	// Hash is the plan hash a run with these parameters is bound to.
	Hash string
	// Steps are the phase steps in order, each with its verdict.
	Steps []PlanStep
}

// PlanStep is one step of a dry run.
type PlanStep struct {
	Phase  string
	StepID string
	Name   string
	Kind   string
	// Verdict is one of the Verdict constants, or "unknown until <step>
	// runs" (naming the step it directly depends on), "cannot tell:
	// <error>", "only if <step> fails".
	Verdict string
	// Summary is what the step's Check observed (scrubbed).
	Summary string
}

// Verdicts of a dry run (PlanStep.Verdict). Unknown and cannot-tell
// verdicts carry details: "unknown until <step> runs", "cannot tell: <err>".
const (
	VerdictWillChange  = "will change"
	VerdictAlreadyDone = "already done"
	VerdictSkipped     = "skipped: its when condition is false"
	// VerdictWillWait is for a read-only step (a probe, a gate) whose
	// condition does not hold yet: the run will wait for it.
	VerdictWillWait = "will wait until it passes"
	// VerdictUntilStart is for a step whose templates use values of the
	// run ({{ .run.id }}, …), which a plan, made before the run exists,
	// does not have.
	VerdictUntilStart = "unknown until the run starts"
)

type verdictKind int

const (
	vWillChange verdictKind = iota
	vDone
	vUnknown
	vCannotTell
	vSkipped
	vAlternative
	vWillWait
	vUntilStart
)

type planResult struct {
	kind    verdictKind
	root    string // for vUnknown: the step whose run decides
	detail  string
	summary string
	outputs map[string]string
}

// Plan checks every phase step without applying anything and says, per
// step, whether it will change something, is already done, cannot be known
// until an earlier step runs (its templates need that step's outputs, or it
// needs a step that will change), or cannot be told (the Check failed).
// Steps are checked in parallel as far as their needs (and the outputs their
// templates use) allow, each Check bounded by Config.CheckTimeout, so that
// checks that hang cost one timeout, not one per phase. Alternative steps are not checked:
// they only run if their step fails. Plan fails only on bad parameters.
func (pl *Planner) Plan(ctx context.Context, rb *runbook.Runbook, params map[string]string) (Plan, error) {
	pl.setDefaults()
	bound, err := rb.BindParams(params)
	if err != nil {
		return Plan{}, fmt.Errorf("plan %s: %w", rb.Name, err)
	}
	hash, err := pl.Hash(rb, bound)
	if err != nil {
		return Plan{}, fmt.Errorf("plan %s: %w", rb.Name, err)
	}
	p := Plan{Runbook: rb.Name, Params: bound, Hash: hash}
	all := rb.AllSteps()
	var mu sync.Mutex
	results := map[string]*planResult{}
	done := map[string]chan struct{}{}
	for _, s := range all {
		done[s.ID] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for i, s := range all {
		earlier := all[:i]
		wg.Go(func() {
			defer close(done[s.ID])
			for _, id := range s.Needs {
				if ch := done[id]; ch != nil {
					<-ch
				}
			}
			for {
				mu.Lock()
				prior := maps.Clone(results)
				mu.Unlock()
				r, waitFor := pl.planStep(ctx, rb, s, earlier, bound, prior)
				if waitFor == "" {
					mu.Lock()
					results[s.ID] = r
					mu.Unlock()
					return
				}
				// Its templates need the outputs of a step still being
				// checked: wait for that one, then try again.
				<-done[waitFor]
			}
		})
	}
	wg.Wait()
	for _, s := range all {
		r := results[s.ID]
		ps := PlanStep{Phase: s.Phase, StepID: s.ID, Name: s.Name, Kind: s.Kind, Summary: pl.scrub(r.summary)}
		switch r.kind {
		case vWillChange:
			ps.Verdict = VerdictWillChange
		case vDone:
			ps.Verdict = VerdictAlreadyDone
		case vUnknown:
			ps.Verdict = "unknown until " + r.root + " runs"
		case vCannotTell:
			ps.Verdict = "cannot tell: " + pl.scrub(r.detail)
		case vSkipped:
			ps.Verdict = VerdictSkipped
		case vAlternative:
			ps.Verdict = "only if " + s.AlternativeOf + " fails"
		case vWillWait:
			ps.Verdict = VerdictWillWait
		case vUntilStart:
			ps.Verdict = VerdictUntilStart
		}
		p.Steps = append(p.Steps, ps)
	}
	return p, nil
}

// planStep gives one step's verdict from the verdicts of the steps already
// planned (prior). When the step's templates name a step of earlier that
// is still being planned, it returns that step's ID to wait for instead.
func (pl *Planner) planStep(ctx context.Context, rb *runbook.Runbook, s *runbook.Step, earlier []*runbook.Step,
	params map[string]string, prior map[string]*planResult) (*planResult, string) {
	if s.AlternativeOf != "" {
		return &planResult{kind: vAlternative}, ""
	}
	for _, n := range s.Needs {
		switch r := prior[n]; {
		case r == nil:
		case r.kind == vUnknown || r.kind == vUntilStart || r.kind == vWillChange || r.kind == vCannotTell:
			// The step it needs decides: named, not the earliest one
			// behind it, so that the plan reads as the runbook.
			return &planResult{kind: vUnknown, root: n}, ""
		}
	}
	vars := runbook.Vars{Params: params, Outputs: map[string]map[string]string{}, Now: pl.Now()}
	for id, r := range prior {
		if r.kind == vDone {
			vars.Outputs[id] = maps.Clone(r.outputs)
		}
	}
	// An error naming an earlier step whose outputs are not known means
	// the step depends on that step's run (or, while that step is still
	// being planned, on its verdict).
	unknownFrom := func(err error) (*planResult, string) {
		msg := err.Error()
		for _, o := range earlier {
			if !mentions(msg, o.ID) {
				continue
			}
			r := prior[o.ID]
			switch {
			case r == nil && !dependsOn(rb, o.ID, s.ID):
				return nil, o.ID
			case r == nil:
				return &planResult{kind: vUnknown, root: o.ID}, ""
			case r.kind == vDone:
				continue
			}
			return &planResult{kind: vUnknown, root: o.ID}, ""
		}
		if errors.Is(err, runbook.ErrRunNotStarted) {
			return &planResult{kind: vUntilStart}, ""
		}
		return &planResult{kind: vCannotTell, detail: msg}, ""
	}
	if s.When != nil {
		ok, err := s.When(vars)
		if err != nil {
			return unknownFrom(fmt.Errorf("evaluate when: %w", err))
		}
		if !ok {
			return &planResult{kind: vSkipped}, ""
		}
	}
	timeout := pl.CheckTimeout
	if s.Timeout > 0 && s.Timeout < timeout {
		timeout = s.Timeout
	}
	cctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("no answer within %s", timeout))
	defer cancel()
	res, err := pl.checkOnce(cctx, s, vars)
	if err != nil {
		if be := (*buildError)(nil); errors.As(err, &be) && !errors.Is(err, context.DeadlineExceeded) {
			return unknownFrom(err)
		}
		return &planResult{kind: vCannotTell, detail: err.Error()}, ""
	}
	switch {
	case res.Done:
		return &planResult{kind: vDone, summary: res.Summary, outputs: res.Outputs}, ""
	case s.ReadOnly:
		// Nothing will change, so the steps after it can be told now.
		return &planResult{kind: vWillWait, summary: res.Summary}, ""
	}
	return &planResult{kind: vWillChange, summary: res.Summary}, ""
}

// dependsOn reports whether step from needs step to, directly or through
// other steps (waiting for from would then never end).
func dependsOn(rb *runbook.Runbook, from, to string) bool {
	seen := map[string]bool{}
	var walk func(id string) bool
	walk = func(id string) bool {
		if id == to {
			return true
		}
		if seen[id] {
			return false
		}
		seen[id] = true
		if s := rb.Step(id); s != nil {
			for _, n := range s.Needs {
				if walk(n) {
					return true
				}
			}
		}
		return false
	}
	return walk(from)
}

// mentions reports whether a template error is about step id's outputs,
// as text/template words it (`<.steps.id.outputs.x>: map has no entry for
// key "id"`).
func mentions(msg, id string) bool {
	return strings.Contains(msg, ".steps."+id+".") || strings.Contains(msg, `no entry for key "`+id+`"`)
}
