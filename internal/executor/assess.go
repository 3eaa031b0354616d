package executor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps"
)

// Check is the result of one assessment check.
type Check struct {
	ID       string
	Name     string
	OK       bool
	Summary  string
	Error    string
	Duration time.Duration
	// Outputs are the check's named outputs (postgres.replicationLag:
	// lag, bytes), scrubbed.
	Outputs map[string]string
	// NotRun: the check could not run at all (it could not be built; Error
	// says why). An assessment with such a check is never go.
	NotRun bool
}

// Assessment is the go/no-go answer of a runbook's assessment.
type Assessment struct {
	Runbook string
	// Go is true when every check passed.
	Go     bool
	Checks []Check
	Took   time.Duration
}

// Assess runs every assessment check of the runbook at once, each under its
// own deadline (the check's timeout, else CheckTimeout); a check that does
// not answer is reported failed when its deadline passes, even if it
// ignores its context. The answer is go when every check passed. Checks
// only observe: Apply is never called.
func (p *Planner) Assess(ctx context.Context, rb *runbook.Runbook) Assessment {
	p.setDefaults()
	start := p.Now()
	view := Assessment{Runbook: rb.Name, Checks: make([]Check, len(rb.Assess))}
	vars := runbook.Vars{Params: rb.ParamsWithDefaults(nil), Outputs: map[string]map[string]string{}}
	var wg sync.WaitGroup
	for i, s := range rb.Assess {
		wg.Go(func() { view.Checks[i] = p.assessOne(ctx, s, vars) })
	}
	var access []Check
	if p.Access != nil {
		wg.Go(func() {
			cctx, cancel := context.WithTimeoutCause(ctx, p.CheckTimeout, fmt.Errorf("checking permissions took over %s", p.CheckTimeout))
			defer cancel()
			access = p.Access.CheckAccess(cctx, rb)
		})
	}
	wg.Wait()
	for _, c := range access {
		c.Summary, c.Error = p.scrub(c.Summary), p.scrub(c.Error)
		view.Checks = append(view.Checks, c)
	}
	view.Go = true
	for _, c := range view.Checks {
		view.Go = view.Go && c.OK && !c.NotRun
	}
	view.Took = p.Now().Sub(start)
	return view
}

func (p *Planner) assessOne(ctx context.Context, s *runbook.Step, vars runbook.Vars) Check {
	start := p.Now()
	out := Check{ID: s.ID, Name: s.Name}
	if out.Name == "" {
		out.Name = s.ID
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = p.CheckTimeout
	}
	cctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("no answer within %s", timeout))
	defer cancel()
	res, err := p.checkOnce(cctx, s, vars)
	out.Duration = p.Now().Sub(start)
	if be := (*buildError)(nil); errors.As(err, &be) {
		out.NotRun = true
		out.Error = p.scrub("could not run: " + buildReason(s, be.err))
		return out
	}
	if err != nil {
		out.Error = p.scrub(err.Error())
		return out
	}
	out.OK = res.Done
	out.Summary = p.scrub(res.Summary)
	if len(res.Outputs) > 0 {
		// Shown on the assessment card (e.g. the replication lag as the
		// expected data loss): scrubbed like every displayed value.
		out.Outputs = make(map[string]string, len(res.Outputs))
		for k, v := range res.Outputs {
			out.Outputs[k] = p.scrub(v)
		}
	}
	return out
}

// checkOnce builds the step and calls Check once, both guarded by ctx.
func (p *Planner) checkOnce(ctx context.Context, s *runbook.Step, vars runbook.Vars) (steps.Result, error) {
	if s.Factory == nil {
		return steps.Result{}, fmt.Errorf("step %s has no factory", s.ID)
	}
	inst, err := buildStep(ctx, p.Logger, p.Redactor, s, vars)
	if err != nil {
		return steps.Result{}, buildFailed(err)
	}
	defer closeStep(inst, p.Logger, p.Redactor, s.ID)
	res, err := guard(ctx, "check", inst.Check)
	if err != nil {
		return steps.Result{}, fmt.Errorf("check: %w", err)
	}
	return res, nil
}
