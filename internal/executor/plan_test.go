package executor

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
)

func TestPlanGivesAVerdictPerStepWithoutApplyingAnything(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CheckTimeout = 300 * time.Millisecond })
	w := newWorld()
	w.set("lag")
	release := make(chan struct{})
	defer close(release)
	var builtWith atomic.Value
	needsOutput := func(from string) func(runbook.Vars, *fakeStep) error {
		return func(v runbook.Vars, f *fakeStep) error {
			out, ok := v.Outputs[from]
			if !ok {
				return fmt.Errorf(`template: with.target:1:9: executing "with.target" at <.steps.%s.outputs.hostname>: map has no entry for key %q`, from, from)
			}
			builtWith.Store(out["lag_seconds"])
			return nil
		}
	}
	cond := mkStep(w, "cond")
	cond.When = func(v runbook.Vars) (bool, error) { return v.Params["mode"] == "full", nil }
	uses := mkStep(w, "uses_lag")
	onBuild(w, "uses_lag", needsOutput("lag"))
	dns := mkStep(w, "dns")
	onBuild(w, "dns", needsOutput("lb"))
	rb := mkRunbook("plan",
		[]*runbook.Step{
			mkStep(w, "lag", readOnly(), outputs(map[string]string{"lag_seconds": "0.4"})),
			mkStep(w, "scale_primary"),
			mkStep(w, "promote", needs("scale_primary")),
			mkStep(w, "force_promote", alternativeOf("promote")),
			mkStep(w, "broken", checkFn(func(ctx context.Context, f *fakeStep) (steps.Result, error) {
				return steps.Result{}, fmt.Errorf("list pods: 403 Forbidden")
			})),
			mkStep(w, "hangs", checkFn(func(ctx context.Context, f *fakeStep) (steps.Result, error) {
				<-release // a dropped packet: no answer, context ignored
				return steps.Result{}, nil
			})),
			cond,
			mkStep(w, "lb"),
			mkStep(w, "gate", readOnly()),
		},
		[]*runbook.Step{uses, dns, mkStep(w, "after_promote", needs("promote")), mkStep(w, "after_gate", needs("gate"))},
	)
	rb.Params = []runbook.Param{{Name: "mode", Default: "partial"}}
	start := time.Now()
	plan, err := e.ex.Planner().Plan(context.Background(), rb, nil)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("plan took %v with one check hanging", took)
	}
	want := map[string]string{
		"lag":           "already done",
		"scale_primary": "will change",
		"promote":       "unknown until scale_primary runs",
		"force_promote": "only if promote fails",
		"broken":        "cannot tell: check: list pods: 403 Forbidden",
		"hangs":         "cannot tell: check: no answer within 300ms",
		"cond":          "skipped: its when condition is false",
		"lb":            "will change",
		"uses_lag":      "will change",
		"dns":           "unknown until lb runs",
		"after_promote": "unknown until promote runs", // the step it needs, not the one behind that
		"gate":          "will wait until it passes",
		"after_gate":    "will change",
	}
	if len(plan.Steps) != len(want) {
		t.Errorf("%d plan steps, want %d", len(plan.Steps), len(want))
	}
	for i, ps := range plan.Steps {
		if ps.StepID != rb.AllSteps()[i].ID {
			t.Errorf("plan step %d is %s, want runbook order", i, ps.StepID)
		}
		if ps.Verdict != want[ps.StepID] {
			t.Errorf("%s: verdict %q, want %q", ps.StepID, ps.Verdict, want[ps.StepID])
		}
	}
	if got, _ := builtWith.Load().(string); got != "0.4" {
		t.Errorf("uses_lag was built with lag output %q, want 0.4", got)
	}
	if len(w.order) != 0 {
		t.Errorf("a dry run applied: %v", w.order)
	}
	// The hash a run with these parameters is bound to: the bound ones.
	wantHash := testHash(rb, map[string]string{"mode": "partial"})
	if plan.Hash != wantHash {
		t.Errorf("plan hash %q, want %q", plan.Hash, wantHash)
	}
}

func TestPlanRefusesBadParameters(t *testing.T) {
	e := newEnv(t)
	rb := mkRunbook("params", []*runbook.Step{mkStep(newWorld(), "a")})
	rb.Params = []runbook.Param{{Name: "ticket", Required: true}}
	_, err := e.ex.Planner().Plan(context.Background(), rb, map[string]string{"tikcet": "INC-1"})
	if err == nil || !strings.Contains(err.Error(), "missing required parameter ticket") || !strings.Contains(err.Error(), "unknown parameter tikcet") {
		t.Errorf("err = %v", err)
	}
}

func TestAssessAnswersWithinTheDeadlineOfAHangingCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ex := &Planner{}
		w := newWorld()
		w.set("dr_ready")
		release := make(chan struct{})
		check := func(id string, d time.Duration, opts ...opt) *runbook.Step {
			s := mkStep(w, id, append(opts, readOnly())...)
			s.Timeout = d
			return s
		}
		rb := &runbook.Runbook{Name: "assess", Assess: []*runbook.Step{
			check("dr_ready", 5*time.Second),
			check("primary_down", 5*time.Second),
			check("primary_api", 10*time.Second, checkFn(func(ctx context.Context, f *fakeStep) (steps.Result, error) {
				<-release // packets dropped: no answer, and the context is ignored
				return steps.Result{Done: true}, nil
			})),
		}}
		start := time.Now()
		view := ex.Assess(context.Background(), rb)
		took := time.Since(start)
		close(release)
		if took != 10*time.Second {
			t.Errorf("assess took %v, want exactly the hanging check's 10s deadline", took)
		}
		if view.Go {
			t.Error("go with failing checks")
		}
		got := map[string]string{}
		for _, c := range view.Checks {
			got[c.ID] = fmt.Sprintf("%v|%s|%s", c.OK, c.Summary, c.Error)
		}
		want := map[string]string{
			"dr_ready":     "true|dr_ready in place|",
			"primary_down": "false|primary_down not in place|",
			"primary_api":  "false||check: no answer within 10s",
		}
		for id, w := range want {
			if got[id] != w {
				t.Errorf("%s: %q, want %q", id, got[id], w)
			}
		}
		if len(w.order) != 0 {
			t.Error("assess applied something")
		}
		w.set("primary_down")
		rb.Assess = rb.Assess[:2]
		if view := ex.Assess(context.Background(), rb); !view.Go {
			t.Errorf("no go with every check passing: %+v", view.Checks)
		}
	})
}

func TestPlanWithChecksThatHangInEveryPhaseTakesOneTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ex := &Planner{CheckTimeout: 10 * time.Second}
		w := newWorld()
		w.set("lb")
		release := make(chan struct{})
		hang := checkFn(func(ctx context.Context, f *fakeStep) (steps.Result, error) {
			<-release
			return steps.Result{}, nil
		})
		// lb answers after 3s; dns (a later phase, no needs) uses its output.
		slowLB := checkFn(func(ctx context.Context, f *fakeStep) (steps.Result, error) {
			time.Sleep(3 * time.Second)
			return steps.Result{Done: true, Outputs: map[string]string{"host": "lb.dr"}}, nil
		})
		var target atomic.Value
		dns := mkStep(w, "dns")
		onBuild(w, "dns", func(v runbook.Vars, f *fakeStep) error {
			h, ok := v.Outputs["lb"]["host"]
			if !ok {
				return fmt.Errorf(`with.target: template: value:1:3: executing "value" at <.steps.lb.outputs.host>: map has no entry for key "lb"`)
			}
			target.Store(h)
			return nil
		})
		rb := mkRunbook("hangs",
			[]*runbook.Step{mkStep(w, "primary_1", hang), mkStep(w, "lb", slowLB)},
			[]*runbook.Step{mkStep(w, "primary_2", hang)},
			[]*runbook.Step{mkStep(w, "primary_3", hang), dns})
		start := time.Now()
		plan, err := ex.Plan(context.Background(), rb, nil)
		took := time.Since(start)
		close(release)
		if err != nil {
			t.Fatal(err)
		}
		if took != 10*time.Second {
			t.Errorf("plan took %v, want one check timeout (10s), not one per phase", took)
		}
		for _, ps := range plan.Steps {
			want := "cannot tell: check: no answer within 10s"
			switch ps.StepID {
			case "lb":
				want = "already done"
			case "dns":
				want = "will change"
			}
			if ps.Verdict != want {
				t.Errorf("%s: %q, want %q", ps.StepID, ps.Verdict, want)
			}
		}
		if got, _ := target.Load().(string); got != "lb.dr" {
			t.Errorf("dns was built with %q, want lb's output", got)
		}
	})
}

func TestAssessCarriesCheckOutputsScrubbed(t *testing.T) {
	red := &secret.Redactor{}
	red.Add("hunter22")
	ex := &Planner{Redactor: red}
	w := newWorld()
	w.set("lag")
	s := mkStep(w, "lag", readOnly(), outputs(map[string]string{"lag": "1.25s", "dsn": "postgres://u:hunter22@db"}))
	view := ex.Assess(context.Background(), &runbook.Runbook{Name: "a", Assess: []*runbook.Step{s}})
	if len(view.Checks) != 1 {
		t.Fatalf("checks: %+v", view.Checks)
	}
	out := view.Checks[0].Outputs
	if out["lag"] != "1.25s" {
		t.Errorf("lag output = %q, want 1.25s (the expected data loss shown on the plan)", out["lag"])
	}
	if strings.Contains(out["dsn"], "hunter22") {
		t.Errorf("a secret reached the assessment card: %q", out["dsn"])
	}
}
