package executor

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/failoverbot/failoverbot/internal/runbook"
)

// Problem is something a preflight found that would stop a run midway.
type Problem struct {
	// Phase is the step's phase ("" for an assessment check).
	Phase  string
	StepID string
	Kind   string
	// Reason says what is wrong (scrubbed).
	Reason string
}

// Preflight is what a run's preflight found: a run with problems must not
// start, since it could never finish.
type Preflight struct {
	// Checked counts the steps and checks preflighted.
	Checked int
	// Problems are in runbook order: assessment checks, then phase steps.
	Problems []Problem
	// Partial maps the steps checked only in part to the steps whose
	// outputs the rest of their config waits for; they are built whole
	// just before they run.
	Partial map[string][]string
}

// OK reports whether nothing was found.
func (p Preflight) OK() bool { return len(p.Problems) == 0 }

// String lists the problems, one per line: "step (kind): reason".
func (p Preflight) String() string {
	var b strings.Builder
	for _, pr := range p.Problems {
		fmt.Fprintf(&b, "%s (%s): %s\n", pr.StepID, pr.Kind, pr.Reason)
	}
	return strings.TrimRight(b.String(), "\n")
}

// Preflight builds every assessment check and every phase step of the
// runbook with the bound parameters, each bounded by CheckTimeout, and
// calls nothing: a kind that is not implemented, a config that does not
// expand or validate, a secret that does not resolve, a connection whose
// client cannot be made is a problem. A step whose config uses outputs of
// earlier steps is checked as far as it can be now (Partial); a step whose
// `when` is false with these parameters is not checked (it will not run).
func (pl *Planner) Preflight(ctx context.Context, rb *runbook.Runbook, params map[string]string) Preflight {
	pl.setDefaults()
	vars := runbook.Vars{Params: rb.ParamsWithDefaults(params), Outputs: map[string]map[string]string{}}
	all := append(append([]*runbook.Step{}, rb.Assess...), rb.AllSteps()...)
	problems := make([]*Problem, len(all))
	waits := make([][]string, len(all))
	var wg sync.WaitGroup
	for i, s := range all {
		if s.When != nil {
			if ok, err := s.When(vars); err == nil && !ok {
				continue
			}
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeoutCause(ctx, pl.CheckTimeout, fmt.Errorf("building the step took over %s", pl.CheckTimeout))
			defer cancel()
			w, err := guard(cctx, "preflight", func(ctx context.Context) ([]string, error) { return s.Preflight(ctx, vars) })
			waits[i] = w
			if err != nil {
				problems[i] = &Problem{Phase: s.Phase, StepID: s.ID, Kind: s.Kind, Reason: pl.scrub(buildReason(s, err))}
			}
		})
	}
	wg.Wait()
	out := Preflight{Checked: len(all), Partial: map[string][]string{}}
	for i, p := range problems {
		if p != nil {
			out.Problems = append(out.Problems, *p)
		}
		if len(waits[i]) > 0 {
			out.Partial[all[i].ID] = waits[i]
		}
	}
	return out
}

// buildReason is a build error without the "build step <id> (<kind>):"
// its Problem already names.
func buildReason(s *runbook.Step, err error) string {
	msg := err.Error()
	return strings.TrimPrefix(msg, fmt.Sprintf("build step %s (%s): ", s.ID, s.Kind))
}
