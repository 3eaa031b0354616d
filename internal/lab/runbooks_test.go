package lab

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/builtin"
)

const runbooksDir = "../../runbooks"

// loadLabRunbook loads a lab runbook with the lab's environment as both
// ${env:…} and ${secret:…} source, as `bot lab up` provides it.
func loadLabRunbook(t *testing.T, l *Lab, name string) (*runbook.Runbook, *secret.Redactor) {
	t.Helper()
	reg, err := builtin.Registry()
	if err != nil {
		t.Fatal(err)
	}
	env := RunbookEnv(l.Env())
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	red := &secret.Redactor{}
	rb, err := runbook.Load(filepath.Join(runbooksDir, name), reg,
		runbook.WithEnv(lookup), runbook.WithSecrets(&secret.Resolver{Lookup: lookup, Redactor: red}))
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return rb, red
}

// runStep is a minimal executor: build, Check, Apply unless done or
// read-only, then poll Check until done or the step's timeout.
func runStep(ctx context.Context, s *runbook.Step, vars runbook.Vars) (steps.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	st, err := s.Factory.Build(ctx, vars)
	if err != nil {
		return steps.Result{}, err
	}
	if c, ok := st.(steps.Closer); ok {
		defer c.Close()
	}
	res, err := st.Check(ctx)
	if err == nil && res.Done {
		return res, nil
	}
	if step, ok := s.MayApply(st); ok {
		for {
			err := step.Apply(ctx)
			if err == nil {
				break
			}
			if steps.IsPermanent(err) || ctx.Err() != nil {
				return res, err
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	for {
		res, err = st.Check(ctx)
		if err == nil && res.Done {
			return res, nil
		}
		if steps.IsPermanent(err) {
			return res, err
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("not done: " + res.Summary)
			}
			return res, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// assess runs every check at once and fails the test for each not done.
func assess(t *testing.T, rb *runbook.Runbook) {
	t.Helper()
	var wg sync.WaitGroup
	start := time.Now()
	for _, s := range rb.Assess {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := runStep(context.Background(), s, runbook.Vars{})
			if err != nil {
				t.Errorf("assess %s: %v (%s)", s.ID, err, res.Summary)
				return
			}
			t.Logf("assess %s: %s", s.ID, res.Summary)
		}()
	}
	wg.Wait()
	t.Logf("%s assess took %s", rb.Name, time.Since(start).Round(time.Millisecond))
}

// runPhases runs the phases in order, steps one after another.
func runPhases(t *testing.T, rb *runbook.Runbook, red *secret.Redactor) time.Duration {
	t.Helper()
	vars := runbook.Vars{Params: map[string]string{}, Outputs: map[string]map[string]string{}}
	start := time.Now()
	for _, p := range rb.Phases {
		for _, s := range p.Steps {
			sstart := time.Now()
			res, err := runStep(context.Background(), s, vars)
			if err != nil {
				t.Fatalf("%s/%s: %v (%s)", p.ID, s.ID, red.ScrubError(err), res.Summary)
			}
			vars.Outputs[s.ID] = res.Outputs
			t.Logf("%-22s %6s  %s %v", s.ID, time.Since(sstart).Round(time.Millisecond), red.Scrub(res.Summary), res.Outputs)
		}
	}
	took := time.Since(start)
	t.Logf("%s phases took %s", rb.Name, took.Round(time.Millisecond))
	return took
}

// The lab runbooks, end to end against a real lab, for each way a region
// fails: failover, then the primary region comes back, then failback.
func TestLabRunbooksFailOverAndBack(t *testing.T) {
	for _, mode := range []FailMode{FailBlackhole, FailStop} {
		t.Run(string(mode), func(t *testing.T) {
			l := upLab(t)
			ctx := context.Background()
			failover, red := loadLabRunbook(t, l, "lab-failover.yaml")
			failback, _ := loadLabRunbook(t, l, "lab-failback.yaml")

			if err := l.FailPrimary(ctx, mode); err != nil {
				t.Fatal(err)
			}
			assess(t, failover)
			runPhases(t, failover, red)

			if err := l.RestorePrimary(ctx); err != nil {
				t.Fatal(err)
			}
			assess(t, failback)
			runPhases(t, failback, red)
			st := l.Status(ctx)
			t.Logf("\n%s", st)
			for _, want := range []struct{ region, name, role string }{
				{"primary", "postgres", "primary"}, {"dr", "postgres", "standby"},
				{"primary", "redis", "master"}, {"dr", "redis", "slave"},
			} {
				if s := serviceByName(st, want.region, want.name); !s.Up || s.Role != want.role {
					t.Errorf("after failback, %s %s is %q (up %v), want %s", want.region, want.name, s.Role, s.Up, want.role)
				}
			}
		})
	}
}
