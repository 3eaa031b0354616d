package executor

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/store"
)

func TestARunAppliesEveryStepOnceAndSucceeds(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	w.set("b") // already in place: checked, never applied
	rb := mkRunbook("simple",
		[]*runbook.Step{mkStep(w, "a"), mkStep(w, "b", needs("a"))},
		[]*runbook.Step{mkStep(w, "c")})
	id := e.start(rb, nil)
	run := e.wait(id)
	if run.State != store.RunSucceeded {
		t.Fatalf("run is %s (%s), want succeeded", run.State, run.StateReason)
	}
	if run.EndedAt.IsZero() || run.StartedAt.IsZero() {
		t.Errorf("run times not recorded: started %v ended %v", run.StartedAt, run.EndedAt)
	}
	got := e.steps(id)
	for _, sid := range []string{"a", "b", "c"} {
		if got[sid].Status != store.StepDone {
			t.Errorf("step %s is %s", sid, got[sid].Status)
		}
	}
	if w.appliesOf("a") != 1 || w.appliesOf("c") != 1 || w.appliesOf("b") != 0 {
		t.Errorf("applies = %v, want a:1 b:0 c:1", w.applies)
	}
	if !got["b"].AlreadyDone || got["a"].AlreadyDone || got["a"].Attempts != 1 {
		t.Errorf("a: attempts %d alreadyDone %v; b alreadyDone %v", got["a"].Attempts, got["a"].AlreadyDone, got["b"].AlreadyDone)
	}
	want := []events.Type{events.StepStarted, events.StepApplying, events.StepDone}
	if got := e.rec.types("a"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events of a = %v, want %v", got, want)
	}
	var types []string
	for _, a := range e.audit(id) {
		if a.StepID == "a" {
			types = append(types, a.Type)
		}
	}
	// The Check right after Apply passed: no waiting state to record.
	if fmt.Sprint(types) != "[step.checking step.applying step.done]" {
		t.Errorf("audit of a = %v", types)
	}
	if n := w.closed.Load(); n != 3 {
		t.Errorf("%d step instances closed, want 3", n)
	}
	last := e.rec.all()[len(e.rec.all())-1]
	if last.Type != events.RunSucceeded || last.Runbook != "simple" {
		t.Errorf("last event = %+v", last)
	}
}

func TestStepsOfAPhaseRunInParallelAsNeedsAllow(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	var inB, inC atomic.Bool
	rendezvous := func(me, other *atomic.Bool) opt {
		return applyFn(func(ctx context.Context, f *fakeStep) error {
			me.Store(true)
			// b and c must be in Apply at the same time.
			deadline := time.Now().Add(10 * time.Second)
			for !other.Load() {
				if time.Now().After(deadline) {
					return steps.Permanentf("%s ran alone: not in parallel", f.id)
				}
				time.Sleep(time.Millisecond)
			}
			f.w.set(f.id)
			return nil
		})
	}
	d := mkStep(w, "d", needs("b", "c"))
	onBuild(w, "d", func(runbook.Vars, *fakeStep) error {
		if !w.has("b") || !w.has("c") {
			return fmt.Errorf("d built before b and c were done")
		}
		return nil
	})
	x := mkStep(w, "x", needs("a")) // needs a step of an earlier phase
	rb := mkRunbook("par",
		[]*runbook.Step{mkStep(w, "a")},
		[]*runbook.Step{mkStep(w, "b", rendezvous(&inB, &inC)), mkStep(w, "c", rendezvous(&inC, &inB)), d, x})
	id := e.start(rb, nil)
	if run := e.wait(id); run.State != store.RunSucceeded {
		t.Fatalf("run is %s: %s", run.State, run.StateReason)
	}
	e.wantStatus(id, map[string]store.StepStatus{"a": store.StepDone, "b": store.StepDone, "c": store.StepDone, "d": store.StepDone, "x": store.StepDone})
	order := strings.Join(w.order, " ")
	if !strings.HasPrefix(order, "apply:a ") || !strings.HasSuffix(order, "apply:d") && !strings.Contains(order, "apply:d") {
		t.Errorf("apply order %q: a must come first (phase 1)", order)
	}
	if strings.Index(order, "apply:d") < strings.Index(order, "apply:b") || strings.Index(order, "apply:d") < strings.Index(order, "apply:c") {
		t.Errorf("apply order %q: d must follow b and c", order)
	}
}

func TestOutputsOfAStepFlowIntoLaterSteps(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	lb := mkStep(w, "lb", outputs(map[string]string{"hostname": "dr-lb.example.com"}))
	var got atomic.Value
	dns := mkStep(w, "dns", needs("lb"))
	onBuild(w, "dns", func(v runbook.Vars, f *fakeStep) error {
		got.Store(v.Outputs["lb"]["hostname"] + " " + v.Params["zone"] + " " + v.Params["ttl"])
		return nil
	})
	rb := mkRunbook("outputs", []*runbook.Step{lb}, []*runbook.Step{dns})
	rb.Params = []runbook.Param{{Name: "zone", Required: true}, {Name: "ttl", Default: "60"}}
	id := e.start(rb, map[string]string{"zone": "example.com"})
	if run := e.wait(id); run.State != store.RunSucceeded {
		t.Fatalf("run is %s: %s", run.State, run.StateReason)
	}
	if g, _ := got.Load().(string); g != "dr-lb.example.com example.com 60" {
		t.Errorf("dns step was built with %q", g)
	}
	if out := e.steps(id)["lb"].Outputs["hostname"]; out != "dr-lb.example.com" {
		t.Errorf("stored output = %q", out)
	}
}

func TestTransientErrorsAreRetriedUntilTheStepSucceeds(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	var calls atomic.Int32
	flaky := mkStep(w, "flaky", retry(5, 5*time.Millisecond), applyFn(func(ctx context.Context, f *fakeStep) error {
		if calls.Add(1) < 3 {
			return fmt.Errorf("connection reset (attempt %d)", calls.Load())
		}
		f.w.set(f.id)
		return nil
	}))
	id := e.start(mkRunbook("flaky", []*runbook.Step{flaky}), nil)
	if run := e.wait(id); run.State != store.RunSucceeded {
		t.Fatalf("run is %s: %s", run.State, run.StateReason)
	}
	st := e.steps(id)["flaky"]
	if st.Attempts != 3 || st.Status != store.StepDone || st.Error != "" {
		t.Errorf("step: attempts %d status %s error %q, want 3 done \"\"", st.Attempts, st.Status, st.Error)
	}
	n := 0
	for _, ty := range e.rec.types("flaky") {
		if ty == events.StepRetrying {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d retrying events, want 2", n)
	}
}

func TestTransientErrorsGiveUpAfterTheRetryAttempts(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	s := mkStep(w, "s", retry(3, time.Millisecond), applyFn(func(ctx context.Context, f *fakeStep) error {
		return fmt.Errorf("503 from API")
	}))
	id := e.start(mkRunbook("giveup", []*runbook.Step{s}), nil)
	run := e.wait(id)
	if run.State != store.RunPaused {
		t.Fatalf("run is %s, want paused", run.State)
	}
	if got := w.appliesOf("s"); got != 3 {
		t.Errorf("%d applies, want 3", got)
	}
	if st := e.steps(id)["s"]; !strings.Contains(st.Error, "apply failed 3 times") || !strings.Contains(st.Error, "503 from API") {
		t.Errorf("error = %q", st.Error)
	}
}

func TestAPermanentErrorPausesTheRun(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	bad := mkStep(w, "promote", applyFn(func(ctx context.Context, f *fakeStep) error {
		return steps.Permanentf("standby refused promotion: not in recovery")
	}))
	rb := mkRunbook("perm", []*runbook.Step{bad, mkStep(w, "after", needs("promote"))}, []*runbook.Step{mkStep(w, "later")})
	id := e.start(rb, nil)
	run := e.wait(id)
	if run.State != store.RunPaused {
		t.Fatalf("run is %s, want paused", run.State)
	}
	if !strings.Contains(run.StateReason, "promote") || !strings.Contains(run.StateReason, "refused promotion") {
		t.Errorf("state reason %q does not name the step and error", run.StateReason)
	}
	e.wantStatus(id, map[string]store.StepStatus{"promote": store.StepFailed, "after": store.StepPending, "later": store.StepPending})
	if w.appliesOf("promote") != 1 {
		t.Errorf("a permanent error was retried: %d applies", w.appliesOf("promote"))
	}
	evs := e.rec.all()
	if len(evs) < 2 || evs[len(evs)-2].Type != events.StepFailed || evs[len(evs)-1].Type != events.RunPaused {
		t.Errorf("last events are not step.failed, run.paused: %v", evs)
	} else if !strings.Contains(evs[len(evs)-1].Summary, "refused promotion") {
		t.Errorf("run.paused event does not say why: %+v", evs[len(evs)-1])
	}
}

func TestAStepNotDoneByItsDeadlineFails(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	// Apply "works" but the change never shows: the step must give up at
	// its deadline, not poll forever.
	stuck := mkStep(w, "stuck", timeout(2*time.Second), applyFn(func(ctx context.Context, f *fakeStep) error { return nil }))
	id := e.start(mkRunbook("deadline", []*runbook.Step{stuck}), nil)
	start := time.Now()
	run := e.wait(id)
	if run.State != store.RunPaused {
		t.Fatalf("run is %s, want paused", run.State)
	}
	st := e.steps(id)["stuck"]
	if !strings.Contains(st.Error, "not done within 2s") || !strings.Contains(st.Error, "stuck not in place") {
		t.Errorf("error = %q, want the deadline and the last observation", st.Error)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %v", took)
	}
	var types []string
	for _, a := range e.audit(id) {
		types = append(types, a.Type)
	}
	if !strings.Contains(strings.Join(types, " "), "step.applying step.waiting step.failed") {
		t.Errorf("audit %v: want applying, waiting, failed", types)
	}
	if w.appliesOf("stuck") != 1 {
		t.Errorf("%d applies: Apply succeeded once, it must not be repeated", w.appliesOf("stuck"))
	}
}

func TestAHangingApplyCannotHoldTheRunPastTheDeadline(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	release := make(chan struct{})
	defer close(release)
	hang := mkStep(w, "hang", timeout(200*time.Millisecond), applyFn(func(ctx context.Context, f *fakeStep) error {
		<-release // ignores its context
		return nil
	}))
	id := e.start(mkRunbook("hang", []*runbook.Step{hang}), nil)
	run := e.wait(id)
	if run.State != store.RunPaused {
		t.Fatalf("run is %s", run.State)
	}
	if st := e.steps(id)["hang"]; !strings.Contains(st.Error, "not done within 200ms") {
		t.Errorf("error = %q", st.Error)
	}
	// Retrying while the abandoned Apply still runs must not call Apply
	// a second time on top of it.
	if err := e.ex.RetryStep(context.Background(), id, "hang", "U1"); err != nil {
		t.Fatal(err)
	}
	run = e.wait(id)
	if st := e.steps(id)["hang"]; run.State != store.RunPaused || !strings.Contains(st.Error, "previous Apply of step hang has not returned") {
		t.Errorf("retry over a hung Apply: run %s, step error %q", run.State, st.Error)
	}
	if n := w.appliesOf("hang"); n != 1 {
		t.Errorf("Apply called %d times while the first call had not returned", n)
	}
}

func TestReadOnlyStepsAreNeverAppliedAndWaitForTheirCheck(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	var n atomic.Int32
	probe := mkStep(w, "lag", readOnly(), checkFn(func(ctx context.Context, f *fakeStep) (steps.Result, error) {
		if n.Add(1) < 4 {
			return steps.Result{Summary: "lag 12s"}, nil
		}
		return steps.Result{Done: true, Summary: "lag 0s"}, nil
	}))
	id := e.start(mkRunbook("ro", []*runbook.Step{probe}), nil)
	if run := e.wait(id); run.State != store.RunSucceeded {
		t.Fatalf("run is %s: %s", run.State, run.StateReason)
	}
	if w.appliesOf("lag") != 0 {
		t.Errorf("read-only step applied %d times", w.appliesOf("lag"))
	}
	if st := e.steps(id)["lag"]; st.Summary != "lag 0s" || st.Attempts != 0 {
		t.Errorf("step: %+v", st)
	}
}

func TestStepsWhoseConditionIsFalseAreSkipped(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	cond := mkStep(w, "scale_down")
	cond.When = func(v runbook.Vars) (bool, error) { return v.Params["mode"] == "full", nil }
	rb := mkRunbook("when", []*runbook.Step{cond, mkStep(w, "next", needs("scale_down"))})
	rb.Params = []runbook.Param{{Name: "mode", Default: "partial"}}
	id := e.start(rb, nil)
	if run := e.wait(id); run.State != store.RunSucceeded {
		t.Fatalf("run is %s: %s", run.State, run.StateReason)
	}
	e.wantStatus(id, map[string]store.StepStatus{"scale_down": store.StepSkipped, "next": store.StepDone})
	if w.appliesOf("scale_down") != 0 {
		t.Error("a skipped step was applied")
	}
}

func TestAnAlternativeReplacesAFailedStep(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	promote := mkStep(w, "promote", applyFn(func(ctx context.Context, f *fakeStep) error {
		return steps.Permanentf("pg_promote refused")
	}))
	force := mkStep(w, "force_promote", alternativeOf("promote"), outputs(map[string]string{"timeline": "2"}))
	var tl atomic.Value
	after := mkStep(w, "repoint", needs("promote"))
	onBuild(w, "repoint", func(v runbook.Vars, f *fakeStep) error {
		tl.Store(v.Outputs["promote"]["timeline"])
		return nil
	})
	id := e.start(mkRunbook("alt", []*runbook.Step{promote, force, after}), nil)
	if run := e.wait(id); run.State != store.RunSucceeded {
		t.Fatalf("run is %s: %s", run.State, run.StateReason)
	}
	e.wantStatus(id, map[string]store.StepStatus{"promote": store.StepReplaced, "force_promote": store.StepDone, "repoint": store.StepDone})
	for _, ev := range e.rec.all() {
		if ev.Type == events.StepFailed && ev.StepID == "promote" && ev.Summary != "its alternative force_promote runs next" {
			t.Errorf("step.failed of promote does not say its alternative runs: %q", ev.Summary)
		}
	}
	if got, _ := tl.Load().(string); got != "2" {
		t.Errorf("the replaced step's outputs are those of its alternative: got timeline %q", got)
	}
}

func TestAnAlternativeIsNotRunWhenItsStepSucceeds(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	rb := mkRunbook("alt-unused", []*runbook.Step{mkStep(w, "promote"), mkStep(w, "force_promote", alternativeOf("promote"))})
	id := e.start(rb, nil)
	if run := e.wait(id); run.State != store.RunSucceeded {
		t.Fatalf("run is %s: %s", run.State, run.StateReason)
	}
	e.wantStatus(id, map[string]store.StepStatus{"promote": store.StepDone})
	if st, ok := e.steps(id)["force_promote"]; ok {
		t.Errorf("an alternative that was not needed left a record: %+v", st)
	}
	if w.appliesOf("force_promote") != 0 {
		t.Error("the alternative ran")
	}
}

func TestAFailedAlternativePausesTheRunWithBothErrors(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	fail := func(msg string) opt {
		return applyFn(func(ctx context.Context, f *fakeStep) error { return steps.Permanentf("%s", msg) })
	}
	rb := mkRunbook("alt-fails", []*runbook.Step{mkStep(w, "promote", fail("refused")), mkStep(w, "force_promote", alternativeOf("promote"), fail("pod gone"))})
	id := e.start(rb, nil)
	run := e.wait(id)
	if run.State != store.RunPaused {
		t.Fatalf("run is %s", run.State)
	}
	if !strings.Contains(run.StateReason, "refused") || !strings.Contains(run.StateReason, "pod gone") {
		t.Errorf("reason %q", run.StateReason)
	}
}

func TestStepsPanickingDoNotKillTheBot(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	p := mkStep(w, "p", applyFn(func(ctx context.Context, f *fakeStep) error { panic("nil map") }))
	id := e.start(mkRunbook("panic", []*runbook.Step{p}), nil)
	if run := e.wait(id); run.State != store.RunPaused {
		t.Fatalf("run is %s", run.State)
	}
	if st := e.steps(id)["p"]; !strings.Contains(st.Error, "panicked: nil map") {
		t.Errorf("error = %q", st.Error)
	}
}
