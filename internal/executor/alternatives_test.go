package executor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/store"
)

// The seed's chain: promote_db fails → force_promote; if that fails too →
// restore_from_backup; verify needs promote_db (whoever promoted it).

// overlap counts the steps of an alternative tree in Apply at once.
type overlap struct {
	mu       sync.Mutex
	now, max int
}

func (o *overlap) enter() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.now++
	o.max = max(o.max, o.now)
}

func (o *overlap) leave() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.now--
}

func (o *overlap) peak() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.max
}

// outcome is a step's Apply: it takes a little time (so that two steps
// running at once would overlap) and fails permanently with err, or puts
// the effect in place.
func outcome(o *overlap, fails map[string]string) opt {
	return applyFn(func(ctx context.Context, f *fakeStep) error {
		o.enter()
		defer o.leave()
		time.Sleep(30 * time.Millisecond)
		if msg, ok := fails[f.id]; ok {
			return steps.Permanentf("%s", msg)
		}
		f.w.set(f.id)
		return nil
	})
}

// failedSummaries returns the Summary of each step.failed event by step.
func failedSummaries(evs []events.Event) map[string]string {
	out := map[string]string{}
	for _, ev := range evs {
		if ev.Type == events.StepFailed {
			out[ev.StepID] = ev.Summary
		}
	}
	return out
}

func TestChainedAlternatives(t *testing.T) {
	const none = store.StepStatus("") // no record at all
	cases := []struct {
		name string
		// fails: the steps whose Apply fails, with the error.
		fails map[string]string
		// restoreAllowed is the when condition of restore_from_backup.
		restoreAllowed bool
		wantRun        store.RunState
		wantStatus     map[string]store.StepStatus
		wantOrder      string
		// wantReason: substrings of the run's pause reason, in order.
		wantReason []string
		// wantNext: the step.failed summary of each failed step.
		wantNext map[string]string
		// wantPromote: promote_db's summary once replaced.
		wantPromote string
	}{
		{
			name:           "the second alternative succeeds: both earlier steps are replaced and dependents run",
			fails:          map[string]string{"promote_db": "pg_promote refused", "force_promote": "trigger file ignored"},
			restoreAllowed: true,
			wantRun:        store.RunSucceeded,
			wantStatus: map[string]store.StepStatus{"promote_db": store.StepReplaced, "force_promote": store.StepReplaced,
				"restore_from_backup": store.StepDone, "verify": store.StepDone},
			wantOrder: "apply:promote_db apply:force_promote apply:restore_from_backup apply:verify",
			wantNext: map[string]string{"promote_db": "its alternative force_promote runs next",
				"force_promote": "its alternative restore_from_backup runs next"},
			wantPromote: "replaced by restore_from_backup (via force_promote): restore_from_backup in place",
		},
		{
			name:           "every alternative fails: the run pauses on the last failure and says what was tried",
			fails:          map[string]string{"promote_db": "pg_promote refused", "force_promote": "trigger file ignored", "restore_from_backup": "no backup in bucket"},
			restoreAllowed: true,
			wantRun:        store.RunPaused,
			wantStatus: map[string]store.StepStatus{"promote_db": store.StepFailed, "force_promote": store.StepFailed,
				"restore_from_backup": store.StepFailed, "verify": none},
			wantOrder: "apply:promote_db apply:force_promote apply:restore_from_backup",
			wantReason: []string{"step promote_db failed: apply: pg_promote refused",
				"; alternative force_promote failed: apply: trigger file ignored",
				"; alternative restore_from_backup (of force_promote) failed: apply: no backup in bucket"},
			wantNext: map[string]string{"promote_db": "its alternative force_promote runs next",
				"force_promote":       "its alternative restore_from_backup runs next",
				"restore_from_backup": "no alternative of promote_db left"},
		},
		{
			name:           "the first alternative succeeds: the second never runs and leaves no record",
			fails:          map[string]string{"promote_db": "pg_promote refused"},
			restoreAllowed: true,
			wantRun:        store.RunSucceeded,
			wantStatus: map[string]store.StepStatus{"promote_db": store.StepReplaced, "force_promote": store.StepDone,
				"restore_from_backup": none, "verify": store.StepDone},
			wantOrder:   "apply:promote_db apply:force_promote apply:verify",
			wantNext:    map[string]string{"promote_db": "its alternative force_promote runs next"},
			wantPromote: "replaced by force_promote: force_promote in place",
		},
		{
			name:           "the last alternative's condition is false: the run pauses and says so",
			fails:          map[string]string{"promote_db": "pg_promote refused", "force_promote": "trigger file ignored"},
			restoreAllowed: false,
			wantRun:        store.RunPaused,
			wantStatus: map[string]store.StepStatus{"promote_db": store.StepFailed, "force_promote": store.StepFailed,
				"restore_from_backup": store.StepSkipped, "verify": none},
			wantOrder: "apply:promote_db apply:force_promote",
			wantReason: []string{"step promote_db failed", "; alternative force_promote failed: apply: trigger file ignored",
				"; alternative restore_from_backup (of force_promote) skipped: its when condition is false"},
			wantNext: map[string]string{"promote_db": "its alternative force_promote runs next",
				"force_promote": "its alternative restore_from_backup runs next"},
		},
		{
			name:           "the step succeeds: no alternative runs",
			restoreAllowed: true,
			wantRun:        store.RunSucceeded,
			wantStatus: map[string]store.StepStatus{"promote_db": store.StepDone, "force_promote": none,
				"restore_from_backup": none, "verify": store.StepDone},
			wantOrder: "apply:promote_db apply:verify",
			wantNext:  map[string]string{},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			w := newWorld()
			o := &overlap{}
			restore := mkStep(w, "restore_from_backup", alternativeOf("force_promote"), outcome(o, tc.fails),
				outputs(map[string]string{"timeline": "restored"}))
			restore.When = func(runbook.Vars) (bool, error) { return tc.restoreAllowed, nil }
			var builtWith atomic.Value
			verify := mkStep(w, "verify", needs("promote_db"))
			onBuild(w, "verify", func(v runbook.Vars, f *fakeStep) error {
				builtWith.Store(fmt.Sprint(v.Outputs["promote_db"]))
				return nil
			})
			rb := mkRunbook("chain",
				[]*runbook.Step{
					mkStep(w, "promote_db", outcome(o, tc.fails), outputs(map[string]string{"timeline": "2"})),
					mkStep(w, "force_promote", alternativeOf("promote_db"), outcome(o, tc.fails), outputs(map[string]string{"timeline": "forced"})),
					restore, verify,
				})
			id := e.start(rb, nil)
			run := e.wait(id)
			if run.State != tc.wantRun {
				t.Fatalf("run is %s (%s), want %s", run.State, run.StateReason, tc.wantRun)
			}
			got := e.steps(id)
			for sid, want := range tc.wantStatus {
				switch st := got[sid]; {
				case want == none && st != nil:
					t.Errorf("step %s left a record: %+v", sid, st)
				case want != none && (st == nil || st.Status != want):
					t.Errorf("step %s is %v, want %s", sid, st, want)
				}
			}
			if order := strings.Join(w.order, " "); order != tc.wantOrder {
				t.Errorf("applies: %s\nwant:    %s", order, tc.wantOrder)
			}
			if o.peak() > 1 {
				t.Errorf("%d steps of the chain were applied at once", o.peak())
			}
			rest := run.StateReason
			for _, part := range tc.wantReason {
				i := strings.Index(rest, part)
				if i < 0 {
					t.Errorf("pause reason %q lacks %q (in this order)", run.StateReason, part)
					break
				}
				rest = rest[i+len(part):]
			}
			if tc.wantRun == store.RunPaused {
				evs := e.rec.all()
				if last := evs[len(evs)-1]; last.Type != events.RunPaused || last.Summary != run.StateReason {
					t.Errorf("last event %+v, want run.paused with the reason", last)
				}
			}
			if sums := failedSummaries(e.rec.all()); fmt.Sprint(sums) != fmt.Sprint(tc.wantNext) {
				t.Errorf("step.failed summaries %v, want %v", sums, tc.wantNext)
			}
			if tc.wantPromote != "" {
				if st := got["promote_db"]; st.Summary != tc.wantPromote {
					t.Errorf("promote_db summary %q, want %q", st.Summary, tc.wantPromote)
				}
			}
			if tc.wantStatus["verify"] == store.StepDone {
				// verify sees promote_db's outputs: those of the step that
				// succeeded for it.
				want := map[string]map[string]string{"promote_db": {"timeline": "2"}, "force_promote": {"timeline": "forced"},
					"restore_from_backup": {"timeline": "restored"}}[whoSucceeded(got)]
				if g, _ := builtWith.Load().(string); g != fmt.Sprint(want) {
					t.Errorf("verify was built with promote_db outputs %s, want %v", g, want)
				}
			}
		})
	}
}

// whoSucceeded returns the step of the chain that is done.
func whoSucceeded(got map[string]*store.StepState) string {
	for _, id := range []string{"promote_db", "force_promote", "restore_from_backup"} {
		if st := got[id]; st != nil && st.Status == store.StepDone {
			return id
		}
	}
	return ""
}

func TestAlternativesOfOneFailureAreTriedOneAtATimeDepthFirst(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	o := &overlap{}
	fails := map[string]string{"promote": "refused", "alt1": "no", "alt1b": "no either"}
	rb := mkRunbook("tree", []*runbook.Step{
		mkStep(w, "promote", outcome(o, fails)),
		mkStep(w, "alt1", alternativeOf("promote"), outcome(o, fails)),
		mkStep(w, "alt2", alternativeOf("promote"), outcome(o, fails)),
		mkStep(w, "alt1b", alternativeOf("alt1"), outcome(o, fails)),
		mkStep(w, "alt3", alternativeOf("promote"), outcome(o, fails)),
		mkStep(w, "after", needs("promote")),
	})
	id := e.start(rb, nil)
	if run := e.wait(id); run.State != store.RunSucceeded {
		t.Fatalf("run is %s: %s", run.State, run.StateReason)
	}
	if order, want := strings.Join(w.order, " "), "apply:promote apply:alt1 apply:alt1b apply:alt2 apply:after"; order != want {
		t.Errorf("applies: %s\nwant:    %s", order, want)
	}
	if o.peak() != 1 {
		t.Errorf("%d alternatives of one failure were applied at once", o.peak())
	}
	// The alternatives that failed on the way end as not needed, their
	// errors kept.
	e.wantStatus(id, map[string]store.StepStatus{"promote": store.StepReplaced, "alt1": store.StepSkipped,
		"alt1b": store.StepSkipped, "alt2": store.StepDone, "after": store.StepDone})
	if st := e.steps(id)["alt1b"]; st.Error != "apply: no either" || st.Summary != "not needed: alt1 is skipped" {
		t.Errorf("alt1b: summary %q error %q", st.Summary, st.Error)
	}
	if st, ok := e.steps(id)["alt3"]; ok {
		t.Errorf("alt3 was not needed but left a record: %+v", st)
	}
	sums := failedSummaries(e.rec.all())
	if sums["alt1b"] != "alternative alt2 of promote runs next" {
		t.Errorf("step.failed of alt1b says %q", sums["alt1b"])
	}
}
