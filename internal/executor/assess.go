package executor

import (
	"context"
	"fmt"
	"sync"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps"
)

// Assess runs every assessment check of the runbook at once, each under its
// own deadline (the check's timeout, else Config.CheckTimeout); a check
// that does not answer is reported failed when its deadline passes, even if
// it ignores its context. The answer is go when every check passed.
// Checks only observe: Apply is never called.
func (e *Executor) Assess(ctx context.Context, rb *runbook.Runbook) chat.AssessView {
	start := e.cfg.Now()
	view := chat.AssessView{Runbook: rb.Name, Checks: make([]chat.CheckResult, len(rb.Assess))}
	vars := runbook.Vars{Params: paramsWithDefaults(rb, nil), Outputs: map[string]map[string]string{}}
	var wg sync.WaitGroup
	for i, s := range rb.Assess {
		wg.Go(func() { view.Checks[i] = e.assessOne(ctx, s, vars) })
	}
	wg.Wait()
	view.Go = true
	for _, c := range view.Checks {
		view.Go = view.Go && c.OK
	}
	view.Took = e.cfg.Now().Sub(start)
	return view
}

func (e *Executor) assessOne(ctx context.Context, s *runbook.Step, vars runbook.Vars) chat.CheckResult {
	start := e.cfg.Now()
	out := chat.CheckResult{ID: s.ID, Name: s.Name}
	if out.Name == "" {
		out.Name = s.ID
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = e.cfg.CheckTimeout
	}
	cctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("no answer within %s", timeout))
	defer cancel()
	res, err := e.checkOnce(cctx, s, vars)
	out.Duration = e.cfg.Now().Sub(start)
	if err != nil {
		out.Error = e.scrub(err.Error())
		return out
	}
	out.OK = res.Done
	out.Summary = e.scrub(res.Summary)
	if len(res.Outputs) > 0 {
		// Shown on the assessment card (e.g. the replication lag as the
		// expected data loss): scrubbed like every displayed value.
		out.Outputs = make(map[string]string, len(res.Outputs))
		for k, v := range res.Outputs {
			out.Outputs[k] = e.scrub(v)
		}
	}
	return out
}

// checkOnce builds the step and calls Check once, both guarded by ctx.
func (e *Executor) checkOnce(ctx context.Context, s *runbook.Step, vars runbook.Vars) (steps.Result, error) {
	if s.Factory == nil {
		return steps.Result{}, fmt.Errorf("step %s has no factory", s.ID)
	}
	inst, err := buildStep(ctx, e, s, vars)
	if err != nil {
		return steps.Result{}, fmt.Errorf("build step: %w", err)
	}
	defer closeStep(inst, e, s.ID)
	res, err := guard(ctx, "check", inst.Check)
	if err != nil {
		return steps.Result{}, fmt.Errorf("check: %w", err)
	}
	return res, nil
}
